// The top-level handler shared by the yargs entry scripts: parse, run, and map errors to exit codes
// with reportError.
import yargs, { type Argv } from "yargs";
import { hideBin } from "yargs/helpers";
import { reportError } from "./core/errors.ts";
import { globalOptions, type GlobalArgs } from "./commands/shared.ts";
import { appVersion } from "./core/version.ts";

export async function runCli(
  scriptName: string,
  build: (y: Argv<GlobalArgs>) => Argv<GlobalArgs> | Promise<Argv<GlobalArgs>>,
  { args = hideBin(process.argv), bareHelp = false }: { args?: string[]; bareHelp?: boolean } = {},
): Promise<void> {
  let built: Argv<GlobalArgs>;
  try {
    built = await build(globalOptions(yargs(args).scriptName(scriptName)));
  } catch (error) {
    reportError(error);
    return;
  }
  const parser = built
    .strict()
    .help()
    .alias("h", "help")
    .version(appVersion())
    .alias("V", "version")
    .recommendCommands()
    .wrap(Math.min(110, process.stdout.columns || 100))
    .fail((message, error) => {
      if (error) throw error;
      process.stderr.write(`error: ${message}\nRun \`${scriptName} --help\` for usage.\n`);
      process.exit(2);
    });
  // A bare `scq` shows what it can do, and exits 0: asking what there is is not a mistake.
  if (bareHelp && args.length === 0) {
    parser.showHelp("log");
    return;
  }
  try {
    await parser.parseAsync();
  } catch (error) {
    reportError(error);
  }
}
