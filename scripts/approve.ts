// Approve pending jobs: writes decisions/<uid>.json with the code hash; the next pass runs them.
// Same as `scq approve`.
import { runCli } from "../lib/cli.ts";
import { decideCommand } from "../lib/commands/decide.ts";

const command = decideCommand("approve");
await runCli("approve", (y) => y.command({ ...command, command: "$0 <uid..>" }));
