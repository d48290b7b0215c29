// A job's supervisor (see lib/run/supervisor.ts). Started by a pass, or by Slurm on a compute node, with
// the run's folder; or by the warm loop as a spare (lib/run/waiting-spare.ts), with a folder to wait
// in, taking one run after another. Never by hand. Exit 0 when it wrote its results or, told nothing,
// ran nothing.
import fs from "node:fs";
import path from "node:path";
import { errorMessage } from "../lib/core/errors.ts";
import { expected } from "../lib/core/expected.ts";
import { supervise } from "../lib/run/supervisor.ts";
import { comeBack, lifeline, waitAsSpare } from "../lib/run/waiting-spare.ts";

const spare = process.argv[2] === "--spare";
const folder = process.argv[spare ? 3 : 2];
if (!folder || folder.startsWith("-")) {
  process.stderr.write(
    "Usage: supervise RUN_FOLDER\n       supervise --spare SPARE_FOLDER\n\n" +
      "Run one approved job as its pass asked in RUN_FOLDER/request.json; or, as a spare of the warm loop,\n" +
      "wait in SPARE_FOLDER until a pass makes it a run's folder, and go on so. Started by a pass or the loop, not by hand.\n",
  );
  process.exit(2);
}
try {
  if (!spare) {
    const { ran } = await supervise(folder);
    process.stderr.write(`supervisor: ${ran ? "ran" : "not started"}\n`);
    process.exit(0);
  }
  const line = lifeline();
  let home: string | undefined = folder;
  for (let runs = 1; home !== undefined; runs += 1) {
    const runDir = await waitAsSpare(home, line);
    if (runDir === undefined) break;
    home = undefined;
    const { ran, signalled } = await supervise(runDir, {
      comeBack: () => {
        home = comeBack(path.dirname(folder), line, runs);
      },
    });
    // Its stderr is the first run's supervisor.txt: each run's words go into its own folder.
    await fs.promises
      .appendFile(path.join(runDir, "supervisor.txt"), `supervisor: ${ran ? "ran" : "not started"} (run ${runs} of this spare)\n`)
      .catch(expected("its words only: the run's result is what counts"));
    if (signalled) break;
  }
  process.stderr.write("supervisor: a spare, retired\n");
  process.exit(0);
} catch (error) {
  process.stderr.write(`supervisor: ${errorMessage(error)}\n`);
  process.exit(1);
}
