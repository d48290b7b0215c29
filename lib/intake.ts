// Intake: the gate between what anyone may write (inbox/<email>/) and the owner's queue (jobs/).
//
// 1. A complete inbox folder is renamed into jobs/.intake/<email>/<uid>, where the requester can no
//    longer change it. Complete means: the `submitted` marker (written last) is there, metadata.json
//    parses, and code/ matches the manifest in the marker. SyftBox syncs file by file, in any order,
//    so an incomplete folder is looked at again next pass, for up to `intake_grace` seconds.
// 2. Everything in jobs/.intake is validated and renamed into pending/ or, invalid, into rejected/
//    with the reason and without its code. A crash between the steps leaves it in .intake for the
//    next pass, which simply validates it again.
// 3. With accept_legacy_jobs, jobs that Python syft-code-queue clients wrote straight into
//    jobs/pending/ pass the same gate in place and are marked sender "unverified"; without it they
//    are rejected. Either way they never run without an approval marker.
import fs from "node:fs";
import path from "node:path";
import { admittedUids, recordAdmitted } from "./admitted.ts";
import { appendAudit } from "./audit.ts";
import { forEachLimit } from "./concurrency.ts";
import { errorMessage, InvalidFileError } from "./errors.ts";
import { isNotFound, listDirs, readJsonFile, readUntrustedFile, writeJsonAtomic } from "./fsutil.ts";
import { listJobDirs, now } from "./lifecycle.ts";
import { shortUid, type Log } from "./log.ts";
import { jobDir, type QueuePaths } from "./paths.ts";
import { jobPermissions } from "./permissions.ts";
import type { z } from "zod";
import {
  Email,
  JOB_STATUSES,
  JobMetadataSchema,
  LegacyJobSchema,
  SubmissionSchema,
  SubmittedMarkerSchema,
  UID_PATTERN,
  type AppConfig,
  type JobMetadata,
  type Limits,
} from "./schemas.ts";
import { removeTree } from "./remove.ts";
import { checkJobCode, isSyncNoise, MAX_DEPTH, treeHash, UnsafeTreeError, walkTree } from "./tree.ts";
import { visible } from "./visible.ts";

export const SUBMITTED_MARKER = "submitted";
const INTAKE_CONCURRENCY = 8;

export interface IntakeResult {
  accepted: string[];
  rejected: { uid: string; reason: string }[];
}

export async function intake(paths: QueuePaths, config: AppConfig, log: Log): Promise<IntakeResult> {
  const { limits } = config;
  await freezeCompleteSubmissions(paths, config, log);
  const result: IntakeResult = { accepted: [], rejected: [] };
  const frozen: { email: string; uid: string }[] = [];
  for (const email of await listDirs(paths.intake)) {
    for (const uid of await listDirs(path.join(paths.intake, email))) frozen.push({ email, uid });
  }
  // Admissions are independent and mostly wait on the disk: overlap a few.
  await forEachLimit(frozen, INTAKE_CONCURRENCY, async ({ email, uid }) => {
    let outcome: Admission;
    try {
      outcome = await admit(paths, limits, email, uid);
    } catch (error) {
      // E.g. the folder vanished under us. It stays where it is and the next pass tries again.
      log(`intake: ${shortUid(uid)} from ${email} left for the next pass: ${errorMessage(error)}`);
      return;
    }
    const line = `intake: ${shortUid(uid)} from ${email}`;
    if (outcome.ok) {
      result.accepted.push(uid);
      log(`${line} → pending ("${outcome.meta.name}")`);
    } else {
      result.rejected.push({ uid, reason: outcome.reason });
      log(`${line} → rejected: ${outcome.reason}`);
    }
  });
  for (const email of await listDirs(paths.intake)) await fs.promises.rmdir(path.join(paths.intake, email)).catch(() => {});
  await adoptLegacyJobs(paths, config, log, result);
  return result;
}

