// Decision markers: decisions/<uid>.json, written by the owner (scq approve|reject, scripts/approve.ts,
// scripts/reject.ts), applied by the pass. Only a marker approves, and only for the exact code it hashed.
import fs from "node:fs";
import path from "node:path";
import { appendAudit } from "./audit.ts";
import { forEachLimit } from "./concurrency.ts";
import { ownQueue, type Context } from "./context.ts";
import { JobStateError, ScqError } from "./errors.ts";
import { exists, readJsonFile, writeJsonAtomic } from "./fsutil.ts";
import { now } from "./lifecycle.ts";
import { findJob, matchUid, readJob, uidIndex, type Job } from "./jobs.ts";
import { decisionFile, type QueuePaths } from "./paths.ts";
import { DecisionMarkerSchema, type DecisionMarker } from "./schemas.ts";
import { treeHash } from "./tree.ts";

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
}

/** Write the marker for one pending job of the context's own queue, already looked up. The next pass applies it. */
async function writeDecision(ctx: Context, job: Job, { decision, reason = "", sha }: DecideOptions): Promise<DecisionMarker> {
  const paths = ownQueue(ctx);
  if (job.status !== "pending") {
    throw new JobStateError(`Job ${job.uid} ("${job.meta.name}") is ${job.status}, not pending: only pending jobs can be approved or rejected.`, {
      uid: job.uid,
    });
  }
  if (decision === "reject" && reason.trim() === "")
    throw new ScqError('A rejection needs a reason (-r "..."): the requester reads it.', { uid: job.uid });
  const file = decisionFile(paths, job.uid);
  const existing = await readMarker(file).catch(() => undefined);
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
  const marker: DecisionMarker = { uid: job.uid, decision, reason, by: ctx.email, at: now(), code_sha256: codeHash };
  await fs.promises.mkdir(paths.decisions, { recursive: true });
  await writeJsonAtomic(file, marker);
  await appendAudit(paths, {
    event: decision === "approve" ? "approve-marker" : "reject-marker",
    uid: job.uid,
    by: ctx.email,
    detail: { reason, code_sha256: marker.code_sha256 },
  });
  return marker;
}

/**
 * The marker a pinned rule writes at intake for a job whose code is exactly the code the rule pins
 * (rules.ts decided that). It names the rule, and the pass applies it like any other.
 */
export async function writeRuleMarker(
  paths: QueuePaths,
  uid: string,
  rule: { id: string; code_sha256: string; from_job: string; reviewed_by: string },
): Promise<void> {
  const marker: DecisionMarker = {
    uid,
    decision: "approve",
    reason: `approved by rule ${rule.id}: the code of job ${rule.from_job.slice(-8)}, reviewed and approved by ${rule.reviewed_by}`,
    by: `rule ${rule.id}`,
    at: now(),
    code_sha256: rule.code_sha256,
  };
  await fs.promises.mkdir(paths.decisions, { recursive: true });
  await writeJsonAtomic(decisionFile(paths, uid), marker);
  await appendAudit(paths, {
    event: "approve-marker",
    uid,
    by: marker.by,
    detail: { reason: marker.reason, code_sha256: marker.code_sha256, rule: rule.id },
  });
}

/** One job by uid or prefix: looked up, then decided (throws what would stop it). */
export async function decide(ctx: Context, ref: string, options: DecideOptions): Promise<{ job: Job; marker: DecisionMarker }> {
  const job = await findJob(ownQueue(ctx), ref);
  return { job, marker: await writeDecision(ctx, job, options) };
}

export interface DecisionOutcome {
  /** What was asked for: a uid or a prefix. */
  ref: string;
  ok: boolean;
  uid?: string;
  marker?: DecisionMarker;
  error?: string;
}

/**
 * Decide several jobs (the CLI's uids or --all-pending, the page's batch): every ref is resolved from
 * one listing of the queue, then each marker is written. Linear in the number of jobs; one job's
 * refusal does not stop the others.
 */
export async function decideMany(ctx: Context, refs: string[], options: DecideOptions): Promise<DecisionOutcome[]> {
  const paths = ownQueue(ctx);
  const index = await uidIndex(paths);
  const outcomes = new Array<DecisionOutcome>(refs.length);
  // One decision per job, even when it is named twice (by a prefix and by its uid, say).
  const claimed = new Set<string>();
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
      outcomes[i] = { ref, ok: true, uid, marker: await writeDecision(ctx, job, options) };
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

/**
 * Whether `codeHash` may run as job `uid`: there is an approve marker for that uid naming exactly this
 * code. A status field, a folder in approved/ or anything else never counts.
 */
export async function approvalMatches(paths: QueuePaths, uid: string, codeHash: string): Promise<boolean> {
  const marker = await markerFor(paths, uid).catch(() => undefined);
  return marker !== undefined && marker.uid === uid && marker.decision === "approve" && marker.code_sha256 === codeHash;
}
