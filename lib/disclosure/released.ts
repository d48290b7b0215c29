// Tables already released to each requester, kept in the app's private state so that a new table can
// be compared with them: two releases whose cells differ by a small number disclose that small number.
// Per requester and file name, the last few released versions (bounded in rows and columns).
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

function historyFile(paths: QueuePaths, requester: string, rel: string): string {
  const key = (s: string) => createHash("sha256").update(s).digest("hex").slice(0, 32);
  return path.join(paths.state, "released", key(requester), `${key(rel)}.json`);
}

/** Earlier releases of a file of this name to this requester, newest first. */
export async function releasedBefore(paths: QueuePaths, requester: string, rel: string): Promise<ReleasedTable[]> {
  const history = await ifExists(readJsonFile(historyFile(paths, requester, rel), HistorySchema, "", 64 * 1024 * 1024));
  return history?.versions ?? [];
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
    const file = historyFile(paths, requester, rel);
    const before = await releasedBefore(paths, requester, rel);
    await fs.promises.mkdir(path.dirname(file), { recursive: true });
    const version = { uid, at: new Date().toISOString(), columns: table.columns, rows: table.rows };
    await writeJsonAtomic(file, { file: rel, versions: [version, ...before].slice(0, KEEP) });
  }
}
