// Which executor runs a job: the one config.json names for new runs, the one that started it for a
// run already under way. Apart from executor.ts, which the executors themselves import.
import type { QueuePaths } from "../core/paths.ts";
import type { AppConfig, RunRef } from "../core/schemas.ts";
import type { Executor } from "./executor.ts";

/** The executor a config names. Runs already started keep the executor that started them (executorFor(ref)). */
export async function executorFor(config: AppConfig, paths: QueuePaths, type: RunRef["executor"] = config.executor.type): Promise<Executor> {
  const { mode, data_paths } = config.sandbox;
  if (type === "local") {
    const { localExecutor } = await import("./executors/local.ts");
    return localExecutor(paths, mode, data_paths);
  }
  const { slurmExecutor } = await import("./executors/slurm.ts");
  // A run Slurm started can be followed and collected even if config.json no longer names Slurm.
  return slurmExecutor(paths, config.executor.type === "slurm" ? config.executor : undefined, mode, data_paths);
}
