// A requester withdraws a job. They can write only to their own inbox, so the request is a file
// there, inbox/<email>/cancel/<uid>.json, which the owner's pass honours and records: a job still
// pending or approved is rejected at once; a running one is stopped through its executor, and the
// pass that collects it records it as cancelled (failed, with its partial logs). A job not yet taken
// in is simply taken back.
import fs from "node:fs";
import path from "node:path";
import type { Context } from "../core/context.ts";
import { errorMessage, JobNotFoundError, JobStateError, ScqError } from "../core/errors.ts";
import { ifExists, listDirs, readJsonFile, writeJsonAtomic } from "../core/fsutil.ts";
import { recordCancel } from "../run/executor.ts";
import { executorFor } from "../run/which-executor.ts";
import type { Job, JobView } from "../core/job.ts";
import { findJob, locateJob } from "../queue/jobs.ts";
import { now, transition, type Recorder } from "../queue/lifecycle.ts";
import { prefixed, shortUid, type Log } from "../core/log.ts";
import { CANCEL_FOLDER, queuePaths, type QueuePaths } from "../core/paths.ts";
import { removeTree } from "../core/remove.ts";
import { CancelSchema, Email, type AppConfig } from "../core/schemas.ts";
import { visible } from "../core/visible.ts";

export interface CancelResult {
  job: JobView;
  /**
   * "withdrawn": it was still in the inbox here and is gone (a request goes too, in case the owner's
   * queue took it in meanwhile); "requested": the owner's next pass cancels it.
   */
  outcome: "withdrawn" | "requested";
}

export async function cancelJob(ctx: Context, ref: string, reason = ""): Promise<CancelResult> {
  const job = await locateJob(ctx, ref);
  if (job.role === "owner") throw new ScqError(`Job ${job.uid} is in your own queue: reject it instead (scq reject ${shortUid(job.uid)} -r "...").`);
  if (job.taken_in && job.status !== "pending" && job.status !== "approved" && job.status !== "running") {
    throw new JobStateError(`Job ${job.uid} is ${job.status}: it has finished already, so there is nothing to cancel.`);
  }
  const paths = queuePaths(ctx.dataDir, job.owner, ctx.config.queue_name);
  if (!job.taken_in) {
    await fs.promises.rm(job.dir, { recursive: true, force: true });
  }
  // Also for a job still in our inbox copy: under SyftBox, the owner's pass may have taken it in
  // already while our copy waits for the sync that removes it. The request then cancels it there.
  const dir = path.join(paths.inbox, ctx.email, CANCEL_FOLDER);
  fs.mkdirSync(dir, { recursive: true });
  await writeJsonAtomic(path.join(dir, `${job.uid}.json`), { uid: job.uid, at: now(), reason });
  return { job, outcome: job.taken_in ? "requested" : "withdrawn" };
}

/** The pass's step: honour cancel requests for jobs that have not started; drop the rest. */
export async function applyCancellations(paths: QueuePaths, config: AppConfig, log: Log): Promise<string[]> {
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
        const job = await findJob(paths, request.uid, ["pending", "approved", "running"]).catch((error: unknown) => {
          if (error instanceof JobNotFoundError) return undefined;
          throw error;
        });
        if (!job) {
          log(`cancel: ${shortUid(request.uid)} from ${email} ignored: the job has finished already, or is unknown`);
        } else if (job.meta.requester_email !== email) {
          log(`cancel: ${shortUid(request.uid)} from ${email} ignored: only its requester can cancel a job`);
        } else if (job.status === "running") {
          await stopRunning(paths, config, job, { by: email, reason: request.reason, at: request.at });
          log(`cancel: ${shortUid(job.uid)} is running: stopping it at its requester's request (${email}); the next pass records it`);
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

/** A running job: the cancellation is recorded beside its run, then its executor stops it. */
async function stopRunning(paths: QueuePaths, config: AppConfig, job: Job, request: { by: string; reason: string; at: string }): Promise<void> {
  const ref = job.meta.run;
  if (!ref) return; // a run from an older version: recovery fails it as interrupted
  await recordCancel(paths, ref.run_id, request);
  await (await executorFor(config, paths, ref.executor)).stop(ref);
}
