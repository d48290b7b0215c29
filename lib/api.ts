// The library API for TypeScript users, mirroring the Python syft-code-queue's. Every function takes an
// optional context: a resolved Context, or ContextOptions ({dataDir, email, clientConfig, appConfig});
// by default the SyftBox client config. The CLI is a thin layer over these functions.
import fs from "fs-extra";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { cancelJob } from "./cancel.ts";
import { ownQueue, resolveContext, type Context, type ContextOptions } from "./context.ts";
import { decide } from "./decisions.ts";
import { JobNotFoundError, JobStateError, ScqError } from "./errors.ts";
import { locateJob, myJobs as listMyJobs, type JobView } from "./jobs.ts";
import { listJobDirs, listJobs, TERMINAL_STATUSES } from "./lifecycle.ts";
import { queuePaths, resultsDir } from "./paths.ts";
import { releaseOutput } from "./release.ts";
import { reviewJob as review } from "./review.ts";
import { JOB_STATUSES, type JobStatus } from "./schemas.ts";
import { settingsInForce, type Settings } from "./settings.ts";
import { submitJob as submit, submitScript as submitOne, type SubmitOptions, type SubmitScriptOptions } from "./submit.ts";
import { walkTree } from "./tree.ts";

export type ContextLike = Context | ContextOptions | undefined;

export async function contextOf(c: ContextLike): Promise<Context> {
  return c && "config" in c && c.dataDir !== undefined && c.email !== undefined ? (c as Context) : resolveContext(c);
}

// ---- data scientist ---------------------------------------------------------------------------

export const submitJob = async (options: SubmitOptions, c?: ContextLike) => submit(await contextOf(c), options);
export const submitScript = async (options: SubmitScriptOptions, c?: ContextLike) => submitOne(await contextOf(c), options);
export const myJobs = async (status?: JobStatus, c?: ContextLike) => listMyJobs(await contextOf(c), status);
export const cancel = async (ref: string, reason?: string, c?: ContextLike) => cancelJob(await contextOf(c), ref, reason);

// ---- data owner ---------------------------------------------------------------------------------

export interface JobFilter {
  status?: JobStatus | undefined;
  /** Requester email. */
  from?: string | undefined;
  /** Case-insensitive text in name, description, tags, requester or uid. */
  search?: string | undefined;
  limit?: number | undefined;
}

/** Jobs in my queue, newest first, filtered. */
export async function allJobsForMe(filter: JobFilter = {}, c?: ContextLike): Promise<JobView[]> {
  const ctx = await contextOf(c);
  const { jobs } = await listJobs(ownQueue(ctx), filter.status ? [filter.status] : JOB_STATUSES);
  const text = filter.search?.toLowerCase();
  const views = jobs
    .filter((j) => !filter.from || j.meta.requester_email === filter.from)
    .filter((j) => !text || [j.uid, j.meta.name, j.meta.description, j.meta.requester_email, ...j.meta.tags].some((f) => f.toLowerCase().includes(text)))
    .sort((a, b) => b.meta.created_at.localeCompare(a.meta.created_at))
    .map((j): JobView => ({ ...j, owner: ctx.email, role: "owner", taken_in: true }));
  return filter.limit === undefined ? views : views.slice(0, filter.limit);
}

export const pendingForMe = (filter: Omit<JobFilter, "status"> = {}, c?: ContextLike) => allJobsForMe({ ...filter, status: "pending" }, c);
export const reviewJob = async (ref: string, c?: ContextLike) => review(await contextOf(c), ref);
export const approve = async (ref: string, reason = "", c?: ContextLike) => decide(await contextOf(c), ref, { decision: "approve", reason });
export const reject = async (ref: string, reason: string, c?: ContextLike) => decide(await contextOf(c), ref, { decision: "reject", reason });
export const release = async (ref: string, c?: ContextLike) => releaseOutput(await contextOf(c), ref);

export interface QueueStatus {
  queue: string;
  /** The settings this command read (the same file the pass reads, unless --app-config says otherwise). */
  settings: Settings;
  counts: Record<JobStatus, number>;
  oldest_pending: string | null;
  last_pass: { finished_at?: string; skipped?: string; sandbox_problem?: string | null; settings?: Settings } | null;
}

