// Intake: the gate between what anyone may write (inbox/<email>/) and the owner's queue (jobs/).
//
// 1. A complete inbox folder (it has the `submitted` marker, written last) is renamed into
//    jobs/.intake/<email>/<uid>, where the requester can no longer change it.
// 2. Everything in jobs/.intake is validated and renamed into pending/ or, invalid, into rejected/
//    with the reason and without its code. A crash between the steps leaves it in .intake for the
//    next pass, which simply validates it again.
import fs from "fs-extra";
import path from "node:path";
import { appendAudit } from "./audit.ts";
import { forEachLimit } from "./concurrency.ts";
import { errorMessage, InvalidFileError } from "./errors.ts";
import { isNotFound, listDirs, readJsonFile, writeJsonAtomic } from "./fsutil.ts";
import { now } from "./lifecycle.ts";
import { shortUid, type Log } from "./log.ts";
import { jobDir, type QueuePaths } from "./paths.ts";
import { jobPermissions } from "./permissions.ts";
import { Email, JOB_STATUSES, JobMetadataSchema, SubmissionSchema, UID_PATTERN, type JobMetadata, type Limits } from "./schemas.ts";
import { treeHash, UnsafeTreeError, walkTree } from "./tree.ts";

export const SUBMITTED_MARKER = "submitted";
const INTAKE_CONCURRENCY = 8;

export interface IntakeResult {
  accepted: string[];
  rejected: { uid: string; reason: string }[];
}

export async function intake(paths: QueuePaths, limits: Limits, log: Log): Promise<IntakeResult> {
  await freezeCompleteSubmissions(paths, log);
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
  return result;
}

async function freezeCompleteSubmissions(paths: QueuePaths, log: Log): Promise<void> {
  const candidates: { email: string; uid: string }[] = [];
  for (const email of await listDirs(paths.inbox)) {
    // The inbox folder name is the sender (SyftBox lets each user write only their own); anything else is noise.
    if (!Email.safeParse(email).success) continue;
    for (const name of await listDirs(path.join(paths.inbox, email))) {
      // Conflict copies, temp folders and anything not named like a job are not submissions.
      if (UID_PATTERN.test(name)) candidates.push({ email, uid: name });
    }
  }
  if (candidates.length === 0) return;
  const known = await knownUids(paths);
  await forEachLimit(candidates, INTAKE_CONCURRENCY, async ({ email, uid }) => {
    const from = path.join(paths.inbox, email, uid);
    if (!(await isRegularFile(path.join(from, SUBMITTED_MARKER)))) return; // still arriving
    const existing = known.get(uid);
    if (existing) {
      // A re-synced old copy or a reused uid: the queue already has this job; never overwrite it.
      await fs.promises.rm(from, { recursive: true, force: true });
      log(`intake: ${shortUid(uid)} from ${email} dropped: a job with this uid already exists (${existing})`);
      await appendAudit(paths, { event: "intake-rejected", uid, detail: { from: email, reason: "uid already exists" } });
      return;
    }
    known.set(uid, "intake");
    await fs.promises.mkdir(path.join(paths.intake, email), { recursive: true });
    await fs.promises.rename(from, path.join(paths.intake, email, uid));
  });
}

/** Every uid the queue holds, with where it is: one listing per status folder, read only when there is intake to do. */
async function knownUids(paths: QueuePaths): Promise<Map<string, string>> {
  const known = new Map<string, string>();
  for (const status of JOB_STATUSES) for (const uid of await listDirs(path.join(paths.jobs, status))) known.set(uid, status);
  for (const email of await listDirs(paths.intake)) for (const uid of await listDirs(path.join(paths.intake, email))) known.set(uid, "intake");
  return known;
}

type Admission = { ok: true; meta: JobMetadata } | { ok: false; reason: string };

async function admit(paths: QueuePaths, limits: Limits, email: string, uid: string): Promise<Admission> {
  const dir = path.join(paths.intake, email, uid);
  let meta: JobMetadata;
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
      const entries = await walkTree(codeDir, { maxFiles: limits.max_files, maxBytes: limits.max_code_mb * 1024 * 1024 });
      if (!entries.some((e) => e.rel === "run.sh" && e.type === "file")) {
        throw new UnsafeTreeError("code/ has no run.sh: the job needs a run.sh at the top of its folder");
      }
      // Only metadata.json and code/ go on: a stray syft.pub.yaml or other file from the inbox must not.
      for (const entry of await fs.promises.readdir(dir)) {
        if (entry !== "metadata.json" && entry !== "code") await fs.promises.rm(path.join(dir, entry), { recursive: true, force: true });
      }
      meta = JobMetadataSchema.parse({
        ...submission,
        requester_email: email,
        status: "pending",
        updated_at: now(),
        code_sha256: await treeHash(codeDir, entries),
      });
      await writeJsonAtomic(path.join(dir, "metadata.json"), meta);
      await jobPermissions(dir, email);
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
  for (const entry of await fs.promises.readdir(dir)) {
    await fs.promises.rm(path.join(dir, entry), { recursive: true, force: true });
  }
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

async function isRegularFile(file: string): Promise<boolean> {
  const stat = await fs.promises.lstat(file).catch(() => undefined);
  return stat?.isFile() ?? false;
}
