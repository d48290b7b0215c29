// What the page shows, as data: a job in a list (summary), one job in full (jobDetail), a dry run and
// a page of jobs. Built only from what the same user's CLI would see (the people/ and disclosure/
// functions decide who sees what); the page's script imports these types, so both sides agree.
import { createHash } from "node:crypto";
import path from "node:path";
import type { Context } from "../core/context.ts";
import { ownQueue, reviewedQueue } from "../core/context.ts";
import { NotATableError } from "../core/errors.ts";
import { expected } from "../core/expected.ts";
import { readUntrustedFile } from "../core/fsutil.ts";
import type { Job, JobView } from "../core/job.ts";
import { readLog, type Stream } from "../core/log-files.ts";
import { JOB_STATUSES, type JobStatus } from "../core/schemas.ts";
import { describeSettings, settingsInForce } from "../core/settings.ts";
import { walkTree, type TreeEntry } from "../core/tree.ts";
import { readTable, tableType } from "../disclosure/read-table.ts";
import { checksOf, outputOf, readLogs } from "../disclosure/results.ts";
import { reviewSummary } from "../disclosure/checkers.ts";
import { myJobs, pageOfMyQueue, votesAwaited } from "../people/api.ts";
import { lastDryRun, type DryRunRecord } from "../people/dry-run.ts";
import { outputChecksDue, outputReviewForMe } from "../people/output-review.ts";
import { buildReview, reviewView, type ReviewView } from "../people/review.ts";
import { jobHistory } from "../queue/audit.ts";
import { heldOutput, otherQueues, reviewerRole } from "../queue/jobs.ts";
import { queueHistory } from "../queue/history.ts";
import { queueVersion, statusCounts } from "../queue/listing.ts";
import { describeRun, describeRunNow } from "../run/executor.ts";
import { currentKey } from "../sign/keys.ts";

/** A job as a row of the list. */
export function summary(job: JobView) {
  return {
    uid: job.uid,
    name: job.meta.name,
    status: job.status,
    role: job.role,
    owner: job.owner,
    requester_email: job.meta.requester_email,
    target_email: job.meta.target_email,
    sender: job.meta.sender,
    tags: job.meta.tags,
    created_at: job.meta.created_at,
    updated_at: job.meta.updated_at,
    taken_in: job.taken_in,
    output_review: job.meta.output_review,
    error_message: job.meta.error_message,
    /** Where a running job runs: "local (supervisor pid 4242 on host)", "Slurm job 17 (partition p)". */
    runs_on: job.status === "running" && job.meta.run ? describeRun(job.meta.run) : null,
    started_at: job.meta.started_at,
    /** A decision or vote written and not yet applied by a pass. */
    waiting_decision: job.waiting_decision ?? null,
  };
}
export type JobSummary = ReturnType<typeof summary>;

/** How many output files the page previews, and how big each may be. */
const PREVIEW = { files: 20, bytes: 1024 * 1024, rows: 20 };

export type Preview = { columns: string[]; rows: string[][] } | { image: string };

/**
 * What the page shows of output files inline: the first rows of a table (parsed here, with the
 * checks' limits, and shown by the page as text), or a small PNG or SVG as a data: URL (an image, so
 * an SVG's scripts never run).
 */
async function previews(dir: string, files: TreeEntry[]): Promise<Record<string, Preview>> {
  const out: Record<string, Preview> = {};
  for (const f of files.filter((e) => e.type === "file" && e.size <= PREVIEW.bytes).slice(0, PREVIEW.files)) {
    const type = path.extname(f.rel).slice(1).toLowerCase();
    const file = path.join(dir, f.rel);
    const format = tableType(f.rel);
    if (format) {
      const table = await readTable(file, format).catch((error: unknown) => {
        if (error instanceof NotATableError) return undefined;
        throw error;
      });
      if (table) out[f.rel] = { columns: table.columns, rows: table.rows.slice(0, PREVIEW.rows) };
    } else if (type === "png" || type === "svg") {
      const data = await readUntrustedFile(file, PREVIEW.bytes).catch(expected("a file that cannot be read has no preview"));
      if (data) out[f.rel] = { image: `data:image/${type === "svg" ? "svg+xml" : "png"};base64,${data.toString("base64")}` };
    }
  }
  return out;
}

/** Output files as the CLI sees them (outputOf decides where, and hides unreleased output from requesters); none when there are none to see. */
export function outputFiles(ctx: Context, job: JobView) {
  return outputOf(ctx, job).catch(expected("no output to list (held elsewhere, or none yet)", { dir: "", files: [] as TreeEntry[] }));
}

