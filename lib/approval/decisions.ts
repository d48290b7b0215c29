// Decision markers: decisions/<uid>.json, written by the owner (scq approve|reject, scripts/approve.ts,
// scripts/reject.ts), by a pinned rule, or by the pass when a job's votes are in (votes.ts), and
// applied by the pass. Only a marker approves, and only for the exact code it hashed. Votes:
// decisions/<approver>/<uid>.json, written by listed approvers, counted by the pass.
import fs from "node:fs";
import path from "node:path";
import { appendAudit } from "../queue/audit.ts";
import { forEachLimit } from "../core/concurrency.ts";
import { reviewedQueue, reviewsForAnother, type Context } from "../core/context.ts";
import { errorMessage, JobStateError, ScqError } from "../core/errors.ts";
import { exists, ifExists, readJsonFile, writeJsonAtomic } from "../core/fsutil.ts";
import { now } from "../queue/lifecycle.ts";
import type { Job, JobView } from "../core/job.ts";
import { findJob, matchUid, readJob, uidIndex } from "../queue/jobs.ts";
import { decisionFile, queuePaths, voteFile, type QueuePaths } from "../core/paths.ts";
import { DecisionMarkerSchema, type DecisionMarker } from "../core/schemas.ts";
import { treeHash } from "../core/tree.ts";
import { expected } from "../core/expected.ts";
import { signVote } from "../sign/vote.ts";

export type Decision = DecisionMarker["decision"];

export interface DecideOptions {
  decision: Decision;
  reason?: string | undefined;
  /**
   * The code hash the decider was shown (scq review prints it, the page sends the one it displayed).
   * When given, approval is refused if the code is no longer exactly that: nobody approves code they
   * did not see, even if it was swapped between review and approve.
   */
  sha?: string | undefined;
  /** Check everything, write nothing: what deciding would do (scq approve --dry-run). */
  preview?: boolean | undefined;
}

/** What deciding wrote: the decision marker itself, or (N-of-M approvals) the decider's vote. */
export interface Decided {
  marker: DecisionMarker;
  vote: boolean;
}

/**
 * Record one decider's decision on a pending job of the reviewed queue, already looked up; the next
 * pass applies it. With N-of-M approvals (config.json `approvals`), or as another owner's approver
 * (--datasite), that is a vote in decisions/<decider>/; else the decision marker itself.
 */
async function writeDecision(ctx: Context, job: Job, { decision, reason = "", sha, preview = false }: DecideOptions, at = now()): Promise<Decided> {
  const paths = reviewedQueue(ctx);
  if (job.status !== "pending") {
    throw new JobStateError(`Job ${job.uid} ("${job.meta.name}") is ${job.status}, not pending: only pending jobs can be approved or rejected.`, {
      uid: job.uid,
    });
  }
  if (decision === "reject" && reason.trim() === "")
    throw new ScqError('A rejection needs a reason (-r "..."): the requester reads it.', { uid: job.uid });
  // The owner's own approvals settings (an approver reviewing another's queue cannot see that owner's).
  const approvals = reviewsForAnother(ctx) ? undefined : ctx.config.approvals;
  const voting = votes(ctx);
  if (voting && job.meta.requester_email === ctx.email) {
    throw new JobStateError(`Job ${job.uid} is yours (you submitted it): a requester never counts as an approver of their own job.`, {
      uid: job.uid,
    });
  }
  if (approvals && !approvals.approvers.includes(ctx.email)) {
    throw new ScqError(
      `Jobs here need ${approvals.required} approval(s) from ${approvals.approvers.join(", ")}, and you (${ctx.email}) are not listed: ` +
        `add yourself to approvals.approvers in ${ctx.settings?.file ?? "config.json"}, or ask them (scq approve ${job.uid.slice(-8)} --datasite ${ctx.email}).`,
      { uid: job.uid },
    );
  }
  const existing = await readMarker(decisionFile(paths, job.uid)).catch(expected("an unreadable marker is replaced by this decision"));
  if (existing) {
    throw new JobStateError(
      `Job ${job.uid} already has a decision (${existing.decision} by ${existing.by} at ${existing.at}); the next pass applies it.`,
      {
        uid: job.uid,
      },
    );
  }
  const codeHash = await treeHash(path.join(job.dir, "code"));
  if (sha !== undefined && sha.trim().toLowerCase() !== codeHash) {
    throw new JobStateError(
      `The code of job ${job.uid} is not the code you reviewed: it hashes to ${codeHash}, you were shown ${sha}. Review it again (scq review ${job.uid.slice(-8)}).`,
      { uid: job.uid },
    );
  }
  const marker: DecisionMarker = { uid: job.uid, decision, reason, by: ctx.email, at, code_sha256: codeHash };
  if (preview) return { marker, vote: voting };
  // The pass audits a vote when it counts it: an approver cannot write the owner's audit log.
  if (voting) {
    // Signed with the voter's own key, so a requester can check each approver's vote offline.
    const mine = queuePaths(ctx.dataDir, ctx.email, ctx.config.queue_name);
    const signature = await signVote(mine, paths.owner, marker).catch((error: unknown) => {
      throw new ScqError(`Your vote could not be signed: ${errorMessage(error)}. Nothing was written; fix that, then vote again.`, { uid: job.uid });
    });
    await writeVote(paths, { ...marker, signature });
    return { marker, vote: true };
  }
  await writeMarker(paths, marker);
  return { marker, vote: false };
}

