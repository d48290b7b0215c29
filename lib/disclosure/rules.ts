// The disclosure rules on one table. Each returns findings (never a verdict): they help an owner judge
// an output, and approve nothing. Conventions a table must follow for a rule to see it:
//   counts:    a column named n, count, counts, freq, frequency, number, num, total, cases, patients,
//              people, persons or obs (or ending in _n or _count; for a nested JSON value, the last
//              part of its path). Every cell is read as a count that is one: digits of any script,
//              a number within a millionth of a whole one ("3.0000001"); suppression markers ("<5",
//              "*", "n/a", "..", "c") are passed over, and any other text is reported, never taken
//              as a reason to pass the column over
//   dominance: beside a column of magnitudes X, its largest contributions in X_top1, X_top2, ...
import type { Finding, OutputChecks } from "../core/schemas.ts";
import type { Table } from "./read-table.ts";
import type { ReleasedTable } from "./released.ts";
import { countOf, normalCell, NUMBER, SUPPRESSED } from "./cells.ts";
import { kindFindings, kindOf } from "./table-kinds.ts";
import { cellIntervals, type Equation } from "./bounds.ts";

type Found = Omit<Finding, "blocking">;

const COUNT_NAME = /^(n|count|counts|freq|frequency|number|num|total|cases|patients|people|persons|obs)$|_(n|count)$/i;
const IDENTIFIER_NAME =
  /^(id|.*_id|patient|nhs_?(number|no)?|ssn|mrn|e-?mail|email_?address|name|full_?name|first_?name|last_?name|surname|dob|date_?of_?birth|birth_?date|post_?code|zip(_?code)?|address|phone|phone_?number)$/i;
const EMAIL = /^[^\s@]+@[^\s@]+\.[a-z]{2,}$/i;
const UK_POSTCODE = /^[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}$/i;
export function tableFindings(table: Table, settings: OutputChecks, dataRows: Map<string, string>): Found[] {
  const kind = kindOf(table);
  return [
    ...countFindings(table, kind.counts, settings),
    ...kindFindings(table, kind, settings),
    ...dominanceFindings(table, settings),
    ...rowLevelFindings(table, settings),
    ...dataRowFindings(table, dataRows),
    ...recoverableFindings(table, settings),
  ];
}

const TOTAL_NAME = /^(total|totals|all|sum|overall)$/i;

/**
 * Suppressed cells a reader can work out: the only suppressed cell of a row whose total is published
 * (a column named total, all, sum or overall), or of a column whose total is (a row so labelled), or
 * of the total column when the grand total is. The total less the other cells gives it back:
 * suppression needs a second suppressed cell beside it. A cell worked out counts as known, and the
 * lines are tried again until nothing more comes out: a chain (two suppressed in a row, but one of
 * them alone in its column) is solved as a reader would solve it. What is left is solved all at once
 * (boundFindings): a block of suppressed cells can still be pinned down by its totals together.
 */
function recoverableFindings(table: Table, settings: OutputChecks): Found[] {
  const found: Found[] = [];
  const cells = table.rows.map((row) => row.map(normalCell));
  const lines = ownLines(table, cells);
  const at = (cell: Cell | string) => textOf(cells, cell);
  const workedOut = new Set<string>();
  for (let progress = true; progress;) {
    progress = false;
    for (const { total, members, what } of lines) {
      const got = recover(at(total), members.map(at));
      if (!got) continue;
      const { row, column } = members[got.at]!;
      const chained = members.some((m) => workedOut.has(`${m.row} ${m.column}`));
      found.push({
        rule: "recoverable",
        row: row + 1,
        column: table.columns[column] ?? null,
        value: cells[row]![column]!,
        message: `the only suppressed cell of its ${what}${chained ? ", once the cells worked out before are filled in" : ""}: the ${what}'s total (${at(total)}) less the other cells gives ${got.value}`,
      });
      cells[row]![column] = String(got.value);
      workedOut.add(`${row} ${column}`);
      progress = true;
    }
  }
  return [...found, ...boundFindings(table, cells, lines, settings)];
}