async function freezeCompleteSubmissions(paths: QueuePaths, config: AppConfig, log: Log): Promise<void> {
  const candidates: { email: string; uid: string }[] = [];
  for (const email of await listDirs(paths.inbox)) {
    // The inbox folder name is the sender (SyftBox lets each user write only their own): a folder not
    // named like an email cannot be anyone's inbox, and nobody could ever be told about it. Remove it.
    if (!Email.safeParse(email).success) {
      await removeTree(path.join(paths.inbox, email)).catch(() => undefined);
      log(`intake: inbox/${visible(email)} removed: an inbox folder must be named for its sender's email address`);
      continue;
    }
    for (const name of await listDirs(path.join(paths.inbox, email))) {
      // Conflict copies, temp folders and anything not named like a job are not submissions.
      if (UID_PATTERN.test(name)) candidates.push({ email, uid: name });
    }
  }
  if (candidates.length === 0) return;
  const known = await knownUids(paths);
  // One uid, one job: the same uid in two inboxes is claimed by the first seen in this pass, before
  // anything is awaited; the other copy waits for the next pass, which drops it as a duplicate.
  const claimed = new Set<string>();
  await forEachLimit(candidates, INTAKE_CONCURRENCY, async ({ email, uid }) => {
    if (claimed.has(uid)) return;
    claimed.add(uid);
    const from = path.join(paths.inbox, email, uid);
    const marker = await fs.promises.lstat(path.join(from, SUBMITTED_MARKER)).catch(() => undefined);
    if (!marker) return; // still arriving
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
      const markedAt = (await fs.promises.stat(path.join(from, SUBMITTED_MARKER))).mtimeMs;
      if (Date.now() - markedAt < config.intake_grace * 1000) return; // the next pass looks again
      log(`intake: ${shortUid(uid)} from ${email} still incomplete after intake_grace (${missing}); taking it in to reject it`);
    }
    known.set(uid, "intake");
    await fs.promises.mkdir(path.join(paths.intake, email), { recursive: true });
    await fs.promises.rename(from, path.join(paths.intake, email, uid));
  });
}

/** Every uid the queue holds, with where it is: one listing per status folder, read only when there is intake to do. */
async function knownUids(paths: QueuePaths): Promise<Map<string, string>> {
  const known = new Map<string, string>();
  for (const status of JOB_STATUSES) for (const uid of await listJobDirs(paths, status)) known.set(uid, status);
  for (const email of await listDirs(paths.intake)) for (const uid of await listDirs(path.join(paths.intake, email))) known.set(uid, "intake");
  return known;
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
    return "invalid";
  }
  // An empty marker is a valid marker without a manifest (older or hand-made submissions).
  if (text.trim() === "") return {};
  try {
    return SubmittedMarkerSchema.parse(JSON.parse(text));
  } catch {
    return "invalid";
  }
}

/** "has no run.sh" reads better as "code/ has no run.sh"; a named file ("x is a link") needs no prefix. */
function prefixCode(error: unknown): never {
  if (error instanceof UnsafeTreeError && error.message.startsWith("has no")) throw new UnsafeTreeError(`code/ ${error.message}`);
  throw error;
}

/** SyftBox conflict copies and temp files inside code/ are not part of the job: remove them. */
async function removeSyncNoise(dir: string, depth = 1): Promise<void> {
  if (depth > MAX_DEPTH) return; // the gate refuses such a tree anyway
  const entries = await fs.promises.readdir(dir, { withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENAMETOOLONG") return []; // past PATH_MAX: the gate refuses such a tree anyway
    throw error;
  });
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    if (isSyncNoise(entry.name)) await removeTree(full);
    else if (entry.isDirectory()) await removeSyncNoise(full, depth + 1);
  }
}

type Admission = { ok: true; meta: JobMetadata } | { ok: false; reason: string };

