// What SyftBox would allow, evaluated independently of the module that writes the rules: the files
// are parsed as YAML by a YAML library, and matched by the rules SyftBox documents: the nearest
// syft.pub.yaml above a path decides, patterns are doublestar globs relative to that file's folder
// with {{.UserEmail}} standing for the user asking, the owner may do anything, and write (or admin)
// implies read.
import fs from "node:fs";
import path from "node:path";
import { parse } from "yaml";
import * as z from "zod";

const RulesFile = z.object({
  terminal: z.boolean().optional(),
  rules: z.array(
    z.object({
      pattern: z.string(),
      access: z.object({ admin: z.array(z.string()).optional(), read: z.array(z.string()).optional(), write: z.array(z.string()).optional() }),
    }),
  ),
});

/** `**` any number of segments, `*` and `?` within one, everything else literal. */
function doublestar(pattern: string, rel: string): boolean {
  const pat = pattern.split("/");
  const parts = rel.split("/");
  const match = (i: number, j: number): boolean => {
    if (i === pat.length) return j === parts.length;
    if (pat[i] === "**") return match(i + 1, j) || (j < parts.length && match(i, j + 1));
    if (j === parts.length) return false;
    const segment = new RegExp(
      `^${pat[i]!.replace(/[.+^${}()|[\]\\]/g, "\\$&")
        .replaceAll("*", "[^/]*")
        .replaceAll("?", "[^/]")}$`,
    );
    return segment.test(parts[j]!) && match(i + 1, j + 1);
  };
  return match(0, 0);
}

export async function mayAccess(datasite: string, owner: string, file: string, user: string, kind: "read" | "write"): Promise<boolean> {
  if (user === owner) return true;
  for (let dir = path.dirname(file); dir.startsWith(datasite); dir = path.dirname(dir)) {
    const text = await fs.promises.readFile(path.join(dir, "syft.pub.yaml"), "utf8").catch(() => undefined);
    if (text === undefined) continue;
    const { rules } = RulesFile.parse(parse(text));
    const rel = path.relative(dir, file);
    const grants = rules
      .filter((rule) => doublestar(rule.pattern.replaceAll("{{.UserEmail}}", user), rel))
      .flatMap((rule) => [...(rule.access.admin ?? []), ...(rule.access.write ?? []), ...(kind === "read" ? (rule.access.read ?? []) : [])]);
    return grants.some((who) => who === "*" || who === user || who === "USER");
  }
  return false;
}
