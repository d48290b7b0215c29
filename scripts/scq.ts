// scq: the command line for data owners and data scientists. See `scq --help`.
import { runCli } from "../lib/cli.ts";
import * as c from "../lib/commands/index.ts";

await runCli("scq", (y) =>
  y
    .usage("$0 <command> [options]\n\nSend code to a data owner's datasite; it runs only after they approve it.")
    .command(c.submitCommand)
    .command(c.submitScriptCommand)
    .command(c.pendingCommand)
    .command(c.listCommand)
    .command(c.reviewCommand)
    .command(c.decideCommand("approve"))
    .command(c.decideCommand("reject"))
    .command(c.statusCommand)
    .command(c.jobCommand)
    .command(c.logsCommand)
    .command(c.outputCommand)
    .command(c.auditCommand)
    .command(c.processCommand)
    .demandCommand(1, "Name a command.")
    .epilog("Who you are and where your data is come from the SyftBox client config; --data-dir and --email override it."),
);
