// Where a job's logs are, in its folder, its staging folder and a run's results. Imports nothing
// with side effects: the supervisor bundle that runs on Slurm nodes loads it too.
import fs from "node:fs";
import path from "node:path";

/**
 * The logs folder (stdout.txt, stderr.txt). Not "logs/": SyftBox clients never sync a folder of that
 * name (nor any *.log), so a requester would never receive them. Jobs finished before this name was
 * chosen keep theirs in OLD_LOGS_DIR, read as a fallback.
 */
export const LOGS_DIR = "run-logs";
const OLD_LOGS_DIR = "logs";

export type Stream = "stdout" | "stderr";

/** Both streams in one file, where a Python syft-code-queue client reads a job's log (jobs it wrote). */
export const EXECUTION_LOG = "execution.log";

export function logFile(dir: string, stream: Stream): string {
  return path.join(dir, LOGS_DIR, `${stream}.txt`);
}

/** The logs folder in `dir` under the name it has (the old one for results from before), if any. */
export function existingLogsDir(dir: string): string | undefined {
  return [LOGS_DIR, OLD_LOGS_DIR].map((name) => path.join(dir, name)).find((folder) => fs.existsSync(folder));
}

/** One stream of the results in `dir`, or undefined when there is none (yet). */
export async function readLog(dir: string, stream: Stream): Promise<string | undefined> {
  for (const file of [logFile(dir, stream), path.join(dir, OLD_LOGS_DIR, `${stream}.txt`)]) {
    try {
      return await fs.promises.readFile(file, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
  }
  return undefined;
}
