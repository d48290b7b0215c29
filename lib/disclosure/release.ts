// Output and logs leave the datasite here and nowhere else. A finished run's results wait in the
// owner-only staging folder (staging/<uid>/) until they have been checked; then they are handed over
// into the job's folder, where SyftBox carries them to the requester: all at once when the checks
// allow it under release "auto" (releaseAll, called by the pass), or file by file as the owner
// decides (release: scq release, the page).
import fs from "node:fs";
import path from "node:path";
import { errorMessage, JobStateError } from "../core/errors.ts";
import { exists, writeJsonAtomic } from "../core/fsutil.ts";
import type { Job } from "../core/job.ts";
import { EXECUTION_LOG, LOGS_DIR } from "../core/log-files.ts";
import { CHECKS_FILE, type QueuePaths } from "../core/paths.ts";
import type { ChecksReport, LineComment } from "../core/schemas.ts";
import { removeTree } from "../core/remove.ts";
import { now, update, type Recorder } from "../queue/lifecycle.ts";
import { rememberReleased } from "./released.ts";
import { readChecksReport } from "./results.ts";
import { recheckAcrossReleases } from "./recheck.ts";
import { checksSummary } from "./check-output.ts";
import { decidable, heldFiles, type Held } from "./held.ts";
import { heldCheckers, notApproved, reviewState, unpublishReview } from "./checkers.ts";

export interface ReleaseDecision {
  /** Files kept back (paths under output/, or run-logs/stdout.txt, run-logs/stderr.txt), each with why: the requester reads it. */
  withhold?: Record<string, string>;
  /** Return the job to its requester with this comment: every output file and log is kept back. */
  requestChanges?: string | undefined;
  /** With requestChanges: comments on lines of the code, for the requester (checked against the code by the caller). */
  lineComments?: LineComment[];
  /** Why files with blocking findings go out anyway; required when any released file has one. */
  exception?: string | undefined;
}

/**
 * Move the files in `released` (all of them when it is undefined) from `held` into the job's folder,
 * remembering released tables for the differencing check of later ones. All at once, whole folders
 * move (one rename each): a pass cut off between two renames leaves the rest where the next pass
 * finds them. File by file, the checks `report` that goes along covers only the files released,
 * since findings quote the values they flag. What stays is kept in staging until cleanup.
 */
async function handOver(
  paths: QueuePaths,
  job: Job,
  { dir: held, outputs, logs, logsDir }: Held,
  released?: Set<string>,
  report?: ChecksReport,
): Promise<void> {
  const goes = (f: string) => released === undefined || released.has(f);
  await rememberReleased(paths, job.meta.requester_email, job.uid, path.join(held, "output"), outputs.filter(goes));
  if ([...outputs, ...logs].every(goes)) {
    // (Held before the logs folder got a name SyftBox syncs, they are found under the old one and leave under the new.)
    const parts: [string | undefined, string][] = [
      [path.join(held, "output"), "output"],
      [path.join(held, CHECKS_FILE), CHECKS_FILE],
      [logsDir, LOGS_DIR],
      [path.join(held, EXECUTION_LOG), EXECUTION_LOG],
    ];
    for (const [from, to] of parts) {
      if (!from || !(await exists(from))) continue;
      await removeTree(path.join(job.dir, to));
      fs.renameSync(from, path.join(job.dir, to));
    }
    await removeTree(held);
    return;
  }
  const goingLogs = logs.filter(goes);
  for (const name of goingLogs) {
    fs.mkdirSync(path.join(job.dir, LOGS_DIR), { recursive: true });
    fs.renameSync(path.join(logsDir!, path.basename(name)), path.join(job.dir, name));
  }
  // Both streams in one file (jobs from a Python client): it goes only when neither stream is kept back.
  if (goingLogs.length === logs.length && (await exists(path.join(held, EXECUTION_LOG)))) {
    fs.renameSync(path.join(held, EXECUTION_LOG), path.join(job.dir, EXECUTION_LOG));
  }
  fs.mkdirSync(path.join(job.dir, "output"), { recursive: true });
  for (const rel of outputs.filter(goes)) {
    fs.mkdirSync(path.dirname(path.join(job.dir, "output", rel)), { recursive: true });
    fs.renameSync(path.join(held, "output", rel), path.join(job.dir, "output", rel));
  }
  if (report) await writeJsonAtomic(path.join(job.dir, CHECKS_FILE), { ...report, files: report.files.filter((f) => goes(f.path)) });
}

/** What a finished run left in `held` goes to its requester (all but supporting files): the pass, once the checks allow it (release "auto"). */
export async function releaseAll(paths: QueuePaths, job: Job, held: string): Promise<void> {
  const files = await heldFiles(held);
  // Supporting files stay behind: then it is file by file, and the checks that go along leave them out.
  if (files.supporting.size === 0) await handOver(paths, job, files);
  else await handOver(paths, job, files, new Set(decidable(files)), await readChecksReport(held));
}

/** What a release was, for a seal over it: who released, when, what was held back and why, the exception. */
export interface ReleaseFacts {
  by: string;
  at: string;
  withheld: { path: string; reason: string }[];
  exception: string | null;
}

/** Called with the job as it stands once released, its files in place, before its record says so. */
export type Seal = (job: Job, facts: ReleaseFacts) => Promise<void>;

/**
 * The owner's release of a finished job's held logs and output, file by file: what is withheld stays
 * in staging. Logs are files like any other here: a job can print what it must not write. An output
 * file may share a log's name (output/run-logs/…): a decision on that name then holds for both, and
 * a blocking finding on either blocks both.
 */