export async function status(c?: ContextLike): Promise<QueueStatus> {
  const ctx = await contextOf(c);
  const paths = ownQueue(ctx);
  // Counting folders needs no metadata reads, so this stays fast with a long history.
  const counts = Object.fromEntries(
    await Promise.all(JOB_STATUSES.map(async (s) => [s, (await listJobDirs(paths, s)).length] as const)),
  ) as Record<JobStatus, number>;
  const { jobs } = await listJobs(paths, ["pending"]);
  const oldest = jobs.map((j) => j.meta.created_at).sort()[0] ?? null;
  const lastPass = await fs.readJson(paths.lastPass).catch(() => null);
  return { queue: paths.root, settings: ctx.settings ?? settingsInForce(ctx.config), counts, oldest_pending: oldest, last_pass: lastPass };
}

// ---- both ---------------------------------------------------------------------------------------

export const getJob = async (ref: string, c?: ContextLike) => locateJob(await contextOf(c), ref);

/** Where a job's results are for this user, or why there are none to see (yet). */
async function results(ctx: Context, job: JobView): Promise<string> {
  if (job.meta.output_review === "pending") {
    if (job.role === "requester") throw new JobStateError(`Job ${job.uid} is ${job.status}; its output and logs await the owner's review before release.`);
    return resultsDir(queuePaths(ctx.dataDir, job.owner, ctx.config.queue_name), job);
  }
  return job.dir;
}

export async function getJobLogs(ref: string, stream: "stdout" | "stderr" = "stdout", c?: ContextLike): Promise<{ job: JobView; text: string | null }> {
  const ctx = await contextOf(c);
  const job = await locateJob(ctx, ref);
  const file = path.join(await results(ctx, job), "logs", `${stream}.txt`);
  return { job, text: await fs.promises.readFile(file, "utf8").catch(() => null) };
}

export async function getJobOutput(ref: string, options: { to?: string | undefined } = {}, c?: ContextLike) {
  const ctx = await contextOf(c);
  const job = await locateJob(ctx, ref);
  const dir = path.join(await results(ctx, job), "output");
  if (!(await fs.pathExists(dir))) throw new JobStateError(`Job ${job.uid} has no output (it is ${job.status}).`);
  const files = (await walkTree(dir, { anyName: true })).filter((e) => e.type === "file");
  if (options.to) {
    // Like cp, rsync and scp: into a new folder or an empty one, never over files that are there.
    const there = await fs.promises.readdir(options.to).catch((error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT") return [];
      if (error.code === "ENOTDIR") throw new ScqError(`${options.to} is a file: give a folder to copy the output into.`);
      throw error;
    });
    if (there.length > 0) throw new ScqError(`${options.to} is not empty: give a new or empty folder to copy the output into.`);
    await fs.copy(dir, options.to);
  }
  return { job, dir, files, copied_to: options.to ?? null };
}

export class WaitTimeoutError extends ScqError {
  override readonly exitCode = 124;
}

/** Poll until the job has finished; `onChange` hears each status it passes through. */
export async function waitForCompletion(
  ref: string,
  options: { timeoutMs?: number; intervalMs?: number; onChange?: (job: JobView) => void } = {},
  c?: ContextLike,
): Promise<JobView> {
  const ctx = await contextOf(c);
  const deadline = Date.now() + (options.timeoutMs ?? Infinity);
  let last = "";
  let uid: string | undefined;
  for (;;) {
    let job: JobView;
    try {
      job = await locateJob(ctx, uid ?? ref);
    } catch (error) {
      // Once seen, a job that is missing is in transit (taken out of the inbox, not yet synced back
      // from the queue, or renamed by a pass while we looked): keep waiting. Never seen: a wrong uid.
      if (!(error instanceof JobNotFoundError) || uid === undefined) throw error;
      if (Date.now() > deadline) throw new WaitTimeoutError(`Job ${uid} was not visible when the wait ran out.`);
      await sleep(Math.min(options.intervalMs ?? 2000, Math.max(0, deadline - Date.now()) + 10));
      continue;
    }
    uid = job.uid;
    const seen = `${job.status}:${job.taken_in}`;
    if (seen !== last) options.onChange?.(job);
    last = seen;
    if ((TERMINAL_STATUSES as readonly string[]).includes(job.status)) return job;
    if (Date.now() > deadline) throw new WaitTimeoutError(`Job ${job.uid} is still ${job.status} after ${Math.round((options.timeoutMs ?? 0) / 1000)} s.`);
    await sleep(Math.min(options.intervalMs ?? 2000, Math.max(0, deadline - Date.now()) + 10));
  }
}
