// Independent output checkers (config.json output_checkers), as a trusted research environment's airlock
// reviews what leaves it. With checkers listed, every finished job's output and logs are held (as under
// release "review"), and:
//   - the pass publishes each held job into output-review/<uid>/: a copy of its files (files/), its
//     checks (output-checks.json) and each checker's view of the votes (for/<checker>.json), readable
//     by the listed checkers (each view by its checker alone; permissions.ts writes the rules);
//   - a checker votes by writing output-votes/<their email>/<uid>.json: approve, request changes or
//     undecided, per file, with a comment. Who voted is the folder's name. The pass records the votes
//     beside the held files (staging/<uid>/reviews.json, owner-only), audits them and removes the file;
//     a later vote on a file replaces the earlier one;
//   - the review is blind: nobody sees another's vote, nor a file's decision, until `required`
//     checkers have each voted on every file. The owner's own views wait the same way;
//   - a file's decision: approved when all its votes approve, changes requested when all ask for
//     changes, conflicted when they differ (an undecided vote among them), incomplete with fewer votes
//     than required. The owner may release only approved files (release.ts); any file may be withheld,
//     and the job may be returned to its requester at any time;
//   - supporting files (marked in output/manifest.json) are shown to the checkers, need no vote and never leave.
// The requester of a job never checks its output, even when listed.
import fs from "node:fs";
import path from "node:path";
import { errorMessage, reportJobError } from "../core/errors.ts";
import { expected } from "../core/expected.ts";
import { exists, ifExists, listDirs, mayStillBeArriving, readJsonFile, uidFilesIn, writeFileAtomic, writeJsonAtomic } from "../core/fsutil.ts";
import type { Job } from "../core/job.ts";
import { EXECUTION_LOG } from "../core/log-files.ts";
import { prefixed, shortUid, type Log } from "../core/log.ts";
import { CHECKS_FILE, type QueuePaths } from "../core/paths.ts";
import { removeTree } from "../core/remove.ts";
import {
  OutputCheckersSchema,
  OutputVoteSchema,
  ReviewsSchema,
  type FileDecision,
  type FileVote,
  type OutputCheckers,
  type Reviews,
  type ReviewView,
} from "../core/schemas.ts";
import { appendAudit } from "../queue/audit.ts";
import { heldOutput, readJob, uidIndex } from "../queue/jobs.ts";
import { reviewPermissions } from "../queue/permissions.ts";
import { decidable, heldFiles, type Held } from "./held.ts";
import { readChecksReport } from "./results.ts";

/** The votes recorded so far, beside the held files. */
const REVIEWS_FILE = "reviews.json";
/**
 * The checkers a held job waits for, beside its files: written by the pass that finished it and kept
 * to config.json by later passes, so a release is held to them whichever settings its caller read.
 */
const CHECKERS_FILE = "checkers.json";

/** Vote files taken from one checker's folder in one pass: nobody's folder can hold a pass for long. */
const MAX_VOTES_PER_FOLDER = 200;

/** The output checkers a held job (its staging folder) waits for, if any. */
export async function heldCheckers(heldDir: string): Promise<OutputCheckers | undefined> {
  return ifExists(readJsonFile(path.join(heldDir, CHECKERS_FILE), OutputCheckersSchema, "the owner's next pass writes it again"));
}

/** Hold a finished job's files for these checkers (or for none): the pass, as it finishes the job and whenever the settings change. Says whether it changed anything. */
export async function holdFor(heldDir: string, checkers: OutputCheckers | undefined): Promise<boolean> {
  const file = path.join(heldDir, CHECKERS_FILE);
  const text = checkers ? `${JSON.stringify(checkers)}\n` : undefined;
  if ((await ifExists(fs.promises.readFile(file, "utf8"))) === text) return false;
  if (text === undefined) await fs.promises.rm(file, { force: true });
  else {
    fs.mkdirSync(heldDir, { recursive: true });
    await writeFileAtomic(file, text);
  }
  return true;
}

/** A vote as people read it. */
export const VOTE_SAID = { approve: "approve", request_changes: "request changes", undecided: "undecided" } as const satisfies Record<
  FileVote["vote"],
  string
