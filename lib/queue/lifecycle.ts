/*
 * The job lifecycle. Every change of a job's state happens in this file, and nowhere else.
 *
 * A job is the folder jobs/<status>/<uid>/. The folder is the truth; metadata.json carries the details.
 *
 *   inbox/<email>/<uid> ──intake (valid)────────────────▶ pending            admit        "submitted"
 *                       └─intake (invalid)──────────────▶ rejected           admit        "intake-rejected"
 *   pending/<uid> from a Python client (accepted)───────▶ pending            adopt        "submitted"
 *   pending  ──approve marker, code hash matches────────▶ approved           transition   "approved"
 *            ──approve marker, code hash differs────────▶ failed             transition   "failed"
 *            ──reject marker / expiry / cancel──────────▶ rejected           transition   "rejected" / "expired" / "cancelled"
 *   approved ──a pass starts it─────────────────────────▶ running            transition   "started"
 *            ──no valid approve marker (forged)─────────▶ pending            transition   "returned"
 *            ──code changed after approval──────────────▶ failed             transition   "failed"
 *            ──cancel by the requester──────────────────▶ rejected           transition   "cancelled"
 *   running  ──its run ended, exit 0─────────────────────▶ completed         transition   "completed"
 *            ──its folder or record deleted mid-run──────▶ running           restoreRunning "recovered"
 *            ──its run ended: exit ≠ 0, timeout, limit──▶ failed             transition   "failed"
 *            ──cancel by the requester (run stopped)────▶ failed             transition   "cancelled"
 *            ──its run ended without a result───────────▶ failed             transition   "recovered"
 *            ──its run never began (no "go" was said)───▶ approved           transition   "recovered"
 *   (a pass starts a run and records it in the job's `run`; a later pass collects it: see runs.ts)
 *   any      ──a half-done change finished or undone────▶ its target / stays transition / update "recovered"
 *   completed/failed with output held ──released────────▶ same status        update (disclosure/release.ts) "released"
 *   moved into rejected/ (or completed/, failed/) by another program ─▶ same   update       "cancelled" / "recovered"
 *   approved/running with an unreadable record (past a sync's time) ─▶ pending  returnUnreadable "returned"
 *   completed/failed/rejected, old ──────────────────────▶ (removed)         remove       "cleaned"
 *
 * One call is one change, always in this order: (0) write a journal entry (the pass's private state,
 * journal/<uid>.json) naming the change; (1) write the new metadata atomically (temp file, rename) in
 * the job's current folder; (2) rename the folder into jobs/<new status>/; (3) write one log line;
 * (4) append exactly one audit event; (5) remove the journal entry. The next pass's recovery reads only
 * the journal: a change cut off before (2) is finished or undone (with its own "recovered" event), one
 * cut off after (2) gets the audit line it may have missed. So recovery never has to read every job.
 *
 * Within `oneAuditWrite` (a pass, from its decisions to its collections) (4) and (5) wait for the end:
 * the audit lines of all its changes are then appended in one write under one lock, with one flush for
 * them and one for the log's head, instead of those for each change. That is safe because of the journal: a
 * pass cut off before then leaves entries whose lines the next pass writes. A job changed twice in one
 * pass (approved, then started) has its first line written before its second entry, so an entry is
 * never replaced while its line is unwritten.
 */
import fs from "node:fs";
import path from "node:path";
import { forgetAdmitted, recordAdmitted } from "./admitted.ts";
import * as z from "zod";
import { appendAudit, auditHasSince, type AuditInput } from "./audit.ts";
import { BugError, errorMessage } from "../core/errors.ts";
import { faultPoint } from "../core/fault.ts";
import { listDirs, writeJsonAtomic } from "../core/fsutil.ts";
import { recordToDisk } from "./job-record.ts";
import type { Job } from "../core/job.ts";
import { shortUid, type Log } from "../core/log.ts";
import { decisionFile, jobDir, voteFile, type QueuePaths } from "../core/paths.ts";
import { jobPermissions } from "./permissions.ts";
import { removeTree } from "../core/remove.ts";
import { AUDIT_EVENTS, JobMetadataSchema, JobStatus, type JobMetadata } from "../core/schemas.ts";

export const TRANSITIONS = {
  pending: ["approved", "rejected", "failed"],
  approved: ["running", "pending", "failed", "rejected"],
  running: ["completed", "failed", "approved"],
  completed: [],
  failed: [],
  rejected: [],
} as const satisfies Record<JobStatus, readonly JobStatus[]>;

export const TERMINAL_STATUSES = ["completed", "failed", "rejected"] as const satisfies readonly JobStatus[];

export function canTransition(from: JobStatus, to: JobStatus): boolean {
  return (TRANSITIONS[from] as readonly JobStatus[]).includes(to);
}

export function now(): string {
  return new Date().toISOString();
}

/** Where changes are recorded: the queue (for its audit log) and the log of whoever makes them. */
export interface Recorder {
  paths: QueuePaths;
  log: Log;
}

