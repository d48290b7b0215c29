// The library API for TypeScript users, mirroring the Python syft-code-queue's. Every function takes an
// optional context: a resolved Context, or ContextOptions ({dataDir, email, clientConfig, appConfig});
// by default the SyftBox client config. The CLI is a thin layer over these functions.
import fs from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import * as z from "zod";
import { cancelJob } from "../pass/cancel.ts";
import { ownQueue, resolveContext, reviewedQueue, type Context, type ContextOptions } from "../core/context.ts";
import { decide, waitingDecision, type DecideOptions } from "../approval/decisions.ts";
import { dryRun as dryRunJob, tryOnMock as tryFolder, type TryOptions } from "./dry-run.ts";
import { JobNotFoundError, UsageError, WaitTimeoutError } from "../core/errors.ts";
import { exists, ifExists, readJsonFile } from "../core/fsutil.ts";
import { describeRunNow } from "../run/executor.ts";
import type { Job, JobView } from "../core/job.ts";
import { signRelease } from "../proof/statement.ts";
import { currentKey, type KeyInfo } from "../sign/keys.ts";
import { findJob, heldOutput, listJobs, listMyJobs, locateJob, otherQueues, reviewerRole } from "../queue/jobs.ts";
import { readableAsApprover } from "../queue/permissions.ts";
import { jobDir, voteFile } from "../core/paths.ts";
import { pageJobs, statusCounts } from "../queue/listing.ts";
import { TERMINAL_STATUSES } from "../queue/lifecycle.ts";
import { release as releaseJob, type ReleaseDecision } from "../disclosure/release.ts";
import { silentLog } from "../core/log.ts";
import { checksOf, outputOf, readLogs, type Output } from "../disclosure/results.ts";
import { reviewSummary, type ReviewSummary } from "../disclosure/checkers.ts";
import { buildReview, type Review } from "./review.ts";
import { readCodeText } from "./code-text.ts";
import { linesOf } from "./diff.ts";
import { JOB_STATUSES, type ChecksReport, type JobStatus } from "../core/schemas.ts";
import { SettingsSchema, settingsInForce, type Settings } from "../core/settings.ts";
import { writeScriptSubmission, writeSubmission, type SubmitOptions, type SubmitScriptOptions } from "./submit.ts";
import { expected } from "../core/expected.ts";

export type ContextLike = Context | ContextOptions | undefined;

export async function contextOf(c: ContextLike): Promise<Context> {
  return c && "config" in c && c.dataDir !== undefined && c.email !== undefined ? c : resolveContext(c);
}

// ---- data scientist ---------------------------------------------------------------------------

export const submitJob = async (options: SubmitOptions, c?: ContextLike) => writeSubmission(await contextOf(c), options);
export const submitScript = async (options: SubmitScriptOptions, c?: ContextLike) => writeScriptSubmission(await contextOf(c), options);
/** Jobs I submitted, newest first; all of them, or a page (`{limit, after}`). */
export const myJobs = async (status?: JobStatus, c?: ContextLike, page?: { limit?: number; after?: string | undefined }) =>
  listMyJobs(await contextOf(c), status, page);
export const cancel = async (ref: string, reason?: string, c?: ContextLike) => cancelJob(await contextOf(c), ref, reason);
/** Run your folder on the mock data an owner publishes, before submitting it (scq try). */
export const tryOnMock = async (options: TryOptions, c?: ContextLike) => tryFolder(await contextOf(c), options);
/** The owner's run of a pending job on the mock data (scq dry-run); decides nothing. */
export const dryRun = async (ref: string, c?: ContextLike) => dryRunJob(await contextOf(c), ref);

// ---- data owner ---------------------------------------------------------------------------------

export interface JobFilter {
  status?: JobStatus | undefined;
  /** Requester email. */
  from?: string | undefined;
  /** Case-insensitive text in name, description, tags, requester or uid. */
  search?: string | undefined;
  /** At most this many jobs, newest first (default 50; Infinity for all). */
  limit?: number | undefined;
  /** Continue after this uid (the `next` of the page before). */
  after?: string | undefined;
}

/**
 * One page of my queue, newest first, filtered: only the records on the page are read (and, with a
 * filter, those passed over to fill it), however long the queue's history.
 */