>;

export function fileDecision(votes: readonly FileVote[], required: number): FileDecision {
  if (votes.length < required) return "incomplete";
  if (votes.every((v) => v.vote === "approve")) return "approved";
  if (votes.every((v) => v.vote === "request_changes")) return "changes requested";
  return "conflicted";
}

export interface ReviewState {
  required: number;
  /** The checkers (never the requester) who have voted on every file. */
  reviewsIn: string[];
  /** Fewer than `required` reviews are in: votes and decisions are not shown to anyone yet. */
  blind: boolean;
  /** Files that need votes (supporting files have none), with every eligible checker's vote on each. */
  files: { path: string; votes: (FileVote & { by: string })[]; decision: FileDecision }[];
  /** Files shown to the checkers that never leave. */
  supporting: string[];
  reviews: Reviews;
}

async function readReviews(heldDir: string): Promise<Reviews> {
  return (await ifExists(readJsonFile(path.join(heldDir, REVIEWS_FILE), ReviewsSchema, "", 16 * 1024 * 1024))) ?? {};
}

/** Where the review of a job's held files stands. */
export async function reviewState(held: Held, checkers: OutputCheckers, requester: string): Promise<ReviewState> {
  const eligible = checkers.checkers.filter((c) => c !== requester);
  const reviews = await readReviews(held.dir);
  const files = decidable(held).map((file) => {
    const votes = eligible.flatMap((by) => {
      const v = reviews[by]?.files[file];
      return v ? [{ ...v, by }] : [];
    });
    return { path: file, votes, decision: fileDecision(votes, checkers.required) };
  });
  const reviewsIn = eligible.filter((by) => files.every((f) => f.votes.some((v) => v.by === by)));
  return { required: checkers.required, reviewsIn, blind: reviewsIn.length < checkers.required, files, supporting: [...held.supporting], reviews };
}

/** Why each of `files` may not be released under this review: empty when every one was approved. */
export function notApproved(state: ReviewState, files: readonly string[]): string[] {
  return state.files
    .filter((f) => files.includes(f.path) && f.decision !== "approved")
    .map((f) =>
      state.blind
        ? `${f.path}: ${state.reviewsIn.length} of ${state.required} reviews in`
        : `${f.path}: ${f.decision} (${f.votes.map((v) => `${v.by} ${VOTE_SAID[v.vote]}`).join(", ") || "no votes"})`,
    );
}

function dirOf(paths: QueuePaths, uid: string): string {
  return path.join(paths.outputReview, uid);
}

/** One checker's view: their own votes always; the others' and the decisions once the review is no longer blind. */
function viewFor(checker: string, job: Job, state: ReviewState, report: Awaited<ReturnType<typeof readChecksReport>>): ReviewView {
  const counts = (file: string) => {
    const findings = report?.files.find((f) => f.path === file)?.findings ?? [];
    return { findings: findings.length, blocking: findings.filter((x) => x.blocking).length };
  };
  return {
    uid: job.uid,
    name: job.meta.name,
    requester: job.meta.requester_email,
    required: state.required,
    reviews_in: state.reviewsIn.length,
    blind: state.blind,
    files: [
      ...state.files.map((f) => ({
        path: f.path,
        supporting: false,
        ...counts(f.path),
        mine: state.reviews[checker]?.files[f.path] ?? null,
        decision: state.blind ? null : f.decision,
        votes: state.blind ? null : f.votes,
      })),
      ...state.supporting.map((file) => ({ path: file, supporting: true, ...counts(file), mine: null, decision: null, votes: null })),
    ],
  };
}

/**
 * Publish a held job to its checkers, or bring their views up to date: the files are copied once (into
 * a temporary folder renamed into place, so a checker never syncs half of them); the views each time.
 */
