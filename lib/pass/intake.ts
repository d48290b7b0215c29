// Intake: the gate between what anyone may write (inbox/<email>/) and the owner's queue (jobs/).
//
// 1. A complete inbox folder is renamed into jobs/.intake/<email>/<uid>, where the requester can no
//    longer change it. Complete means: the `submitted` marker (written last) is there, metadata.json
//    parses, and code/ matches the manifest in the marker. SyftBox syncs file by file, in any order,
//    so an incomplete folder is looked at again next pass, for up to `intake_grace` seconds.
// 2. Everything in jobs/.intake is validated and renamed into pending/ or, invalid, into rejected/
//    with the reason and without its code. The verdict is written first to a private note
//    (state/intake/<uid>.json); only then is the folder changed (stray files removed, the record
//    written, the folder moved, the audit line appended), and the note goes last. A pass killed
//    anywhere in between leaves the note, and the next pass finishes the same admission from it:
//    a valid submission is never re-judged from a half-changed folder, and gets one audit line.
// 3. With accept_legacy_jobs, jobs that Python syft-code-queue clients wrote straight into
//    jobs/pending/ pass the same gate in place and are marked sender "unverified"; without it they
//    are rejected. Either way they never run without an approval marker.
import fs from "node:fs";
import path from "node:path";
import { admittedUids } from "../queue/admitted.ts";

import * as z from "zod";

import { appendAudit, auditHasSince } from "../queue/audit.ts";

import { faultPoint } from "../core/fault.ts";

import { writeRuleMarker } from "../approval/decisions.ts";

import { forEachLimit } from "../core/concurrency.ts";

import { describeZodIssues, errorMessage, InvalidFileError, reportJobError, UnsafeTreeError } from "../core/errors.ts";

import { exists, ifExists, isNotFound, listDirs, readJsonFile, readUntrustedFile, writeJsonAtomic } from "../core/fsutil.ts";

import { readJob, recordFromDisk } from "../queue/job-record.ts";

import type { Job } from "../core/job.ts";
import { listJobDirs, uidIndex } from "../queue/jobs.ts";

import { admit, adopt, now, TERMINAL_STATUSES, type Recorder } from "../queue/lifecycle.ts";

import { prefixed, shortUid, type Log } from "../core/log.ts";

import { CANCEL_FOLDER, jobDir, type QueuePaths } from "../core/paths.ts";

import { removeTree } from "../core/remove.ts";

import { claimRule } from "../approval/rules.ts";

import {
  Email,
  JobMetadataSchema,
  LegacyJobSchema,
  SubmissionSchema,
  SubmittedMarkerSchema,
  UID_PATTERN,
  type AppConfig,
  type Limits,
} from "../core/schemas.ts";

import { checkJobCode, isSyftBoxControlFile, isSyncNoise, MAX_DEPTH, treeHash, walkTree } from "../core/tree.ts";
import { visible } from "../core/visible.ts";

import { expected } from "../core/expected.ts";

export const SUBMITTED_MARKER = "submitted";
const INTAKE_CONCURRENCY = 8;
/** Submissions taken in by one pass at most: a burst is taken in over several passes, each of them short. */
export const MAX_INTAKE_PER_PASS = 500;
/** What lies in an inbox without being a submission (a conflict copy, a folder never marked submitted, a stray file) goes after this long unchanged. */
const LEFTOVER_MS = 24 * 3600_000;

export interface IntakeResult {
  accepted: string[];
  rejected: { uid: string; reason: string }[];
  /** Jobs in pending/ from Python clients left for a later pass: changed too recently, perhaps still syncing. */
  waiting: string[];
}

