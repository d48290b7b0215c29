// Finding jobs, the one place that does: in the owner's own queue (by status folder, uid or uid
// prefix), and from a data scientist's side in other datasites' queues (SyftBox syncs them the job
// folders they may read) or, not yet taken in by the owner's pass, still in the owner's inbox under
// the scientist's own email. Nothing here changes a job; lifecycle.ts does that.
import fs from "node:fs";
import path from "node:path";
import { expected } from "../core/expected.ts";
import { isTimeOrdered } from "../core/uid.ts";
import { forEachLimit } from "../core/concurrency.ts";
import { reviewedQueue, reviewsForAnother, type Context } from "../core/context.ts";
import { AmbiguousUidError, JobNotFoundError } from "../core/errors.ts";
import { exists, ifExists, listDirs, readJsonFile } from "../core/fsutil.ts";
import type { Job, JobView } from "../core/job.ts";
import { listJobDirs, readJob } from "./job-record.ts";
import { pageJobs, statusUids } from "./listing.ts";
import { jobDir, queuePaths, type QueuePaths } from "../core/paths.ts";
import { JOB_STATUSES, JobMetadataSchema, SubmissionSchema, UID_PATTERN, type JobStatus } from "../core/schemas.ts";

/** Every uid in the queue with the status folder it is in (the later status where a move is under way). */
export async function uidIndex(paths: QueuePaths, statuses: readonly JobStatus[] = JOB_STATUSES): Promise<Map<string, JobStatus>> {
  const names = await statusUids(paths, statuses);
  const index = new Map<string, JobStatus>();
  for (const status of statuses) for (const uid of names.get(status) ?? []) index.set(uid, status);
  return index;
}

export interface JobProblem {
  status: JobStatus;
  uid: string;
  error: Error;
}

export async function listJobs(paths: QueuePaths, statuses: readonly JobStatus[] = JOB_STATUSES): Promise<{ jobs: Job[]; problems: JobProblem[] }> {
  // Keyed by uid: a job moved on by a pass while we list (approved → running) is seen in both
  // folders; folders are listed in lifecycle order, so the later sighting is the current one.
  const jobs = new Map<string, Job>();
  const problems: JobProblem[] = [];
  for (const status of statuses) {
    const read = new Map<string, Job>();
    // Records mostly wait on the disk: a few at a time.
    await forEachLimit(await listJobDirs(paths, status), 32, async (uid) => {
      try {
        read.set(uid, await readJob(paths, status, uid));
      } catch (error) {
        problems.push({ status, uid, error: error as Error });
      }
    });
    for (const [uid, job] of read) jobs.set(uid, job);
  }
  return { jobs: [...jobs.values()], problems };
}

/**
 * The one rule for naming a job: its full uid, or an unambiguous end of at least 4 characters (the 8
 * listings show: shortUid), or a start long enough to reach past the time a v7 uid begins with.
 * Returns the matching uids (the exact one alone when there is one).
 */
export function matchUid(ref: string, uids: Iterable<string>): string[] {
  const wanted = ref.trim().toLowerCase();
  const matches = new Set<string>();
  for (const uid of uids) {
    if (uid === wanted) return [uid];
    if (wanted.length >= 4 && (uid.endsWith(wanted) || (uid.startsWith(wanted) && startNamesOne(uid, wanted)))) matches.add(uid);
  }
  return [...matches];
}

/**
 * A v7 uid's first 15 characters are its submission time (and version): a start no longer than that
 * names a minute, not a job, and `scq approve 01a2` must never act on whatever was sent lately.
 */
const TIME_PART = 15;

function startNamesOne(uid: string, start: string): boolean {
  return !isTimeOrdered(uid) || start.length > TIME_PART;
}

/** Why nothing matched, when the ref is only the time part of some uid: said, so the person types the end. */
function onlyTheTime(ref: string, uids: Iterable<string>): boolean {
  const wanted = ref.trim().toLowerCase();
  if (wanted.length < 4) return false;
  for (const uid of uids) if (uid.startsWith(wanted) && !startNamesOne(uid, wanted)) return true;
  return false;
}

function timeOnly(ref: string): JobNotFoundError {
  return new JobNotFoundError(
    `"${ref}" is the start of a uid, which is only its submission time (jobs sent close together share it): give the 8 characters listings show (the uid's end), or the whole uid.`,
  );
}

function ambiguous(ref: string, matches: { uid: string; status: JobStatus }[]): AmbiguousUidError {
  return new AmbiguousUidError(
    `"${ref}" matches ${matches.length} jobs: ${matches.map((m) => `${m.uid} (${m.status})`).join(", ")}. Give more characters of the uid.`,
  );
}

/** A job of one queue by uid or prefix, in any of `statuses`. */
export async function findJob(paths: QueuePaths, ref: string, statuses: readonly JobStatus[] = JOB_STATUSES): Promise<Job> {
  // A full uid is found by looking where it can be, without listing anything: the later status wins.
  const wanted = ref.trim().toLowerCase();
  if (UID_PATTERN.test(wanted)) {
    for (const status of [...statuses].reverse()) {
      if (await exists(path.join(jobDir(paths, status, wanted), "metadata.json"))) return readJob(paths, status, wanted);
    }
  }
  const index = await uidIndex(paths, statuses);
  const matches = matchUid(ref, index.keys()).map((uid) => ({ uid, status: index.get(uid)! }));
  const [only, ...others] = matches;
  if (only && others.length === 0) return readJob(paths, only.status, only.uid);
  if (only) throw ambiguous(ref, matches);
  if (onlyTheTime(ref, index.keys())) throw timeOnly(ref);
  throw new JobNotFoundError(
    `No job "${ref}" in the queue of ${paths.owner}. List jobs with \`scq list\`; a job still arriving is not listed until a pass takes it in.`,
  );
}