/**
 * Write a decision marker (decisions/<uid>.json, owner-only) and its audit line: the owner's decision,
 * a pinned rule's, or the one the pass writes when a job's votes are in. The pass applies it.
 */
export async function writeMarker(paths: QueuePaths, marker: DecisionMarker, detail: Record<string, unknown> = {}): Promise<void> {
  fs.mkdirSync(paths.decisions, { recursive: true });
  await writeJsonAtomic(decisionFile(paths, marker.uid), marker);
  await appendAudit(paths, {
    event: marker.decision === "approve" ? "approve-marker" : "reject-marker",
    uid: marker.uid,
    by: marker.by,
    detail: { reason: marker.reason, code_sha256: marker.code_sha256, ...detail },
  });
}

/**
 * The marker a pinned rule writes at intake for a job whose code the rule pins (rules.ts decided
 * that). It names the rule and binds the job's own code hash (which differs from the reviewed job's in
 * params.json for a parameterised rule); the pass applies it like any other.
 */
export async function writeRuleMarker(
  paths: QueuePaths,
  uid: string,
  codeHash: string,
  rule: { id: string; from_job: string; reviewed_by: string; params: unknown },
): Promise<void> {
  await writeMarker(
    paths,
    {
      uid,
      decision: "approve",
      reason: `approved by rule ${rule.id}: the code of job ${rule.from_job.slice(-8)}${rule.params ? " with its own params.json, which meets the rule's schema" : ""}, reviewed and approved by ${rule.reviewed_by}`,
      by: `rule ${rule.id}`,
      at: now(),
      code_sha256: codeHash,
    },
    { rule: rule.id },
  );
}

/** One job by uid or prefix: looked up, then decided (throws what would stop it). */
export async function decide(ctx: Context, ref: string, options: DecideOptions): Promise<{ job: Job } & Decided> {
  const job = await findJob(reviewedQueue(ctx), ref);
  return { job, ...(await writeDecision(ctx, job, options)) };
}

export interface DecisionOutcome {
  /** What was asked for: a uid or a prefix. */
  ref: string;
  ok: boolean;
  uid?: string;
  marker?: DecisionMarker;
  /** The decision was a vote (N-of-M approvals), counted by the next pass. */
  vote?: boolean;
  error?: string;
}

/**
 * Decide several jobs (the CLI's uids or --all-pending, the page's batch): every ref is resolved from
 * one listing of the queue, then each marker is written. Linear in the number of jobs; one job's
 * refusal does not stop the others.
 */
export async function decideMany(ctx: Context, refs: string[], options: DecideOptions): Promise<DecisionOutcome[]> {
  const paths = reviewedQueue(ctx);
  const index = await uidIndex(paths);
  const outcomes = new Array<DecisionOutcome>(refs.length);
  // One decision per job, even when it is named twice (by a prefix and by its uid, say).
  const claimed = new Set<string>();
  // One moment for the whole batch: its jobs then start in the order they were sent (startApproved
  // breaks ties by uid), not in the order the decisions below happen to finish.
  const at = now();
  // A few at a time: each waits on the disk, and their audit lines are written together.
  await forEachLimit([...refs.keys()], 8, async (i) => {
    const ref = refs[i]!;
    try {
      const matches = matchUid(ref, index.keys());
      if (matches.length !== 1) {
        // Not found or ambiguous: findJob words the error the same way everywhere.
        await findJob(paths, ref);
      }
      const uid = matches[0]!;
      if (claimed.has(uid)) throw new JobStateError(`Job ${uid} is named more than once in this batch: decided once.`, { uid });
      claimed.add(uid);
      const job = await readJob(paths, index.get(uid)!, uid);
      outcomes[i] = { ref, ok: true, uid, ...(await writeDecision(ctx, job, options, at)) };
    } catch (error) {
      if (!(error instanceof ScqError)) throw error;
      outcomes[i] = { ref, ok: false, error: error.message };
    }
  });
  return outcomes;
}

