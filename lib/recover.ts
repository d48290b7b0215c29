// Recovery, the first thing a pass does under the lock: whatever a crashed or killed pass left
// behind is brought into a state the rest of the pass understands. Nothing is lost: every job ends
// up in exactly one status folder with metadata that agrees with it.
import fs from "node:fs";
import path from "node:path";
import { approvalMatches } from "./decisions.ts";
import { errorMessage, reportJobError } from "./errors.ts";
import { ifExists } from "./fsutil.ts";
import { listJobs, type Job } from "./jobs.ts";
import { ACTIVE_STATUSES, canTransition, now, transition, update, type Recorder } from "./lifecycle.ts";
import { prefixed, shortUid, type Log } from "./log.ts";
import type { QueuePaths } from "./paths.ts";
import { removeTree } from "./remove.ts";
import { stageRoot } from "./runner.ts";
import { treeHash } from "./tree.ts";

export async function recover(paths: QueuePaths, log: Log): Promise<void> {
  const rec: Recorder = { paths, log: prefixed(log, "recover: ") };
  // Stage folders of runs that were in progress when their pass died. One that cannot be removed is
  // said and left for the next pass: it never stops this one.
  const stages = stageRoot(paths);
  for (const name of (await ifExists(fs.promises.readdir(stages))) ?? []) {
    await removeTree(path.join(stages, name)).catch((error: unknown) => rec.log(`stage ${name} could not be removed yet: ${errorMessage(error)}`));
  }

  const { jobs, problems } = await listJobs(paths, ACTIVE_STATUSES);
  // Unreadable records in pending/ are jobs of Python clients still arriving: intake deals with them.
  for (const problem of problems.filter((p) => p.status !== "pending")) {
    rec.log(`${problem.status}/${problem.uid} has unreadable metadata, left alone: ${problem.error.message}`);
  }
  for (let job of jobs) {
    try {
      if (job.meta.status !== job.status) job = await finishHalfDoneTransition(rec, job);
      if (job.status === "running") {
        // We hold the lock, so no live pass is running it: its pass died.
        await transition(
          rec,
          job,
          "failed",
          { completed_at: now(), error_message: "interrupted: the pass running this job stopped (crash, kill or reboot); partial logs are kept" },
          { event: "recovered", detail: { to: "failed", reason: "interrupted" }, say: "was running when its pass died → failed (interrupted)" },
        );
      }
    } catch (error) {
      reportJobError(rec.log, shortUid(job.uid), error);
    }
  }
}

/** The metadata names another status than the folder: a pass died between the two steps of a change. */
async function finishHalfDoneTransition(rec: Recorder, job: Job): Promise<Job> {
  const target = job.meta.status;
  let finish = canTransition(job.status, target);
  // approved → running is undone, not finished: the job starts only after the rename, so it never ran.
  if (job.status === "approved" && target === "running") finish = false;
  // pending → approved is finished only with a marker for exactly this code: a status field never approves.
  if (target === "approved") finish = finish && (await approvalMatches(rec.paths, job.uid, await treeHash(path.join(job.dir, "code"))));
  const detail = { folder: job.status, metadata: target, finished: finish };
  if (finish) return transition(rec, job, target, {}, { event: "recovered", detail, say: `finishing ${job.status} → ${target}` });
  return update(rec, job, {}, { event: "recovered", detail, say: `metadata said ${target}, folder says ${job.status}: keeping ${job.status}` });
}
