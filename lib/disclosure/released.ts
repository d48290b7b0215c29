// Tables already released to each requester, kept in the app's private state so that a new table can
// be compared with them: two releases whose cells differ by a small number disclose that small number.
// Per requester, the last few released versions of each file name, and of each set of column names:
// a table renamed, or with its columns reordered, is still found (bounded in rows and columns, so
// the cost of a release does not grow with the number of releases before it).
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import * as z from "zod";
import { ifExists, readJsonFile, writeJsonAtomic } from "../core/fsutil.ts";
import type { QueuePaths } from "../core/paths.ts";
import { readTable, tableType, type Table } from "./read-table.ts";

const KEEP = 5;
const MAX_ROWS = 5000;
const MAX_COLUMNS = 100;

const HistorySchema = z.object({
  file: z.string(),
  versions: z.array(z.object({ uid: z.string(), at: z.string(), columns: z.array(z.string()), rows: z.array(z.array(z.string())) })),
});
export type ReleasedTable = z.infer<typeof HistorySchema>["versions"][number];

/** A history's file: by the file's name, or (with a NUL first, which no path has) by its set of column names. */
function historyFile(paths: QueuePaths, requester: string, name: string): string {
  const key = (s: string) => createHash("sha256").update(s).digest("hex").slice(0, 32);
  return path.join(paths.state, "released", key(requester), `${key(name)}.json`);
}

function byColumns(columns: string[]): string {
  return `\u0000${[...new Set(columns.map((c) => c.normalize("NFKC").trim().toLowerCase()))].sort().join("\u0001")}`;
}

async function history(paths: QueuePaths, requester: string, name: string): Promise<ReleasedTable[]> {
  const kept = await ifExists(readJsonFile(historyFile(paths, requester, name), HistorySchema, "", 64 * 1024 * 1024));
  return kept?.versions ?? [];
}

/** Earlier releases to this requester of a file of this name or of a table with these columns, newest first. */
export async function releasedBefore(paths: QueuePaths, requester: string, rel: string, columns: string[]): Promise<ReleasedTable[]> {
  const [named, alike] = await Promise.all([history(paths, requester, rel), history(paths, requester, byColumns(columns))]);
  const seen = new Set(named.map((v) => `${v.uid} ${v.at}`));
  return [...named, ...alike.filter((v) => !seen.has(`${v.uid} ${v.at}`))].sort((a, b) => b.at.localeCompare(a.at));
}

/** Remember the tables among `files` (paths under `outputDir`) as released to `requester` by job `uid`. */
export async function rememberReleased(paths: QueuePaths, requester: string, uid: string, outputDir: string, files: string[]): Promise<void> {
  for (const rel of files) {
    const type = tableType(rel);
    if (!type) continue;
    let table: Table;
    try {
      table = await readTable(path.join(outputDir, rel), type);
    } catch {
      continue; // not a table a later one could be compared with
    }
    if (table.rows.length > MAX_ROWS || table.columns.length > MAX_COLUMNS) continue;
    const version = { uid, at: new Date().toISOString(), columns: table.columns, rows: table.rows };
    for (const name of [rel, byColumns(table.columns)]) {
      const file = historyFile(paths, requester, name);
      const before = await history(paths, requester, name);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      await writeJsonAtomic(file, { file: rel, versions: [version, ...before].slice(0, KEEP) });
    }
  }
}