/** The table's own totals as lines: a row's cells and its total column, a column's cells and its Total row, the total column and the grand total. */
function ownLines(table: Table, cells: string[][]): Line[] {
  const totalColumn = table.columns.findIndex((name) => TOTAL_NAME.test(normalCell(name)));
  const totalRow = cells.findIndex((row) => row.some((cell) => TOTAL_NAME.test(cell)));
  // The columns of values: those whose cells are numbers or markers, the total aside.
  const values = table.columns
    .map((_, c) => c)
    .filter(
      (c) =>
        c !== totalColumn &&
        cells.some((row) => NUMBER.test(row[c] ?? "")) &&
        cells.every((row) => NUMBER.test(row[c] ?? "") || SUPPRESSED.test(row[c] ?? "") || row[c] === ""),
    );
  const lines: Line[] = [];
  const others = cells.flatMap((_, r) => (r === totalRow ? [] : [r]));
  if (totalColumn >= 0)
    for (const r of others)
      lines.push({ total: { row: r, column: totalColumn }, members: values.map((column) => ({ row: r, column })), what: "row" });
  if (totalRow >= 0)
    for (const column of [...values, ...(totalColumn >= 0 ? [totalColumn] : [])])
      lines.push({ total: { row: totalRow, column }, members: others.map((row) => ({ row, column })), what: "column" });
  return lines;
}

type Cell = { row: number; column: number };
/** A total (a cell of the table, or a number published elsewhere) and the cells that add up to it. */
type Line = { total: Cell | string; members: Cell[]; what: "row" | "column" };

/** What a line's total or member says: the cell's text, or the number published elsewhere. */
const textOf = (cells: string[][], cell: Cell | string) => (typeof cell === "string" ? cell : (cells[cell.row]![cell.column] ?? ""));

/**
 * The suppressed cells left after the chains, solved all at once: every line's equation together,
 * no count below zero. A cell the equations leave one value is recoverable; one that may be a small
 * count and that they pin within less than the threshold (min_count) is narrow-bounds: the reader
 * knows it to within a few people.
 */
function boundFindings(
  table: Table,
  cells: string[][],
  lines: Line[],
  s: OutputChecks,
  source = "its row and column totals, taken together,",
): Found[] {
  const unknowns: Cell[] = [];
  const unknownOf = new Map<string, number>();
  const term = ({ row, column }: Cell, coef: number) => {
    const key = `${row} ${column}`;
    if (!unknownOf.has(key)) unknownOf.set(key, unknowns.push({ row, column }) - 1);
    return { unknown: unknownOf.get(key)!, coef };
  };
  const equations: Equation[] = [];
  for (const { total, members } of lines) {
    if (typeof total === "string" && !NUMBER.test(total)) continue;
    const signed = [{ cell: total, sign: -1 }, ...members.map((cell) => ({ cell, sign: 1 }))];
    const texts = signed.map(({ cell }) => textOf(cells, cell));
    if (!texts.every((v) => NUMBER.test(v) || SUPPRESSED.test(v)) || !texts.some((v) => SUPPRESSED.test(v))) continue;
    const equation: Equation = { terms: [], constant: 0 };
    signed.forEach(({ cell, sign }, k) => {
      if (SUPPRESSED.test(texts[k]!) && typeof cell !== "string") equation.terms.push(term(cell, sign));
      else equation.constant += sign * Number(texts[k]);
    });
    equations.push(equation);
  }
  if (unknowns.length === 0) return [];
  const intervals = cellIntervals(unknowns.length, equations) ?? [];
  return intervals.flatMap(({ lo, hi }, k): Found[] => {
    const { row, column } = unknowns[k]!;
    const where = { row: row + 1, column: table.columns[column] ?? null, value: cells[row]![column]! };
    const [low, high] = [+lo.toFixed(6), +hi.toFixed(6)];
    if (hi - lo <= 1e-6) return [{ rule: "recoverable", ...where, message: `${source} leave it one value: ${low}` }];
    // Only a cell that may be a small count: one known to be at least the threshold is no one's secret.
    if (hi - lo < s.min_count && lo < s.min_count)
      return [
        {
          rule: "narrow-bounds",
          ...where,
          message: `${source} put it between ${low} and ${high}: less than the threshold (${s.min_count}) apart`,
        },
      ];
    return [];
  });
}

