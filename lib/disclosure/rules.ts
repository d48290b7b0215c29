// The disclosure rules on one table. Each returns findings (never a verdict): they help an owner judge
// an output, and approve nothing. Conventions a table must follow for a rule to see it:
//   counts:    a column named n, count, counts, freq, frequency, number, num, total, cases, patients,
//              people, persons or obs (or ending in _n or _count) whose values are all whole numbers
//   dominance: beside a column of magnitudes X, its largest contributions in X_top1, X_top2, ...
import type { Finding, OutputChecks } from "../core/schemas.ts";
import type { Table } from "./read-table.ts";
import type { ReleasedTable } from "./released.ts";

type Found = Omit<Finding, "blocking">;

const COUNT_NAME = /^(n|count|counts|freq|frequency|number|num|total|cases|patients|people|persons|obs)$|_(n|count)$/i;
const IDENTIFIER_NAME =
  /^(id|.*_id|patient|nhs_?(number|no)?|ssn|mrn|e-?mail|email_?address|name|full_?name|first_?name|last_?name|surname|dob|date_?of_?birth|birth_?date|post_?code|zip(_?code)?|address|phone|phone_?number)$/i;
const EMAIL = /^[^\s@]+@[^\s@]+\.[a-z]{2,}$/i;
const UK_POSTCODE = /^[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}$/i;
const WHOLE = /^\s*\d+\s*$/;
const NUMBER = /^\s*-?\d+(\.\d+)?\s*$/;

export function tableFindings(table: Table, settings: OutputChecks, dataRows: Map<string, string>): Found[] {
  return [
    ...countFindings(table, settings),
    ...dominanceFindings(table, settings),
    ...rowLevelFindings(table, settings),
    ...dataRowFindings(table, dataRows),
  ];
}

/** Small, zero and unrounded counts in count columns. */
function countFindings(table: Table, s: OutputChecks): Found[] {
  const found: Found[] = [];
  table.columns.forEach((column, c) => {
    if (!COUNT_NAME.test(column.trim())) return;
    const values = table.rows.map((r) => r[c] ?? "");
    if (!values.every((v) => v.trim() === "" || WHOLE.test(v))) return;
    values.forEach((raw, i) => {
      if (raw.trim() === "") return;
      const v = Number(raw);
      const at = { row: i + 1, column, value: raw.trim() };
      if (v === 0) found.push({ rule: "zero-count", ...at, message: `a zero count may disclose that nobody has this combination` });
      else if (v < s.min_count)
        found.push({ rule: "small-count", ...at, message: `count ${v} is below the minimum of ${s.min_count} (output_checks.min_count)` });
      if (s.rounding !== null && v % s.rounding !== 0) {
        found.push({ rule: "unrounded", ...at, message: `count ${v} is not a multiple of ${s.rounding} (output_checks.rounding)` });
      }
    });
  });
  return found;
}

/** p % and n-k dominance, where a column X has its top contributions beside it in X_top1, X_top2, ... */
function dominanceFindings(table: Table, s: OutputChecks): Found[] {
  const found: Found[] = [];
  const index = new Map(table.columns.map((c, i) => [c.trim(), i]));
  for (const [column, c] of index) {
    const tops: number[] = [];
    for (let k = 1; index.has(`${column}_top${k}`); k += 1) tops.push(index.get(`${column}_top${k}`)!);
    if (tops.length === 0) continue;
    table.rows.forEach((row, i) => {
      const total = Number(row[c]);
      if (!NUMBER.test(row[c] ?? "") || total <= 0) return;
      const top = tops.map((t) => Number(row[t])).filter((v) => Number.isFinite(v) && v > 0);
      const first = top[0] ?? 0;
      const at = { row: i + 1, column, value: (row[c] ?? "").trim() };
      if ((first / total) * 100 > s.dominance.p) {
        found.push({ rule: "dominance-p", ...at, message: `one contributor is ${pct(first, total)} of this total (over ${s.dominance.p} %)` });
      }
      const topN = top.slice(0, s.dominance.n).reduce((a, b) => a + b, 0);
      if (top.length >= s.dominance.n && (topN / total) * 100 > s.dominance.k) {
        found.push({
          rule: "dominance-nk",
          ...at,
          message: `the top ${s.dominance.n} contributors are ${pct(topN, total)} of this total (over ${s.dominance.k} %)`,
        });
      }
    });
  }
  return found;
}

/** Tables that look like row-level data: many rows, or columns that identify people. */
function rowLevelFindings(table: Table, s: OutputChecks): Found[] {
  const found: Found[] = [];
  if (table.rows.length > s.max_rows) {
    found.push({
      rule: "row-count",
      row: null,
      column: null,
      value: String(table.rows.length),
      message: `${table.rows.length} rows: more than ${s.max_rows} (output_checks.max_rows) looks like row-level data`,
    });
  }
  table.columns.forEach((column, c) => {
    if (IDENTIFIER_NAME.test(column.trim())) {
      found.push({ rule: "identifier-column", row: null, column, value: null, message: `a column named "${column}" usually identifies people` });
      return;
    }
    const values = table.rows.map((r) => (r[c] ?? "").trim()).filter((v) => v !== "");
    for (const [what, pattern] of [
      ["email addresses", EMAIL],
      ["postcodes", UK_POSTCODE],
    ] as const) {
      const hits = values.filter((v) => pattern.test(v));
      if (hits.length >= 3 && hits.length >= values.length / 2) {
        found.push({ rule: "identifier-values", row: null, column, value: hits[0]!, message: `${hits.length} of its values look like ${what}` });
      }
    }
  });
  return found;
}

/** Rows that are rows of a data path's own tables, copied out. `dataRows`: a row's key → the file it is in. */
function dataRowFindings(table: Table, dataRows: Map<string, string>): Found[] {
  if (dataRows.size === 0) return [];
  const matches = table.rows.map((row, i) => ({ i, file: dataRows.get(rowKey(row)) })).filter((m) => m.file !== undefined);
  if (matches.length === 0) return [];
  const first = matches[0]!;
  return [
    {
      rule: "data-rows",
      row: first.i + 1,
      column: null,
      value: null,
      message: `${matches.length} row(s) equal rows of the private data (${first.file}, and maybe others)`,
    },
  ];
}

/**
 * Differencing: the same file name and shape released to the same requester before, with cells that
 * differ by more than 0 and less than min_count; subtracting one release from the other discloses it.
 */
export function differencingFindings(table: Table, priors: ReleasedTable[], s: OutputChecks): Found[] {
  const found: Found[] = [];
  for (const prior of priors) {
    if (prior.rows.length !== table.rows.length || prior.columns.join("\u0001") !== table.columns.join("\u0001")) continue;
    table.rows.forEach((row, i) => {
      row.forEach((raw, c) => {
        const before = prior.rows[i]?.[c] ?? "";
        if (!NUMBER.test(raw) || !NUMBER.test(before)) return;
        const d = Math.abs(Number(raw) - Number(before));
        if (d > 0 && d < s.min_count) {
          found.push({
            rule: "differencing",
            row: i + 1,
            column: table.columns[c] ?? null,
            value: raw.trim(),
            message: `differs by ${d} from the same cell (${before.trim()}) of the table released to this requester by job ${prior.uid.slice(-8)}`,
          });
        }
      });
    });
  }
  return found;
}

/** A row as a comparable key: cells trimmed; rows of one or two short cells say too little to count. */
export function rowKey(row: string[]): string {
  return row.map((c) => c.trim()).join("\u0001");
}

function pct(part: number, total: number): string {
  return `${((part / total) * 100).toFixed(1)} %`;
}
