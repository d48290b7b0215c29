// scq: the command line for data owners and data scientists. See `scq --help`.
import { runCli } from "../lib/cli.ts";
import * as c from "../lib/commands/index.ts";

await runCli(
  "scq",
  (y) =>
    y
      .usage("$0 <command> [options]\n\nSend code to a data owner's datasite; it runs only after they approve it.")
      .command(c.submitCommand)
      .command(c.submitScriptCommand)
      .command(c.tryCommand)
      .command(c.mineCommand)
      .command(c.waitCommand)
      .command(c.cancelCommand)
      .command(c.pendingCommand)
      .command(c.listCommand)
      .command(c.reviewCommand)
      .command(c.dryRunCommand)
      .command(c.decideCommand("approve"))
      .command(c.decideCommand("reject"))
      .command(c.undoCommand)
      .command(c.statusCommand)
      .command(c.jobCommand)
      .command(c.logsCommand)
      .command(c.outputCommand)
      .command(c.verifyCommand)
      .command(c.checksCommand)
      .command(c.releaseCommand)
      .command(c.rulesCommand)
      .command(c.auditCommand)
      .command(c.keyCommand)
      .command(c.uiCommand)
      .command(c.processCommand)
      .demandCommand(1, "Name a command.")
      .example("$0 submit --to owner@uni.edu --folder ./analysis --name 'mean age'", "data scientist: send code")
      .example("$0 wait 3f2b8c1e && $0 output 3f2b8c1e --to ./results", "data scientist: fetch the results")
      .example("$0 pending && $0 review 3f2b8c1e", "data owner: read what waits")
      .example("$0 approve 3f2b8c1e -r 'aggregates only'", "data owner: let it run at the next pass")
      .epilog(
        "Who you are and where your data is come from the SyftBox client config; --data-dir and --email override it.\nEvery command takes --json. Exit codes: 0 ok, 1 could not be done, 2 bad command line.",
      ),
  { bareHelp: true },
);