/** The role of whoever reviews the reviewed queue: its owner, or another owner's approver. */
export function reviewerRole(ctx: Context): "owner" | "approver" {
  return reviewsForAnother(ctx) ? "approver" : "owner";
}

/** Queues of other datasites that this user can see (the app runs there). */
export async function otherQueues(ctx: Context): Promise<QueuePaths[]> {
  const queues: QueuePaths[] = [];
  for (const owner of await listDirs(path.join(ctx.dataDir, "datasites"))) {
    if (owner === ctx.email) continue;
    const paths = queuePaths(ctx.dataDir, owner, ctx.config.queue_name);
    if (await exists(paths.root)) queues.push(paths);
  }
  return queues;
}

/**
 * Jobs I submitted, on every datasite I have synced, including those still in an inbox; newest first,
 * a page at a time (`limit`, `after`), reading only the records a page needs.
 */
export async function listMyJobs(ctx: Context, status?: JobStatus, page: { limit?: number; after?: string | undefined } = {}): Promise<JobView[]> {
  const limit = page.limit ?? Infinity;
  const views: JobView[] = [];
  for (const paths of await otherQueues(ctx)) {
    const { jobs } = await pageJobs(paths, {
      statuses: status ? [status] : JOB_STATUSES,
      limit,
      after: page.after,
      match: (job) => job.meta.requester_email === ctx.email,
    });
    views.push(...jobs.map((job): JobView => ({ ...job, owner: paths.owner, role: "requester", taken_in: true })));
    if (status && status !== "pending") continue;
    views.push(...(await inboxJobs(paths, ctx.email)));
  }
  const newest = views.sort((a, b) => b.meta.created_at.localeCompare(a.meta.created_at) || (a.uid < b.uid ? 1 : -1));
  const from = page.after === undefined ? 0 : newest.findIndex((j) => j.uid === page.after) + 1;
  return newest.slice(from, from + limit);
}

async function inboxJobs(paths: QueuePaths, email: string): Promise<JobView[]> {
  const views: JobView[] = [];
  for (const uid of await listDirs(path.join(paths.inbox, email))) {
    if (!UID_PATTERN.test(uid)) continue;
    const dir = path.join(paths.inbox, email, uid);
    try {
      const submission = await readJsonFile(path.join(dir, "metadata.json"), SubmissionSchema);
      const meta = JobMetadataSchema.parse({ ...submission, status: "pending", updated_at: submission.created_at });
      views.push({ status: "pending", uid, dir, meta, owner: paths.owner, role: "requester", taken_in: false });
    } catch {
      // still arriving or not ours to judge: the owner's intake decides
    }
  }
  return views;
}

/** A job by uid or prefix: first in my own queue (as owner), then among the jobs I submitted elsewhere. */
export async function locateJob(ctx: Context, ref: string): Promise<JobView> {
  const own = reviewedQueue(ctx);
  try {
    return { ...(await findJob(own, ref)), owner: own.owner, role: reviewerRole(ctx), taken_in: true };
  } catch (error) {
    if (!(error instanceof JobNotFoundError)) throw error;
  }
  const mine = await listMyJobs(ctx);
  // A job caught between the inbox and the queue can show up in both; the queue's record is current.
  const byUid = new Map(mine.sort((a, b) => Number(a.taken_in) - Number(b.taken_in)).map((j) => [j.uid, j]));
  const matches = matchUid(ref, byUid.keys()).map((uid) => byUid.get(uid)!);
  if (matches.length === 1) return matches[0]!;
  if (matches.length > 1) throw ambiguous(ref, matches);
  if (onlyTheTime(ref, byUid.keys())) throw timeOnly(ref);
  const near = nearMatches(ref.trim().toLowerCase(), [...(await uidIndex(own)).keys(), ...byUid.keys()]);
  throw new JobNotFoundError(
    `No job "${ref}" in your queue or among the jobs you submitted.` +
      (near.length > 0 ? ` Did you mean ${near.join(" or ")}?` : " List them with `scq list` (yours to review) or `scq mine` (yours submitted)."),
  );
}

/** uids whose start or end is within two typing errors of what was given. */
function nearMatches(ref: string, uids: string[]): string[] {
  if (ref.length < 4) return [];
  return [...new Set(uids)]
    .filter((uid) => editDistance(ref, uid.slice(0, ref.length)) <= 2 || editDistance(ref, uid.slice(-ref.length)) <= 2)
    .slice(0, 3)
    .map((uid) => uid.slice(-8));
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i += 1) {
    const current = [i];
    for (let j = 1; j <= b.length; j += 1) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}

export { listJobDirs, readJob };

/**
 * Finished jobs whose output and logs wait for the owner's release, oldest first. Found from the
 * staging folder (only running jobs, held output and withheld files are there), so a long history
 * costs nothing: only the few jobs with something staged are read.
 */
export async function heldOutput(paths: QueuePaths): Promise<Job[]> {
  const staged = new Set((await ifExists(fs.promises.readdir(paths.staging))) ?? []);
  if (staged.size === 0) return [];
  const finished = await statusUids(paths, ["completed", "failed"]);
  const held: Job[] = [];
  for (const status of ["completed", "failed"] as const) {
    for (const uid of finished.get(status) ?? []) {
      if (!staged.has(uid)) continue;
      const job = await readJob(paths, status, uid).catch(expected("a record being synced: counted when readable"));
      if (job?.meta.output_review === "pending") held.push(job);
    }
  }
  return held.sort((a, b) => (a.meta.completed_at ?? a.meta.updated_at).localeCompare(b.meta.completed_at ?? b.meta.updated_at));
}