export async function intake(paths: QueuePaths, config: AppConfig, log: Log): Promise<IntakeResult> {
  const rec: Recorder = { paths, log: prefixed(log, "intake: ") };
  await finishMovedAdmissions(rec);
  await freezeCompleteSubmissions(paths, config, log);
  const result: IntakeResult = { accepted: [], rejected: [], waiting: [] };
  const frozen: { email: string; uid: string }[] = [];
  for (const email of await listDirs(paths.intake)) {
    for (const uid of await listDirs(path.join(paths.intake, email))) frozen.push({ email, uid });
  }
  // Admissions are independent and mostly wait on the disk: overlap a few.
  await forEachLimit(frozen, INTAKE_CONCURRENCY, async ({ email, uid }) => {
    try {
      const outcome = await admitFrozen(rec, config.limits, email, uid);
      if (outcome.refused === undefined) result.accepted.push(uid);
      else result.rejected.push({ uid, reason: outcome.refused });
    } catch (error) {
      // E.g. the folder vanished under us. It stays where it is and the next pass tries again.
      reportJobError(rec.log, `${shortUid(uid)} from ${email}`, error);
    }
  });
  // Emptied sender folders go; one still holding a submission (ENOTEMPTY) stays for the next pass.
  for (const email of await listDirs(paths.intake))
    await fs.promises.rmdir(path.join(paths.intake, email)).catch(expected("a folder not empty yet, or gone: removed on a later pass"));
  await adoptLegacyJobs(rec, config, result);
  return result;
}

async function freezeCompleteSubmissions(paths: QueuePaths, config: AppConfig, log: Log): Promise<void> {
  const candidates: { email: string; uid: string }[] = [];
  for (const email of await listDirs(paths.inbox)) {
    // The inbox folder name is the sender (SyftBox lets each user write only their own): a folder not
    // named like an email cannot be anyone's inbox, and nobody could ever be told about it. Remove it.
    if (!Email.safeParse(email).success) {
      await removeTree(path.join(paths.inbox, email)).catch(expected("an inbox being synced: removed on a later pass"));
      log(`intake: inbox/${visible(email)} removed: an inbox folder must be named for its sender's email address`);
      continue;
    }
    for (const entry of await fs.promises
      .readdir(path.join(paths.inbox, email), { withFileTypes: true })
      .catch(expected("an inbox that went away: nothing to take in", []))) {
      // Conflict copies, temp folders and anything not named like a job are not submissions: they go
      // once nothing has changed in them for a day (a sync may still be working on them before that).
      if (entry.isDirectory() && UID_PATTERN.test(entry.name)) candidates.push({ email, uid: entry.name });
      else if (entry.name !== CANCEL_FOLDER) await removeLeftover(path.join(paths.inbox, email, entry.name), log);
    }
  }
  if (candidates.length === 0) return;
  // Oldest first (uids are time-ordered); the rest wait, said in one line.
  candidates.sort((a, b) => a.uid.localeCompare(b.uid));
  if (candidates.length > MAX_INTAKE_PER_PASS) {
    log(`intake: ${candidates.length} submissions wait; this pass takes the ${MAX_INTAKE_PER_PASS} oldest, the next passes the rest`);
    candidates.length = MAX_INTAKE_PER_PASS;
  }
  const known = await uidIndex(paths);
  // One uid, one job: the same uid in two inboxes is claimed by the first seen in this pass, before
  // anything is awaited; the other copy waits for the next pass, which drops it as a duplicate.
  const claimed = new Set<string>();
  await forEachLimit(candidates, INTAKE_CONCURRENCY, async ({ email, uid }) => {
    if (claimed.has(uid)) return;
    claimed.add(uid);
    const from = path.join(paths.inbox, email, uid);
    const marker = await ifExists(fs.promises.lstat(path.join(from, SUBMITTED_MARKER)));
    if (!marker) return removeLeftover(from, log); // still arriving, or abandoned long ago
    // A marker that is not a regular file (a FIFO, a folder, a link) will not become one: taken in to be rejected.
    const existing = known.get(uid);
    if (existing) {
      // A re-synced old copy or a reused uid: the queue already has this job; never overwrite it.
      await removeTree(from);
      log(`intake: ${shortUid(uid)} from ${email} dropped: a job with this uid already exists (${existing})`);
      await appendAudit(paths, { event: "intake-rejected", uid, detail: { from: email, reason: "uid already exists" } });
      return;
    }
    const missing = marker.isFile() ? await stillArriving(from, config.limits) : undefined;
    if (missing) {
      // The grace counts from the last file that arrived, not from the marker: SyftBox may sync the marker first.
      if (Date.now() - (await newestChange(from)) < config.intake_grace * 1000) return; // the next pass looks again
      log(`intake: ${shortUid(uid)} from ${email} still incomplete after intake_grace (${missing}); taking it in to reject it`);
    }
    fs.mkdirSync(path.join(paths.intake, email), { recursive: true });
    fs.renameSync(from, path.join(paths.intake, email, uid));
  });
}

