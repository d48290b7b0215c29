// Pinned auto-approval rules, written by the owner (scq rules add): "this requester may run again
// exactly the code of job X, which a person approved". A later submission from that requester whose
// code has exactly that tree hash (names and contents) is approved by the rule at intake; the marker
// and the job's decision name the rule. A rule never approves code nobody reviewed: it can only be
// made from a job a person approved, and it pins that job's hash. Rules live in the app's private
// state (state/rules.json), where no requester can write, validated by schema on every read.
import { randomBytes } from "node:crypto";
import path from "node:path";
import { z } from "zod";
import { appendAudit } from "./audit.ts";
import { ownQueue, type Context } from "./context.ts";
import { JobStateError, ScqError } from "./errors.ts";
import { ifExists, readJsonFile, writeJsonAtomic } from "./fsutil.ts";
import { findJob, type Job } from "./jobs.ts";
import { now } from "./lifecycle.ts";
import { withFileLock } from "./lock.ts";
import type { QueuePaths } from "./paths.ts";
import { Email, Sha256, Timestamp } from "./schemas.ts";
import { treeHash } from "./tree.ts";

export const RuleSchema = z.object({
  id: z.string().regex(/^rule-[0-9a-f]{8}$/),
  requester: Email,
  code_sha256: Sha256,
  /** The job whose reviewed code the rule pins, and who approved it. */
  from_job: z.string(),
  reviewed_by: z.string(),
  created_by: z.string(),
  created_at: Timestamp,
  expires_at: Timestamp.nullable(),
  /** Most approvals by this rule in any 24 hours; null: no quota. */
  per_day: z.number().int().min(1).nullable(),
  /** When it approved, newest last (only the last day's are kept: they are what the quota counts). */
  uses: z.array(z.object({ uid: z.string(), at: Timestamp })),
});
export type Rule = z.infer<typeof RuleSchema>;

const RulesFileSchema = z.object({ rules: z.array(RuleSchema) });

const DAY_MS = 86_400_000;

function rulesFile(paths: QueuePaths): string {
  return path.join(paths.state, "rules.json");
}

export async function readRules(paths: QueuePaths): Promise<Rule[]> {
  const file = rulesFile(paths);
  return (await ifExists(readJsonFile(file, RulesFileSchema, "Fix or remove it; scq rules add writes it.")))?.rules ?? [];
}

/** Read, change and write the rules under a short lock: the pass (recording uses) and the CLI both write them. */
async function changeRules<T>(paths: QueuePaths, change: (rules: Rule[]) => { rules: Rule[]; result: T }): Promise<T> {
  const file = rulesFile(paths);
  return withFileLock(`${file}.lock`, async () => {
    const { rules, result } = change(await readRules(paths));
    await writeJsonAtomic(file, { rules });
    return result;
  });
}

export interface AddRuleOptions {
  from: string;
  job: string;
  /** When the rule stops approving. */
  expires?: string | undefined;
  perDay?: number | undefined;
}

/** Pin the reviewed code of one of the owner's jobs for its requester. */
export async function addRule(ctx: Context, options: AddRuleOptions): Promise<Rule> {
  const paths = ownQueue(ctx);
  const job = await findJob(paths, options.job);
  const reviewer = personWhoApproved(job);
  if (!reviewer) {
    throw new JobStateError(
      `Job ${job.uid} was not approved by a person (it is ${job.status}${job.meta.decision ? `, decided by ${job.meta.decision.by}` : ""}): a rule can only pin code someone reviewed and approved.`,
      { uid: job.uid },
    );
  }
  if (job.meta.requester_email !== options.from) {
    throw new ScqError(
      `Job ${job.uid} was submitted by ${job.meta.requester_email}, not ${options.from}: a rule pins a requester's own reviewed code.`,
    );
  }
  const code = await treeHash(path.join(job.dir, "code"));
  if (job.meta.code_sha256 !== code) {
    throw new JobStateError(`The code of job ${job.uid} no longer has the hash that was approved: it cannot be pinned.`, { uid: job.uid });
  }
  let expires: string | null = null;
  if (options.expires !== undefined) {
    const at = Date.parse(options.expires);
    if (!Number.isFinite(at)) throw new ScqError(`--expires "${options.expires}" is not a date: give e.g. 2026-12-31 or 2026-12-31T18:00:00Z.`);
    if (at <= Date.now()) throw new ScqError(`--expires ${options.expires} is in the past.`);
    expires = new Date(at).toISOString();
  }
  const rule: Rule = {
    id: `rule-${randomBytes(4).toString("hex")}`,
    requester: options.from,
    code_sha256: code,
    from_job: job.uid,
    reviewed_by: reviewer,
    created_by: ctx.email,
    created_at: now(),
    expires_at: expires,
    per_day: options.perDay ?? null,
    uses: [],
  };
  await changeRules(paths, (rules) => ({ rules: [...rules, rule], result: undefined }));
  await appendAudit(paths, { event: "rule-added", uid: job.uid, by: ctx.email, detail: { ...rule, uses: undefined } });
  return rule;
}

export async function removeRule(ctx: Context, id: string): Promise<Rule> {
  const paths = ownQueue(ctx);
  const removed = await changeRules(paths, (rules) => {
    const rule = rules.find((r) => r.id === id);
    if (!rule) throw new ScqError(`No rule ${id}. See them with scq rules list.`);
    return { rules: rules.filter((r) => r.id !== id), result: rule };
  });
  await appendAudit(paths, { event: "rule-removed", uid: removed.from_job, by: ctx.email, detail: { id } });
  return removed;
}

/**
 * At intake: the rule that approves this submission, if one does (same requester, same code hash, not
 * expired, quota not used up), its use recorded; or why none does, for the log, when one nearly did.
 */
export async function claimRule(paths: QueuePaths, requester: string, code: string, uid: string): Promise<{ rule?: Rule; refused?: string }> {
  if ((await readRules(paths)).every((r) => r.code_sha256 !== code)) return {};
  return changeRules<{ rule?: Rule; refused?: string }>(paths, (rules) => {
    const at = Date.now();
    const candidates = rules.filter((r) => r.code_sha256 === code && r.requester === requester);
    if (candidates.length === 0) return { rules, result: { refused: "the code matches a rule for another requester" } };
    const live = candidates.filter((r) => r.expires_at === null || Date.parse(r.expires_at) > at);
    if (live.length === 0) return { rules, result: { refused: `rule ${candidates[0]!.id} has expired` } };
    const open = live.find((r) => r.per_day === null || r.uses.filter((u) => at - Date.parse(u.at) < DAY_MS).length < r.per_day);
    if (!open) return { rules, result: { refused: `rule ${live[0]!.id} has used its quota of ${live[0]!.per_day} a day` } };
    const used: Rule = { ...open, uses: [...open.uses.filter((u) => at - Date.parse(u.at) < DAY_MS), { uid, at: new Date(at).toISOString() }] };
    return { rules: rules.map((r) => (r.id === open.id ? used : r)), result: { rule: used } };
  });
}

/** The person whose approval a job carries, or undefined (not approved, or approved by a rule). */
function personWhoApproved(job: Job): string | undefined {
  const decision = job.meta.decision;
  if (!decision || job.status === "pending" || job.status === "rejected") return undefined;
  if (decision.by.startsWith("rule ")) return undefined;
  // A job that failed before it was ever approved ("code changed after approval" at decision time) carries no approval.
  if (job.status === "failed" && job.meta.started_at === null) return undefined;
  return decision.by;
}
