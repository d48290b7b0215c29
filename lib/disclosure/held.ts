// What a finished job holds in the owner-only staging folder (staging/<uid>/), by the names decisions
// use: its output files (paths under output/), its non-empty logs, and which output files its requester
// marked supporting (shown to reviewers, never released).
import fs from "node:fs";
import path from "node:path";
import { existingLogsDir, LOGS_DIR } from "../core/log-files.ts";
import { walkTree } from "../core/tree.ts";
import { expected } from "../core/expected.ts";
import { supportingFiles } from "./check-output.ts";

/** The logs a decision is taken on, by the names the checks report and the withhold list use. */
const LOG_NAMES = ["stdout", "stderr"].map((stream) => `${LOGS_DIR}/${stream}.txt`);

export interface Held {
  dir: string;
  outputs: string[];
  logs: string[];
  logsDir: string | undefined;
  supporting: Set<string>;
}

export async function heldFiles(dir: string): Promise<Held> {
  const outputs = (await walkTree(path.join(dir, "output"), { anyName: true }).catch(expected("no output folder: no output files", [])))
    .filter((e) => e.type === "file")
    .map((e) => e.rel);
  const logsDir = existingLogsDir(dir);
  // An empty stream is nothing to decide on (the checks leave it out too); it goes with the logs that go.
  const logs = logsDir
    ? LOG_NAMES.filter((name) => (fs.statSync(path.join(logsDir, path.basename(name)), { throwIfNoEntry: false })?.size ?? 0) > 0)
    : [];
  const supporting = await supportingFiles(path.join(dir, "output"));
  return { dir, outputs, logs, logsDir, supporting: new Set(outputs.filter((f) => supporting.has(f))) };
}

/** The files a release decides on: outputs and logs, less the supporting files, which never leave. */
export function decidable(held: Held): string[] {
  return [...new Set([...held.outputs, ...held.logs])].filter((f) => !held.supporting.has(f));
}
