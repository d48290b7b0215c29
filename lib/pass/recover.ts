// Recovery, the first thing a pass does under the lock: whatever a crashed or killed pass left
// behind is brought into a state the rest of the pass understands. Nothing is lost: every job ends
// up in exactly one status folder with metadata that agrees with it.
import fs from "node:fs";
import path from "node:path";
import { verdictOn } from "../approval/verdict.ts";
import { errorMessage, InvalidFileError, reportJobError } from "../core/errors.ts";
import { ifExists, isNotFound, readJsonFile, removeDeadTempFiles } from "../core/fsutil.ts";
import { RUN_RECORD } from "../run/executor.ts";
import type { Job } from "../core/job.ts";
import { listJobs, readJob, uidIndex } from "../queue/jobs.ts";
import {
  restoreRunning,
  returnUnreadable,
  canTransition,
  completeRecorded,
  dropJournal,
  journalDir,
  JournalEntrySchema,
  transition,
  update,
  type JournalEntry,
  type Recorder,
} from "../queue/lifecycle.ts";
import { prefixed, shortUid, type Log } from "../core/log.ts";
import { jobDir, type QueuePaths } from "../core/paths.ts";
import { JobMetadataSchema, type JobMetadata, type JobStatus } from "../core/schemas.ts";
import { removeTree } from "../core/remove.ts";
import { ownStageRoot } from "../run/stage.ts";
import { treeHash } from "../core/tree.ts";
import { expected } from "../core/expected.ts";

export async function recover(paths: QueuePaths, log: Log): Promise<void> {
  const rec: Recorder = { paths, log: prefixed(log, "recover: ") };
  // Changes cut off mid-way, as the journal names them: recovery never reads every job.
  // Temp files of atomic writes a killed pass left: of journal entries never written (their change
  // never began), and of records and rules in the few folders every pass writes (intake clears its own notes' folder).
  for (const dir of [journalDir(paths), paths.root, paths.decisions]) await removeDeadTempFiles(dir);
  for (const name of (await ifExists(fs.promises.readdir(journalDir(paths)))) ?? []) {
    const uid = name.replace(/\.json$/, "");
    if (uid === name) continue; // not an entry (a temp file of a live writer)
    try {
      const entry = await readJsonFile(path.join(journalDir(paths), name), JournalEntrySchema);
      await recoverChange(rec, entry);
    } catch (error) {
      if (error instanceof InvalidFileError) {
        // Cut off while it was being written: the change it announced had not started.
        await dropJournal(paths, uid);
        continue;
      }
      reportJobError(rec.log, shortUid(uid), error);
    }
  }
  // approved/ and running/ hold few jobs: each is checked. A record that disagrees with its folder
  // (written by an older version or another program) is settled.
  const copies = await runRecords(paths);
  const { jobs, problems } = await listJobs(paths, ["approved", "running"]);
  for (const problem of problems) {
    try {
      // A running job's record deleted under it (a sync): put back from its run's copy, not judged anew.
      const copy = [...copies.values()].find((c) => c.uid === problem.uid);
      if (problem.status === "running" && isNotFound(problem.error) && copy) {
        await restoreRunning(rec, copy, "its metadata.json was deleted while it ran (by a sync?)");
        continue;
      }
      await settleUnreadable(rec, problem.status, problem.uid, problem.error);
    } catch (error) {
      reportJobError(rec.log, shortUid(problem.uid), error);
    }
  }
  for (const job of jobs) {
    try {
      if (job.meta.status !== job.status) await finishHalfDoneTransition(rec, job);
    } catch (error) {
      reportJobError(rec.log, shortUid(job.uid), error);
    }
  }
  // Running jobs are left to their runs (collected by runs.ts). What no running job refers to any
  // more is left over from a pass or a supervisor that died: its stage and private run folder go.
  const { jobs: running, problems: unreadable } = await listJobs(paths, ["running"]);
  // A running job whose record cannot be read may own any of them: nothing is removed until it is settled.
  if (unreadable.length > 0) return;
  const live = new Set(running.flatMap((job) => (job.meta.run ? [job.meta.run.run_id] : [])));
  // A run whose job folder vanished altogether while it ran (a sync deleting it): its record comes
  // back from the run's copy, and the run goes on to be collected; nothing of it is thrown away.
  const orphans = [...copies].filter(([runId]) => !live.has(runId));
  const known = orphans.length > 0 ? await uidIndex(paths) : new Map<string, JobStatus>();
  for (const [runId, copy] of orphans) {
    if (known.has(copy.uid)) continue;
    try {
      await restoreRunning(rec, copy, "its folder was deleted while it ran (by a sync?)");
      live.add(runId);
    } catch (error) {
      reportJobError(rec.log, shortUid(copy.uid), error);
    }
  }
  for (const dir of [await ownStageRoot(paths), paths.runs]) {
    if (!dir) continue;
    for (const name of (await ifExists(fs.promises.readdir(dir))) ?? []) {
      if (live.has(name)) continue;
      // One that cannot be removed is said and left for the next pass: it never stops this one.
      await removeTree(path.join(dir, name)).catch((error: unknown) =>
        rec.log(`left-over run folder ${name} could not be removed yet: ${errorMessage(error)}`),
      );
    }
  }
}

