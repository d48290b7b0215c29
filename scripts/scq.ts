// scq: the command line for data owners and data scientists. See `scq --help`.
// No top-level await: run.sh bundles this file as CommonJS, to start from V8's code cache (scq-start.ts).
import { hideBin } from "yargs/helpers";
import { runCli } from "../lib/cli.ts";
import { commandsFor } from "../lib/commands/index.ts";

const args = hideBin(process.argv);
void runCli(
  "scq",
  async (y) =>
    (await commandsFor(args))
      .reduce((parser, command) => parser.command(command), y)
      .usage("$0 <command> [options]\n\nSend code to a data owner's datasite; it runs only after they approve it.")
      .demandCommand(1, "Name a command.")
      .example("$0 submit --to owner@uni.edu --folder ./analysis --name 'mean age'", "data scientist: send code")
      .example("$0 wait 3f2b8c1e && $0 output 3f2b8c1e --to ./results", "data scientist: fetch the results")
      .example("$0 pending && $0 review 3f2b8c1e", "data owner: read what waits")
      .example("$0 approve 3f2b8c1e -r 'aggregates only'", "data owner: let it run at the next pass")
      .epilog(
        "Who you are and where your data is come from the SyftBox client config; --data-dir and --email override it.\nEvery command takes --json. Exit codes: 0 ok, 1 could not be done, 2 bad command line.",
      ),
  { args, bareHelp: true },
);
