// SyftBox permission files (syft.pub.yaml). Only the nearest file with rules applies to a path and the
// datasite owner always has full access, so:
//   queue root: every user may read and write inbox/<their own email>/** and nothing else;
//   each job folder: its requester may read it (status, logs, output), nobody else;
//   decisions/ and audit.jsonl: no rule grants anything, so they stay owner-only.
import fs from "node:fs";
import path from "node:path";
import { ifExists, writeFileAtomic } from "./fsutil.ts";

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

const QUEUE_ROOT_RULES: Rule[] = [{ pattern: "inbox/{{.UserEmail}}/**", access: { read: ["USER"], write: ["USER"] } }];

function jobRules(requester: string): Rule[] {
  return [{ pattern: "**", access: { read: [requester] } }];
}

/** Write the file only when its content differs, so an idle pass causes no sync traffic. */
async function writeRules(dir: string, rules: Rule[]): Promise<void> {
  const file = path.join(dir, PERMISSION_FILE);
  const text = renderRules(rules);
  const current = await ifExists(fs.promises.readFile(file, "utf8"));
  if (current !== text) await writeFileAtomic(file, text);
}

export async function queuePermissions(root: string): Promise<void> {
  await writeRules(root, QUEUE_ROOT_RULES);
}

export async function jobPermissions(jobDir: string, requester: string): Promise<void> {
  await writeRules(jobDir, jobRules(requester));
}
