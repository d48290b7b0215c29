// One pass of the processor; run.sh calls this. Exit 0 unless the pass itself could not work.
import { runCli } from "../lib/cli.ts";
import { processCommand } from "../lib/commands/index.ts";

await runCli("process", (y) => y.command({ ...processCommand, command: "$0" }));
