// The limits a run is held to, from the owner's settings, and the names of those a run hit.
import os from "node:os";
import type { AppliedLimits, AppConfig, RunResult } from "../core/schemas.ts";

const MB = 1024 * 1024;

export function appliedLimits(config: AppConfig): AppliedLimits {
  return {
    ...config.limits,
    timeout_s: config.job_timeout,
    cpu_seconds: config.limits.cpu_seconds ?? config.job_timeout * Math.max(1, os.availableParallelism()),
  };
}

/** The limits a run hit, as short names for the job's record and listings. */
export function limitsHit(r: RunResult): string[] {
  return [
    ...(r.timedOut ? ["timeout"] : []),
    ...(r.memoryLimitExceeded ? ["memory"] : []),
    ...(r.outputLimitExceeded ? ["output"] : []),
    ...(r.stdoutTruncated ? ["stdout cap"] : []),
    ...(r.stderrTruncated ? ["stderr cap"] : []),
  ];
}

/** Caps on what a job may leave in its stage: everything it can write (work copy, output, home, tmp) counts. */
export function outputCaps(limits: AppliedLimits): { maxBytes: number; maxFiles: number } {
  return { maxBytes: limits.max_output_mb * MB, maxFiles: limits.max_files * 2 };
}