/** What one change records: its audit event (uid filled in) and its log line (the uid prefix added). */
export interface Change {
  event: AuditInput["event"];
  by?: string | null;
  detail?: Record<string, unknown>;
  say: string;
}

/** Steps (3) and (4): the change's log line, then its audit line. */
async function record(rec: Recorder, uid: string, change: Change): Promise<void> {
  say(rec, uid, change);
  await appendAudit(rec.paths, auditInput(uid, change));
}

function say(rec: Recorder, uid: string, change: Change): void {
  rec.log(`${shortUid(uid)} ${change.say}`);
}

/** Steps (4) and (5): the audit line of a change already said, then its journal entry removed. */
async function closeWithLine(rec: Recorder, uid: string, change: Change): Promise<void> {
  await appendAudit(rec.paths, auditInput(uid, change));
  faultPoint("change:recorded");
  fs.rmSync(journalFile(rec.paths, uid), { force: true });
}

function auditInput(uid: string, change: Change): AuditInput {
  return { event: change.event, uid, by: change.by ?? null, detail: change.detail ?? {} };
}

/** Changes whose audit lines wait for the end of `oneAuditWrite`, by audit log. */
const unwritten = new Map<string, { rec: Recorder; uid: string; change: Change }[]>();

/**
 * `work` with the audit lines of the changes it makes appended together at its end (see the head of
 * this file). A line that cannot be written then is said, and left to the next pass's recovery.
 */
export async function oneAuditWrite<T>(paths: QueuePaths, work: () => Promise<T>): Promise<T> {
  unwritten.set(paths.audit, []);
  try {
    return await work();
  } finally {
    await writeUnwritten(paths);
    unwritten.delete(paths.audit);
  }
}

async function writeUnwritten(paths: QueuePaths): Promise<void> {
  const changes = unwritten.get(paths.audit)?.splice(0) ?? [];
  // All appended before the first is written: one drain of the audit log takes them all (audit.ts).
  await Promise.all(
    changes.map(async ({ rec, uid, change }) => {
      try {
        await closeWithLine(rec, uid, change);
      } catch (error) {
        rec.log(`${shortUid(uid)} its audit line is not written yet (${errorMessage(error)}): the next pass writes it from the journal`);
      }
    }),
  );
}

/** A change under way, as the journal keeps it until its audit line is written. */
export const JournalEntrySchema = z.object({
  uid: z.string(),
  from: JobStatus,
  to: JobStatus,
  at: z.string(),
  change: z.object({
    event: z.enum(AUDIT_EVENTS),
    by: z.string().nullable().optional(),
    detail: z.record(z.string(), z.unknown()).optional(),
    say: z.string(),
  }),
});
export type JournalEntry = z.infer<typeof JournalEntrySchema>;

export function journalDir(paths: QueuePaths): string {
  return path.join(paths.state, "journal");
}

function journalFile(paths: QueuePaths, uid: string): string {
  return path.join(journalDir(paths), `${uid}.json`);
}

/** Steps (0)–(5) around `work`, which does (1) and (2). */
async function journaled<T>(rec: Recorder, entry: Omit<JournalEntry, "at">, work: () => Promise<T>): Promise<T> {
  const waiting = unwritten.get(rec.paths.audit);
  // This job's last change has its line written before its entry is replaced by this one's.
  if (waiting?.some((change) => change.uid === entry.uid)) await writeUnwritten(rec.paths);
  const file = journalFile(rec.paths, entry.uid);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  await writeJsonAtomic(file, { ...entry, at: now() });
  faultPoint("change:journaled");
  const result = await work();
  faultPoint("change:moved");
  say(rec, entry.uid, entry.change);
  if (waiting) waiting.push({ rec, uid: entry.uid, change: entry.change });
  else await closeWithLine(rec, entry.uid, entry.change);
  return result;
}

/** Recovery's part: append the audit line a change cut off after its folder move may have missed, and close its journal entry. */
export async function completeRecorded(rec: Recorder, entry: JournalEntry): Promise<void> {
  if (!(await auditHasSince(rec.paths, entry.uid, entry.change.event, entry.at))) await record(rec, entry.uid, entry.change);
  await fs.promises.rm(journalFile(rec.paths, entry.uid), { force: true });
}

/** Close a journal entry whose change never started (cut off before its metadata was written). */
export async function dropJournal(paths: QueuePaths, uid: string): Promise<void> {
  await fs.promises.rm(journalFile(paths, uid), { force: true });
}

function nextMetadata(job: Job, patch: Partial<JobMetadata>, status: JobStatus): JobMetadata {
  return JobMetadataSchema.parse({ ...job.meta, ...patch, status, updated_at: now() });
}