async function dryRunView(d: DryRunRecord & { dir: string }) {
  const read = async (stream: Stream) => (await readLog(d.dir, stream).catch(expected("a dry run without this stream"))) ?? "";
  const output = (await walkTree(path.join(d.dir, "output"), { anyName: true }).catch(expected("a dry run without output", []))).filter(
    (e) => e.type === "file",
  );
  return {
    ...d,
    dir: undefined,
    logs: { stdout: await read("stdout"), stderr: await read("stderr") },
    output,
    previews: await previews(path.join(d.dir, "output"), output),
  };
}

/** Everything the page shows of one job, from one lookup. `dryRunning`: a dry run of it is under way. */
export async function jobDetail(ctx: Context, job: JobView, dryRunning: boolean) {
  const logs = {
    stdout: await readLogs(ctx, job, "stdout").catch(expected("logs this viewer may not read, or none yet", null)),
    stderr: await readLogs(ctx, job, "stderr").catch(expected("logs this viewer may not read, or none yet", null)),
  };
  const { dir: outputDir, files: output } = await outputFiles(ctx, job);
  const checks =
    output.length > 0 ? await checksOf(ctx, job).catch(expected("no checks report to show (none yet, or not this viewer's)", null)) : null;
  const empty: ReviewView = {
    files: [],
    texts: [],
    not_shown: [],
    not_scanned: [],
    findings: [],
    code_sha256: job.meta.code_sha256,
    approvals: null,
    revision: null,
  };
  // Only the owner reviews code: a requester's view of their own job shows its record and results.
  // Approvers review code too (the files their listing as approver lets them read).
  const queue = reviewedQueue(ctx);
  const review = job.role !== "requester" ? await reviewView(ctx, queue, await buildReview(queue, job)) : empty;
  const owner = job.role === "owner";
  const dry = owner ? await lastDryRun(ownQueue(ctx), job).catch(expected("no dry run to show")) : undefined;
  const where = owner && job.status === "running" && job.meta.run ? await describeRunNow(ownQueue(ctx), job.meta.run) : undefined;
  return {
    job: { ...summary(job), ...(where ? { runs_on: where } : {}) },
    meta: job.meta,
    ...review,
    logs,
    output,
    checks,
    output_review: owner ? await reviewSummary(ownQueue(ctx), job) : null,
    previews: await previews(outputDir, output),
    // Every rule, vote, dry run and notification of this job, from the owner's audit log.
    history: owner ? await jobHistory(ownQueue(ctx), job.uid) : [],
    dry_run: dry ? await dryRunView(dry) : null,
    dry_run_running: dryRunning,
    can_dry_run: owner && job.status === "pending",
  };
}
export type JobDetail = Awaited<ReturnType<typeof jobDetail>>;

/**
 * One job's output as an output checker reviews it, from what the owner's pass published for them:
 * the blind view (their votes, and the others' once enough reviews are in), the checks, each file with
 * a preview, the logs.
 */
export async function outputCheckDetail(ctx: Context, owner: string, uid: string) {
  const { view, files, checks } = await outputReviewForMe(ctx, uid, owner);
  const output = (await walkTree(path.join(files, "output"), { anyName: true }).catch(expected("no output files published", []))).filter(
    (e) => e.type === "file",
  );
  const read = async (stream: Stream) => (await readLog(files, stream).catch(expected("a log not published"))) ?? null;
  return {
    owner,
    view,
    checks,
    previews: await previews(path.join(files, "output"), output),
    logs: { stdout: await read("stdout"), stderr: await read("stderr") },
  };
}
export type OutputCheckDetail = Awaited<ReturnType<typeof outputCheckDetail>>;

export interface ListQuery {
  view: "owner" | "requester";
  status?: JobStatus | undefined;
  q?: string | undefined;
  limit: number;
}

/** My jobs on other datasites (the requester's tab): few, so filtered here. */
async function requesterPage(ctx: Context, query: ListQuery) {
  const text = query.q?.toLowerCase();
  const all = await myJobs(query.status, ctx);
  const matching = all.filter((j) => !text || [j.uid, j.meta.name, j.owner, ...j.meta.tags].some((f) => f.toLowerCase().includes(text)));
  return { jobs: matching.slice(0, query.limit), next: matching.length > query.limit ? matching[query.limit - 1]!.uid : null, total: all.length };
}

