// Reading a job's output file as a table, with limits, because the job wrote it and may have written
// it to hurt the reader: a size cap before anything is read, csv-parse with a cap on each record's
// length and on the number of lines, a column cap, and for JSON a nesting-depth scan before JSON.parse
// (whose recursion a deeply nested document would exhaust).
import { readUntrustedFile } from "../core/fsutil.ts";
import { NotATableError } from "../core/errors.ts";

export interface Table {
  columns: string[];
  /** Data rows, each as long as `columns` (short rows padded with ""). */
  rows: string[][];
  /** Rows (the header included) not as wide as the widest: a CSV whose lines differ in width. */
  ragged?: number;
}

export const TABLE_LIMITS = {
  /** Files larger than this are not parsed. */
  bytes: 32 * 1024 * 1024,
  /** Longest record (line) csv-parse accepts. */
  recordChars: 1024 * 1024,
  /** Rows read; a table that has more is reported as having more than this. */
  rows: 200_000,
  columns: 1_000,
  /** Deepest JSON nesting read. */
  depth: 64,
};

/** The table format a file's name says it holds (CSV, TSV, JSON), or undefined for any other file. */
export function tableType(name: string): "csv" | "tsv" | "json" | undefined {
  const type = name.slice(name.lastIndexOf(".") + 1).toLowerCase();
  return name.includes(".") && (type === "csv" || type === "tsv" || type === "json") ? type : undefined;
}

/** The table in a CSV, TSV or JSON (array of records) file; NotATableError says why one cannot be read. */
export async function readTable(file: string, type: "csv" | "tsv" | "json"): Promise<Table> {
  const data = await readUntrustedFile(file, TABLE_LIMITS.bytes);
  return type === "json" ? jsonTable(data.toString("utf8")) : delimitedTable(data, type === "tsv" ? "\t" : ",");
}

async function delimitedTable(data: Buffer, delimiter: string): Promise<Table> {
  // Loaded when a table is read, not with every command and pass that merely may read one.
  const { parse } = await import("csv-parse/sync");
  let records: string[][];
  try {
    records = parse(data, {
      delimiter,
      bom: true,
      relax_column_count: true,
      skip_empty_lines: true,
      max_record_size: TABLE_LIMITS.recordChars,
      to_line: TABLE_LIMITS.rows + 1,
    });
  } catch (error) {
    throw new NotATableError(`not valid ${delimiter === "\t" ? "TSV" : "CSV"}: ${(error as Error).message}`);
  }
  const [header, ...rows] = records;
  if (!header) return { columns: [], rows: [] };
  // As wide as its widest line, whatever the first says: a header of one field must not hide the rest
  // of every row from the checks and the preview. Columns the header does not name are numbered.
  const width = records.reduce((most, r) => Math.max(most, r.length), 0);
  if (width > TABLE_LIMITS.columns) throw new NotATableError(`more than ${TABLE_LIMITS.columns} columns`);
  const columns = [...header, ...Array.from({ length: width - header.length }, (_, k) => `column_${header.length + k + 1}`)];
  const ragged = records.filter((r) => r.length !== width).length;
  return { columns, rows: rows.map((r) => pad(r, width)), ...(ragged > 0 ? { ragged } : {}) };
}

function jsonTable(text: string): Table {
  const depth = maxDepth(text);
  if (depth > TABLE_LIMITS.depth) throw new NotATableError(`JSON nested more than ${TABLE_LIMITS.depth} deep`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new NotATableError(`not valid JSON: ${(error as Error).message}`);
  }
  // An array of records, or one record; either way every value nested in a record is a column of its
  // own, named by its path ("stats.n", "groups.0.count"): a count nested in a record is seen as one.
  const isRecord = (r: unknown) => r !== null && typeof r === "object" && !Array.isArray(r);
  if (!(isRecord(value) || (Array.isArray(value) && value.every(isRecord)))) {
    throw new NotATableError("JSON, but neither a record nor an array of records");
  }
  const records = (Array.isArray(value) ? value : [value]).slice(0, TABLE_LIMITS.rows).map((r) => flatten(r));
  const columns = [...new Set(records.flatMap((r) => [...r.keys()]))];
  if (columns.length > TABLE_LIMITS.columns) throw new NotATableError(`more than ${TABLE_LIMITS.columns} columns`);
  return { columns, rows: records.map((r) => columns.map((c) => r.get(c) ?? "")) };
}

/** A JSON value's leaves by path (depth is bounded before parsing); a record with too many is cut at the column cap. */
function flatten(value: unknown, prefix = "", out = new Map<string, string>()): Map<string, string> {
  if (out.size > TABLE_LIMITS.columns) return out;
  if (value !== null && typeof value === "object") {
    const entries = Array.isArray(value) ? value.map((v, i) => [String(i), v] as const) : Object.entries(value);
    if (entries.length === 0 && prefix !== "") out.set(prefix, "");
    for (const [key, v] of entries) flatten(v, prefix ? `${prefix}.${key}` : key, out);
  } else if (prefix !== "")
    out.set(prefix, typeof value === "string" ? value : typeof value === "number" || typeof value === "boolean" ? String(value) : "");
  return out;
}

/** The deepest nesting of arrays and objects, counted without parsing (brackets inside strings skipped). */
function maxDepth(text: string): number {
  let depth = 0;
  let most = 0;
  let inString = false;
  for (let i = 0; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92)
        i += 1; // backslash: skip the escaped character
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 91 || c === 123) most = Math.max(most, ++depth);
    else if (c === 93 || c === 125) depth -= 1;
  }
  return most;
}

function pad(row: string[], length: number): string[] {
  return row.length >= length ? row : [...row, ...Array<string>(length - row.length).fill("")];
}