/** An inbox entry that is not a submission, removed once unchanged for LEFTOVER_MS (a folder never marked submitted included). */
async function removeLeftover(full: string, log: Log): Promise<void> {
  // Its own mtime first (one lstat): a folder that still gains entries is not walked every pass.
  const top = await ifExists(fs.promises.lstat(full));
  if (!top || Date.now() - top.mtimeMs < LEFTOVER_MS) return;
  const changed = await newestChange(full).catch(expected("a tree being deleted: counted as changed now, so it is left for later", Date.now()));
  if (Date.now() - changed < LEFTOVER_MS) return;
  await removeTree(full).catch(expected("a tree being deleted by a sync: the next pass removes what is left"));
  log(`intake: ${visible(path.relative(path.dirname(path.dirname(full)), full))} removed: not a submission, unchanged for a day`);
}

/** Why an inbox folder is not whole yet, or undefined when it is. */
async function stillArriving(dir: string, limits: Limits): Promise<string | undefined> {
  const marker = await readMarker(dir);
  if (marker === "invalid") return "the submitted marker is half written";
  try {
    JSON.parse((await readUntrustedFile(path.join(dir, "metadata.json"))).toString("utf8"));
  } catch (error) {
    // A folder, FIFO, link or oversized file will not turn into a record by waiting: the gate rejects it now.
    if (error instanceof InvalidFileError) return undefined;
    return "metadata.json is missing or half written";
  }
  if (!marker.code_sha256) return undefined;
  try {
    const code = path.join(dir, "code");
    const entries = await walkTree(code, { maxFiles: limits.max_files, maxBytes: limits.max_code_mb * 1024 * 1024, skip: isSyncNoise });
    if ((await treeHash(code, entries)) !== marker.code_sha256) return "code/ does not match the manifest in the submitted marker yet";
  } catch {
    return undefined; // unsafe or unreadable: waiting will not help, the gate rejects it now
  }
  return undefined;
}

async function readMarker(dir: string): Promise<z.infer<typeof SubmittedMarkerSchema> | "invalid"> {
  let text: string;
  try {
    text = (await readUntrustedFile(path.join(dir, SUBMITTED_MARKER), 64 * 1024)).toString("utf8");
  } catch {
    // missing or unreadable: the submission is not finished or not valid
    return "invalid";
  }
  // An empty marker is a valid marker without a manifest (older or hand-made submissions).
  if (text.trim() === "") return {};
  try {
    return SubmittedMarkerSchema.parse(JSON.parse(text));
  } catch {
    // not the marker's shape: the submission is refused with that reason
    return "invalid";
  }
}

/**
 * Remove every entry below `dir` whose name matches (with all it holds); returns their paths under
 * `dir`. Used for what is not part of a job: SyftBox's conflict copies and temp files, a Python
 * client's own permission files.
 */
async function removeNamed(dir: string, match: (name: string, isDir: boolean) => boolean, rel = "", depth = 1): Promise<string[]> {
  if (depth > MAX_DEPTH) return []; // the gate refuses such a tree anyway
  const entries = await fs.promises.readdir(dir, { withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENAMETOOLONG") return []; // past PATH_MAX: the gate refuses such a tree anyway
    throw error;
  });
  const removed: string[] = [];
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    const relPath = rel ? `${rel}/${entry.name}` : entry.name;
    if (match(entry.name, entry.isDirectory())) {
      await removeTree(full);
      removed.push(relPath);
    } else if (entry.isDirectory()) removed.push(...(await removeNamed(full, match, relPath, depth + 1)));
  }
  return removed;
}

/**
 * The gate every job passes, from an inbox or written straight into pending/: its claims must agree
 * with where it is (uid = folder name, target = this datasite, requester = the inbox it came from,
 * where there is one), and its code/ must pass checkJobCode. Returns the code's hash, or the reason
 * it is refused.
 */