/**
 * What a published total gives back of a line of cells (a row's or a column's): its one suppressed
 * cell (where, and its value), when exactly one is and every other cell is a number.
 */
function recover(total: string, members: string[]): { at: number; value: number } | undefined {
  if (!NUMBER.test(total) || !members.every((v) => NUMBER.test(v) || SUPPRESSED.test(v))) return undefined;
  const hidden = members.flatMap((v, k) => (SUPPRESSED.test(v) ? [k] : []));
  if (hidden.length !== 1) return undefined;
  const known = members.reduce((sum, v, k) => (k === hidden[0] ? sum : sum + Number(v)), 0);
  return { at: hidden[0]!, value: +(Number(total) - known).toFixed(6) };
}

/** Is this column one of counts, by its name (a nested JSON value's by the last part of its path)? */
export function isCountColumn(column: string): boolean {
  return COUNT_NAME.test(normalCell(column).split(".").at(-1) ?? "");
}

/**
 * Small, zero and unrounded counts in count columns: named as counts, or counts by the table's kind
 * (a frequency table's cells, a histogram's bars, a survival table's people at risk). Rounding as a
 * protection (output_checks.rounding_protects): in a table whose every count (four or more) is a
 * multiple of `rounding`, a small count only bounds the true one, so it is advice (rounded-count).
 */
function countFindings(table: Table, byKind: Set<number>, s: OutputChecks): Found[] {
  const found: Found[] = [];
  const columns = table.columns.flatMap((column, c) => (isCountColumn(column) || byKind.has(c) ? [{ column, c }] : []));
  const counts = columns.flatMap(({ c }) => table.rows.map((row) => countOf(normalCell(row[c] ?? ""))).filter((v) => typeof v === "number"));
  const rounded = s.rounding !== null && s.rounding_protects && counts.length >= 4 && counts.every((v) => v % s.rounding! === 0);
  for (const { column, c } of columns) {
    const text: string[] = [];
    table.rows.forEach((row, i) => {
      const raw = row[c] ?? "";
      const count = countOf(normalCell(raw));
      if (count === "marker") return;
      if (count === "text") {
        // A mean or a rate in a column named like counts is no count; anything else is reported below.
        if (!NUMBER.test(normalCell(raw))) text.push(raw.trim());
        return;
      }
      const v = count;
      const at = { row: i + 1, column, value: raw.trim() };
      if (rounded && v < s.min_count) {
        const half = Math.floor(s.rounding! / 2);
        found.push({
          rule: "rounded-count",
          ...at,
          message: `count ${v}, in a table rounded to multiples of ${s.rounding}: the true count is ${Math.max(0, v - half)}–${v + half}, which may be below the minimum of ${s.min_count}; rounding protects it (output_checks.rounding_protects)`,
        });
        return;
      }
      if (v === 0) found.push({ rule: "zero-count", ...at, message: `a zero count may disclose that nobody has this combination` });
      else if (v < s.min_count)
        found.push({ rule: "small-count", ...at, message: `count ${v} is below the minimum of ${s.min_count} (output_checks.min_count)` });
      if (s.rounding !== null && v % s.rounding !== 0) {
        found.push({ rule: "unrounded", ...at, message: `count ${v} is not a multiple of ${s.rounding} (output_checks.rounding)` });
      }
    });
    if (text.length > 0)
      found.push({
        rule: "not-checked",
        row: null,
        column,
        value: text[0]!.slice(0, 50),
        message: `${text.length} cell(s) of this count column are neither counts nor suppression markers (the first: "${text[0]!.slice(0, 50)}"): read them yourself`,
      });
  }
  return found;
}

