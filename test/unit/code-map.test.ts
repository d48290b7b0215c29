// The README's code map names every module of lib/, in the row of its folder: a module added without
// a word on what it does fails here.
import fs from "node:fs";
import path from "node:path";
import { expect, test } from "vitest";
import { APP_DIR } from "../../lib/core/paths.ts";

/** Folders whose row speaks of them as a whole (one file per command). */
const WHOLE = new Set(["commands"]);

test("every module of lib/ is in the README's code map, in its folder's row", () => {
  const readme = fs.readFileSync(path.join(APP_DIR, "README.md"), "utf8");
  const start = readme.indexOf("Code map:");
  const end = readme.indexOf("test/unit/code-map.test.ts", start);
  expect(start).toBeGreaterThan(0);
  expect(end).toBeGreaterThan(start);
  const map = readme.slice(start, end);
  const rows = new Map<string, string>();
  for (const line of map.split("\n")) {
    const folder = /^\| `([a-z-]+)\/` \|/.exec(line)?.[1];
    if (folder) rows.set(folder, line);
  }
  const modules = (fs.readdirSync(path.join(APP_DIR, "lib"), { recursive: true }) as string[]).filter((f) => f.endsWith(".ts")).sort();
  expect(modules.length).toBeGreaterThan(40);
  const missing: string[] = [];
  for (const rel of modules) {
    const [folder, ...rest] = rel.split(path.sep);
    if (rest.length === 0) {
      if (!map.includes(`\`${folder}\``) && !map.includes(`\`lib/${folder}\``)) missing.push(rel);
      continue;
    }
    const row = rows.get(folder!);
    if (row === undefined || (!WHOLE.has(folder!) && !row.includes(`\`${rest.join("/")}\``))) missing.push(rel);
  }
  expect(missing).toEqual([]);
});
