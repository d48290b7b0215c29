// A job's supervisor (see lib/run/supervisor.ts). Started by a pass, or by Slurm on a compute node, with
// the run's folder; never by hand. Exit 0 when it wrote a result or, told nothing, ran nothing.
import { errorMessage } from "../lib/core/errors.ts";
import { supervise } from "../lib/run/supervisor.ts";

const runDir = process.argv[2];
if (!runDir || runDir.startsWith("-")) {
  process.stderr.write(
    "Usage: supervise RUN_FOLDER\n\nRun one approved job as its pass asked in RUN_FOLDER/request.json. Started by a pass, not by hand.\n",
  );
  process.exit(2);
}
try {
  const outcome = await supervise(runDir);
  process.stderr.write(`supervisor: ${outcome}\n`);
  process.exit(0);
} catch (error) {
  process.stderr.write(`supervisor: ${errorMessage(error)}\n`);
  process.exit(1);
}