export async function pageOfMyQueue(filter: JobFilter = {}, c?: ContextLike): Promise<{ jobs: JobView[]; next: string | null; total: number }> {
  const ctx = await contextOf(c);
  const text = filter.search?.toLowerCase();
  const paths = reviewedQueue(ctx);
  const page = await pageJobs(paths, {
    statuses: filter.status ? [filter.status] : JOB_STATUSES,
    limit: filter.limit ?? 50,
    after: filter.after,
    match:
      filter.from || text
        ? (j) =>
            (!filter.from || j.meta.requester_email === filter.from) &&
            (!text || [j.uid, j.meta.name, j.meta.description, j.meta.requester_email, ...j.meta.tags].some((f) => f.toLowerCase().includes(text)))
        : undefined,
  });
  const jobs = await Promise.all(
    page.jobs.map((j) => withWaitingDecision(ctx, { ...j, owner: paths.owner, role: reviewerRole(ctx), taken_in: true })),
  );
  return { ...page, jobs };
}

/**
 * A pending job of the reviewed queue with the decision (or this person's vote) written and not yet
 * applied by a pass: shown as such by every view, and `scq undo` can take it back.
 */
async function withWaitingDecision(ctx: Context, job: JobView): Promise<JobView> {
  if (job.status !== "pending" || job.role === "requester") return job;
  return { ...job, waiting_decision: await waitingDecision(ctx, job.uid) };
}

/** Jobs in my queue, newest first, filtered: the first page (see pageOfMyQueue for the cursor). */
export async function allJobsForMe(filter: JobFilter = {}, c?: ContextLike): Promise<JobView[]> {
  return (await pageOfMyQueue(filter, c)).jobs;
}

export const pendingForMe = (filter: Omit<JobFilter, "status"> = {}, c?: ContextLike) => allJobsForMe({ ...filter, status: "pending" }, c);
export async function reviewJob(ref: string, c?: ContextLike): Promise<Review> {
  const ctx = await contextOf(c);
  const paths = reviewedQueue(ctx);
  return buildReview(paths, await findJob(paths, ref));
}
/** Approve a pending job; `sha`, when given, must be the code hash the approver was shown. */
export const approve = async (ref: string, reason = "", c?: ContextLike, options: Pick<DecideOptions, "sha"> = {}) =>
  decide(await contextOf(c), ref, { decision: "approve", reason, ...options });
export const reject = async (ref: string, reason: string, c?: ContextLike) => decide(await contextOf(c), ref, { decision: "reject", reason });
/** Release a finished job's held logs and output to its requester, file by file (see ReleaseDecision). */
export async function release(ref: string, decision: ReleaseDecision = {}, c?: ContextLike) {
  const ctx = await contextOf(c);
  const paths = ownQueue(ctx);
  const job = await findJob(paths, ref);
  await checkLineComments(job, decision);
  return releaseJob({ paths, log: silentLog }, job, ctx.email, decision, (released, facts) => signRelease(paths, released, facts));
}

/** Comments on lines go with a request for changes, each on a line the code has: the requester must find what it speaks of. */
async function checkLineComments(job: Job, decision: ReleaseDecision): Promise<void> {
  const comments = decision.lineComments ?? [];
  if (comments.length === 0) return;
  if (decision.requestChanges === undefined) throw new UsageError("Comments on lines go with a request for changes (--request-changes).");
  const code = await readCodeText(path.join(job.dir, "code")).catch(expected("no code to comment on", { files: [], texts: [] }));
  for (const c of comments) {
    const file = code.texts.find((t) => t.file === c.file);
    if (!file || file.text === null) {
      const names = code.texts.filter((t) => t.text !== null).map((t) => t.file);
      throw new UsageError(`Job ${job.uid} has no text file ${c.file} to comment on; its files are: ${names.join(", ") || "none"}.`);
    }
    const lines = linesOf(file.text).length;
    if (c.line > lines) throw new UsageError(`${c.file} of job ${job.uid} has ${lines} line(s): there is no line ${c.line} to comment on.`);
  }
}

/** What an idle check writes in its look file (lib/pass/idle.ts): the time it looked. */

const LastPassSchema = z.looseObject({
  finished_at: z.string().optional(),
  skipped: z.string().optional(),
  sandbox_problem: z.string().nullable().optional(),
  settings: SettingsSchema.optional(),
});

export interface QueueStatus {
  queue: string;
  /** The settings this command read (the same file the pass reads, unless --app-config says otherwise). */
  settings: Settings;
  counts: Record<JobStatus, number>;
  oldest_pending: string | null;
  /** Where each running job runs, and since when. */
  running: { uid: string; name: string; runs_on: string; started_at: string | null }[];
  last_pass: { finished_at?: string; skipped?: string; sandbox_problem?: string | null; settings?: Settings } | null;
  /** The last idle check (no pass: nothing had changed since the last one), when later than that pass; null when none. */
  last_look: string | null;
  /** Finished jobs whose output waits for the owner's release (scq checks, then scq release), oldest first. */
  held_output: { uid: string; name: string; status: JobStatus; since: string }[];
  /** The id of the key released results are signed with (made at the first pass), and where it is published. */
  signing_key: KeyInfo | null;
}