/** The record each run's private folder keeps of its job (as it started), by run id. */
async function runRecords(paths: QueuePaths): Promise<Map<string, JobMetadata>> {
  const copies = new Map<string, JobMetadata>();
  for (const runId of (await ifExists(fs.promises.readdir(paths.runs))) ?? []) {
    const copy = await ifExists(readJsonFile(path.join(paths.runs, runId, RUN_RECORD), JobMetadataSchema)).catch(
      expected("no readable copy: the job is settled without it"),
    );
    if (copy?.run?.run_id === runId) copies.set(runId, copy);
  }
  return copies;
}

/** One journal entry: where did its change get to? (And the temp files its cut-off writes left go.) */
async function recoverChange(rec: Recorder, entry: JournalEntry): Promise<void> {
  for (const status of new Set([entry.from, entry.to])) await removeDeadTempFiles(jobDir(rec.paths, status, entry.uid));
  await recoverJournaled(rec, entry);
}

async function recoverJournaled(rec: Recorder, entry: JournalEntry): Promise<void> {
  const moved = entry.from !== entry.to ? await ifExists(readJob(rec.paths, entry.to, entry.uid)) : undefined;
  if (moved) return completeRecorded(rec, entry); // folder moved; its audit line may be missing
  const job = await ifExists(readJob(rec.paths, entry.from, entry.uid));
  if (!job) {
    rec.log(`${shortUid(entry.uid)} named in the journal is gone (removed by hand or by a sync): nothing to recover`);
    return dropJournal(rec.paths, entry.uid);
  }
  if (entry.from === entry.to) {
    // A change of the record only: done if the record was rewritten after the entry.
    return job.meta.updated_at >= entry.at ? completeRecorded(rec, entry) : dropJournal(rec.paths, entry.uid);
  }
  if (job.meta.status === entry.from) return dropJournal(rec.paths, entry.uid); // cut off before its record was written
  await finishHalfDoneTransition(rec, job);
  await dropJournal(rec.paths, entry.uid);
}

/**
 * The metadata names another status than the folder: a pass died between the two steps of a change,
 * or another program rewrote the record. Also called by the hourly sweep for pending/, which recovery
 * does not read every pass.
 */
export async function finishHalfDoneTransition(rec: Recorder, job: Job): Promise<Job> {
  const target = job.meta.status;
  let finish = canTransition(job.status, target);
  // approved → running is undone, not finished: the job starts only after the rename, so it never ran.
  if (job.status === "approved" && target === "running") finish = false;
  // pending → approved is finished only with a marker for exactly this code: a status field never approves.
  if (target === "approved") finish = finish && (await verdictOn(rec.paths, job.uid, () => treeHash(path.join(job.dir, "code")))).is === "approved";
  const detail = { folder: job.status, metadata: target, finished: finish };
  if (finish) return transition(rec, job, target, {}, { event: "recovered", detail, say: `finishing ${job.status} → ${target}` });
  return update(rec, job, {}, { event: "recovered", detail, say: `metadata said ${target}, folder says ${job.status}: keeping ${job.status}` });
}

/** A sync writes a record within this: an unreadable one older than that is not half-synced but wrong. */
const SETTLE_MS = 60_000;

/**
 * A job in approved/ or running/ whose record cannot be read (another program wrote it, or wrote
 * garbage): it never runs, and it is not left stuck either. Once the record has stayed unreadable
 * past a sync's time, the folder goes back to pending/ (one "returned" line), where the intake gate
 * rejects it with what is wrong with its record, which the requester and every listing then show.
 */
async function settleUnreadable(rec: Recorder, status: JobStatus, uid: string, error: Error): Promise<void> {
  const dir = jobDir(rec.paths, status, uid);
  // When the record itself is gone, the folder's mtime tells when (a sync deleting a folder file by file).
  const written =
    (await ifExists(fs.promises.lstat(path.join(dir, "metadata.json"))))?.mtimeMs ?? (await ifExists(fs.promises.lstat(dir)))?.mtimeMs ?? 0;
  if (!(error instanceof InvalidFileError || isNotFound(error)) || Date.now() - written < SETTLE_MS) {
    rec.log(`${status}/${uid} has unreadable metadata, left for the next pass: ${error.message}`);
    return;
  }
  await returnUnreadable(rec, status, uid, error.message);
}
