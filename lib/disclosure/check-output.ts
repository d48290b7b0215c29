// The disclosure check of a finished job's output: every file's type, size and, for tables (CSV, TSV,
// JSON arrays of records), rows, columns and what the rules in rules.ts find. It runs in the pass on
// the owner's copy of the output, before the output is released, and writes output-checks.json beside
// output/. Findings are advisory unless the owner made their rule blocking; they never approve
// anything. Everything is read with limits (read-table.ts), so a hostile output costs bounded time.
import fs from "node:fs";
import path from "node:path";
import type { z } from "zod";
import { exists, ifExists, readJsonFile, readUntrustedFile, writeJsonAtomic } from "../core/fsutil.ts";

import { errorMessage, NotATableError } from "../core/errors.ts";

import { logFile, LOGS_DIR } from "../core/log-files.ts";

import { CHECKS_FILE } from "../core/paths.ts";

import { dataMounts } from "../core/data-paths.ts";

import { neverSynced } from "../core/sync-ignore.ts";

import { OUTPUT_MANIFEST, OutputManifestSchema, type ChecksReport, type DataPath, type Finding, type OutputChecks } from "../core/schemas.ts";

import { readTable, TABLE_LIMITS, tableType, type Table } from "./read-table.ts";
import type { ReleasedTable } from "./released.ts";
import { countInName, differencingFindings, exposedBy, recoverableFromReleased, rowKey, setKey, tableFindings } from "./rules.ts";

import { expected } from "../core/expected.ts";

const MB = 1024 * 1024;
/** Files of trained models (PyTorch, pickle, joblib, ONNX, safetensors, Keras/HDF5, TensorFlow, XGBoost, LightGBM). */
const MODEL_TYPES = new Set(["pt", "pth", "pkl", "pickle", "joblib", "onnx", "safetensors", "h5", "keras", "pb", "ckpt", "xgb", "lgb"]);
/** Most files looked at in one output (a job may write twice limits.max_files; the rest are counted, not read). */
const MAX_FILES = 20_000;

/** Earlier releases of a file of this name to the job's requester (none for a check outside a queue). */
type Priors = (rel: string, columns: string[]) => Promise<ReleasedTable[]>;

export async function checkOutput(
  outputDir: string,
  settings: OutputChecks,
  dataPaths: DataPath[],
  priors: Priors = () => Promise.resolve([]),
): Promise<ChecksReport> {
  const dataRows = await privateRows(dataPaths);
  const files: ChecksReport["files"] = [];
  const manifest = await readManifest(outputDir);
  for (const { rel, full, bytes } of await outputFiles(outputDir)) {
    const type = path.extname(rel).slice(1).toLowerCase() || "(none)";
    const format = tableType(rel);
    const notes = "files" in manifest ? manifest.files[rel] : undefined;
    const entry: ChecksReport["files"][number] = {
      path: rel,
      type,
      bytes,
      rows: null,
      columns: null,
      description: notes?.description ?? null,
      controls: notes?.controls ?? [],
      supporting: notes?.supporting === true,
      findings: [],
    };
    const found: Omit<Finding, "blocking">[] = [];
    if (rel === OUTPUT_MANIFEST) {
      // The requester's notes leave with the output: checked as every file is, and its text for rows of the private data.
      if ("problem" in manifest)
        found.push({ rule: "not-checked", row: null, column: null, value: null, message: `the manifest is not valid: ${manifest.problem}` });
      else if (dataRows.size > 0) {
        const lines = Object.values(manifest.files).flatMap((notes) =>
          [notes.description ?? "", ...(notes.controls ?? [])].flatMap((text) => text.split("\n")),
        );
        const hits = lines.map((line) => logLineRow(line, dataRows)).filter((file) => file !== undefined);
        if (hits.length > 0)
          found.push({
            rule: "data-rows",
            row: null,
            column: null,
            value: null,
            message: `${hits.length} line(s) of its notes are rows of the private data (${hits[0]!}, and maybe others)`,
          });
      }
    }
    found.push(...countInName(rel, settings));
    if (neverSynced(rel)) {
      found.push({
        rule: "not-synced",
        row: null,
        column: null,
        value: rel,
        message:
          "SyftBox never syncs a file of this name (logs/, *.log, *.tmp, …): the requester would never receive it; write it under another name",
      });
    }
    if (!settings.allowed_types.includes(type)) {
      const model = MODEL_TYPES.has(type)
        ? ": a trained model can carry the rows it was trained on (memorised, or found by membership inference); release it by name with an exception, if at all"
        : type === "svg"
          ? ": an SVG is XML text that can carry more than it shows (hidden elements, metadata, the plotted values themselves); export the plot as PNG, or read its source and release it with an exception"
          : "";
      found.push({
        rule: "file-type",
        row: null,
        column: null,
        value: type,
        message: `type "${type}" is not in output_checks.allowed_types${model}`,
      });
    }
    if (bytes > settings.max_file_mb * MB) {
      found.push({
        rule: "file-size",
        row: null,
        column: null,
        value: String(bytes),
        message: `${(bytes / MB).toFixed(1)} MB: over output_checks.max_file_mb (${settings.max_file_mb} MB); not read`,
      });
    } else if (format) {
      try {
        if (bytes > TABLE_LIMITS.bytes) throw new NotATableError(`larger than ${TABLE_LIMITS.bytes / MB} MB, the most a table is read`);
        const table = await readTable(full, format);
        entry.rows = table.rows.length;
        entry.columns = table.columns.length;
        if (table.ragged)
          found.push({
            rule: "ragged-rows",
            row: null,
            column: null,
            value: String(table.ragged),
            message: `${table.ragged} line(s) are not as wide as the widest (${table.columns.length} cells): every cell is checked and shown, columns past the header numbered`,
          });
        const released = await priors(rel, table.columns);
        found.push(...tableFindings(table, settings, dataRows), ...acrossReleases(table, released, settings));
      } catch (error) {
        const why = error instanceof Error ? error.message : String(error);
        found.push({ rule: "not-checked", row: null, column: null, value: null, message: `could not be checked as a table: ${why}` });
      }
    }
    entry.findings = capPerRule(found).map((f) => ({
      ...f,
      value: f.value === null ? null : f.value.slice(0, 200),
      blocking: settings.blocking.includes(f.rule),
    }));
    files.push(entry);
  }
  return { checked_at: new Date().toISOString(), settings, files };
}