async function gate(
  paths: QueuePaths,
  limits: Limits,
  dir: string,
  uid: string,
  claims: { uid: string; requester_email: string; target_email: string },
  sender: string | undefined,
): Promise<{ ok: true; codeHash: string } | { ok: false; reason: string }> {
  const claim = checkClaims(paths, uid, claims, sender);
  if (claim) return { ok: false, reason: claim };
  const code = path.join(dir, "code");
  try {
    const stat = await ifExists(fs.promises.lstat(code));
    if (!stat?.isDirectory()) return { ok: false, reason: "the submission has no code/ folder" };
    await removeNamed(code, isSyncNoise);
    const entries = await checkJobCode(code, limits);
    return { ok: true, codeHash: await treeHash(code, entries) };
  } catch (error) {
    if (!(error instanceof UnsafeTreeError)) throw error;
    return { ok: false, reason: error.missingRunSh ? `code/ ${error.message}` : error.message };
  }
}

/** The claims that must match what SyftBox guarantees about where the folder is and came from. */
function checkClaims(paths: QueuePaths, uid: string, s: { uid: string; requester_email: string; target_email: string }, sender: string | undefined) {
  if (s.uid !== uid) return `metadata.json field "uid" (${s.uid}) does not match the folder name ${uid}`;
  if (sender !== undefined && s.requester_email !== sender) {
    return `metadata.json field "requester_email" (${s.requester_email}) is not the sender ${sender}: jobs can only be submitted in your own name`;
  }
  if (s.target_email !== paths.owner) return `metadata.json field "target_email" (${s.target_email}) is not this datasite's owner ${paths.owner}`;
  return undefined;
}

/** The verdict on a frozen submission, kept (private state) until its admission is complete. */
const IntakeNoteSchema = z.object({
  email: z.string(),
  at: z.string(),
  verdict: z.discriminatedUnion("admit", [
    z.object({ admit: z.literal(true), submission: SubmissionSchema, code_sha256: z.string() }),
    z.object({ admit: z.literal(false), name: z.string().nullable(), reason: z.string() }),
  ]),
});
type IntakeNote = z.infer<typeof IntakeNoteSchema>;

/** The notes of admissions under way: the app's private state, never synced. */
function notesDir(paths: QueuePaths): string {
  return path.join(paths.state, "intake");
}

function noteFile(paths: QueuePaths, uid: string): string {
  return path.join(notesDir(paths), `${uid}.json`);
}

async function writeNote(paths: QueuePaths, uid: string, note: IntakeNote): Promise<void> {
  fs.mkdirSync(notesDir(paths), { recursive: true });
  await writeJsonAtomic(noteFile(paths, uid), note);
}

/**
 * Admissions whose folder already left jobs/.intake when the pass that made them stopped: the audit
 * line they may lack is appended (once), and their note goes.
 */
async function finishMovedAdmissions(rec: Recorder): Promise<void> {
  const dir = notesDir(rec.paths);
  for (const name of (await ifExists(fs.promises.readdir(dir))) ?? []) {
    const file = path.join(dir, name);
    const uid = name.replace(/\.json$/, "");
    if (!UID_PATTERN.test(uid) || name === uid) {
      await fs.promises.rm(file, { force: true }); // a temp file of a note never written: no admission began
      continue;
    }
    const note = await ifExists(readJsonFile(file, IntakeNoteSchema)).catch(expected("an unreadable note is no note: intake decides again"));
    if (note && (await exists(path.join(rec.paths.intake, note.email, uid)))) continue; // admitFrozen resumes it
    const event = note?.verdict.admit === false ? "intake-rejected" : "submitted";
    if (note && !(await auditHasSince(rec.paths, uid, event, note.at))) {
      const moved = await exists(jobDir(rec.paths, note.verdict.admit ? "pending" : "rejected", uid));
      if (moved) {
        await appendAudit(rec.paths, { event, uid, by: note.verdict.admit ? note.email : null, detail: { from: note.email, recovered: true } });
        rec.log(`${shortUid(uid)} from ${note.email}: its admission was cut off after the move; its audit line added`);
      }
    }
    fs.rmSync(file, { force: true });
  }
}

