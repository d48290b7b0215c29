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
 *   completed/failed with output held ──released────────▶ same status        release      "released"
 *   moved into rejected/ (or completed/, failed/) by another program ─▶ same   update       "cancelled" / "recovered"
 *   approved/running with an unreadable record (past a sync's time) ─▶ pending  returnUnreadable "returned"
 *   completed/failed/rejected, old ──────────────────────▶ (removed)         remove       "cleaned"
 *
 * One call is one change, always in this order: (0) write a journal entry (the pass's private state,
 * journal/<uid>.json) naming the change; (1) write the new metadata atomically (temp file, rename) in
 * the job's current folder; (2) rename the folder into jobs/<new status>/; (3) append exactly one audit
 * event; (4) write one log line; (5) remove the journal entry. The next pass's recovery reads only the
 * journal: a change cut off before (2) is finished or undone (with its own "recovered" event), one cut
 * off after (2) gets the audit line it may have missed. So recovery never has to read every job.
 */
import fs from "node:fs";
import path from "node:path";
import { forgetAdmitted, recordAdmitted } from "./admitted.ts";
import { z } from "zod";
import { appendAudit, auditHasSince, type AuditInput } from "./audit.ts";
import { BugError, JobStateError } from "../core/errors.ts";
import { faultPoint } from "../core/fault.ts";
import { listDirs, writeJsonAtomic } from "../core/fsutil.ts";
import { rememberReleased } from "../disclosure/released.ts";
import { recordToDisk } from "./job-record.ts";
import type { Job } from "../core/job.ts";
import { shortUid, type Log } from "../core/log.ts";
import { EXECUTION_LOG, existingLogsDir, LOGS_DIR } from "../core/log-files.ts";
import { CHECKS_FILE, decisionFile, jobDir, voteFile, type QueuePaths } from "../core/paths.ts";
import { jobPermissions } from "./permissions.ts";
import { removeTree } from "../core/remove.ts";
import { readChecksReport } from "../disclosure/results.ts";
import { AUDIT_EVENTS, JobMetadataSchema, JobStatus, type JobMetadata } from "../core/schemas.ts";
import { walkTree } from "../core/tree.ts";

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

async function record(rec: Recorder, uid: string, change: Change): Promise<void> {
  await appendAudit(rec.paths, { event: change.event, uid, by: change.by ?? null, detail: change.detail ?? {} });
  rec.log(`${shortUid(uid)} ${change.say}`);
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

/** Steps (0)–(5) around `work`, which does (1) and (2). */
async function journaled<T>(rec: Recorder, entry: Omit<JournalEntry, "at">, work: () => Promise<T>): Promise<T> {
  const file = path.join(journalDir(rec.paths), `${entry.uid}.json`);
  await fs.promises.mkdir(path.dirname(file), { recursive: true });
  await writeJsonAtomic(file, { ...entry, at: now() });
  faultPoint("change:journaled");
  const result = await work();
  faultPoint("change:moved");
  await record(rec, entry.uid, entry.change);
  faultPoint("change:recorded");
  await fs.promises.rm(file, { force: true });
  return result;
}

/** Recovery's part: append the audit line a change cut off after its folder move may have missed, and close its journal entry. */
export async function completeRecorded(rec: Recorder, entry: JournalEntry): Promise<void> {
  if (!(await auditHasSince(rec.paths, entry.uid, entry.change.event, entry.at))) await record(rec, entry.uid, entry.change);
  await fs.promises.rm(path.join(journalDir(rec.paths), `${entry.uid}.json`), { force: true });
}

/** Close a journal entry whose change never started (cut off before its metadata was written). */
export async function dropJournal(paths: QueuePaths, uid: string): Promise<void> {
  await fs.promises.rm(path.join(journalDir(paths), `${uid}.json`), { force: true });
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
    await fs.promises.mkdir(path.dirname(target), { recursive: true });
    await fs.promises.rename(job.dir, target);
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
  await fs.promises.mkdir(path.dirname(target), { recursive: true });
  await fs.promises.rename(dir, target);
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
  await fs.promises.mkdir(dir, { recursive: true });
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
  await fs.promises.mkdir(path.dirname(target), { recursive: true });
  await forgetAdmitted(rec.paths, uid);
  await fs.promises.rename(jobDir(rec.paths, from, uid), target);
  await record(rec, uid, {
    event: "returned",
    detail: { from, reason: `unreadable record: ${reason}` },
    say: `had an unreadable record in ${from}/ → back to pending, to be judged by the intake gate`,
  });
}

export interface ReleaseDecision {
  /** Files kept back (paths under output/, or run-logs/stdout.txt, run-logs/stderr.txt), each with why: the requester reads it. */
  withhold?: Record<string, string>;
  /** Return the job to its requester with this comment: every output file and log is kept back. */
  requestChanges?: string | undefined;
  /** Why files with blocking findings go out anyway; required when any released file has one. */
  exception?: string | undefined;
}

/** The logs a release decides on, by the names the checks report and the withhold list use. */
const LOG_NAMES = ["stdout", "stderr"].map((stream) => `${LOGS_DIR}/${stream}.txt`);

/**
 * Hand a finished job's held logs and output (staging/<uid>/) to its requester, file by file: what is
 * withheld stays in staging (until cleanup), and the checks report that goes along covers only the
 * files released, since findings quote the values they flag. Logs are files like any other here: a
 * job can print what it must not write. An output file may share a log's name (output/run-logs/…):
 * a decision on that name then holds for both, and a blocking finding on either blocks both.
 */
export async function release(rec: Recorder, job: Job, by: string, decision: ReleaseDecision = {}): Promise<Job> {
  if (job.meta.output_review !== "pending") {
    throw new JobStateError(
      job.meta.output_review === "released"
        ? `Job ${job.uid}: its output was released already.`
        : `Job ${job.uid} (${job.status}) has no output awaiting release.`,
      { uid: job.uid },
    );
  }
  if (job.status !== "completed" && job.status !== "failed") {
    throw new JobStateError(`Job ${job.uid} is ${job.status}: release it once it has finished.`, { uid: job.uid });
  }
  const staged = path.join(rec.paths.staging, job.uid);
  const outputs = (await walkTree(path.join(staged, "output"), { anyName: true }).catch(() => [])).filter((e) => e.type === "file").map((e) => e.rel);
  // (Held before the logs folder got a name SyftBox syncs, they are found under the old one and leave under the new.)
  const heldLogs = existingLogsDir(staged);
  // An empty stream is nothing to decide on (the checks leave it out too); it goes with the logs that go.
  const logs = heldLogs
    ? LOG_NAMES.filter((name) => (fs.statSync(path.join(heldLogs, path.basename(name)), { throwIfNoEntry: false })?.size ?? 0) > 0)
    : [];
  const files = [...new Set([...outputs, ...logs])];
  const report = await readChecksReport(staged);
  const withhold = new Map(Object.entries(decision.withhold ?? {}));
  if (decision.requestChanges !== undefined) for (const f of files) withhold.set(f, `changes requested: ${decision.requestChanges}`);
  const unknown = [...withhold.keys()].filter((f) => !files.includes(f));
  if (unknown.length > 0) {
    throw new JobStateError(`Job ${job.uid} has no output file or log ${unknown.join(", ")}; its files are: ${files.join(", ") || "none"}.`, {
      uid: job.uid,
    });
  }
  const released = files.filter((f) => !withhold.has(f));
  const blocked = released.filter((f) => report?.files.some((r) => r.path === f && r.findings.some((x) => x.blocking)));
  if (blocked.length > 0 && !decision.exception) {
    throw new JobStateError(
      `Job ${job.uid}: ${blocked.join(", ")} ${blocked.length > 1 ? "have" : "has"} blocking findings (scq checks ${job.uid.slice(-8)}): ` +
        `withhold ${blocked.length > 1 ? "them" : "it"}, or release with an exception that says why (--exception "...").`,
      { uid: job.uid },
    );
  }
  const releasedLogs = logs.filter((name) => released.includes(name));
  for (const name of releasedLogs) {
    await fs.promises.mkdir(path.join(job.dir, LOGS_DIR), { recursive: true });
    await fs.promises.rename(path.join(heldLogs!, path.basename(name)), path.join(job.dir, name));
  }
  // Both streams in one file (jobs from a Python client): it goes only when neither stream is kept back.
  if (releasedLogs.length === logs.length && fs.existsSync(path.join(staged, EXECUTION_LOG))) {
    await fs.promises.rename(path.join(staged, EXECUTION_LOG), path.join(job.dir, EXECUTION_LOG));
  }
  await fs.promises.mkdir(path.join(job.dir, "output"), { recursive: true });
  const releasedOutputs = outputs.filter((f) => released.includes(f));
  // Remembered for the differencing check of later tables released to the same requester.
  await rememberReleased(rec.paths, job.meta.requester_email, job.uid, path.join(staged, "output"), releasedOutputs);
  for (const rel of releasedOutputs) {
    await fs.promises.mkdir(path.dirname(path.join(job.dir, "output", rel)), { recursive: true });
    await fs.promises.rename(path.join(staged, "output", rel), path.join(job.dir, "output", rel));
  }
  if (report) await writeJsonAtomic(path.join(job.dir, CHECKS_FILE), { ...report, files: report.files.filter((f) => released.includes(f.path)) });
  const withheld = [...withhold].map(([p, reason]) => ({ path: p, reason }));
  const output_decisions = {
    by,
    at: now(),
    released,
    withheld,
    exception: decision.exception ?? null,
    changes_requested: decision.requestChanges ?? null,
  };
  const done = await update(
    rec,
    job,
    { output_review: "released", output_decisions },
    {
      event: "released",
      by,
      detail: { released, withheld, exception: output_decisions.exception, changes_requested: output_decisions.changes_requested },
      say:
        decision.requestChanges !== undefined
          ? `returned to its requester by ${by} (changes requested: ${decision.requestChanges}); output and logs withheld`
          : `released by ${by}: ${released.length} file(s) (logs among them: ${releasedLogs.length})${withheld.length ? `, ${withheld.length} withheld` : ""}`,
    },
  );
  if (withheld.length === 0) await removeTree(staged);
  return done;
}

/** Delete a finished job for good: renamed into jobs/.trash first, so a crash never leaves half of one in a status folder. */
export async function remove(rec: Recorder, job: { uid: string; status: JobStatus; dir: string }): Promise<void> {
  const trash = path.join(rec.paths.jobs, ".trash");
  await fs.promises.mkdir(trash, { recursive: true });
  await fs.promises.rename(job.dir, path.join(trash, job.uid));
  await fs.promises.rm(decisionFile(rec.paths, job.uid), { force: true });
  for (const voter of await listDirs(rec.paths.decisions)) await fs.promises.rm(voteFile(rec.paths, voter, job.uid), { force: true });
  await removeTree(path.join(rec.paths.staging, job.uid));
  await forgetAdmitted(rec.paths, job.uid);
  await record(rec, job.uid, { event: "cleaned", detail: { status: job.status }, say: `(${job.status}) removed after cleanup_completed_after` });
}
