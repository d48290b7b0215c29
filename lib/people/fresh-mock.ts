// Mock data drawn afresh for each run on it (an owner's dry run, a requester's scq try). A job that
// could recognise the mock (by its bytes, which anyone may read where they are published, or by its
// row count) could behave in a dry run and misbehave on the real data. So each run gets its own copy
// of every mock, in which each CSV/TSV table keeps its header and each column's kind (whole numbers
// within the mock's range, decimals with as many places, dates within its range, a small set of
// categories, or free text of the same shape: letters for letters, digits for digits), but its rows
// are drawn anew, about as many as the mock has, give or take a fifth. Other files are copied as they
// are. What no copy can do, the README says: the real data differs from any mock, and code can tell.
import { randomInt } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { readTable, TABLE_LIMITS, tableType, type Table } from "../disclosure/read-table.ts";
import { ScqError } from "../core/errors.ts";
import type { DataPath } from "../core/schemas.ts";
import { dataMounts, MOCK_CAPS } from "../core/data-paths.ts";
import { walkTree } from "../core/tree.ts";
import { expected } from "../core/expected.ts";

/**
 * A fresh copy of each mock under `into` (a folder the caller made and removes), readable by the
 * unprivileged user jobs run as; the data paths to mount instead, under the same names.
 */
export async function drawMocks(data: DataPath[], into: string): Promise<DataPath[]> {
  const drawn: DataPath[] = [];
  fs.chmodSync(into, 0o755);
  for (const m of dataMounts(data)) {
    if (!(await fs.promises.stat(m.source).catch(expected("a data folder not there: no mock drawn for it")))?.isDirectory()) {
      throw new ScqError(`The mock data "${m.target}" (${m.source}) is not a folder: fix its "mock" in sandbox.data_paths (config.json).`);
    }
    const dest = path.join(into, m.target);
    fs.mkdirSync(dest, { mode: 0o755 });
    for (const e of await walkTree(m.source, MOCK_CAPS)) {
      const from = path.join(m.source, e.rel);
      const to = path.join(dest, e.rel);
      if (e.type === "dir") await fs.promises.mkdir(to, { mode: 0o755 });
      if (e.type !== "file") continue; // links and the like: a mock has no need of them
      const type = tableType(e.rel);
      const table =
        type && type !== "json" && e.size <= TABLE_LIMITS.bytes
          ? await readTable(from, type).catch(expected("not a table: copied as it is"))
          : undefined;
      if (table && table.columns.length > 0)
        await fs.promises.writeFile(to, delimited(drawTable(table), type === "tsv" ? "\t" : ","), { mode: 0o644 });
      else await fs.promises.copyFile(from, to);
      fs.chmodSync(to, 0o644);
    }
    drawn.push({ path: dest, name: m.target });
  }
  return drawn;
}

type Column =
  | { kind: "int"; min: number; max: number }
  | { kind: "decimal"; min: number; max: number; places: number }
  | { kind: "date"; min: number; max: number }
  | { kind: "category"; values: string[] }
  | { kind: "text"; samples: string[] };

const INT = /^-?(0|[1-9]\d{0,14})$/;
const DECIMAL = /^-?\d{1,15}\.(\d{1,10})$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;

/** A table of the same columns and kinds as `table`, with rows drawn anew. */
export function drawTable(table: Table): Table {
  const columns = table.columns.map((_, c) => model(table.rows.map((r) => r[c] ?? "")));
  const n = table.rows.length;
  const count = n === 0 ? 0 : Math.max(1, Math.min(TABLE_LIMITS.rows, Math.round(n * (0.8 + 0.4 * random()))));
  const rows = Array.from({ length: count }, () => columns.map(({ empty, column }) => (random() < empty ? "" : draw(column))));
  return { columns: table.columns, rows };
}

function model(values: string[]): { empty: number; column: Column } {
  const filled = values.filter((v) => v !== "");
  const empty = values.length === 0 ? 0 : (values.length - filled.length) / values.length;
  const numbers = filled.map(Number);
  // (Reduced, not spread: a table may have 200,000 rows, more arguments than a call may take.)
  const min = (xs: number[]) => xs.reduce((a, b) => Math.min(a, b), Infinity);
  const max = (xs: number[]) => xs.reduce((a, b) => Math.max(a, b), -Infinity);
  if (filled.length === 0) return { empty: 1, column: { kind: "category", values: [""] } };
  if (filled.every((v) => INT.test(v))) return { empty, column: { kind: "int", min: min(numbers), max: max(numbers) } };
  if (filled.every((v) => DECIMAL.test(v) || INT.test(v))) {
    const places = max(filled.map((v) => DECIMAL.exec(v)?.[1]?.length ?? 0));
    return { empty, column: { kind: "decimal", min: min(numbers), max: max(numbers), places } };
  }
  const dates = filled.map((v) => (DATE.test(v) ? Date.parse(`${v}T00:00:00Z`) : NaN));
  if (dates.every((d) => !Number.isNaN(d))) return { empty, column: { kind: "date", min: min(dates), max: max(dates) } };
  const distinct = [...new Set(filled)];
  // Values that repeat are categories (a ward, a sex, a code): drawn from the same set. Others are free text.
  if (distinct.length <= Math.max(1, filled.length / 2) && distinct.length < filled.length)
    return { empty, column: { kind: "category", values: distinct } };
  return { empty, column: { kind: "text", samples: distinct } };
}

function draw(column: Column): string {
  switch (column.kind) {
    case "int":
      return String(column.min + Math.floor(random() * (column.max - column.min + 1)));
    case "decimal":
      return (column.min + random() * (column.max - column.min)).toFixed(column.places);
    case "date":
      return new Date(column.min + Math.floor(random() * ((column.max - column.min) / 86_400_000 + 1)) * 86_400_000).toISOString().slice(0, 10);
    case "category":
      return column.values[randomInt(column.values.length)]!;
    case "text":
      return reshape(column.samples[randomInt(column.samples.length)]!);
  }
}

const UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const LOWER = "abcdefghijklmnopqrstuvwxyz";
const DIGITS = "0123456789";

/** Text of the same shape: each letter and digit replaced by a random one of its class, the rest kept. */
function reshape(sample: string): string {
  let out = "";
  for (const ch of sample) {
    const set = UPPER.includes(ch) ? UPPER : LOWER.includes(ch) ? LOWER : DIGITS.includes(ch) ? DIGITS : undefined;
    out += set ? set[randomInt(set.length)]! : ch;
  }
  return out;
}

/** In [0, 1), from the system's random source: nothing a job could seed or replay. */
function random(): number {
  return randomInt(2 ** 47) / 2 ** 47;
}

function delimited(table: Table, delimiter: string): string {
  const quote = (cell: string) => (/["\r\n]/.test(cell) || cell.includes(delimiter) ? `"${cell.replaceAll('"', '""')}"` : cell);
  return [table.columns, ...table.rows].map((row) => row.map(quote).join(delimiter)).join("\n") + "\n";
}
