// Housekeeping at the end of a pass, at most every `sweepEvery` seconds (an hour at most), so an idle
// pass stays cheap however long the queue:
//  - pending jobs nobody reviewed within pending_expire_after → rejected ("expired");
//  - terminal jobs older than cleanup_completed_after are removed with their decision marker, judged
//    by a stat of metadata.json (written at the job's last change), never by reading every record.
import fs from "node:fs";
import path from "node:path";
import { errorMessage, reportJobError } from "../core/errors.ts";
import { forEachLimit } from "../core/concurrency.ts";
import { ifExists, writeJsonAtomic } from "../core/fsutil.ts";
import { unlessDiskFull } from "../core/disk-space.ts";
import { listJobs } from "../queue/jobs.ts";
import { statusUids } from "../queue/listing.ts";
import { now, remove, TERMINAL_STATUSES, transition, type Recorder } from "../queue/lifecycle.ts";
import { prefixed, shortUid, type Log } from "../core/log.ts";
import { jobDir, type QueuePaths } from "../core/paths.ts";
import { finishHalfDoneTransition } from "./recover.ts";
import { removeTree } from "../core/remove.ts";
import type { AppConfig } from "../core/schemas.ts";
import { uidTime } from "../core/uid.ts";
import { expected } from "../core/expected.ts";

/** How far ahead of ours a requester's clock may be before its uids' times are not believed. */
const CLOCK_SKEW_MS = 3600_000;

export interface CleanupResult {
  expired: string[];
  removed: string[];
  swept: boolean;
}

export async function cleanup(
  paths: QueuePaths,
  config: AppConfig,
  log: Log,
  nowMs = Date.now(),
  options: { now?: boolean } = {},
): Promise<CleanupResult> {
  const result: CleanupResult = { expired: [], removed: [], swept: false };
  const marker = path.join(paths.state, "last-sweep.json");
  const sweepEvery = Math.min(3600, Math.max(60, Math.min(config.cleanup_completed_after, config.pending_expire_after) / 10));
  const last = await fs.promises.stat(marker).then(
    (s) => s.mtimeMs,
    () => 0,
  );
  if (nowMs - last < sweepEvery * 1000 && !options.now) return result;
  result.swept = true;
  const rec: Recorder = { paths, log: prefixed(log, "cleanup: ") };
  const trash = path.join(paths.jobs, ".trash");
  const keepMs = config.cleanup_completed_after * 1000;
  const names = await statusUids(paths, TERMINAL_STATUSES);
  for (const status of TERMINAL_STATUSES) {
    // A job submitted more recently than the retention cannot have finished longer ago: a time-ordered
    // uid tells, so only older ones are looked at (a stat of the record, written at its last change).
    // The uid's time is the requester's clock: one that claims a future time proves nothing, and is
    // looked at too (retention itself goes by the record's mtime, the owner's clock).
    const candidates = (names.get(status) ?? []).filter((uid) => {
      const claimed = uidTime(uid) ?? 0;
      return nowMs - claimed >= keepMs || claimed > nowMs + CLOCK_SKEW_MS;
    });
    const old: string[] = [];
    await forEachLimit(candidates, 64, async (uid) => {
      const changed = (await ifExists(fs.promises.stat(path.join(jobDir(paths, status, uid), "metadata.json"))))?.mtimeMs;
      if (changed !== undefined && nowMs - changed >= keepMs) old.push(uid);
    });
    for (const uid of old.sort()) {
      try {
        await remove(rec, { uid, status, dir: jobDir(paths, status, uid) });
        result.removed.push(uid);
      } catch (error) {
        reportJobError(rec.log, shortUid(uid), error);
      }
    }
  }
  const { jobs } = await listJobs(paths, ["pending"]);
  for (let job of jobs) {
    // A record that disagrees with its folder (another program rewrote it) is settled here, hourly:
    // pending/ can be long, and the folder decides anyway.
    if (job.meta.status !== job.status)
      job = await finishHalfDoneTransition(rec, job).catch(expected("finished by recovery next pass; the sweep goes on with the job as it is", job));
    if (job.status !== "pending" || nowMs - Date.parse(job.meta.updated_at) < config.pending_expire_after * 1000) continue;
    const days = Math.round(config.pending_expire_after / 86_400);
    try {
      await transition(
        rec,
        job,
        "rejected",
        {
          completed_at: now(),
          error_message: `expired: not reviewed within ${days > 0 ? `${days} days` : `${config.pending_expire_after} seconds`} (pending_expire_after)`,
        },
        { event: "expired", say: "pending too long → rejected (expired)" },
      );
      result.expired.push(job.uid);
    } catch (error) {
      reportJobError(rec.log, shortUid(job.uid), error);
    }
  }

  await removeTree(trash).catch((error: unknown) =>
    log(`cleanup: ${trash} could not be removed, the next sweep tries again: ${errorMessage(error)}`),
  );
  fs.mkdirSync(paths.state, { recursive: true });
  // The time of this sweep is a hint: on a full disk it may not be written, and the next pass sweeps again.
  await unlessDiskFull(writeJsonAtomic(marker, { at: new Date(nowMs).toISOString() }), () =>
    log(`cleanup: disk full: the time of this sweep could not be kept, the next pass sweeps again`),
  );
  return result;
}