/** What a table discloses together with tables released to the same requester before, either way round. */
export function acrossReleases(table: Table, released: ReleasedTable[], settings: OutputChecks): Omit<Finding, "blocking">[] {
  return [
    ...differencingFindings(table, released, settings),
    ...recoverableFromReleased(table, released, settings),
    ...exposedBy(table, released, settings),
  ];
}

/** How much of each log is read for the check (logs are capped by limits.max_log_kb when written). */
const LOG_READ_BYTES = 4 * MB;

/**
 * The logs of a run (`run-logs/stdout.txt`, `run-logs/stderr.txt` in `resultsDir`), as entries of the
 * same report: a log line that is a row of the private data (split at commas, tabs, semicolons, bars
 * or runs of spaces, with or without a leading row number as a data frame prints it) is a "data-rows"
 * finding, blocking when the owner made that rule blocking.
 */
export async function checkLogs(resultsDir: string, settings: OutputChecks, dataPaths: DataPath[]): Promise<ChecksReport["files"]> {
  const dataRows = await privateRows(dataPaths);
  const entries: ChecksReport["files"] = [];
  for (const stream of ["stdout", "stderr"] as const) {
    const rel = `${LOGS_DIR}/${stream}.txt`;
    let data: Buffer | undefined;
    const found: Omit<Finding, "blocking">[] = [];
    try {
      data = await ifExists(readUntrustedFile(logFile(resultsDir, stream), LOG_READ_BYTES));
      // An empty stream discloses nothing, and is not a file anyone decides on (release leaves it out too).
      if (data === undefined || data.length === 0) continue;
    } catch (error) {
      // Never silently out unread: said, and blocking where the owner made "not-checked" blocking.
      found.push({ rule: "not-checked", row: null, column: null, value: null, message: `could not be read: ${errorMessage(error)}` });
    }
    if (data && dataRows.size > 0) {
      const lines = data.toString("utf8").split("\n");
      const hits = lines.map((line, i) => ({ i, file: logLineRow(line, dataRows) })).filter((h) => h.file !== undefined);
      if (hits.length > 0) {
        found.push({
          rule: "data-rows",
          row: hits[0]!.i + 1,
          column: null,
          value: null,
          message: `${hits.length} line(s) print rows of the private data (${hits[0]!.file}, and maybe others)`,
        });
      }
    }
    entries.push({
      path: rel,
      type: "txt",
      bytes: data?.length ?? 0,
      rows: null,
      columns: null,
      description: `the job's ${stream}`,
      controls: [],
      supporting: false,
      findings: found.map((f) => ({ ...f, blocking: settings.blocking.includes(f.rule) })),
    });
  }
  return entries;
}