/**
 * Dominance, where a column X has its largest contributions beside it in X_top1, X_top2, ... (as ACRO
 * checks it): the p % rule, a total whose contributions after its two largest add up to less than p %
 * of the largest (the second largest contributor could then estimate the largest within p %), and the
 * n-k rule, the top n contributions over k % of the total.
 */
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
      const at = { row: i + 1, column, value: (row[c] ?? "").trim() };
      const [first, second] = top;
      if (first !== undefined && tops.length >= 2) {
        const rest = Math.max(0, total - first - (second ?? 0));
        if ((rest / first) * 100 < s.dominance.p) {
          found.push({
            rule: "dominance-p",
            ...at,
            message: `after its two largest contributions, the rest of this total (${+rest.toFixed(6)}) is ${pct(rest, first)} of the largest: under ${s.dominance.p} % (output_checks.dominance.p), the second largest contributor could estimate the largest`,
          });
        }
      }
      const topN = top.slice(0, s.dominance.n).reduce((a, b) => a + b, 0);
      if (top.length >= s.dominance.n && (topN / total) * 100 >= s.dominance.k) {
        found.push({
          rule: "dominance-nk",
          ...at,
          message: `the top ${s.dominance.n} contributors are ${pct(topN, total)} of this total (${s.dominance.k} % or more)`,
        });
      }
    });
  }
  return found;
}

/** A count a file's or folder's name states ("ward_n=3.csv", "cases-2/"): named counts are counts wherever they are written. */
const NAMED_COUNT = /(?:^|[^a-z0-9])(n|count|counts|cases|patients|people|persons|total|obs)\s*[=_:\- ]\s*(\d+)(?![\d.])/gi;

