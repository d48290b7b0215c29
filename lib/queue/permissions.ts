// SyftBox permission files (syft.pub.yaml). Only the nearest file with rules applies to a path and the
// datasite owner always has full access, so:
//   queue root: every user may read queue.json (so a requester's client syncs something that shows the
//     queue is there) and read and write inbox/<their own email>/**, and nothing else; each
//     listed approver (config approvals) may read approvals.json (how many approvals a job needs, from
//     whom) and read and write decisions/<their own email>/**, and only that;
//   each job folder: its requester may read it (status, logs, output); listed approvers may read its
//     code/ and metadata.json (what they review), nobody else anything;
//   each listed output checker (config output_checkers) may read and write output-votes/<their own email>/**;
//   output-review/<uid>/ (a job's held files under review): the checkers may read its files and
//     checks, and each checker their own view of the votes, for/<their email>.json;
//   decisions/<uid>.json, staging/ and audit.jsonl: no rule grants anything, so they stay owner-only.
// The narrower rules only add readers to what the wider one grants, so a reader of these files gets
// the same answer whether SyftBox applies every matching rule or only the most specific one.
import fs from "node:fs";
import path from "node:path";
import { exists, ifExists, readJsonFile, writeFileAtomic } from "../core/fsutil.ts";
import { ApprovalsSchema, type Approvals } from "../core/schemas.ts";

interface Rule {
  pattern: string;
  access: { read?: string[]; write?: string[]; admin?: string[] };
}

const PERMISSION_FILE = "syft.pub.yaml";

/** YAML in the block style SyftBox writes; every string is double-quoted (JSON strings are valid YAML). */
function renderRules(rules: Rule[]): string {
  const lines = ["rules:"];
  for (const rule of rules) {
    lines.push(`  - pattern: ${JSON.stringify(rule.pattern)}`, "    access:");
    for (const kind of ["admin", "read", "write"] as const) {
      lines.push(`      ${kind}: [${(rule.access[kind] ?? []).map((v) => JSON.stringify(v)).join(", ")}]`);
    }
  }
  return `${lines.join("\n")}\n`;
}

/** Readable by everyone: that this datasite runs the queue, and which. Nothing else about it. */
const QUEUE_INFO = "queue.json";
/** Readable by the listed approvers: how many approvals a job needs and from whom, so their review can say how many are still needed. */
const APPROVALS_INFO = "approvals.json";

function queueRootRules(approvers: readonly string[], checkers: readonly string[]): Rule[] {
  return [
    { pattern: QUEUE_INFO, access: { read: ["*"] } },
    ...(approvers.length > 0 ? [{ pattern: APPROVALS_INFO, access: { read: [...approvers] } }] : []),
    { pattern: "inbox/{{.UserEmail}}/**", access: { read: ["USER"], write: ["USER"] } },
    ...approvers.map((a) => ({ pattern: `decisions/${a}/**`, access: { read: [a], write: [a] } })),
    ...checkers.map((c) => ({ pattern: `output-votes/${c}/**`, access: { read: [c], write: [c] } })),
  ];
}

function jobRules(requester: string, approvers: readonly string[]): Rule[] {
  const readers = [requester, ...approvers.filter((a) => a !== requester)];
  return [
    { pattern: "**", access: { read: [requester] } },
    ...(approvers.length > 0 ? ["code/**", "metadata.json"].map((pattern) => ({ pattern, access: { read: readers } })) : []),
  ];
}

/** Write a file only when its content differs, so an idle pass causes no sync traffic. */
async function writeIfChanged(file: string, text: string): Promise<void> {
  if ((await ifExists(fs.promises.readFile(file, "utf8"))) !== text) await writeFileAtomic(file, text);
}

async function writeRules(dir: string, rules: Rule[]): Promise<void> {
  await writeIfChanged(path.join(dir, PERMISSION_FILE), renderRules(rules));
}

/**
 * The queue root's rules, the queue.json they let everyone read and, with N-of-M approvals, the
 * approvals.json they let the approvers read (each written only when it changes; approvals.json
 * removed when the owner asks for approvals no more).
 */
export async function queuePermissions(root: string, approvals?: Approvals, checkers: readonly string[] = []): Promise<void> {
  await writeRules(root, queueRootRules(approvals?.approvers ?? [], checkers));
  await writeIfChanged(path.join(root, QUEUE_INFO), `${JSON.stringify({ app: "syft-code-queue", queue: path.basename(root) })}\n`);
  if (approvals)
    await writeIfChanged(path.join(root, APPROVALS_INFO), `${JSON.stringify({ required: approvals.required, approvers: approvals.approvers })}\n`);
  else await fs.promises.rm(path.join(root, APPROVALS_INFO), { force: true });
}

/** Rules letting every user read `names` in `dir` (and nothing else there): what an owner publishes for all, such as their public keys. */
export async function readableByAll(dir: string, names: readonly string[]): Promise<void> {
  await writeRules(
    dir,
    names.map((pattern) => ({ pattern, access: { read: ["*"] } })),
  );
}

/**
 * A job under output review (output-review/<uid>/): its held files and checks for every checker in
 * `views`, and each checker's own view (for/<checker>.json) for that checker alone.
 */
export async function reviewPermissions(dir: string, views: readonly string[]): Promise<void> {
  await writeRules(dir, [
    { pattern: "files/**", access: { read: [...views] } },
    { pattern: "output-checks.json", access: { read: [...views] } },
    ...views.map((c) => ({ pattern: `for/${c}.json`, access: { read: [c] } })),
  ]);
}

/** The approvals a queue's owner published for their approvers (approvals.json), if they ask for any. */
export async function publishedApprovals(root: string): Promise<Approvals | undefined> {
  const file = path.join(root, APPROVALS_INFO);
  return (await exists(file)) ? readJsonFile(file, ApprovalsSchema) : undefined;
}

export async function jobPermissions(jobDir: string, requester: string, approvers: readonly string[] = []): Promise<void> {
  await writeRules(jobDir, jobRules(requester, approvers));
}

/**
 * Whether the rules the owner's pass wrote into a job's folder let `email` read its code as one of the
 * owner's listed approvers (not as its requester): how an approver finds the jobs that wait for them.
 */
export async function readableAsApprover(jobDir: string, email: string): Promise<boolean> {
  const text = (await ifExists(fs.promises.readFile(path.join(jobDir, PERMISSION_FILE), "utf8"))) ?? "";
  const rules = text.split("- pattern:");
  const me = JSON.stringify(email);
  // The rule for the whole folder names its requester alone; the one for code/ adds the approvers.
  const requester = rules.find((rule) => rule.trimStart().startsWith('"**"'))?.includes(me) ?? false;
  const reader = rules.find((rule) => rule.includes('"code/**"'))?.includes(me) ?? false;
  return reader && !requester;
}
