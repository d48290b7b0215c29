// The pass's step that acts on decision markers: each pending job with one is rejected, approved (its
// code still exactly what was approved) or failed (its code changed after approval). See verdict.ts.
import fs from "node:fs";
import path from "node:path";
import { failCodeChanged, verdictOn } from "../approval/verdict.ts";
import { forEachLimit } from "../core/concurrency.ts";
import { reportJobError } from "../core/errors.ts";
import { ifExists } from "../core/fsutil.ts";
import type { Job } from "../core/job.ts";
import { prefixed, shortUid, type Log } from "../core/log.ts";
import type { QueuePaths } from "../core/paths.ts";
import type { JobStatus } from "../core/schemas.ts";
import { treeHash } from "../core/tree.ts";
import { readJob } from "../queue/jobs.ts";
import { now, transition, type Recorder } from "../queue/lifecycle.ts";

/** Markers for pending jobs: one listing of decisions/, and only the jobs that have one are read. */
export async function applyDecisions(paths: QueuePaths, pending: Set<string>, log: Log): Promise<{ uid: string; to: string }[]> {
  const rec: Recorder = { paths, log: prefixed(log, "decision: ") };
  const decided: { uid: string; to: string }[] = [];
  const marked = ((await ifExists(fs.promises.readdir(paths.decisions))) ?? [])
    .map((name) => name.replace(/\.json$/, ""))
    .filter((uid) => pending.has(uid));
  // Independent jobs whose changes mostly wait on the disk: a few at a time, reported in uid order.
  await forEachLimit(marked.sort(), 8, async (uid) => {
    try {
      const to = await applyDecision(rec, await readJob(paths, "pending", uid));
      if (to) decided.push({ uid, to });
    } catch (error) {
      // E.g. its folder is being deleted by a sync. It stays pending; the next pass looks again.
      reportJobError(rec.log, shortUid(uid), error);
    }
  });
  return decided.sort((a, b) => a.uid.localeCompare(b.uid));
}

async function applyDecision(rec: Recorder, job: Job): Promise<JobStatus | undefined> {
  const verdict = await verdictOn(rec.paths, job.uid, () => treeHash(path.join(job.dir, "code")));
  switch (verdict.is) {
    case "unreadable":
      rec.log(`${shortUid(job.uid)} marker ignored: ${verdict.error}`);
      return undefined;
    case "undecided":
      return undefined;
    case "code-changed":
      await failCodeChanged(rec, job, verdict, "NOT approved");
      return "failed";
    case "rejected": {
      const { by, reason, at } = verdict.marker;
      await transition(
        rec,
        job,
        "rejected",
        { decision: { by, reason, at }, completed_at: now(), error_message: `rejected by ${by}: ${reason}` },
        { event: "rejected", by, detail: { reason }, say: `rejected by ${by}: ${reason}` },
      );
      return "rejected";
    }
    case "approved": {
      const { by, reason, at } = verdict.marker;
      await transition(
        rec,
        job,
        "approved",
        { decision: { by, reason, at } },
        { event: "approved", by, detail: { reason, code_sha256: verdict.codeHash }, say: `approved by ${by}` },
      );
      return "approved";
    }
  }
}