/** A frozen inbox submission (jobs/.intake/<email>/<uid>) into pending/, or rejected/ with the reason. */
async function admitFrozen(rec: Recorder, limits: Limits, email: string, uid: string): Promise<{ job: Job; refused?: string }> {
  const dir = path.join(rec.paths.intake, email, uid);
  const note = await ifExists(readJsonFile(noteFile(rec.paths, uid), IntakeNoteSchema)).catch(
    expected("an unreadable note is no note: intake decides again"),
  );
  if (note?.email === email) return finishAdmission(rec, dir, uid, note);
  const verdict = await judge(rec, limits, dir, email, uid);
  const judged: IntakeNote = { email, at: now(), verdict };
  // The verdict is kept before anything in the folder changes: from here on, a crash only delays it.
  await writeNote(rec.paths, uid, judged);
  faultPoint("intake:judged");
  return finishAdmission(rec, dir, uid, judged);
}

/** Carry out a verdict (again, after a crash: each step may be repeated), then forget the note. */
async function finishAdmission(rec: Recorder, dir: string, uid: string, note: IntakeNote): Promise<{ job: Job; refused?: string }> {
  const who = { uid, email: note.email };
  const outcome = note.verdict.admit
    ? { job: await admitValid(rec, dir, note.email, note.verdict.submission, note.verdict.code_sha256) }
    : await refuse(rec, dir, { ...who, name: note.verdict.name ?? undefined }, note.verdict.reason);
  if (note.verdict.admit) await claimRuleFor(rec, outcome.job);
  await fs.promises.rm(noteFile(rec.paths, uid), { force: true });
  return outcome;
}

type Verdict = IntakeNote["verdict"];

/** Whether a frozen submission may go on, from what it holds; nothing in it is changed. */
async function judge(rec: Recorder, limits: Limits, dir: string, email: string, uid: string): Promise<Verdict> {
  let submission: z.infer<typeof SubmissionSchema>;
  try {
    submission = await readJsonFile(path.join(dir, "metadata.json"), SubmissionSchema);
  } catch (error) {
    if (isNotFound(error)) return { admit: false, name: null, reason: "the submission has no metadata.json" };
    if (error instanceof InvalidFileError) return { admit: false, name: null, reason: `metadata.json ${error.problems.join("; ")}` };
    throw error;
  }
  const refused = (reason: string): Verdict => ({ admit: false, name: submission.name, reason });
  const gated = await gate(rec.paths, limits, dir, uid, submission, email);
  if (!gated.ok) return refused(gated.reason);
  const marker = await readMarker(dir);
  if (marker === "invalid") return refused("the submitted marker is not valid JSON (incomplete sync?); submit again");
  if (marker.code_sha256 && marker.code_sha256 !== gated.codeHash) {
    return refused("code/ does not match the manifest in the submitted marker: files are missing or changed (incomplete sync?); submit again");
  }
  return { admit: true, submission, code_sha256: gated.codeHash };
}

/** A submission judged valid, into pending/: only its metadata.json (rewritten as a record) and code/ go on. */
async function admitValid(rec: Recorder, dir: string, email: string, submission: z.infer<typeof SubmissionSchema>, codeHash: string): Promise<Job> {
  // Only metadata.json and code/ go on: a stray syft.pub.yaml or other file from the inbox must not.
  for (const entry of await fs.promises.readdir(dir)) {
    if (entry !== "metadata.json" && entry !== "code") await removeTree(path.join(dir, entry));
  }
  faultPoint("intake:stripped");
  // The code is the code judged: the folder has been owner-only since it was frozen.
  const revises = await revisionOf(rec, email, submission.revises ?? null);
  const meta = JobMetadataSchema.parse({
    ...submission,
    revises,
    requester_email: email,
    status: "pending",
    updated_at: now(),
    code_sha256: codeHash,
  });
  return admit(rec, dir, meta, {
    event: "submitted",
    by: email,
    detail: { name: meta.name, code_sha256: meta.code_sha256 },
    say: `from ${email} → pending ("${meta.name}")`,
  });
}

