// Pinned auto-approval rules, written by the owner (scq rules add): "this requester may run again
// exactly the code of job X, which a person approved". A later submission from that requester whose
// code has exactly that tree hash (names and contents) is approved by the rule at intake; the marker
// and the job's decision name the rule. A rule never approves code nobody reviewed: it can only be
// made from a job a person approved, and it pins that job's hash. Rules live in the app's private
// state (state/rules.json), where no requester can write, validated by schema on every read.
//
// A parameterised rule (--params-schema) pins every file but params.json, plus a JSON Schema that
// params.json must meet: a submission that differs from the reviewed code only in a params.json the
// schema accepts is approved by it. The marker then binds the submission's own full hash.
import { randomBytes } from "node:crypto";
import path from "node:path";
import vm from "node:vm";
import * as z from "zod";
import { appendAudit } from "../queue/audit.ts";
import { ownQueue, type Context } from "../core/context.ts";
import { describeZodIssues, errorMessage, JobStateError, ScqError } from "../core/errors.ts";
import { ifExists, isNotFound, readJsonFile, readUntrustedFile, writeJsonAtomic } from "../core/fsutil.ts";
import type { Job } from "../core/job.ts";
import { findJob } from "../queue/jobs.ts";
import { now } from "../queue/lifecycle.ts";
import { withFileLock } from "../core/lock.ts";
import type { QueuePaths } from "../core/paths.ts";
import { Email, Sha256, Timestamp } from "../core/schemas.ts";
import { treeHash, walkTree } from "../core/tree.ts";
import { expected } from "../core/expected.ts";

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
  /**
   * A parameterised rule: the tree hash of the reviewed code without params.json, and the JSON Schema
   * a submission's params.json must meet. null: the rule pins the exact code, params.json included.
   */
  params: z
    .object({ code_sha256: Sha256, schema: z.record(z.string(), z.unknown()) })
    .nullable()
    .default(null),
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
  /** A JSON Schema (already parsed) for params.json: the rule then pins the code without params.json. */
  paramsSchema?: unknown;
}

export const PARAMS_FILE = "params.json";
/** params.json is data, not code: small. */
const MAX_PARAMS_BYTES = 64 * 1024;

/** The JSON Schema of a parameterised rule, as a zod schema; throws (ScqError) saying what is wrong with it. */
function paramsValidator(schema: unknown): z.ZodType {
  if (typeof schema !== "object" || schema === null || Array.isArray(schema))
    throw new ScqError("The params schema must be a JSON object (a JSON Schema).");
  try {
    return z.fromJSONSchema(withItems(schema) as Parameters<typeof z.fromJSONSchema>[0]);
  } catch (error) {
    throw new ScqError(`The params schema is not a JSON Schema this app can apply: ${errorMessage(error)}`);
  }
}

/**
 * The schema with `items: {}` added to every array schema that bounds its length without saying what
 * its items are: the converter drops minItems/maxItems there, and a bound an owner wrote must hold.
 */
function withItems(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(withItems);
  if (typeof node !== "object" || node === null) return node;
  const out = Object.fromEntries(Object.entries(node).map(([k, v]) => [k, withItems(v)]));
  const bounded = "minItems" in out || "maxItems" in out;
  if ((out.type === "array" || bounded) && !("items" in out) && !("prefixItems" in out)) out.items = {};
  return out;
}

/**
 * How long one params.json may take to check against a rule's schema. A `pattern` is a regular
 * expression the owner wrote, run on text the requester wrote: one that backtracks must not hold the
 * pass (and its lock). Past this, the rule does not apply and the job waits for a person.
 */
const PARAMS_CHECK_MS = 250;

