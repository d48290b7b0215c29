// SyftBox permission files (syft.pub.yaml). Only the nearest file with rules applies to a path and the
// datasite owner always has full access, so:
//   queue root: every user may read and write inbox/<their own email>/** and nothing else;
//   each job folder: its requester may read it (status, logs, output), nobody else;
//   decisions/ and audit.jsonl: no rule grants anything, so they stay owner-only.
import fs from "node:fs";
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

// ---- reading them back: what SyftBox would allow ------------------------------------------------------

/** Parse the rules files this module writes (block YAML with JSON-quoted strings). */
export function parseRules(text: string): Rule[] {
  const rules: Rule[] = [];
  for (const line of text.split("\n")) {
    const pattern = /^\s*- pattern: (".*")\s*$/.exec(line);
    if (pattern) {
      rules.push({ pattern: JSON.parse(pattern[1]!) as string, access: {} });
      continue;
    }
    const access = /^\s*(admin|read|write): \[(.*)\]\s*$/.exec(line);
    const current = rules.at(-1);
    if (access && current) current.access[access[1] as "admin" | "read" | "write"] = JSON.parse(`[${access[2]}]`) as string[];
  }
  return rules;
}

/** A doublestar glob (`**` any depth, `*` within a segment) with the {{.UserEmail}} template filled in. */
export function globMatches(pattern: string, relPath: string, user: string): boolean {
  const source = pattern
    .replaceAll("{{.UserEmail}}", "\uE000")
    .split(/(\*\*\/?|\*|\?|\uE000)/)
    .map((part) => {
      if (part === "**/") return "(?:.*/)?";
      if (part === "**") return ".*";
      if (part === "*") return "[^/]*";
      if (part === "?") return "[^/]";
      if (part === "\uE000") return user.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
      return part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    })
    .join("");
  return new RegExp(`^${source}$`).test(relPath);
}

/**
 * May `user` have `kind` access to `file` (absolute) inside the datasite of `owner`? The nearest
 * syft.pub.yaml above the file decides; the owner may do anything; `write` implies `read`, `admin` both.
 */
export async function mayAccess(datasite: string, owner: string, file: string, user: string, kind: "read" | "write"): Promise<boolean> {
  if (user === owner) return true;
  for (let dir = path.dirname(file); dir.startsWith(datasite); dir = path.dirname(dir)) {
    const text = await fs.promises.readFile(path.join(dir, PERMISSION_FILE), "utf8").catch(() => undefined);
    if (text === undefined) continue;
    const rel = path.relative(dir, file);
    const grants = parseRules(text)
      .filter((rule) => globMatches(rule.pattern, rel, user))
      .flatMap((rule) => [...(rule.access.admin ?? []), ...(rule.access.write ?? []), ...(kind === "read" ? (rule.access.read ?? []) : [])]);
    // Only the nearest file with rules applies: whatever it says is the answer.
    return grants.some((who) => who === "*" || who === user || who === "USER");
  }
  return false;
}
