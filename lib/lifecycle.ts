/*
 * The job lifecycle: every status change goes through `transition` in this file.
 *
 * A job is the folder jobs/<status>/<uid>/. The folder is the truth; metadata.json carries the details.
 *
 *   inbox/<email>/<uid> ──intake (valid)──────────────▶ pending
 *                       └─intake (invalid)────────────▶ rejected     (code discarded, reason recorded)
 *   pending  ──approve marker, code hash matches──────▶ approved
 *            ──approve marker, code hash differs──────▶ failed       ("code changed after approval")
 *            ──reject marker / expiry / cancel────────▶ rejected
 *   approved ──a pass starts it───────────────────────▶ running
 *            ──no valid approve marker (forged)───────▶ pending      (flagged, never run)
 *            ──cancel by the requester────────────────▶ rejected
 *   running  ──exit 0───────────────────────────────────▶ completed
 *            ──exit ≠ 0, timeout, limit, interrupted───▶ failed
 *
 * A change is two steps, each atomic: (1) write the new metadata (status = target) into the job's
 * folder, (2) rename the folder into jobs/<target>/. A crash between them leaves a folder whose
 * metadata names a later status; recover.ts finishes or undoes that on the next pass.
 */
import fs from "node:fs";
import path from "node:path";
import { AmbiguousUidError, JobNotFoundError } from "./errors.ts";
import { listDirs, readJsonFile, writeJsonAtomic } from "./fsutil.ts";
import { jobDir, type QueuePaths } from "./paths.ts";
import { JOB_STATUSES, JobMetadataSchema, UID_PATTERN, type JobMetadata, type JobStatus } from "./schemas.ts";

export const TRANSITIONS = {
  pending: ["approved", "rejected", "failed"],
  approved: ["running", "pending", "failed", "rejected"],
  running: ["completed", "failed"],
  completed: [],
  failed: [],
  rejected: [],
} as const satisfies Record<JobStatus, readonly JobStatus[]>;

export const TERMINAL_STATUSES = ["completed", "failed", "rejected"] as const satisfies readonly JobStatus[];
export const ACTIVE_STATUSES = ["pending", "approved", "running"] as const satisfies readonly JobStatus[];

export interface Job {
  /** Where the folder is, which is what counts. */
  status: JobStatus;
  uid: string;
  dir: string;
  meta: JobMetadata;
}

export function canTransition(from: JobStatus, to: JobStatus): boolean {
  return (TRANSITIONS[from] as readonly JobStatus[]).includes(to);
}

export function now(): string {
  return new Date().toISOString();
}

export async function readJob(paths: QueuePaths, status: JobStatus, uid: string): Promise<Job> {
  const dir = jobDir(paths, status, uid);
  const meta = await readJsonFile(path.join(dir, "metadata.json"), JobMetadataSchema);
  return { status, uid, dir, meta };
}

export async function transition(
  paths: QueuePaths,
  job: Job,
  to: JobStatus,
  patch: Partial<JobMetadata> = {},
): Promise<Job> {
  if (!canTransition(job.status, to)) {
    throw new Error(`BUG: job ${job.uid} cannot go from ${job.status} to ${to}`);
  }
  const meta = JobMetadataSchema.parse({ ...job.meta, ...patch, status: to, updated_at: now() });
  await writeJsonAtomic(path.join(job.dir, "metadata.json"), meta);
  const target = jobDir(paths, to, job.uid);
  await fs.promises.mkdir(path.dirname(target), { recursive: true });
  await fs.promises.rename(job.dir, target);
  return { status: to, uid: job.uid, dir: target, meta };
}

/** Rewrite a job's metadata in place, for changes that keep its status (e.g. fixing a stale status field). */
export async function updateMetadata(job: Job, patch: Partial<JobMetadata>): Promise<Job> {
  const meta = JobMetadataSchema.parse({ ...job.meta, ...patch, status: job.status, updated_at: now() });
  await writeJsonAtomic(path.join(job.dir, "metadata.json"), meta);
  return { ...job, meta };
}

/**
 * The job folders in one status folder. Only uid-named folders are jobs: SyftBox conflict copies
 * (`<uid>.conflict.<ts>`), temp folders and anything else there are never listed, run or moved.
 */
export async function listJobDirs(paths: QueuePaths, status: JobStatus): Promise<string[]> {
  return (await listDirs(path.join(paths.jobs, status))).filter((name) => UID_PATTERN.test(name));
}

export interface JobProblem {
  status: JobStatus;
  uid: string;
  error: Error;
}

export async function listJobs(
  paths: QueuePaths,
  statuses: readonly JobStatus[] = JOB_STATUSES,
): Promise<{ jobs: Job[]; problems: JobProblem[] }> {
  // Keyed by uid: a job moved on by a pass while we list (approved → running) is seen in both
  // folders; folders are listed in lifecycle order, so the later sighting is the current one.
  const jobs = new Map<string, Job>();
  const problems: JobProblem[] = [];
  for (const status of statuses) {
    for (const uid of await listJobDirs(paths, status)) {
      try {
        jobs.set(uid, await readJob(paths, status, uid));
      } catch (error) {
        problems.push({ status, uid, error: error as Error });
      }
    }
  }
  return { jobs: [...jobs.values()], problems };
}

/** Find a job by full uid or by an unambiguous prefix (at least 4 characters). */
export async function findJob(paths: QueuePaths, ref: string): Promise<Job> {
  const wanted = ref.trim().toLowerCase();
  const found = new Map<string, JobStatus>(); // by uid: the latest sighting wins, as in listJobs
  for (const status of JOB_STATUSES) {
    for (const uid of await listJobDirs(paths, status)) {
      if (uid === wanted) return readJob(paths, status, uid);
      if (wanted.length >= 4 && uid.startsWith(wanted)) found.set(uid, status);
    }
  }
  const matches = [...found].map(([uid, status]) => ({ uid, status }));
  const [only, ...others] = matches;
  if (only && others.length === 0) return readJob(paths, only.status, only.uid);
  if (only) {
    const list = matches.map((m) => `${m.uid} (${m.status})`).join(", ");
    throw new AmbiguousUidError(`"${ref}" matches ${matches.length} jobs: ${list}. Give more characters of the uid.`);
  }
  throw new JobNotFoundError(
    `No job "${ref}" in the queue of ${paths.owner}. List jobs with \`scq list\`; a job still arriving is not listed until a pass takes it in.`,
  );
}