export async function status(c?: ContextLike): Promise<QueueStatus> {
  const ctx = await contextOf(c);
  // The reviewed queue: your own, or (--datasite) the one you approve for, as far as it is yours to see.
  const paths = reviewedQueue(ctx);
  // Counting folders needs no metadata reads, so this stays fast with a long history.
  const counts = await statusCounts(paths);
  // The oldest pending job is the smallest time-ordered uid: found from names, its record read alone.
  const [oldest] = (await pageJobs(paths, { statuses: ["pending"], limit: 1, oldestFirst: true })).jobs;
  // The pass's own summary; missing (no pass yet) or unreadable (an older version's) means "unknown".
  const lastPass = (await readJsonFile(paths.lastPass, LastPassSchema).catch(expected("no last pass to show yet"))) ?? null;
  // The look's time is its file's mtime (each look touches it: one syscall).
  const looked = (await ifExists(fs.promises.stat(paths.lastLook)))?.mtime.toISOString();
  const lastLook = looked !== undefined && (!lastPass?.finished_at || looked > lastPass.finished_at) ? looked : null;
  // running/ holds at most max_concurrent_jobs jobs (plus any a config change left): each is read.
  const { jobs: running } = await listJobs(paths, ["running"]);
  return {
    queue: paths.root,
    settings: ctx.settings ?? settingsInForce(ctx.config),
    counts,
    oldest_pending: oldest?.meta.created_at ?? null,
    running: await Promise.all(
      running.map(async (job) => ({
        uid: job.uid,
        name: job.meta.name,
        runs_on: job.meta.run ? await describeRunNow(paths, job.meta.run) : "unknown (started by an older version)",
        started_at: job.meta.started_at,
      })),
    ),
    last_pass: lastPass,
    last_look: lastLook,
    signing_key: await currentKey(paths),
    held_output: (await heldOutput(paths)).map((j) => ({
      uid: j.uid,
      name: j.meta.name,
      status: j.status,
      since: j.meta.completed_at ?? j.meta.updated_at,
    })),
  };
}

// ---- both ---------------------------------------------------------------------------------------

export async function getJob(ref: string, c?: ContextLike): Promise<JobView> {
  const ctx = await contextOf(c);
  return withWaitingDecision(ctx, await locateJob(ctx, ref));
}

export async function getJobLogs(
  ref: string,
  stream: "stdout" | "stderr" = "stdout",
  c?: ContextLike,
): Promise<{ job: JobView; text: string | null }> {
  const ctx = await contextOf(c);
  const job = await locateJob(ctx, ref);
  return { job, text: await readLogs(ctx, job, stream) };
}

/** What the disclosure check found in a finished job's output. */
export async function getJobChecks(ref: string, c?: ContextLike): Promise<ChecksReport & { job: JobView; review: ReviewSummary | null }> {
  const ctx = await contextOf(c);
  const job = await locateJob(ctx, ref);
  const report = await checksOf(ctx, job);
  // The output checkers' votes are the owner's to see (and theirs, through scq output-review).
  const review = job.role === "owner" ? await reviewSummary(ownQueue(ctx), job) : null;
  return { job, ...report, review };
}

export async function getJobOutput(ref: string, options: { to?: string | undefined } = {}, c?: ContextLike): Promise<Output & { job: JobView }> {
  const ctx = await contextOf(c);
  const job = await locateJob(ctx, ref);
  return { job, ...(await outputOf(ctx, job, options.to)) };
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
    if (Date.now() > deadline)
      throw new WaitTimeoutError(`Job ${job.uid} is still ${job.status} after ${Math.round((options.timeoutMs ?? 0) / 1000)} s.`);
    await sleep(Math.min(options.intervalMs ?? 2000, Math.max(0, deadline - Date.now()) + 10));
  }
}

/**
 * Jobs in other owners' queues that wait for this user's vote as one of their listed approvers (the
 * rules the owner's pass wrote into each job say so), and that they have not voted on yet, by owner.
 */
export async function votesAwaited(c?: ContextLike): Promise<{ owner: string; uids: string[] }[]> {
  const ctx = await contextOf(c);
  const awaited: { owner: string; uids: string[] }[] = [];
  for (const queue of await otherQueues(ctx)) {
    const uids: string[] = [];
    for (const uid of (await ifExists(fs.promises.readdir(path.join(queue.jobs, "pending")))) ?? []) {
      if (!(await readableAsApprover(jobDir(queue, "pending", uid), ctx.email))) continue;
      if (await exists(voteFile(queue, ctx.email, uid))) continue;
      uids.push(uid);
    }
    if (uids.length > 0) awaited.push({ owner: queue.owner, uids });
  }
  return awaited;
}
