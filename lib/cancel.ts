// A requester withdraws a job that has not started. They can write only to their own inbox, so the
// request is a file there, inbox/<email>/cancel/<uid>.json, which the owner's pass honours for jobs
// still pending or approved, and records. A job not yet taken in is simply taken back.
import fs from "node:fs";
import path from "node:path";
import type { Context } from "./context.ts";
import { errorMessage, JobNotFoundError, JobStateError, ScqError } from "./errors.ts";
import { ifExists, listDirs, readJsonFile, writeJsonAtomic } from "./fsutil.ts";
import { findJob, locateJob, type JobView } from "./jobs.ts";
import { now, transition, type Recorder } from "./lifecycle.ts";
import { prefixed, shortUid, type Log } from "./log.ts";
import { queuePaths, type QueuePaths } from "./paths.ts";
import { removeTree } from "./remove.ts";
import { CancelSchema, Email } from "./schemas.ts";
import { visible } from "./visible.ts";

const CANCEL_FOLDER = "cancel";

export interface CancelResult {
  job: JobView;
  /** "withdrawn": it was still in the inbox and is gone; "requested": the owner's next pass cancels it. */
  outcome: "withdrawn" | "requested";
}

export async function cancelJob(ctx: Context, ref: string, reason = ""): Promise<CancelResult> {
  const job = await locateJob(ctx, ref);
  if (job.role === "owner") throw new ScqError(`Job ${job.uid} is in your own queue: reject it instead (scq reject ${shortUid(job.uid)} -r "...").`);
  if (!job.taken_in) {
    await fs.promises.rm(job.dir, { recursive: true, force: true });
    return { job, outcome: "withdrawn" };
  }
  if (job.status !== "pending" && job.status !== "approved") {
    throw new JobStateError(`Job ${job.uid} is ${job.status}: only a job that has not started can be cancelled.`);
  }
  const paths = queuePaths(ctx.dataDir, job.owner, ctx.config.queue_name);
  const dir = path.join(paths.inbox, ctx.email, CANCEL_FOLDER);
  await fs.promises.mkdir(dir, { recursive: true });
  await writeJsonAtomic(path.join(dir, `${job.uid}.json`), { uid: job.uid, at: now(), reason });
  return { job, outcome: "requested" };
}

/** The pass's step: honour cancel requests for jobs that have not started; drop the rest. */
export async function applyCancellations(paths: QueuePaths, log: Log): Promise<string[]> {
  const cancelled: string[] = [];
  const rec: Recorder = { paths, log: prefixed(log, "cancel: ") };
  for (const email of await listDirs(paths.inbox)) {
    if (!Email.safeParse(email).success) continue;
    const dir = path.join(paths.inbox, email, CANCEL_FOLDER);
    const files = (await ifExists(fs.promises.readdir(dir))) ?? [];
    for (const name of files.filter((f) => f.endsWith(".json"))) {
      const file = path.join(dir, name);
      try {
        const request = await readJsonFile(file, CancelSchema);
        const job = await findJob(paths, request.uid, ["pending", "approved"]).catch((error: unknown) => {
          if (error instanceof JobNotFoundError) return undefined;
          throw error;
        });
        if (!job) {
          log(`cancel: ${shortUid(request.uid)} from ${email} ignored: the job is not pending or approved (too late, or unknown)`);
        } else if (job.meta.requester_email !== email) {
          log(`cancel: ${shortUid(request.uid)} from ${email} ignored: only its requester can cancel a job`);
        } else {
          await transition(
            rec,
            job,
            "rejected",
            { completed_at: now(), error_message: `cancelled by the requester${request.reason ? `: ${request.reason}` : ""}` },
            { event: "cancelled", by: email, detail: { reason: request.reason }, say: `cancelled by its requester ${email} → rejected` },
          );
          cancelled.push(job.uid);
        }
      } catch (error) {
        // A folder, FIFO, link or garbage under a .json name: said and removed; other requests go on.
        log(`cancel: ${visible(`${email}/${CANCEL_FOLDER}/${name}`)} ignored: ${visible(errorMessage(error))}`);
      }
      await removeTree(file).catch((error: unknown) => log(`cancel: ${visible(file)} could not be removed: ${errorMessage(error)}`));
    }
  }
  return cancelled;
}
