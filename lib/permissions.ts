// SyftBox permission files (syft.pub.yaml). Only the nearest file with rules applies to a path and the
// datasite owner always has full access, so:
//   queue root: every user may read and write inbox/<their own email>/** and nothing else;
//   each job folder: its requester may read it (status, logs, output), nobody else;
//   decisions/ and audit.jsonl: no rule grants anything, so they stay owner-only.
import fs from "fs-extra";
import path from "node:path";
import { writeFileAtomic } from "./fsutil.ts";

export interface Rule {
  pattern: string;
  access: { read?: string[]; write?: string[]; admin?: string[] };
}

export const PERMISSION_FILE = "syft.pub.yaml";

/** YAML in the block style SyftBox writes; every string is double-quoted (JSON strings are valid YAML). */
export function renderRules(rules: Rule[]): string {
  const lines = ["rules:"];
  for (const rule of rules) {
    lines.push(`  - pattern: ${JSON.stringify(rule.pattern)}`, "    access:");
    for (const kind of ["admin", "read", "write"] as const) {
      lines.push(`      ${kind}: [${(rule.access[kind] ?? []).map((v) => JSON.stringify(v)).join(", ")}]`);
    }
  }
  return `${lines.join("\n")}\n`;
}

export const QUEUE_ROOT_RULES: Rule[] = [{ pattern: "inbox/{{.UserEmail}}/**", access: { read: ["USER"], write: ["USER"] } }];

export function jobRules(requester: string): Rule[] {
  return [{ pattern: "**", access: { read: [requester] } }];
}

/** Write the file only when its content differs, so an idle pass causes no sync traffic. */
async function writeRules(dir: string, rules: Rule[]): Promise<void> {
  const file = path.join(dir, PERMISSION_FILE);
  const text = renderRules(rules);
  const current = await fs.promises.readFile(file, "utf8").catch(() => undefined);
  if (current !== text) await writeFileAtomic(file, text);
}

export async function queuePermissions(root: string): Promise<void> {
  await writeRules(root, QUEUE_ROOT_RULES);
}

export async function jobPermissions(jobDir: string, requester: string): Promise<void> {
  await writeRules(jobDir, jobRules(requester));
}
