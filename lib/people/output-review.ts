// What an output checker does (config output_checkers on the owner's side; lib/disclosure/checkers.ts):
// see the jobs whose output waits for their review, read a job's files, checks and (once the review is
// no longer blind) the others' votes, all from output-review/ in the owner's datasite; and vote, by
// writing output-votes/<their email>/<uid>.json there, which the owner's next pass records.
import fs from "node:fs";
import path from "node:path";
import type { Context } from "../core/context.ts";
import { JobNotFoundError, UsageError } from "../core/errors.ts";
import { expected } from "../core/expected.ts";
import { ifExists, listDirs, readJsonFile, writeJsonAtomic } from "../core/fsutil.ts";
import { queuePaths, type QueuePaths } from "../core/paths.ts";
import {
  Email,
  OutputVoteSchema,
  ReviewViewSchema,
  UID_PATTERN,
  type ChecksReport,
  type FileVote,
  type OutputVote,
  type ReviewView,
} from "../core/schemas.ts";
import { matchUid, otherQueues } from "../queue/jobs.ts";
import { now } from "../queue/lifecycle.ts";
import { readChecksReport } from "../disclosure/results.ts";

/** The queue whose output I check: `owner`'s (the page names it), else --datasite's, else my own (an owner may list themself). */
function checkedQueue(ctx: Context, owner?: string): QueuePaths {
  const datasite = owner ?? ctx.datasite ?? ctx.email;
  // A name from a request becomes a folder: only an email address, never a path.
  if (!Email.safeParse(datasite).success) throw new UsageError(`"${datasite}" is not a datasite's email address.`);
  return queuePaths(ctx.dataDir, datasite, ctx.config.queue_name);
}

/** The jobs published for review in the owner's queue. */
async function underReview(paths: QueuePaths): Promise<string[]> {
  return (await listDirs(paths.outputReview)).filter((uid) => UID_PATTERN.test(uid));
}

async function viewOf(paths: QueuePaths, uid: string, me: string): Promise<ReviewView | undefined> {
  const file = path.join(paths.outputReview, uid, "for", `${me}.json`);
  return ifExists(readJsonFile(file, ReviewViewSchema, "the owner's pass rewrites it at its next pass"));
}

/** The jobs waiting for my review in the owner's queue, with my progress on each. */
export async function outputReviewsForMe(ctx: Context, owner?: string): Promise<ReviewView[]> {
  const paths = checkedQueue(ctx, owner);
  const uids = await underReview(paths);
  const views = await Promise.all(
    uids.map((uid) => viewOf(paths, uid, ctx.email).catch(expected("a view still syncing is shown when complete", undefined))),
  );
  return views.filter((v) => v !== undefined).sort((a, b) => a.uid.localeCompare(b.uid));
}

export interface OutputReview {
  view: ReviewView;
  /** Where the job's files are on this machine: output/ and run-logs/ under it. */
  files: string;
  checks: ChecksReport | null;
}

/** One job under my review, by uid or the end of one. */
export async function outputReviewForMe(ctx: Context, ref: string, owner?: string): Promise<OutputReview> {
  const paths = checkedQueue(ctx, owner);
  const uids = await underReview(paths);
  const matches = matchUid(ref, uids);
  if (matches.length > 1) throw new UsageError(`"${ref}" matches ${matches.length} jobs under review: give more characters of the uid.`);
  const uid = matches[0];
  const view = uid ? await viewOf(paths, uid, ctx.email) : undefined;
  if (!uid || !view) {
    throw new JobNotFoundError(
      `No job ${ref} awaits your output review in ${paths.owner}'s queue (${path.join(paths.outputReview)}): ` +
        `is it released already, are you listed in their output_checkers, or has SyftBox not synced it yet? scq output-review lists those that do.`,
    );
  }
  const checks =
    (await readChecksReport(path.join(paths.outputReview, uid)).catch(expected("checks still syncing: shown once complete", undefined))) ?? null;
  return { view, files: path.join(paths.outputReview, uid, "files"), checks };
}

/** Write my votes on files of a job under review; the owner's next pass records them. Returns the file written. */
export async function voteOnOutput(
  ctx: Context,
  ref: string,
  votes: Record<string, FileVote>,
  owner?: string,
): Promise<{ uid: string; file: string; vote: OutputVote }> {
  const { view } = await outputReviewForMe(ctx, ref, owner);
  const voting = new Set(view.files.filter((f) => !f.supporting).map((f) => f.path));
  for (const file of Object.keys(votes)) {
    if (voting.has(file)) continue;
    const supporting = view.files.some((f) => f.path === file && f.supporting);
    throw new UsageError(
      supporting
        ? `${file} is a supporting file: it is there to explain the others and never leaves, so it takes no vote.`
        : `Job ${view.uid} has no file ${file} to review; its files are: ${[...voting].join(", ") || "none"}.`,
    );
  }
  if (Object.keys(votes).length === 0) throw new UsageError("Vote on at least one file: --approve, --request-changes or --undecided.");
  const paths = checkedQueue(ctx, owner);
  const file = voteFile(paths, ctx.email, view.uid);
  // Votes written before and not yet taken by the owner's pass go along: a second vote never drops the first.
  const waiting = await votesWritten(paths, ctx.email, view.uid);
  const vote: OutputVote = { uid: view.uid, files: { ...waiting?.files, ...votes }, at: now() };
  fs.mkdirSync(path.dirname(file), { recursive: true });
  await writeJsonAtomic(file, vote);
  return { uid: view.uid, file, vote };
}

/** My vote file on a job, in the owner's queue: what I wrote and the owner's pass has not taken yet. */
const voteFile = (paths: QueuePaths, me: string, uid: string) => path.join(paths.outputVotes, me, `${uid}.json`);

async function votesWritten(paths: QueuePaths, me: string, uid: string): Promise<OutputVote | undefined> {
  return ifExists(readJsonFile(voteFile(paths, me, uid), OutputVoteSchema)).catch(
    expected("a file of mine that does not parse is as none (a vote replaces it)", undefined),
  );
}

/** A job whose held output I am listed to check, on any datasite I have synced (my own among them). */
export interface OutputCheckDue {
  owner: string;
  uid: string;
  name: string;
  requester: string;
  /** Files I have voted on, of those that take a vote; votes written and not yet taken by the owner's pass count. */
  voted: number;
  files: number;
  reviews_in: number;
  required: number;
}

/** Held output on every datasite I have synced that I am listed to check, those still waiting for my votes first: a checker's to-do. */
export async function outputChecksDue(ctx: Context): Promise<OutputCheckDue[]> {
  const due: OutputCheckDue[] = [];
  for (const paths of [checkedQueue(ctx, ctx.email), ...(await otherQueues(ctx))]) {
    for (const view of await outputReviewsForMe(ctx, paths.owner)) {
      const written = await votesWritten(paths, ctx.email, view.uid);
      const voting = view.files.filter((f) => !f.supporting);
      const voted = voting.filter((f) => f.mine || written?.files[f.path]).length;
      due.push({
        owner: paths.owner,
        uid: view.uid,
        name: view.name,
        requester: view.requester,
        voted,
        files: voting.length,
        reviews_in: view.reviews_in,
        required: view.required,
      });
    }
  }
  const done = (d: OutputCheckDue) => (d.voted < d.files ? 0 : 1);
  return due.sort((a, b) => done(a) - done(b));
}