export function countInName(rel: string, s: OutputChecks): Found[] {
  const found: Found[] = [];
  for (const segment of normalCell(rel).split("/")) {
    for (const [, word, digits] of segment.matchAll(NAMED_COUNT)) {
      const v = Number(digits);
      const at = { row: null, column: null, value: segment };
      if (v === 0) found.push({ rule: "zero-count", ...at, message: `the name "${segment}" states ${word} ${v}` });
      else if (v < s.min_count)
        found.push({
          rule: "small-count",
          ...at,
          message: `the name "${segment}" states ${word} ${v}, below the minimum of ${s.min_count} (output_checks.min_count)`,
        });
    }
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

/** Most cells compared for near-copies in one table (each row is tried once for each cell left out). */
const NEAR_COPY_CELLS = 2_000_000;

/**
 * Rows that are rows of a data path's own tables, copied out: as they are, with their columns in
 * another order, or with one column added. `dataRows`: a row's key (rowKey, and setKey) → its file.
 */
function dataRowFindings(table: Table, dataRows: Map<string, string>): Found[] {
  if (dataRows.size === 0) return [];
  const near = table.rows.length * table.columns.length <= NEAR_COPY_CELLS;
  const fileOf = (row: string[]): string | undefined => {
    const exact = dataRows.get(rowKey(row));
    if (exact || !near) return exact;
    const cells = row.map(normalCell).filter((c) => c !== "");
    const whole = dataRows.get(setKey(cells));
    if (whole || cells.length < 4) return whole;
    for (let k = 0; k < cells.length; k += 1) {
      const file = dataRows.get(setKey(cells.filter((_, j) => j !== k)));
      if (file) return file;
    }
    return undefined;
  };
  const matches = table.rows.map((row, i) => ({ i, file: fileOf(row) })).filter((m) => m.file !== undefined);
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
 * Differencing: the same file name released to the same requester before, with cells that differ by
 * more than 0 and less than min_count; subtracting one release from the other discloses it. Rows are
 * matched by their labels (the cells of the columns that are not numbers), columns by name, so the
 * same table reordered, or with a column added, is compared cell by cell all the same; a table with
 * no labels is compared row by row.
 */
export function differencingFindings(table: Table, priors: ReleasedTable[], s: OutputChecks): Found[] {
  const found: Found[] = [];
  const numeric = (t: { columns: string[]; rows: string[][] }, c: number) =>
    t.rows.every((r) => normalCell(r[c] ?? "") === "" || NUMBER.test(normalCell(r[c] ?? "")));
  for (const prior of priors) {
    const shared = table.columns.map((name, c) => ({ name, c, p: prior.columns.indexOf(name) })).filter((x) => x.p >= 0);
    if (shared.length === 0) continue;
    const labels = shared.filter((x) => !numeric(table, x.c) || !numeric(prior, x.p));
    const keyOf = (row: string[], pick: (x: (typeof shared)[number]) => number) => labels.map((x) => normalCell(row[pick(x)] ?? "")).join("\u0001");
    const before = new Map<string, string[]>();
    prior.rows.forEach((row, i) => before.set(labels.length > 0 ? keyOf(row, (x) => x.p) : String(i), row));
    table.rows.forEach((row, i) => {
      const match = before.get(labels.length > 0 ? keyOf(row, (x) => x.c) : String(i));
      if (!match) return;
      for (const { name, c, p } of shared) {
        const now = normalCell(row[c] ?? "");
        const was = normalCell(match[p] ?? "");
        if (!NUMBER.test(now) || !NUMBER.test(was)) continue;
        const d = Math.abs(Number(now) - Number(was));
        if (d > 0 && d < s.min_count) {
          found.push({
            rule: "differencing",
            row: i + 1,
            column: name,
            value: now,
            message: `differs by ${+d.toFixed(6)} from the same cell (${was}) of the table released to this requester by job ${prior.uid.slice(-8)}`,
          });
        }
      }
    });
  }
  return found;
}

/**
 * Suppressed cells the requester can work out from a total released to them before: the only
 * suppressed cell of a row whose total an earlier release of this file published (matched by the
 * row's labels), or of a column whose total it published (its Total row). Then those totals and the
 * table's own are solved all at once (boundFindings): what only they together give is flagged too.
 * `gave` says where the totals come from (exposedBy turns the question round).
 */
export function recoverableFromReleased(
  table: Table,
  priors: ReleasedTable[],
  settings: OutputChecks,
  gave = (jobs: string[]) => `released before by job ${jobs.join(", job ")}`,
): Found[] {
  const found: Found[] = [];
  const cells = table.rows.map((row) => row.map(normalCell));
  const labels = table.columns
    .map((_, c) => c)
    .filter((c) => cells.some((row) => row[c] !== "" && !NUMBER.test(row[c]!) && !SUPPRESSED.test(row[c]!)));
  const values = table.columns.map((_, c) => c).filter((c) => !labels.includes(c) && !TOTAL_NAME.test(normalCell(table.columns[c] ?? "")));
  const ownTotalColumn = table.columns.some((name) => TOTAL_NAME.test(normalCell(name)));
  const ownTotalRow = cells.some((row) => row.some((v) => TOTAL_NAME.test(v)));
  const released: Line[] = [];
  const from = new Set<string>();
  for (const prior of priors) {
    const priorCells = prior.rows.map((row) => row.map(normalCell));
    const by = (name: string) => prior.columns.findIndex((p) => normalCell(p) === normalCell(name));
    const priorTotal = prior.columns.findIndex((name) => TOTAL_NAME.test(normalCell(name)));
    const job = prior.uid.slice(-8);
    if (!ownTotalColumn && priorTotal >= 0 && labels.length > 0 && labels.every((c) => by(table.columns[c]!) >= 0)) {
      const totals = new Map(priorCells.map((row) => [labels.map((c) => row[by(table.columns[c]!)] ?? "").join("\u0001"), row[priorTotal] ?? ""]));
      cells.forEach((row, r) => {
        const members = values.map((c) => row[c] ?? "");
        const total = totals.get(labels.map((c) => row[c] ?? "").join("\u0001"));
        if (total !== undefined) {
          released.push({ total, members: values.map((column) => ({ row: r, column })), what: "row" });
          from.add(job);
        }
        const got = total === undefined ? undefined : recover(total, members);
        if (!got) return;
        const c = values[got.at]!;
        const message = `the only suppressed cell of its row, whose total (${total}) was ${gave([job])}: less the other cells it gives ${got.value}`;
        found.push({ rule: "recoverable", row: r + 1, column: table.columns[c] ?? null, value: row[c]!, message });
      });
    }
    const priorTotalRow = priorCells.find((row) => row.some((v) => TOTAL_NAME.test(v)));
    if (!ownTotalRow && priorTotalRow)
      for (const c of values) {
        const at = by(table.columns[c]!);
        const total = at >= 0 ? (priorTotalRow[at] ?? "") : "";
        const members = cells.map((row) => row[c] ?? "");
        if (total !== "") {
          released.push({ total, members: cells.map((_, row) => ({ row, column: c })), what: "column" });
          from.add(job);
        }
        const got = recover(total, members);
        if (!got) continue;
        const r = got.at;
        const message = `the only suppressed cell of its column, whose total (${total}) was ${gave([job])}: less the other cells it gives ${got.value}`;
        found.push({ rule: "recoverable", row: r + 1, column: table.columns[c] ?? null, value: members[r]!, message });
      }
  }
  if (released.length === 0) return found;
  // The totals released before and the table's own, solved together: only what neither the table
  // alone (recoverableFindings says that) nor one total at a time (above) gives.
  const said = new Set([...found, ...recoverableFindings(table, settings)].map((f) => `${f.row} ${f.column}`));
  const source = `with the totals ${gave([...from])}, its row and column totals, taken together,`;
  const together = boundFindings(table, cells, [...ownLines(table, cells), ...released], settings, source);
  return [...found, ...together.filter((f) => !said.has(`${f.row} ${f.column}`))];
}

/**
 * The same question turned round: suppressed cells of a table released before that this table's
 * totals give away. A block released with its totals left out, then those totals in a table of their
 * own, is safe each time alone; checked only one way, the second release would pass.
 */
export function exposedBy(table: Table, priors: ReleasedTable[], settings: OutputChecks): Found[] {
  const self: ReleasedTable = { uid: "", at: "", columns: table.columns, rows: table.rows };
  return priors
    .filter((prior) => prior.rows.some((row) => row.some((v) => SUPPRESSED.test(normalCell(v)))))
    .flatMap((prior) =>
      recoverableFromReleased(prior, [self], settings, () => "given by this table").map((f) => ({
        rule: f.rule,
        row: null,
        column: null,
        value: null,
        message: `gives away a suppressed cell of the table released before by job ${prior.uid.slice(-8)}, row ${f.row}, column ${f.column}: ${f.message}`,
      })),
    );
}

/** A row as a comparable key: cells trimmed; rows of one or two short cells say too little to count. */
export function rowKey(row: string[]): string {
  return row.map((c) => c.trim()).join("\u0001");
}

/** A row's filled cells as a key that ignores their order (kept beside rowKey, told apart by its first character). */
export function setKey(cells: string[]): string {
  return `\u0002${cells
    .map(normalCell)
    .filter((c) => c !== "")
    .sort()
    .join("\u0001")}`;
}

function pct(part: number, total: number): string {
  return `${((part / total) * 100).toFixed(1)} %`;
}