/** Move a job to another status: metadata, folder, audit line, log line. */
export async function transition(rec: Recorder, job: Job, to: JobStatus, patch: Partial<JobMetadata>, change: Change): Promise<Job> {
  if (!canTransition(job.status, to)) throw new BugError(`job ${job.uid} cannot go from ${job.status} to ${to}`, { uid: job.uid });
  const meta = nextMetadata(job, patch, to);
  const target = jobDir(rec.paths, to, job.uid);
  return journaled(rec, { uid: job.uid, from: job.status, to, change }, async () => {
    // A finished job is its requester's alone: listed approvers read a job's code and record to vote
    // on it, and lose that once it can never be voted on again (its record may quote its output).
    if ((TERMINAL_STATUSES as readonly JobStatus[]).includes(to)) await jobPermissions(job.dir, job.meta.requester_email);
    await writeJsonAtomic(path.join(job.dir, "metadata.json"), recordToDisk(meta));
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.renameSync(job.dir, target);
    return { status: to, uid: job.uid, dir: target, meta };
  });
}

/** Change a job's record without moving it (adopting a Python client's job, undoing a half-done change). */
export async function update(rec: Recorder, job: Job, patch: Partial<JobMetadata>, change: Change): Promise<Job> {
  const meta = nextMetadata(job, patch, job.status);
  return journaled(rec, { uid: job.uid, from: job.status, to: job.status, change }, async () => {
    await writeJsonAtomic(path.join(job.dir, "metadata.json"), recordToDisk(meta));
    return { ...job, meta };
  });
}

/** Take in a job a Python client wrote straight into pending/: its record rewritten in place, then registered as admitted (unverified). */
export async function adopt(rec: Recorder, job: Job, patch: Partial<JobMetadata>, change: Change): Promise<Job> {
  await jobPermissions(job.dir, job.meta.requester_email);
  const adopted = await update(rec, job, patch, change);
  await recordAdmitted(rec.paths, job.uid);
  return adopted;
}

/**
 * Take a frozen submission (jobs/.intake/<email>/<uid>, holding only what may go on) into the queue:
 * as pending, registered as admitted from its sender's inbox, or as rejected with its reason.
 */
export async function admit(rec: Recorder, dir: string, meta: JobMetadata, change: Change): Promise<Job> {
  await writeJsonAtomic(path.join(dir, "metadata.json"), recordToDisk(meta));
  await jobPermissions(dir, meta.requester_email);
  if (meta.status === "pending") await recordAdmitted(rec.paths, meta.uid);
  faultPoint("admit:written");
  const target = jobDir(rec.paths, meta.status, meta.uid);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  fs.renameSync(dir, target);
  faultPoint("admit:moved");
  await record(rec, meta.uid, change);
  return { status: meta.status, uid: meta.uid, dir: target, meta };
}

/**
 * A running job whose folder or record was deleted while it ran (a sync replaying a deletion, a person):
 * its record is put back from the copy kept in the run's private folder, so the run is collected when
 * it ends and nothing of it is lost or mistaken for another's job.
 */
export async function restoreRunning(rec: Recorder, copy: JobMetadata, what: string): Promise<Job> {
  const dir = jobDir(rec.paths, "running", copy.uid);
  fs.mkdirSync(dir, { recursive: true });
  const meta = JobMetadataSchema.parse({ ...copy, status: "running", updated_at: now() });
  await writeJsonAtomic(path.join(dir, "metadata.json"), recordToDisk(meta));
  await jobPermissions(dir, meta.requester_email);
  await record(rec, meta.uid, {
    event: "recovered",
    detail: { reason: what, restored_from: "the run's private copy" },
    say: `${what}: its record restored from the run's private copy; it is collected when its run ends`,
  });
  return { status: "running", uid: meta.uid, dir, meta };
}

/**
 * A job whose record cannot be read, back to pending/ as it is: no record can be written for it, so
 * only the folder moves; intake's gate then rejects it with what is wrong with the record. Its
 * admission is forgotten, so the gate looks at it as at any job this datasite did not take in.
 */
export async function returnUnreadable(rec: Recorder, from: JobStatus, uid: string, reason: string): Promise<void> {
  const target = jobDir(rec.paths, "pending", uid);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  await forgetAdmitted(rec.paths, uid);
  fs.renameSync(jobDir(rec.paths, from, uid), target);
  await record(rec, uid, {
    event: "returned",
    detail: { from, reason: `unreadable record: ${reason}` },
    say: `had an unreadable record in ${from}/ → back to pending, to be judged by the intake gate`,
  });
}

/** Delete a finished job for good: renamed into jobs/.trash first, so a crash never leaves half of one in a status folder. */
export async function remove(rec: Recorder, job: { uid: string; status: JobStatus; dir: string }): Promise<void> {
  const trash = path.join(rec.paths.jobs, ".trash");
  fs.mkdirSync(trash, { recursive: true });
  fs.renameSync(job.dir, path.join(trash, job.uid));
  await fs.promises.rm(decisionFile(rec.paths, job.uid), { force: true });
  for (const voter of await listDirs(rec.paths.decisions)) await fs.promises.rm(voteFile(rec.paths, voter, job.uid), { force: true });
  await removeTree(path.join(rec.paths.staging, job.uid));
  await forgetAdmitted(rec.paths, job.uid);
  await record(rec, job.uid, { event: "cleaned", detail: { status: job.status }, say: `(${job.status}) removed after cleanup_completed_after` });
}
