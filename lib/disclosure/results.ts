// A job's results as a given user may see them: its logs and its output files. They are in the job's
// folder, or, while the owner holds them for review ("release": "review"), in the owner-only staging
// folder, which only the owner may read from. Both functions take a job already looked up.
import fs from "fs-extra";
import path from "node:path";
import type { Context } from "../core/context.ts";
import { JobStateError, ScqError } from "../core/errors.ts";
import { ifExists, readJsonFile } from "../core/fsutil.ts";
import type { JobView } from "../core/job.ts";
import { readLog } from "../core/log-files.ts";
import { CHECKS_FILE, queuePaths, resultsDir } from "../core/paths.ts";
import { ChecksReportSchema, type ChecksReport } from "../core/schemas.ts";
import { walkTree, type TreeEntry } from "../core/tree.ts";

/** Where a job's results are for this user, or why there are none to see (yet). */
function resultsOf(ctx: Context, job: JobView): string {
  if (job.role === "approver") {
    throw new JobStateError(`Job ${job.uid}: an approver reviews its code and record; its logs and output are for its requester and owner.`, {
      uid: job.uid,
    });
  }
  if (job.meta.output_review !== "pending" && job.status !== "running") return job.dir;
  if (job.role === "requester") {
    throw new JobStateError(
      job.status === "running"
        ? `Job ${job.uid} is running; its logs and output come once it has finished and they have been checked.`
        : `Job ${job.uid} is ${job.status}; its output and logs await the owner's review before release.`,
      { uid: job.uid },
    );
  }
  return resultsDir(queuePaths(ctx.dataDir, job.owner, ctx.config.queue_name), job);
}

/** The text of stdout or stderr, or null when the job has written none (yet). */
export async function readLogs(ctx: Context, job: JobView, stream: "stdout" | "stderr"): Promise<string | null> {
  // A job run by an earlier version: its logs went straight to its folder.
  return (await readLog(resultsOf(ctx, job), stream)) ?? (await readLog(job.dir, stream)) ?? null;
}

export interface Output {
  dir: string;
  files: TreeEntry[];
  copied_to: string | null;
}

/** The output files, optionally copied into `to`: a new or empty folder, like cp, rsync and scp, never over files there. */
export async function outputOf(ctx: Context, job: JobView, to?: string): Promise<Output> {
  const dir = path.join(resultsOf(ctx, job), "output");
  if (!(await fs.pathExists(dir))) throw new JobStateError(`Job ${job.uid} has no output (it is ${job.status}).`, { uid: job.uid });
  const files = (await walkTree(dir, { anyName: true })).filter((e) => e.type === "file");
  if (to) {
    const there = await fs.promises.readdir(to).catch((error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT") return [];
      if (error.code === "ENOTDIR") throw new ScqError(`${to} is a file: give a folder to copy the output into.`, { path: to });
      throw error;
    });
    if (there.length > 0) throw new ScqError(`${to} is not empty: give a new or empty folder to copy the output into.`, { path: to });
    await fs.copy(dir, to);
  }
  return { dir, files, copied_to: to ?? null };
}

/** The checks report (output-checks.json) in a folder holding a job's results, if there is one. */
export function readChecksReport(dir: string): Promise<ChecksReport | undefined> {
  return ifExists(readJsonFile(path.join(dir, CHECKS_FILE), ChecksReportSchema, "", 64 * 1024 * 1024));
}

/** What the disclosure check found in the job's output (output-checks.json), as this user may see it. */
export async function checksOf(ctx: Context, job: JobView): Promise<ChecksReport> {
  const report = await readChecksReport(resultsOf(ctx, job));
  if (!report)
    throw new JobStateError(`Job ${job.uid} has no output checks (it is ${job.status}; checks run on a finished job's output).`, { uid: job.uid });
  return report;
}