/** Why the params.json in `code` does not meet the rule's schema, or undefined when it does. */
async function paramsProblem(code: string, schema: Record<string, unknown>): Promise<string | undefined> {
  let value: unknown;
  try {
    value = JSON.parse((await readUntrustedFile(path.join(code, PARAMS_FILE), MAX_PARAMS_BYTES)).toString("utf8"));
  } catch (error) {
    return isNotFound(error) ? `there is no ${PARAMS_FILE}` : `${PARAMS_FILE} is not readable JSON (${errorMessage(error)})`;
  }
  const validator = paramsValidator(schema);
  let result: ReturnType<z.ZodType["safeParse"]>;
  try {
    // The check runs under a watchdog that interrupts it at the deadline (the vm module's timeout).
    result = vm.runInNewContext("check()", { check: () => validator.safeParse(value) }, { timeout: PARAMS_CHECK_MS }) as typeof result;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ERR_SCRIPT_EXECUTION_TIMEOUT") throw error;
    return `checking ${PARAMS_FILE} against the rule's schema took longer than ${PARAMS_CHECK_MS} ms (a "pattern" that backtracks?): the rule is not applied`;
  }
  return result.success ? undefined : `${PARAMS_FILE} does not meet the rule's schema: ${describeZodIssues(result.error).join("; ")}`;
}

/** The tree hash of a code folder without its params.json: what a parameterised rule pins. */
async function hashWithoutParams(code: string): Promise<string> {
  return treeHash(
    code,
    (await walkTree(code)).filter((e) => e.rel !== PARAMS_FILE),
  );
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
  let params: Rule["params"] = null;
  if (options.paramsSchema !== undefined) {
    paramsValidator(options.paramsSchema);
    const schema = options.paramsSchema as Record<string, unknown>;
    const problem = await paramsProblem(path.join(job.dir, "code"), schema);
    if (problem) throw new ScqError(`Job ${job.uid} cannot be pinned with this schema: in the reviewed code, ${problem}.`, { uid: job.uid });
    params = { code_sha256: await hashWithoutParams(path.join(job.dir, "code")), schema };
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
    params,
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
 * At intake: the rule that approves this submission, if one does (same requester; the same code, or
 * for a parameterised rule the same code but params.json, which meets its schema; not expired, quota
 * not used up), its use recorded; or why none does, for the log, when one nearly did.
 */
export async function claimRule(
  paths: QueuePaths,
  submission: { requester: string; code_sha256: string; uid: string; code: string },
): Promise<{ rule?: Rule; refused?: string }> {
  const { requester, code_sha256: code, uid } = submission;
  const all = await readRules(paths);
  // The hash without params.json is computed only when a parameterised rule could use it.
  const withoutParams = all.some((r) => r.params !== null)
    ? await hashWithoutParams(submission.code).catch(
        expected("a tree that cannot be hashed without params.json: only rules for the whole code apply"),
      )
    : undefined;
  const pins = (r: Rule) => r.code_sha256 === code || (r.params !== null && r.params.code_sha256 === withoutParams);
  if (!all.some(pins)) return {};
  // Schemas are checked before the lock: the files are frozen, and a bad params.json refuses the rule, not the job.
  const problems = new Map<string, string>();
  for (const r of all.filter((r) => pins(r) && r.requester === requester && r.code_sha256 !== code && r.params)) {
    const problem = await paramsProblem(submission.code, r.params!.schema);
    if (problem) problems.set(r.id, problem);
  }
  return changeRules<{ rule?: Rule; refused?: string }>(paths, (rules) => {
    const at = Date.now();
    const candidates = rules.filter((r) => pins(r) && r.requester === requester);
    if (candidates.length === 0) return { rules, result: { refused: "the code matches a rule for another requester" } };
    const valid = candidates.filter((r) => !problems.has(r.id));
    if (valid.length === 0) return { rules, result: { refused: `rule ${candidates[0]!.id}: ${problems.get(candidates[0]!.id)}` } };
    const live = valid.filter((r) => r.expires_at === null || Date.parse(r.expires_at) > at);
    if (live.length === 0) return { rules, result: { refused: `rule ${valid[0]!.id} has expired` } };
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
