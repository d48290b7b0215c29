// N-of-M approvals (config.json "approvals": {required, approvers}).
//
// Each listed approver is a SyftBox user who may write only decisions/<their email>/ in the owner's
// queue (permissions.ts writes that rule), so their identity is that folder's name, as a requester's
// is their inbox's. A vote is decisions/<approver>/<uid>.json, bound to the code hash the approver
// was shown. Each pass (applyVotes):
//   - a vote file in a folder not named for a listed approver, one by the job's own requester, or one
//     that is not a valid vote is ignored: logged, audited ("vote-ignored") and deleted, so it is said once;
//     the many of one folder that name no waiting job are said in one line, however many they are;
//   - each new or changed vote is recorded on the job (metadata `votes`) with one audit line ("vote"),
//     and its file removed: the vote lives on in the record and the audit log, an approver may vote
//     again (the latest vote counts), and an idle pass reads no vote it has counted before;
//   - a vote for a job that is no longer pending is ignored the same way;
//   - one listed approver's reject rejects the job; `required` distinct listed approvers' approvals of
//     exactly the job's code approve it. Either way the pass writes the decision marker
//     (decisions/<uid>.json, owner-only), applied like any other: the hash is checked once more then.
// The owner is an approver only if listed. A requester never counts for their own job. A pinned rule
// (rules.ts) still approves on its own: it pins code that people already approved.
import fs from "node:fs";
import path from "node:path";
import { appendAudit } from "../queue/audit.ts";
import { markerFor, readVote, writeMarker } from "./decisions.ts";
import { forEachLimit } from "../core/concurrency.ts";
import { errorMessage, reportJobError } from "../core/errors.ts";
import { ifExists, listDirs, mayStillBeArriving, uidFilesIn, writeFileAtomic } from "../core/fsutil.ts";
import type { Job } from "../core/job.ts";
import { readJob } from "../queue/jobs.ts";
import type { Context } from "../core/context.ts";
import { now, update, type Recorder } from "../queue/lifecycle.ts";
import { prefixed, shortUid, type Log } from "../core/log.ts";
import { voteFile, type QueuePaths } from "../core/paths.ts";
import { jobPermissions, publishedApprovals } from "../queue/permissions.ts";
import { removeTree } from "../core/remove.ts";
import type { Approvals, DecisionMarker, Vote } from "../core/schemas.ts";
import { expected } from "../core/expected.ts";

export type { Approvals };

const COUNT_CONCURRENCY = 8;
/** Vote files taken from one approver's folder in one pass: nobody's folder can hold a pass for long. */
export const MAX_VOTES_PER_FOLDER = 500;

export interface Tally {
  /** Listed approvers (never the requester) who approved exactly this code. */
  approvedBy: string[];
  /** The first listed approver's reject, if any. */
  rejectedBy: Vote | undefined;
  /** How many more approvals the job needs. */
  needed: number;
  /** Listed approvers who have not voted on this code (the requester excluded). */
  waitingFor: string[];
  /** Fewer listed approvers than required besides the requester: this job can never be approved by votes. */
  unreachable: boolean;
}

export function tally(job: Job, approvals: Approvals): Tally {
  const requester = job.meta.requester_email;
  const eligible = approvals.approvers.filter((a) => a !== requester);
  const valid = job.meta.votes.filter((v) => eligible.includes(v.by));
  const approvedBy = valid.filter((v) => v.decision === "approve" && v.code_sha256 === job.meta.code_sha256).map((v) => v.by);
  return {
    approvedBy,
    rejectedBy: valid.find((v) => v.decision === "reject"),
    needed: Math.max(0, approvals.required - approvedBy.length),
    waitingFor: eligible.filter((a) => !valid.some((v) => v.by === a && (v.decision === "reject" || v.code_sha256 === job.meta.code_sha256))),
    unreachable: eligible.length < approvals.required,
  };
}

/**
 * Where a job in the queue at `paths` stands with N-of-M approvals, for whoever reviews it: the owner
 * by their settings, a listed approver (--datasite) by the approvals.json the owner's pass publishes
 * to them. Null when the owner asks for none (or has published nothing readable).
 */
export async function approvalsOf(ctx: Context, paths: QueuePaths, job: Job): Promise<(Tally & Approvals) | null> {
  const approvals = ctx.datasite
    ? await publishedApprovals(paths.root).catch(
        expected("approvals.json the owner published is unreadable: the votes are shown without it", undefined),
      )
    : ctx.config.approvals;
  return approvals ? { ...tally(job, approvals), required: approvals.required, approvers: approvals.approvers } : null;
}

