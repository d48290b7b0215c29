// Output release (release: "review"): a finished job's output and logs wait in staging/<uid>/, which
// only the owner can read, until the owner has looked at them (scq output / scq logs) and releases
// them into the job folder, where the requester can read them.
import fs from "fs-extra";
import path from "node:path";
import { appendAudit } from "./audit.ts";
import { ownQueue, type Context } from "./context.ts";
import { JobStateError } from "./errors.ts";
import { findJob, updateMetadata, type Job } from "./lifecycle.ts";

export async function releaseOutput(ctx: Context, ref: string): Promise<Job> {
  const paths = ownQueue(ctx);
  const job = await findJob(paths, ref);
  if (job.meta.output_review !== "pending") {
    throw new JobStateError(
      job.meta.output_review === "released"
        ? `Job ${job.uid}: its output was released already.`
        : `Job ${job.uid} (${job.status}) has no output awaiting release.`,
    );
  }
  if (job.status !== "completed" && job.status !== "failed") throw new JobStateError(`Job ${job.uid} is ${job.status}: release it once it has finished.`);
  const staged = path.join(paths.staging, job.uid);
  for (const part of ["logs", "output"]) {
    const from = path.join(staged, part);
    if (!(await fs.pathExists(from))) continue;
    await fs.promises.rm(path.join(job.dir, part), { recursive: true, force: true });
    await fs.promises.rename(from, path.join(job.dir, part));
  }
  const released = await updateMetadata(job, { output_review: "released" });
  await fs.promises.rm(staged, { recursive: true, force: true });
  await appendAudit(paths, { event: "released", uid: job.uid, by: ctx.email });
  return released;
}