/**
 * `revises` is the requester's claim; it is kept only if true: an earlier job of this same requester,
 * here, whose owner asked for changes. Otherwise it is dropped (the job is taken in all the same), so a
 * review never says "its owner asked for changes" of someone else's job or of one nobody returned.
 */
async function revisionOf(rec: Recorder, email: string, revises: string | null): Promise<string | null> {
  if (revises === null) return null;
  for (const status of TERMINAL_STATUSES) {
    const earlier = await ifExists(readJob(rec.paths, status, revises)).catch(expected("the revised job is gone or unreadable: no link to it"));
    if (!earlier) continue;
    if (earlier.meta.requester_email === email && earlier.meta.output_decisions?.changes_requested) return revises;
    break;
  }
  rec.log(
    `${shortUid(revises)} named as revised by a submission of ${visible(email)} is no job of theirs that was returned for changes: "revises" dropped`,
  );
  return null;
}

/** Exactly the code a person approved before, from the same requester: an owner's rule may approve it. */
async function claimRuleFor(rec: Recorder, job: Job): Promise<void> {
  if (job.status !== "pending" || !job.meta.code_sha256) return;
  const email = job.meta.requester_email;
  const codeHash = job.meta.code_sha256;
  const claimed: Awaited<ReturnType<typeof claimRule>> = await claimRule(rec.paths, {
    requester: email,
    code_sha256: codeHash,
    uid: job.uid,
    code: path.join(job.dir, "code"),
  }).catch((error: unknown) => {
    // A damaged rules file approves nothing: the job waits for a person, and the log says what to fix.
    rec.log(`${shortUid(job.uid)} waits for review: the rules could not be read (${errorMessage(error)})`);
    return {};
  });
  if (claimed.rule) {
    await writeRuleMarker(rec.paths, job.uid, codeHash, claimed.rule);
    rec.log(
      `${shortUid(job.uid)} matches rule ${claimed.rule.id} (the code of job ${shortUid(claimed.rule.from_job)}, approved by ${claimed.rule.reviewed_by}): approval marker written`,
    );
  } else if (claimed.refused) {
    rec.log(`${shortUid(job.uid)} not approved by a rule: ${claimed.refused}; it waits for review`);
  }
}

/** Reject a job at the gate: its code is discarded (whatever made it invalid must not stay in jobs/), the reason kept for its sender. */
async function refuse(
  rec: Recorder,
  dir: string,
  job: { uid: string; email: string; name: string | undefined },
  reason: string,
): Promise<{ job: Job; refused: string }> {
  for (const entry of await fs.promises.readdir(dir)) await removeTree(path.join(dir, entry));
  faultPoint("intake:stripped");
  const at = now();
  const meta = JobMetadataSchema.parse({
    uid: job.uid,
    name: job.name ?? "(invalid submission)",
    requester_email: job.email,
    target_email: rec.paths.owner,
    status: "rejected",
    created_at: at,
    updated_at: at,
    completed_at: at,
    error_message: `rejected at intake: ${reason}`,
  });
  const rejected = await admit(rec, dir, meta, {
    event: "intake-rejected",
    detail: { from: job.email, reason },
    say: `from ${job.email} → rejected: ${reason}`,
  });
  return { job: rejected, refused: reason };
}

/** A Python client's job is taken in only once nothing in it has changed for this long. */
const LEGACY_QUIET_MS = 10_000;

/**
 * Jobs in pending/ that our intake did not admit: Python syft-code-queue clients', or anyone's who can
 * write there. Whatever their fields say (a code_sha256, sender "verified"), only the register of
 * admitted jobs tells ours from theirs.
 */
async function adoptLegacyJobs(rec: Recorder, config: AppConfig, result: IntakeResult): Promise<void> {
  const admitted = await admittedUids(rec.paths, rec.log);
  for (const uid of await listJobDirs(rec.paths, "pending")) {
    if (admitted.has(uid)) continue;
    try {
      await adoptLegacyJob(rec, config, result, uid);
    } catch (error) {
      // One job's trouble (it vanished, it is unreadable) never stops intake for the others.
      reportJobError(rec.log, `pending/${shortUid(uid)}`, error);
    }
  }
}

