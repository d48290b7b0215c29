import type { CommandModule } from "yargs";
import { consoleLog, silentLog } from "../log.ts";
import { runPass } from "../pass.ts";
import { contextFrom, print, type GlobalArgs } from "./shared.ts";

export const processCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: "process",
  describe: "run one pass of the processor now (what run.sh does)",
  handler: async (argv) => {
    const ctx = await contextFrom(argv);
    const summary = await runPass({
      dataDir: ctx.dataDir,
      owner: ctx.email,
      config: ctx.config,
      settings: ctx.settings,
      log: argv.json ? silentLog : consoleLog,
    });
    if (argv.json) print(argv, summary, () => "");
  },
};
