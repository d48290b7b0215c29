// Recovery, the first thing a pass does under the lock: whatever a crashed or killed pass left
// behind is brought into a state the rest of the pass understands. Nothing is lost: every job ends
// up in exactly one status folder with metadata that agrees with it.
import fs from "node:fs";
import path from "node:path";
import { appendAudit } from "./audit.ts";
import { approvalMatches } from "./decisions.ts";
import { errorMessage } from "./errors.ts";
import { ACTIVE_STATUSES, canTransition, listJobs, now, transition, updateMetadata, type Job } from "./lifecycle.ts";
import { shortUid, type Log } from "./log.ts";
import type { QueuePaths } from "./paths.ts";
import { removeTree } from "./remove.ts";
import { stageRoot } from "./runner.ts";
import { treeHash } from "./tree.ts";

export async function recover(paths: QueuePaths, log: Log): Promise<void> {
  // Stage folders of runs that were in progress when their pass died. One that cannot be removed is
  // said and left for the next pass: it never stops this one.
  const stages = stageRoot(paths);
  for (const name of await fs.promises.readdir(stages).catch(() => [] as string[])) {
    await removeTree(path.join(stages, name)).catch((error: unknown) => log(`recover: stage ${name} could not be removed yet: ${errorMessage(error)}`));
  }

  const { jobs, problems } = await listJobs(paths, ACTIVE_STATUSES);
  // Unreadable records in pending/ are jobs of Python clients still arriving: intake deals with them.
  for (const problem of problems.filter((p) => p.status !== "pending")) {
    log(`recover: ${problem.status}/${problem.uid} has unreadable metadata, left alone: ${problem.error.message}`);
  }
  for (let job of jobs) {
    try {
      if (job.meta.status !== job.status) job = await finishHalfDoneTransition(paths, job, log);
      if (job.status === "running") {
        // We hold the lock, so no live pass is running it: its pass died.
        await transition(paths, job, "failed", {
          completed_at: now(),
          error_message: "interrupted: the pass running this job stopped (crash, kill or reboot); partial logs are kept",
        });
        await appendAudit(paths, { event: "recovered", uid: job.uid, detail: { to: "failed", reason: "interrupted" } });
        log(`recover: ${shortUid(job.uid)} was running when its pass died → failed (interrupted)`);
      }
    } catch (error) {
      log(`recover: ${shortUid(job.uid)} could not be recovered now, will retry next pass: ${errorMessage(error)}`);
    }
  }
}

/** The metadata names another status than the folder: a pass died between the two steps of a transition. */
async function finishHalfDoneTransition(paths: QueuePaths, job: Job, log: Log): Promise<Job> {
  const target = job.meta.status;
  let finish = canTransition(job.status, target);
  // approved → running is undone, not finished: the job starts only after the rename, so it never ran.
  if (job.status === "approved" && target === "running") finish = false;
  // pending → approved is finished only with a marker for exactly this code: a status field never approves.
  if (target === "approved") finish = finish && (await approvalMatches(paths, job.uid, await treeHash(path.join(job.dir, "code"))));
  if (finish) {
    log(`recover: ${shortUid(job.uid)} finishing ${job.status} → ${target}`);
    return transition(paths, job, target, {});
  }
  log(`recover: ${shortUid(job.uid)} metadata said ${target}, folder says ${job.status}: keeping ${job.status}`);
  return updateMetadata(job, {});
}
