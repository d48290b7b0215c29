import type { CommandModule } from "yargs";
import { submitScript } from "../people/api.ts";
import { contextFrom, print, type GlobalArgs } from "./shared.ts";

interface Args extends GlobalArgs {
  to: string;
  file?: string;
  script?: string;
  interpreter?: string;
  name?: string;
  description: string;
  tag: string[];
}

export const submitScriptCommand: CommandModule<GlobalArgs, Args> = {
  command: "submit-script",
  describe: "send a single script (a run.sh is generated for it)",
  builder: (y) =>
    y
      .option("to", { type: "string", demandOption: true, describe: "the data owner's email" })
      .option("file", { type: "string", describe: "the script file (.py, .sh, .js, .R)" })
      .option("script", { type: "string", describe: "the script text itself (bash unless --interpreter)" })
      .option("interpreter", { type: "string", describe: "program that runs the script, e.g. python3" })
      .option("name", { type: "string", describe: "a short name for the job (default: the file name)" })
      .option("description", { type: "string", default: "" })
      .option("tag", { type: "string", array: true, default: [] as string[] })
      .conflicts("file", "script")
      .example("$0 submit-script --to owner@uni.edu --file count.py", "")
      .example("$0 submit-script --to owner@uni.edu --script 'wc -l $DATA_DIR/*/*.csv > $OUTPUT_DIR/n.txt'", ""),
  handler: async (argv) => {
    const ctx = await contextFrom(argv);
    const result = await submitScript(
      {
        to: argv.to,
        file: argv.file,
        script: argv.script,
        interpreter: argv.interpreter,
        name: argv.name,
        description: argv.description,
        tags: argv.tag,
      },
      ctx,
    );
    print(argv, result, () => `Submitted ${result.uid} ("${result.metadata.name}") to ${argv.to}.`);
  },
};
