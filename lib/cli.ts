// The top-level handler shared by the yargs entry scripts: parse, run, and map errors to exit codes
// with reportError.
import yargs, { type Argv } from "yargs";
import { hideBin } from "yargs/helpers";
import { reportError } from "./core/errors.ts";
import { globalOptions, type GlobalArgs } from "./commands/shared.ts";

export async function runCli(scriptName: string, build: (y: Argv<GlobalArgs>) => Argv<GlobalArgs>, args = hideBin(process.argv)): Promise<void> {
  const parser = build(globalOptions(yargs(args).scriptName(scriptName)))
    .strict()
    .help()
    .alias("h", "help")
    .version(false)
    .wrap(Math.min(110, process.stdout.columns || 100))
    .fail((message, error) => {
      if (error) throw error;
      process.stderr.write(`error: ${message}\nRun \`${scriptName} --help\` for usage.\n`);
      process.exit(2);
    });
  try {
    await parser.parseAsync();
  } catch (error) {
    reportError(error);
  }
}