async function publishReview(paths: QueuePaths, checkers: OutputCheckers, job: Job): Promise<void> {
  const dir = dirOf(paths, job.uid);
  const held = await heldFiles(path.join(paths.staging, job.uid));
  const report = await readChecksReport(held.dir);
  const eligible = checkers.checkers.filter((c) => c !== job.meta.requester_email);
  fs.mkdirSync(dir, { recursive: true });
  await reviewPermissions(dir, eligible);
  if (report) await writeJsonAtomic(path.join(dir, CHECKS_FILE), report);
  const state = await reviewState(held, checkers, job.meta.requester_email);
  fs.mkdirSync(path.join(dir, "for"), { recursive: true });
  for (const checker of eligible) await writeJsonAtomic(path.join(dir, "for", `${checker}.json`), viewFor(checker, job, state, report));
  // Last: a publication cut off before its files are in place is done again by the next pass.
  if (await exists(path.join(dir, "files"))) return;
  // A copy a pass was cut off in goes first (checkers could never read it: no rule names it).
  for (const name of await fs.promises.readdir(dir)) if (name.startsWith(".files-")) await removeTree(path.join(dir, name));
  const temp = path.join(dir, `.files-${process.pid}`);
  const copies: [string, string][] = [
    ...held.outputs.map((rel): [string, string] => [path.join(held.dir, "output", rel), path.join("output", rel)]),
    ...held.logs.map((name): [string, string] => [path.join(held.logsDir!, path.basename(name)), name]),
  ];
  if (await exists(path.join(held.dir, EXECUTION_LOG))) copies.push([path.join(held.dir, EXECUTION_LOG), EXECUTION_LOG]);
  for (const [from, to] of copies) {
    fs.mkdirSync(path.dirname(path.join(temp, to)), { recursive: true });
    // The held copies are regular files (links were left behind when the output was collected); COPYFILE_EXCL: never through a link.
    await fs.promises.copyFile(from, path.join(temp, to), fs.constants.COPYFILE_EXCL);
  }
  fs.mkdirSync(temp, { recursive: true });
  fs.renameSync(temp, path.join(dir, "files"));
}

/** Take the job's files back from its checkers: released, returned, or no longer held. */
export async function unpublishReview(paths: QueuePaths, uid: string): Promise<void> {
  await removeTree(dirOf(paths, uid));
}

type Outcome = { recorded: string[] } | { ignored: string } | "later";

/** One vote file: recorded on the job's review, ignored with a reason, or left for a later pass (still being written). */
async function takeVote(
  paths: QueuePaths,
  checkers: OutputCheckers | undefined,
  finished: Map<string, string>,
  by: string,
  uid: string,
): Promise<Outcome> {
  const file = path.join(paths.outputVotes, by, `${uid}.json`);
  if (!checkers?.checkers.includes(by)) return { ignored: `${by} is not a listed output checker (config.json output_checkers.checkers)` };
  const status = finished.get(uid);
  const job = status === "completed" || status === "failed" ? await readJob(paths, status, uid) : undefined;
  if (!job || job.meta.output_review !== "pending") return { ignored: "the job has no output awaiting review" };
  if (job.meta.requester_email === by) return { ignored: "the requester of a job never checks its output" };
  let vote;
  try {
    vote = await readJsonFile(file, OutputVoteSchema, "");
  } catch (error) {
    if (await mayStillBeArriving(file)) return "later";
    return { ignored: `not a valid review: ${errorMessage(error)}` };
  }
  if (vote.uid !== uid) return { ignored: `the review names job ${vote.uid}, not the job its file is named for` };
  const held = await heldFiles(path.join(paths.staging, uid));
  const files = decidable(held);
  const unknown = Object.keys(vote.files).filter((f) => !files.includes(f));
  if (unknown.length > 0) {
    return {
      ignored: `it votes on ${unknown.slice(0, 5).join(", ")}, which ${unknown.length > 1 ? "are" : "is"} not among the files to review (${files.join(", ") || "none"}; supporting files need no vote)`,
    };
  }
  const reviews = await readReviews(held.dir);
  reviews[by] = { files: { ...reviews[by]?.files, ...vote.files }, at: vote.at };
  await writeJsonAtomic(path.join(held.dir, REVIEWS_FILE), reviews);
  await appendAudit(paths, { event: "output-vote", uid, by, detail: { files: vote.files } });
  return { recorded: Object.keys(vote.files) };
}