/** The pass's step: record new votes on pending jobs, and decide those whose votes are in. */
export async function applyVotes(
  paths: QueuePaths,
  approvals: Approvals | undefined,
  pending: Set<string>,
  log: Log,
  /** The approvals settings changed since the last pass: every pending job with votes is counted again. */
  recount = false,
): Promise<void> {
  const rec: Recorder = { paths, log: prefixed(log, "vote: ") };
  const listed = new Set(approvals?.approvers ?? []);
  const voters = new Map<string, string[]>();
  for (const folder of await listDirs(paths.decisions)) {
    const uids = await uidFilesIn(path.join(paths.decisions, folder));
    // However many files one folder holds, a pass deals with a bounded number: the rest wait their turn.
    if (uids.length > MAX_VOTES_PER_FOLDER) {
      rec.log(`decisions/${folder}/ holds ${uids.length} vote files: ${MAX_VOTES_PER_FOLDER} are dealt with this pass, the rest by the next ones`);
    }
    // Votes on waiting jobs first: junk cannot delay them.
    const waiting = (uid: string) => (pending.has(uid) ? 0 : 1);
    const unlisted: string[] = [];
    const late: string[] = [];
    for (const uid of uids.sort((a, b) => waiting(a) - waiting(b) || a.localeCompare(b)).slice(0, MAX_VOTES_PER_FOLDER)) {
      if (!listed.has(folder)) unlisted.push(uid);
      else if (pending.has(uid)) voters.set(uid, [...(voters.get(uid) ?? []), folder]);
      else late.push(uid);
    }
    const ignored: [string[], string][] = [
      [unlisted, `${folder} is not a listed approver (config.json approvals.approvers)`],
      [late, "the job is not pending: a vote counts only while a job waits for its decision"],
    ];
    for (const [uids, why] of ignored) {
      // Whatever one approver's folder holds, it never stops the pass for everyone else.
      await ignoreAll(rec, folder, uids, why).catch((error: unknown) => reportJobError(rec.log, `decisions/${folder}/`, error));
    }
  }
  if (!approvals) return;
  if (recount) for (const uid of pending) if (!voters.has(uid)) voters.set(uid, []);
  // Jobs are independent and their steps mostly wait on the disk: a few at a time (one job's votes in order).
  await forEachLimit(
    [...voters].sort(([a], [b]) => a.localeCompare(b)),
    COUNT_CONCURRENCY,
    async ([uid, who]) => {
      try {
        await countVotes(rec, approvals, await readJob(paths, "pending", uid), who.sort());
      } catch (error) {
        // E.g. its folder is being deleted by a sync. It stays pending; the next pass counts again.
        reportJobError(rec.log, shortUid(uid), error);
      }
    },
  );
}

async function countVotes(rec: Recorder, approvals: Approvals, job: Job, voters: string[]): Promise<void> {
  let current = job;
  for (const voter of voters) {
    let marker: DecisionMarker | undefined;
    try {
      marker = await readVote(rec.paths, voter, job.uid);
    } catch (error) {
      // Possibly still arriving (a sync writing it): looked at again by later passes for a minute.
      if (await mayStillBeArriving(voteFile(rec.paths, voter, job.uid))) continue;
      await ignore(rec, voter, job.uid, `not a valid vote: ${errorMessage(error)}`);
      continue;
    }
    if (!marker) continue; // withdrawn since the listing
    if (marker.uid !== job.uid) {
      await ignore(rec, voter, job.uid, `the vote names job ${marker.uid}, not the job its file is named for`);
      continue;
    }
    if (voter === job.meta.requester_email) {
      await ignore(rec, voter, job.uid, "the requester of a job never counts as one of its approvers");
      continue;
    }
    // Who voted is the folder's name, whatever the file claims.
    const vote: Vote = {
      by: voter,
      decision: marker.decision,
      reason: marker.reason,
      at: marker.at,
      code_sha256: marker.code_sha256,
      // Kept as it came, for requesters to check: a signature names its voter's key, checked against the voter's published keys.
      ...(marker.signature && marker.by === voter ? { signature: marker.signature } : {}),
    };
    const previous = current.meta.votes.find((v) => v.by === voter);
    const same = previous && previous.at === vote.at && previous.decision === vote.decision && previous.code_sha256 === vote.code_sha256;
    if (same) {
      await consume(rec.paths, voter, job.uid); // recorded by a pass cut off before it removed the file
      continue;
    }
    const counts = vote.code_sha256 === job.meta.code_sha256;
    current = await update(
      rec,
      current,
      { votes: [...current.meta.votes.filter((v) => v.by !== voter), vote] },
      {
        event: "vote",
        by: voter,
        detail: {
          decision: vote.decision,
          reason: vote.reason,
          code_sha256: vote.code_sha256,
          counts,
          ...(previous ? { replaces: previous.decision } : {}),
        },
        say: `${voter} votes to ${vote.decision}${counts ? "" : ": NOT counted, the vote is for other code than this job's"}`,
      },
    );
    await consume(rec.paths, voter, job.uid);
  }
  if (current.meta.votes.length === 0) return;
  // A rule's marker, or the one a cut-off pass wrote: applied as it is.
  if (await markerFor(rec.paths, job.uid).catch(expected("an unreadable marker counts as none: the votes decide"))) return;
  const t = tally(current, approvals);
  if (t.rejectedBy) {
    await writeMarker(rec.paths, {
      uid: job.uid,
      decision: "reject",
      reason: t.rejectedBy.reason || "(no reason given)",
      by: t.rejectedBy.by,
      at: now(),
      code_sha256: t.rejectedBy.code_sha256,
    });
  } else if (t.needed === 0) {
    const votes = current.meta.votes.filter((v) => t.approvedBy.includes(v.by));
    await writeMarker(
      rec.paths,
      {
        uid: job.uid,
        decision: "approve",
        reason: votes.map((v) => `${v.by}: ${v.reason || "approved"}`).join("; "),
        by: t.approvedBy.join(", "),
        at: now(),
        code_sha256: current.meta.code_sha256!,
      },
      { votes: t.approvedBy, required: approvals.required },
    );
    rec.log(
      `${shortUid(job.uid)} has ${t.approvedBy.length} of ${approvals.required} approvals (${t.approvedBy.join(", ")}): approval marker written`,
    );
  }
}

