import { ownQueue } from "../core/context.ts";
import { keyInfo, ownerKey, rotate, type KeyInfo } from "../sign/keys.ts";
import { cliCommand, type Command, type GlobalArgs } from "./shared.ts";

interface Args extends GlobalArgs {
  action: "show" | "rotate";
}

interface KeyData extends KeyInfo {
  rotated: boolean;
}

export const key: Command<Args, KeyData> = {
  command: "key <action>",
  describe:
    "the key your results are signed with: `show` it (made if there is none yet), or `rotate` it (the old one stays published and endorses the new)",
  builder: (y) => y.positional("action", { choices: ["show", "rotate"] as const, demandOption: true }),
  run: async (ctx, argv) => {
    const paths = ownQueue(ctx);
    const k = argv.action === "rotate" ? await rotate(paths) : await ownerKey(paths);
    return { ...keyInfo(paths, k.id), rotated: argv.action === "rotate" };
  },
  render: (k) =>
    [
      `${k.rotated ? "New signing key" : "Signing key"}: ${k.fingerprint}  (${k.key_id})`,
      `Published in ${k.published}${k.rotated ? "; the old key stays there, marked retired, and endorses this one" : ""}`,
    ].join("\n"),
};

export const keyCommand = cliCommand(key);