/** The private data file a log line prints a row of, if any. */
function logLineRow(line: string, dataRows: Map<string, string>): string | undefined {
  const text = line.trim();
  if (!text) return undefined;
  for (const separator of [",", "\t", ";", "|", /\s+/]) {
    const cells = text.split(separator).map((c) => c.trim());
    for (const row of [cells, cells.slice(1)]) {
      if (row.filter((c) => c !== "").length < 3) continue;
      const file = dataRows.get(rowKey(row));
      if (file) return file;
    }
  }
  return undefined;
}

/**
 * The output files the requester marked supporting in output/manifest.json: shown to reviewers, never
 * released. None when the manifest is missing or not valid (every file is then one that may leave).
 */
export async function supportingFiles(outputDir: string): Promise<Set<string>> {
  const manifest = await readManifest(outputDir);
  return new Set("files" in manifest ? Object.entries(manifest.files).flatMap(([rel, notes]) => (notes.supporting === true ? [rel] : [])) : []);
}

/** output/manifest.json, when the requester wrote one: its notes, or what is wrong with it. */
async function readManifest(outputDir: string): Promise<z.infer<typeof OutputManifestSchema> | { problem: string }> {
  const file = path.join(outputDir, OUTPUT_MANIFEST);
  if (!(await exists(file))) return { files: {} };
  try {
    return await readJsonFile(file, OutputManifestSchema, "", 1024 * 1024);
  } catch (error) {
    return { problem: error instanceof Error ? error.message : String(error) };
  }
}

/** At most PER_RULE findings of one rule in one file, then one that counts the rest: the report stays small. */
const PER_RULE = 50;
export function capPerRule(found: Omit<Finding, "blocking">[]): Omit<Finding, "blocking">[] {
  const kept: Omit<Finding, "blocking">[] = [];
  const seen = new Map<Finding["rule"], number>();
  for (const f of found) {
    const n = (seen.get(f.rule) ?? 0) + 1;
    seen.set(f.rule, n);
    if (n <= PER_RULE) kept.push(f);
  }
  for (const [rule, n] of seen) {
    if (n > PER_RULE) kept.push({ rule, row: null, column: null, value: null, message: `and ${n - PER_RULE} more like these` });
  }
  return kept;
}

export async function writeChecks(resultsDir: string, report: ChecksReport): Promise<void> {
  await writeJsonAtomic(path.join(resultsDir, CHECKS_FILE), report);
}

export function checksSummary(report: ChecksReport): { files: number; findings: number; blocking: number } {
  const findings = report.files.flatMap((f) => f.findings);
  // A supporting file never leaves, so nothing in it holds the others back.
  const blocking = report.files.filter((f) => !f.supporting).flatMap((f) => f.findings.filter((x) => x.blocking));
  return { files: report.files.length, findings: findings.length, blocking: blocking.length };
}

/** Regular files under output/ (the owner's copy: links and special files were left behind when it was made). */
async function outputFiles(dir: string): Promise<{ rel: string; full: string; bytes: number }[]> {
  const out: { rel: string; full: string; bytes: number }[] = [];
  const visit = async (at: string, rel: string): Promise<void> => {
    const names = await fs.promises.readdir(at).catch(expected("a folder that went away: nothing in it to check", [] as string[]));
    for (const name of names.sort()) {
      if (out.length >= MAX_FILES) return;
      const full = path.join(at, name);
      const stat = await fs.promises.lstat(full).catch(expected("an entry that went away: nothing to check"));
      if (stat?.isDirectory()) await visit(full, rel ? `${rel}/${name}` : name);
      else if (stat?.isFile()) out.push({ rel: rel ? `${rel}/${name}` : name, full, bytes: stat.size });
    }
  };
  await visit(dir, "");
  return out;
}

/**
 * Rows of the data paths' own tables (CSV and TSV files directly in each, bounded like outputs), so an
 * output that copies them out is seen. Rows with fewer than three filled cells say too little to count.
 */
async function privateRows(dataPaths: DataPath[]): Promise<Map<string, string>> {
  const rows = new Map<string, string>();
  for (const mount of dataMounts(dataPaths)) {
    const names = await fs.promises.readdir(mount.source).catch(expected("a data folder not readable here: nothing to compare with", [] as string[]));
    for (const name of names) {
      const type = path.extname(name).slice(1).toLowerCase();
      if (type !== "csv" && type !== "tsv") continue;
      try {
        const table = await readTable(path.join(mount.source, name), type);
        for (const row of table.rows) {
          if (row.filter((c) => c.trim() !== "").length < 3) continue;
          rows.set(rowKey(row), `${mount.target}/${name}`);
          rows.set(setKey(row), `${mount.target}/${name}`);
        }
      } catch {
        // a data file that is not a readable table has no rows to compare
      }
    }
  }
  return rows;
}
