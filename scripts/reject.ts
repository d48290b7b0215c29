// Reject pending jobs with a reason the requester reads. Same as `scq reject`.
import { runCli } from "../lib/cli.ts";
import { decideCommand } from "../lib/commands/decide.ts";

const command = decideCommand("reject");
await runCli("reject", (y) => y.command({ ...command, command: "$0 <uid..>" }));