async function readMarker(file: string): Promise<DecisionMarker | undefined> {
  if (!(await exists(file))) return undefined;
  return readJsonFile(file, DecisionMarkerSchema, "Delete it and decide again with scq approve|reject");
}

export async function markerFor(paths: QueuePaths, uid: string): Promise<DecisionMarker | undefined> {
  return readMarker(decisionFile(paths, uid));
}

/** Whether deciding on the reviewed queue is a vote (N-of-M approvals, or as another owner's approver) rather than the decision itself. */
function votes(ctx: Context): boolean {
  return reviewsForAnother(ctx) || ctx.config.approvals !== undefined;
}

/** The decision on a pending job that waits for the next pass: the owner's marker, or (voting) this person's vote. */
export async function waitingDecision(ctx: Context, uid: string): Promise<JobView["waiting_decision"]> {
  const paths = reviewedQueue(ctx);
  if (votes(ctx)) {
    const vote = await readVote(paths, ctx.email, uid).catch(expected("an unreadable vote shows as none"));
    if (vote) return { decision: vote.decision, by: vote.by, vote: true };
  }
  const marker = await markerFor(paths, uid).catch(expected("an unreadable marker shows as none"));
  return marker ? { decision: marker.decision, by: marker.by, vote: false } : undefined;
}

/**
 * Take back a decision (or this person's vote) the pass has not applied yet: `scq undo`. Once a pass
 * applied it, the job has moved on and this says so. A pass that read the marker just before it was
 * removed still finds no approval when it starts the job (verdict.ts), so nothing runs on an undone
 * approval.
 */
export async function withdrawDecision(
  ctx: Context,
  ref: string,
): Promise<{ job: Job; withdrawn: { decision: Decision; by: string; vote: boolean } }> {
  const paths = reviewedQueue(ctx);
  const job = await findJob(paths, ref);
  if (job.status !== "pending") {
    throw new JobStateError(`Job ${job.uid} is ${job.status}: a pass applied its decision already, and that cannot be undone.`, { uid: job.uid });
  }
  if (votes(ctx)) {
    const vote = await readVote(paths, ctx.email, job.uid).catch(expected("an unreadable vote is removed like any other"));
    if (vote || (await exists(voteFile(paths, ctx.email, job.uid)))) {
      await fs.promises.rm(voteFile(paths, ctx.email, job.uid), { force: true });
      return { job, withdrawn: { decision: vote?.decision ?? "approve", by: ctx.email, vote: true } };
    }
  }
  const marker = reviewsForAnother(ctx)
    ? undefined
    : await markerFor(paths, job.uid).catch(expected("an unreadable marker is removed like any other"));
  if (!marker) {
    throw new JobStateError(`Job ${job.uid} has no decision of yours waiting for the next pass: nothing to undo.`, { uid: job.uid });
  }
  await fs.promises.rm(decisionFile(paths, job.uid), { force: true });
  await appendAudit(paths, {
    event: "decision-withdrawn",
    uid: job.uid,
    by: ctx.email,
    detail: { decision: marker.decision, decided_by: marker.by },
  });
  return { job, withdrawn: { decision: marker.decision, by: marker.by, vote: false } };
}

/** Write (or change) one approver's vote on a pending job; the next pass counts it. */
export async function writeVote(paths: QueuePaths, vote: DecisionMarker): Promise<void> {
  const file = voteFile(paths, vote.by, vote.uid);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  await writeJsonAtomic(file, vote);
}

export async function readVote(paths: QueuePaths, voter: string, uid: string): Promise<DecisionMarker | undefined> {
  return ifExists(readJsonFile(voteFile(paths, voter, uid), DecisionMarkerSchema, "Vote again with scq approve|reject"));
}
