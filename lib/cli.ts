// The top-level handler shared by every entry script: parse, run, and map errors to exit codes
// (0 ok, 1 the request could not be done, 2 bad command line, 70 a bug) with one clear line on stderr.
import yargs, { type Argv } from "yargs";
import { hideBin } from "yargs/helpers";
import { ScqError } from "./errors.ts";
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
    if (error instanceof ScqError) {
      process.stderr.write(`error: ${error.message}\n`);
      process.exitCode = error.exitCode;
      return;
    }
    process.stderr.write(`unexpected error (please report it): ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 70;
  }
}