async function admit(paths: QueuePaths, limits: Limits, email: string, uid: string): Promise<Admission> {
  const dir = path.join(paths.intake, email, uid);
  let reason: string | undefined;
  let claimedName = "(invalid submission)";
  try {
    const submission = await readJsonFile(path.join(dir, "metadata.json"), SubmissionSchema).catch((error: unknown) => {
      throw isNotFound(error) ? new UnsafeTreeError("the submission has no metadata.json") : error;
    });
    claimedName = submission.name;
    reason = checkClaims(paths, email, uid, submission);
    if (reason === undefined) {
      const codeDir = path.join(dir, "code");
      const stat = await fs.promises.lstat(codeDir).catch(() => undefined);
      if (!stat?.isDirectory()) throw new UnsafeTreeError("the submission has no code/ folder");
      await removeSyncNoise(codeDir);
      const entries = await checkJobCode(codeDir, limits).catch(prefixCode);
      const codeHash = await treeHash(codeDir, entries);
      const marker = await readMarker(dir);
      if (marker === "invalid") throw new UnsafeTreeError("the submitted marker is not valid JSON (incomplete sync?); submit again");
      if (marker.code_sha256 && marker.code_sha256 !== codeHash) {
        throw new UnsafeTreeError("code/ does not match the manifest in the submitted marker: files are missing or changed (incomplete sync?); submit again");
      }
      // Only metadata.json and code/ go on: a stray syft.pub.yaml or other file from the inbox must not.
      for (const entry of await fs.promises.readdir(dir)) {
        if (entry !== "metadata.json" && entry !== "code") await removeTree(path.join(dir, entry));
      }
      const meta = JobMetadataSchema.parse({ ...submission, requester_email: email, status: "pending", updated_at: now(), code_sha256: codeHash });
      await writeJsonAtomic(path.join(dir, "metadata.json"), meta);
      await jobPermissions(dir, email);
      await recordAdmitted(paths, uid);
      await fs.promises.mkdir(path.join(paths.jobs, "pending"), { recursive: true });
      await fs.promises.rename(dir, jobDir(paths, "pending", uid));
      await appendAudit(paths, { event: "submitted", uid, by: email, detail: { name: meta.name, code_sha256: meta.code_sha256 } });
      return { ok: true, meta };
    }
  } catch (error) {
    if (!(error instanceof InvalidFileError || error instanceof UnsafeTreeError)) throw error;
    reason = error instanceof InvalidFileError ? `metadata.json ${error.problems.join("; ")}` : errorMessage(error);
  }
  await rejectAtIntake(paths, dir, { uid, email, name: claimedName, reason });
  return { ok: false, reason };
}

/** The requester's claims that must match what SyftBox guarantees about where the folder came from. */
function checkClaims(paths: QueuePaths, email: string, uid: string, s: { uid: string; requester_email: string; target_email: string }): string | undefined {
  if (s.uid !== uid) return `metadata.json field "uid" (${s.uid}) does not match the folder name ${uid}`;
  if (s.requester_email !== email) {
    return `metadata.json field "requester_email" (${s.requester_email}) is not the sender ${email}: jobs can only be submitted in your own name`;
  }
  if (s.target_email !== paths.owner) return `metadata.json field "target_email" (${s.target_email}) is not this datasite's owner ${paths.owner}`;
  return undefined;
}

async function rejectAtIntake(paths: QueuePaths, dir: string, job: { uid: string; email: string; name: string; reason: string }): Promise<void> {
  // The code is discarded: whatever made it invalid (links, devices, sheer size) must not stay in jobs/.
  for (const entry of await fs.promises.readdir(dir)) await removeTree(path.join(dir, entry));
  const at = now();
  const meta = JobMetadataSchema.parse({
    uid: job.uid,
    name: job.name,
    requester_email: job.email,
    target_email: paths.owner,
    status: "rejected",
    created_at: at,
    updated_at: at,
    completed_at: at,
    error_message: `rejected at intake: ${job.reason}`,
  });
  await writeJsonAtomic(path.join(dir, "metadata.json"), meta);
  await jobPermissions(dir, job.email);
  await fs.promises.mkdir(path.join(paths.jobs, "rejected"), { recursive: true });
  await fs.promises.rename(dir, jobDir(paths, "rejected", job.uid));
  await appendAudit(paths, { event: "intake-rejected", uid: job.uid, detail: { from: job.email, reason: job.reason } });
}

/** A Python client's job is taken in only once nothing in it has changed for this long. */
const LEGACY_QUIET_MS = 10_000;

/**
 * Jobs in pending/ that our intake did not admit: Python syft-code-queue clients', or anyone's who can
 * write there. Whatever their fields say (a code_sha256, sender "verified"), only the register of
 * admitted jobs tells ours from theirs.
 */