/**
 * The pass's step: record the checkers' new votes, publish held jobs to them (and their views again
 * when votes came in), and take back what is no longer under review.
 */
export async function applyOutputVotes(paths: QueuePaths, checkers: OutputCheckers | undefined, log: Log): Promise<void> {
  const say = prefixed(log, "output review: ");
  const folders = await listDirs(paths.outputVotes);
  const changed = new Set<string>();
  const finished = folders.length > 0 ? await uidIndex(paths, ["completed", "failed"]) : new Map<string, string>();
  for (const by of folders) {
    const all = await uidFilesIn(path.join(paths.outputVotes, by));
    if (all.length > MAX_VOTES_PER_FOLDER)
      say(`output-votes/${by}/ holds ${all.length} vote files: ${MAX_VOTES_PER_FOLDER} are dealt with this pass, the rest by the next ones`);
    for (const uid of all.sort().slice(0, MAX_VOTES_PER_FOLDER)) {
      try {
        const outcome = await takeVote(paths, checkers, finished, by, uid);
        if (outcome === "later") continue;
        if ("ignored" in outcome) {
          say(`${shortUid(uid)} review by ${by} ignored: ${outcome.ignored}`);
          await appendAudit(paths, { event: "output-vote-ignored", uid, by, detail: { reason: outcome.ignored } });
        } else {
          say(`${shortUid(uid)} ${by} voted on ${outcome.recorded.length} file(s)`);
          changed.add(uid);
        }
        // Whatever it is (a link, a folder by that name): it goes, and is said once.
        await removeTree(path.join(paths.outputVotes, by, `${uid}.json`));
      } catch (error) {
        // E.g. the job's folder is being synced: the vote stays and a later pass takes it.
        reportJobError(say, shortUid(uid), error);
      }
    }
  }
  const published = new Set(await listDirs(paths.outputReview));
  if (!checkers && published.size === 0) return;
  const held = checkers ? await heldOutput(paths) : [];
  for (const job of held) {
    // Checkers listed, changed or added since the job finished: it waits for those in force.
    if (await holdFor(path.join(paths.staging, job.uid), checkers).catch(expected("written by a later pass", false))) changed.add(job.uid);
    if (published.has(job.uid) && !changed.has(job.uid) && (await exists(path.join(dirOf(paths, job.uid), "files")))) continue;
    await publishReview(paths, checkers!, job).catch((error: unknown) => reportJobError(say, shortUid(job.uid), error));
  }
  const heldUids = new Set(held.map((j) => j.uid));
  for (const uid of published) {
    if (heldUids.has(uid)) continue;
    // No checkers any more: the owner decides alone.
    if (!checkers) await holdFor(path.join(paths.staging, uid), undefined).catch(expected("a job no longer held has no staging folder"));
    await unpublishReview(paths, uid).catch(expected("taken back by a later pass"));
  }
}

export interface ReviewSummary {
  required: number;
  reviews_in: number;
  blind: boolean;
  /** Each file that takes votes: how many are in, and (once the review is not blind) the votes and the decision. */
  files: { path: string; votes_in: number; decision: FileDecision | null; votes: (FileVote & { by: string })[] | null }[];
  supporting: string[];
}

/** Where the checkers' review of a held job stands, as its owner may see it: blind as the checkers are, until the reviews are in. */
export async function reviewSummary(paths: QueuePaths, job: Job): Promise<ReviewSummary | null> {
  if (job.meta.output_review !== "pending") return null;
  const dir = path.join(paths.staging, job.uid);
  const checkers = await heldCheckers(dir);
  if (!checkers) return null;
  const state = await reviewState(await heldFiles(dir), checkers, job.meta.requester_email);
  return {
    required: state.required,
    reviews_in: state.reviewsIn.length,
    blind: state.blind,
    files: state.files.map((f) => ({
      path: f.path,
      votes_in: f.votes.length,
      decision: state.blind ? null : f.decision,
      votes: state.blind ? null : f.votes,
    })),
    supporting: state.supporting,
  };
}