export async function release(rec: Recorder, job: Job, by: string, decision: ReleaseDecision = {}, seal?: Seal): Promise<Job> {
  if (job.meta.output_review !== "pending") {
    throw new JobStateError(
      job.meta.output_review === "released"
        ? `Job ${job.uid}: its output was released already.`
        : `Job ${job.uid} (${job.status}) has no output awaiting release.`,
      { uid: job.uid },
    );
  }
  if (job.status !== "completed" && job.status !== "failed") {
    throw new JobStateError(`Job ${job.uid} is ${job.status}: release it once it has finished.`, { uid: job.uid });
  }
  const held = await heldFiles(path.join(rec.paths.staging, job.uid));
  const files = decidable(held);
  const checked = await readChecksReport(held.dir);
  const withhold = new Map(Object.entries(decision.withhold ?? {}));
  const unknown = [...withhold.keys()].filter((f) => !files.includes(f) && !held.supporting.has(f));
  if (unknown.length > 0) {
    throw new JobStateError(`Job ${job.uid} has no output file or log ${unknown.join(", ")}; its files are: ${files.join(", ") || "none"}.`, {
      uid: job.uid,
    });
  }
  if (decision.requestChanges !== undefined) for (const f of files) withhold.set(f, `changes requested: ${decision.requestChanges}`);
  for (const f of held.supporting) withhold.set(f, "supporting file: shown to the reviewers, never released");
  const released = files.filter((f) => !withhold.has(f));
  // Held for output checkers: only files they approved may go.
  const checkers = await heldCheckers(held.dir);
  const review = checkers ? await reviewState(held, checkers, job.meta.requester_email) : undefined;
  const unreviewed = review ? notApproved(review, released) : [];
  if (unreviewed.length > 0) {
    throw new JobStateError(
      `Job ${job.uid}: only files the output checkers approved may be released; ${unreviewed.join("; ")}. ` +
        `Withhold ${unreviewed.length > 1 ? "them" : "it"} (--withhold FILE --reason "..."), return the job (--request-changes "..."), or wait for the reviews.`,
      { uid: job.uid },
    );
  }
  // Compared again with what the requester was given since the checks ran: what that adds is shown before anything goes.
  const recheck = checked ? await recheckAcrossReleases(rec.paths, job, held, checked, released) : undefined;
  const report = recheck?.report ?? checked;
  const newlyBlocked = (recheck?.added ?? []).filter((a) => a.findings.some((f) => f.blocking)).map((a) => a.path);
  if (newlyBlocked.length > 0) {
    throw new JobStateError(
      `Job ${job.uid}: checked again against what its requester was given since its run was checked, ${newlyBlocked.join(", ")} ` +
        `${newlyBlocked.length > 1 ? "have" : "has"} new blocking findings (scq checks ${job.uid.slice(-8)}): ` +
        `withhold ${newlyBlocked.length > 1 ? "them" : "it"}, or release with an exception that says why (--exception "...").`,
      { uid: job.uid },
    );
  }
  const blocked = released.filter((f) => report?.files.some((r) => r.path === f && r.findings.some((x) => x.blocking)));
  if (blocked.length > 0 && !decision.exception) {
    throw new JobStateError(
      `Job ${job.uid}: ${blocked.join(", ")} ${blocked.length > 1 ? "have" : "has"} blocking findings (scq checks ${job.uid.slice(-8)}): ` +
        `withhold ${blocked.length > 1 ? "them" : "it"}, or release with an exception that says why (--exception "...").`,
      { uid: job.uid },
    );
  }
  await handOver(rec.paths, job, held, new Set(released), report);
  await unpublishReview(rec.paths, job.uid);
  const releasedLogs = held.logs.filter((name) => released.includes(name));
  const withheld = [...withhold].map(([p, reason]) => ({ path: p, reason }));
  const output_decisions = {
    by,
    at: now(),
    released,
    withheld,
    exception: decision.exception ?? null,
    changes_requested: decision.requestChanges ?? null,
    line_comments: decision.requestChanges !== undefined ? (decision.lineComments ?? []) : [],
  };
  // Sealed (signed: lib/proof/) before the record says released: a release cut off in between is sealed again when it is redone.
  const facts = { by, at: output_decisions.at, withheld, exception: output_decisions.exception };
  // The record's summary counts what was found when checked again too (this release's or a refused one's).
  const releasedMeta = { output_review: "released" as const, output_decisions, ...(report ? { checks: checksSummary(report) } : {}) };
  await seal?.({ ...job, meta: { ...job.meta, ...releasedMeta } }, facts).catch((error: unknown) =>
    rec.log(`${job.uid.slice(-8)} its release could not be signed: ${errorMessage(error)}`),
  );
  return update(rec, job, releasedMeta, {
    event: "released",
    by,
    detail: {
      released,
      withheld,
      exception: output_decisions.exception,
      changes_requested: output_decisions.changes_requested,
      // The checkers' votes, for the owner's record (the audit log is theirs alone).
      ...(review ? { reviews: review.reviews } : {}),
      // Said only when there are some: an ordinary release's audit line stays as it was.
      ...(output_decisions.line_comments.length > 0 ? { line_comments: output_decisions.line_comments } : {}),
    },
    say:
      decision.requestChanges !== undefined
        ? `returned to its requester by ${by} (changes requested: ${decision.requestChanges}); output and logs withheld`
        : `released by ${by}: ${released.length} file(s) (logs among them: ${releasedLogs.length})${withheld.length ? `, ${withheld.length} withheld` : ""}`,
  });
}