async function adoptLegacyJob(rec: Recorder, config: AppConfig, result: IntakeResult, uid: string): Promise<void> {
  const dir = jobDir(rec.paths, "pending", uid);
  const file = path.join(dir, "metadata.json");
  const raw = await readUntrustedFile(file).then(
    async (bytes) => recordFromDisk(JSON.parse(bytes.toString("utf8")), (await fs.promises.lstat(file)).mtimeMs),
    () => undefined,
  );
  if (Date.now() - (await newestChange(dir)) < LEGACY_QUIET_MS) {
    result.waiting.push(uid); // may still be syncing
    return;
  }
  const claimed = LegacyJobSchema.safeParse(raw);
  const who = { uid, email: claimed.data?.requester_email ?? "unknown@unverified.invalid", name: claimed.data?.name };
  const reject = async (reason: string) => {
    await refuse(rec, dir, who, reason);
    result.rejected.push({ uid, reason });
  };
  if (!config.accept_legacy_jobs) {
    return reject(
      'jobs written straight into jobs/pending/ (Python syft-code-queue clients) are not accepted here; the owner can allow them with "accept_legacy_jobs": true',
    );
  }
  if (!claimed.success) return reject(`metadata.json ${claimed.error.issues.map((i) => `field "${i.path.join(".")}": ${i.message}`).join("; ")}`);
  // The Python client (through syft-perm) writes permission files into its job: one at the top and
  // one beside the code files. They are its own, not hostile, but no permission the requester wrote
  // may stand in the owner's datasite: they go, and adopt() writes the app's rules for the job.
  const dropped = await removeNamed(dir, (name, isDir) => !isDir && isSyftBoxControlFile(name));
  if (dropped.length > 0) rec.log(`${shortUid(uid)}: the client's permission files ${dropped.join(", ")} replaced by the queue's own`);
  // Nothing proves who wrote it: the requester claim is kept, and marked unverified.
  const gated = await gate(rec.paths, config.limits, dir, uid, claimed.data, undefined);
  if (!gated.ok) return reject(gated.reason);
  const record = JobMetadataSchema.safeParse({ ...ownWords(claimed.data), status: "pending", updated_at: now(), sender: "unverified" });
  if (!record.success) return reject(`metadata.json ${describeZodIssues(record.error).join("; ")}`);
  const job = { status: "pending" as const, uid, dir, meta: record.data };
  await adopt(
    rec,
    job,
    { code_sha256: gated.codeHash, sender: "unverified" },
    {
      event: "submitted",
      by: claimed.data.requester_email,
      detail: { name: claimed.data.name, code_sha256: gated.codeHash, sender: "unverified" },
      say: `written into pending/ by a Python client, claiming to be from ${visible(claimed.data.requester_email)} (sender UNVERIFIED) → pending`,
    },
  );
  result.accepted.push(uid);
}

/**
 * What a job written straight into pending/ may say of itself: what a Python client's CodeJob says of
 * a new job. A record's other fields (votes, a decision, a run, limits, an exit code) are the queue's
 * to write, never a submitter's: a job claiming approvers' votes would be one real vote from running.
 */
function ownWords(claimed: z.infer<typeof LegacyJobSchema>): Record<string, unknown> {
  const { uid, name, requester_email, target_email, description, tags, created_at } = claimed;
  // code_folder (the requester's own path, which CodeJob requires) is kept, as it was written.
  return { uid, name, requester_email, target_email, description, tags, created_at, time_zone: claimed.time_zone, code_folder: claimed.code_folder };
}

async function newestChange(dir: string): Promise<number> {
  const top = await fs.promises.lstat(dir);
  if (!top.isDirectory()) return top.mtimeMs;
  let newest = top.mtimeMs;
  for (const entry of await fs.promises.readdir(dir, { withFileTypes: true, recursive: true })) {
    const stat = await ifExists(fs.promises.lstat(path.join(entry.parentPath, entry.name)));
    if (stat) newest = Math.max(newest, stat.mtimeMs);
  }
  return newest;
}