/** A token that changes whenever anything a list answer shows may have changed: the page's ETag. */
export async function listVersion(ctx: Context, query: ListQuery): Promise<string> {
  const queues = query.view === "owner" ? [reviewedQueue(ctx)] : await otherQueues(ctx);
  return `"${createHash("sha256")
    .update(JSON.stringify([query, ctx.email, ...(await Promise.all(queues.map((q) => queueVersion(q))))]))
    .digest("hex")
    .slice(0, 32)}"`;
}

/** One page of the list: the owner's (or approver's) queue, or the requester's own jobs everywhere. */
export async function jobList(ctx: Context, query: ListQuery) {
  const page =
    query.view === "owner"
      ? await pageOfMyQueue({ status: query.status, search: query.q, limit: query.limit }, ctx)
      : await requesterPage(ctx, query);
  const counts: Record<string, number> =
    query.view === "owner"
      ? await statusCounts(reviewedQueue(ctx))
      : Object.fromEntries(JOB_STATUSES.map((st) => [st, page.jobs.filter((j) => j.status === st).length]));
  return {
    me: ctx.email,
    /** The queue this page reviews: the user's own, or (as a listed approver) another owner's. */
    reviewing: reviewedQueue(ctx).owner,
    settings: describeSettings(ctx.settings ?? settingsInForce(ctx.config)),
    view: query.view,
    jobs: page.jobs.map(summary),
    next: page.next,
    total: page.total,
    counts,
  };
}
export type JobList = Awaited<ReturnType<typeof jobList>>;

/** Finished within this long: still news in a to-do list. */
const RECENT_MS = 7 * 86_400_000;
const recent = (j: { meta: { updated_at: string } }) => Date.now() - Date.parse(j.meta.updated_at) < RECENT_MS;
const brief = (j: JobView | (Job & { owner?: string })) => ({
  uid: j.uid,
  name: j.meta.name,
  status: j.status,
  owner: "owner" in j ? (j.owner ?? null) : null,
  requester_email: j.meta.requester_email,
  since: j.meta.updated_at,
});
export type Brief = ReturnType<typeof brief>;

/**
 * What each person has to do, by role, and the queue over the last days: the page's overview.
 * Owner: code to review, output to release, recent failures. Approver: jobs awaiting their vote.
 * Requester: their jobs returned for changes, finished ones, and how many still wait.
 */
export async function overview(ctx: Context) {
  const role = reviewerRole(ctx);
  const queue = reviewedQueue(ctx);
  const pending = await pageOfMyQueue({ status: "pending", limit: 10 }, ctx);
  // An approver's to-do is the pending jobs without their vote yet (applied or waiting for the pass).
  const toReview =
    role === "approver" ? pending.jobs.filter((j) => !j.waiting_decision && !j.meta.votes.some((v) => v.by === ctx.email)) : pending.jobs;
  const failed = role === "owner" ? (await pageOfMyQueue({ status: "failed", limit: 10 }, ctx)).jobs.filter(recent) : [];
  const mine = await myJobs(undefined, ctx, { limit: 100 });
  return {
    role,
    reviewing: queue.owner,
    review: { jobs: toReview.map(brief), total: role === "approver" ? toReview.length : pending.total },
    held: role === "owner" ? (await heldOutput(ownQueue(ctx))).map(brief) : [],
    failed: failed.map(brief),
    /** As a listed approver of other datasites: jobs there awaiting this person's vote. */
    votes: role === "owner" ? await votesAwaited(ctx) : [],
    /** As an output checker (of this or another datasite): held output this person is listed to check. */
    output_checks: role === "owner" ? await outputChecksDue(ctx) : [],
    mine: {
      returned: mine.filter((j) => j.meta.output_decisions?.changes_requested && recent(j)).map(brief),
      finished: mine
        .filter((j) => (j.status === "completed" || j.status === "failed") && !j.meta.output_decisions?.changes_requested && recent(j))
        .map(brief),
      waiting: mine.filter((j) => j.status === "pending" || j.status === "approved" || j.status === "running").length,
    },
    // The owner's audit log is theirs alone: an approver's page has no chart.
    history: role === "owner" ? await queueHistory(queue) : null,
    /** The fingerprint of the key the owner's released results are signed with (a requester checks it with scq verify). */
    signing_key: role === "owner" ? ((await currentKey(queue))?.fingerprint ?? null) : null,
  };
}
export type Overview = Awaited<ReturnType<typeof overview>>;
