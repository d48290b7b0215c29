// A job's supervisor (see lib/run/supervisor.ts). Started by a pass, or by Slurm on a compute node, with
// the run's folder; never by hand. Exit 0 when it wrote a result or, told nothing, ran nothing.
import { errorMessage } from "../lib/core/errors.ts";
import { supervise, waitAsSpare } from "../lib/run/supervisor.ts";

const spare = process.argv[2] === "--spare";
const folder = process.argv[spare ? 3 : 2];
if (!folder || folder.startsWith("-")) {
  process.stderr.write(
    "Usage: supervise RUN_FOLDER\n       supervise --spare SPARE_FOLDER\n\n" +
      "Run one approved job as its pass asked in RUN_FOLDER/request.json; or, as a spare of the warm loop,\n" +
      "wait in SPARE_FOLDER until a pass makes it a run's folder. Started by a pass or the loop, not by hand.\n",
  );
  process.exit(2);
}
try {
  const runDir = spare ? await waitAsSpare(folder) : folder;
  if (runDir === undefined) {
    process.stderr.write("supervisor: a spare, retired unused\n");
    process.exit(0);
  }
  const outcome = await supervise(runDir);
  process.stderr.write(`supervisor: ${outcome}\n`);
  process.exit(0);
} catch (error) {
  process.stderr.write(`supervisor: ${errorMessage(error)}\n`);
  process.exit(1);
}
