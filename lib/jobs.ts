// Finding jobs from either side. A data owner's jobs are in their own queue; a data scientist's are
// in other datasites' queues (SyftBox syncs them the job folders they may read) or, not yet taken in
// by the owner's pass, still in the owner's inbox under the scientist's own email.
import path from "node:path";
import { ownQueue, type Context } from "./context.ts";
import { AmbiguousUidError, JobNotFoundError } from "./errors.ts";
import { exists, listDirs, readJsonFile } from "./fsutil.ts";
import { findJob, listJobDirs, listJobs, type Job } from "./lifecycle.ts";
import { queuePaths, type QueuePaths } from "./paths.ts";
import { JOB_STATUSES, JobMetadataSchema, SubmissionSchema, UID_PATTERN, type JobStatus } from "./schemas.ts";

export interface JobView extends Job {
  /** The datasite whose queue holds the job. */
  owner: string;
  role: "owner" | "requester";
  /** False while the job waits in the owner's inbox for their pass to take it in. */
  taken_in: boolean;
}

/** Queues of other datasites that this user can see (the app runs there). */
async function otherQueues(ctx: Context): Promise<QueuePaths[]> {
  const queues: QueuePaths[] = [];
  for (const owner of await listDirs(path.join(ctx.dataDir, "datasites"))) {
    if (owner === ctx.email) continue;
    const paths = queuePaths(ctx.dataDir, owner, ctx.config.queue_name);
    if (await exists(paths.root)) queues.push(paths);
  }
  return queues;
}

/** Jobs I submitted, on every datasite I have synced, including those still in an inbox. */
export async function myJobs(ctx: Context, status?: JobStatus): Promise<JobView[]> {
  const views: JobView[] = [];
  for (const paths of await otherQueues(ctx)) {
    const { jobs } = await listJobs(paths, status ? [status] : JOB_STATUSES);
    for (const job of jobs) {
      if (job.meta.requester_email === ctx.email) views.push({ ...job, owner: paths.owner, role: "requester", taken_in: true });
    }
    if (status && status !== "pending") continue;
    views.push(...(await inboxJobs(paths, ctx.email)));
  }
  return views;
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
  const own = ownQueue(ctx);
  try {
    return { ...(await findJob(own, ref)), owner: ctx.email, role: "owner", taken_in: true };
  } catch (error) {
    if (!(error instanceof JobNotFoundError)) throw error;
  }
  const wanted = ref.trim().toLowerCase();
  const mine = await myJobs(ctx);
  const exact = mine.filter((j) => j.uid === wanted);
  // A job caught between the inbox and the queue can show up in both; the queue's record is current.
  const candidates = exact.length > 0 ? exact : wanted.length >= 4 ? mine.filter((j) => j.uid.startsWith(wanted)) : [];
  const matches = [...new Map(candidates.sort((a, b) => Number(a.taken_in) - Number(b.taken_in)).map((j) => [j.uid, j])).values()];
  if (matches.length === 1) return matches[0]!;
  if (matches.length > 1) {
    throw new AmbiguousUidError(`"${ref}" matches ${matches.length} jobs: ${matches.map((m) => `${m.uid} (${m.status})`).join(", ")}. Give more characters of the uid.`);
  }
  const near = nearMatches(wanted, [...(await allUids(own)), ...mine.map((j) => j.uid)]);
  throw new JobNotFoundError(
    `No job "${ref}" in your queue or among the jobs you submitted.` +
      (near.length > 0 ? ` Did you mean ${near.join(" or ")}?` : " List them with `scq list` (yours to review) or `scq mine` (yours submitted)."),
  );
}

async function allUids(paths: QueuePaths): Promise<string[]> {
  const uids: string[] = [];
  for (const status of JOB_STATUSES) uids.push(...(await listJobDirs(paths, status)));
  return uids;
}

/** uids whose start is within two typing errors of what was given. */
export function nearMatches(ref: string, uids: string[]): string[] {
  if (ref.length < 4) return [];
  return [...new Set(uids)].filter((uid) => editDistance(ref, uid.slice(0, ref.length)) <= 2).slice(0, 3).map((uid) => uid.slice(0, 8));
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