async function adoptLegacyJobs(paths: QueuePaths, config: AppConfig, log: Log, result: IntakeResult): Promise<void> {
  const admitted = await admittedUids(paths, log);
  for (const uid of await listJobDirs(paths, "pending")) {
    if (admitted.has(uid)) continue;
    try {
      await adoptLegacyJob(paths, config, log, result, uid);
    } catch (error) {
      // One job's trouble (it vanished, it is unreadable) never stops intake for the others.
      log(`intake: pending/${shortUid(uid)} left for the next pass: ${errorMessage(error)}`);
    }
  }
}

async function adoptLegacyJob(paths: QueuePaths, config: AppConfig, log: Log, result: IntakeResult, uid: string): Promise<void> {
  const dir = jobDir(paths, "pending", uid);
  const raw = await readUntrustedFile(path.join(dir, "metadata.json")).then(
    (bytes) => JSON.parse(bytes.toString("utf8")) as unknown,
    () => undefined,
  );
  if (Date.now() - (await newestChange(dir)) < LEGACY_QUIET_MS) return; // may still be syncing
  const claimed = LegacyJobSchema.safeParse(raw);
  const requester = claimed.data?.requester_email ?? "unknown@unverified.invalid";
  const name = claimed.data?.name ?? "(invalid submission)";
  let reason: string | undefined;
  if (!config.accept_legacy_jobs) {
    reason = 'jobs written straight into jobs/pending/ (Python syft-code-queue clients) are not accepted here; the owner can allow them with "accept_legacy_jobs": true';
  } else if (!claimed.success) {
    reason = `metadata.json ${claimed.error.issues.map((i) => `field "${i.path.join(".")}": ${i.message}`).join("; ")}`;
  } else if (claimed.data.uid !== uid) {
    reason = `metadata.json field "uid" (${claimed.data.uid}) does not match the folder name ${uid}`;
  } else if (claimed.data.target_email !== paths.owner) {
    reason = `metadata.json field "target_email" (${claimed.data.target_email}) is not this datasite's owner ${paths.owner}`;
  }
  try {
    if (reason === undefined && claimed.success) {
      const code = path.join(dir, "code");
      await removeSyncNoise(code).catch(() => {});
      const entries = await checkJobCode(code, config.limits).catch((error: unknown) => {
        throw isNotFound(error) ? new UnsafeTreeError("the job has no code/ folder") : prefixCode(error);
      });
      const meta = JobMetadataSchema.parse({
        ...claimed.data,
        status: "pending",
        updated_at: now(),
        code_sha256: await treeHash(code, entries),
        sender: "unverified",
      });
      await writeJsonAtomic(path.join(dir, "metadata.json"), meta);
      await jobPermissions(dir, meta.requester_email);
      await recordAdmitted(paths, uid);
      await appendAudit(paths, { event: "submitted", uid, by: meta.requester_email, detail: { name: meta.name, code_sha256: meta.code_sha256, sender: "unverified" } });
      log(`intake: ${shortUid(uid)} written into pending/ by a Python client, claiming to be from ${visible(meta.requester_email)} (sender UNVERIFIED) → pending`);
      result.accepted.push(uid);
      return;
    }
  } catch (error) {
    if (!(error instanceof UnsafeTreeError)) throw error;
    reason = errorMessage(error);
  }
  await rejectAtIntake(paths, dir, { uid, email: requester, name, reason: reason! });
  log(`intake: ${shortUid(uid)} written into pending/ by a Python client → rejected: ${visible(reason!)}`);
  result.rejected.push({ uid, reason: reason! });
}

async function newestChange(dir: string): Promise<number> {
  let newest = (await fs.promises.lstat(dir)).mtimeMs;
  for (const entry of await fs.promises.readdir(dir, { withFileTypes: true, recursive: true })) {
    const stat = await fs.promises.lstat(path.join(entry.parentPath ?? (entry as unknown as { path: string }).path, entry.name)).catch(() => undefined);
    if (stat) newest = Math.max(newest, stat.mtimeMs);
  }
  return newest;
}