/** A vote that does not count: said in the log and the audit, then deleted so it is said once. */
async function ignore(rec: Recorder, folder: string, uid: string, why: string): Promise<void> {
  await appendAudit(rec.paths, { event: "vote-ignored", uid, by: null, detail: { folder: `decisions/${folder}`, reason: why } });
  rec.log(`decisions/${folder}/${shortUid(uid)}… ignored: ${why}`);
  await consume(rec.paths, folder, uid);
}

/** At most this many uids named in the one audit line for a folder's ignored votes. */
const IGNORED_UIDS_NAMED = 20;

/**
 * Vote files a folder holds for no waiting job, or in a folder of no listed approver: however many,
 * one audit line and one log line for them all (a flood must not flood the audit log), then removed.
 */
async function ignoreAll(rec: Recorder, folder: string, uids: string[], why: string): Promise<void> {
  if (uids.length === 0) return;
  if (uids.length === 1) return ignore(rec, folder, uids[0]!, why);
  await appendAudit(rec.paths, {
    event: "vote-ignored",
    uid: null,
    by: null,
    detail: { folder: `decisions/${folder}`, reason: why, files: uids.length, uids: uids.slice(0, IGNORED_UIDS_NAMED) },
  });
  rec.log(`decisions/${folder}/: ${uids.length} vote files ignored: ${why}`);
  for (const uid of uids) await consume(rec.paths, folder, uid);
}

/** A vote file dealt with (recorded on the job, or ignored and audited) is removed, whatever it is (a folder of that name too). */
async function consume(paths: QueuePaths, folder: string, uid: string): Promise<void> {
  await removeTree(voteFile(paths, folder, uid));
}

/**
 * Listed approvers may read the code and record of pending jobs (the job folder's syft.pub.yaml):
 * written for the jobs taken in this pass, and for every pending job when the approvals settings
 * changed since the last pass (kept in the app's private state). Says whether they changed.
 */
export async function grantApprovers(paths: QueuePaths, approvals: Approvals | undefined, admitted: string[]): Promise<boolean> {
  const approvers = approvals?.approvers ?? [];
  const file = path.join(paths.state, "approvals.json");
  const before = await ifExists(fs.promises.readFile(file, "utf8"));
  const changed = before !== JSON.stringify(approvals ?? null);
  const uids = changed ? ((await ifExists(fs.promises.readdir(path.join(paths.jobs, "pending")))) ?? []) : admitted;
  for (const uid of uids) {
    const job = await readJob(paths, "pending", uid).catch(expected("a job gone or being synced: its votes wait"));
    if (job) await jobPermissions(job.dir, job.meta.requester_email, approvers);
  }
  // Written exactly as compared above (writeJsonAtomic would indent it, and every pass would see a change).
  if (changed) await writeFileAtomic(file, JSON.stringify(approvals ?? null));
  return changed;
}
