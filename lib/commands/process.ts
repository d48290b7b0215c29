import type { CommandModule } from "yargs";
import { passFor } from "../pass/pass.ts";
import { contextFrom, print, type GlobalArgs } from "./shared.ts";

export const processCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: "process",
  describe: "run one pass of the processor now (what run.sh does)",
  handler: async (argv) => {
    const ctx = await contextFrom(argv);
    const summary = await passFor(ctx, argv.json);
    if (argv.json) print(argv, summary, () => "");
  },
};
