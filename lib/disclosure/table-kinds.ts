// What kind of statistic a table holds, and the checks that kind needs beyond counts, as ACRO types
// its outputs: a frequency table (its numbers are counts), a histogram (its bars are counts; its outer
// edges may be the data's own minimum and maximum), a survival table (the people still at risk are
// counts), a regression (its residual degrees of freedom), a correlation matrix (the n behind it),
// and minima and maxima anywhere (each is one person's own value). Count checks themselves are in
// rules.ts; this module says which columns hold counts and finds what only a kind can have.
import type { Finding, OutputChecks } from "../core/schemas.ts";
import { countOf, normalCell, numberOf, SUPPRESSED } from "./cells.ts";
import type { Table } from "./read-table.ts";

type Found = Omit<Finding, "blocking">;

type Dof = { row: number | null; column: string | null; value: number };

/** A table's kind, the columns of it that hold counts (beside any named as counts, which rules.ts knows), and what typing it found. */
type Kind =
  | { kind: "histogram"; counts: Set<number>; edges: number[] }
  | { kind: "regression"; counts: Set<number>; dofs: Dof[] }
  | { kind: "frequency" | "survival" | "correlation" | "other"; counts: Set<number> };

/** Column names of numbers that are no counts: a frequency table's cells are counts only where nothing says otherwise. */
const MEASURE_NAME =
  /mean|avg|average|median|mode|sd|std|var|rate|ratio|pct|percent|proportion|share|prop|score|age|year|month|day|date|time|id$|_id|^id|index|rank|min|max|sum|amount|income|cost|price|value|weight|height|bmi|p_?value|coef|estimate|lower|upper|ci$|se$/i;
/** A survival table's risk set: statsmodels' "num at risk", R's n.risk, lifelines' at_risk. */
const AT_RISK = /^(num(ber)? at risk|n[._ ]?risk|at[._ ]risk|n at risk|risk[._ ]set)$/i;
/** A histogram's bin edges, as two columns (bin_left/bin_right, lower/upper, from/to) or one (edge). */
const LOWER_EDGE = /^(bin[._ ]?)?(left|lower|start|from|lo|low)([._ ]?edge)?$/i;
const UPPER_EDGE = /^(bin[._ ]?)?(right|upper|end|to|hi|high)([._ ]?edge)?$/i;
const ONE_EDGE = /^(bin[._ ]?)?edges?$|^bin[._ ]?(start|left)$/i;
/** An interval label, as pandas' cut writes one: "(10.5, 20.0]", "[0, 5)". */
const INTERVAL = /^[([]\s*(-?[\d.]+(?:e[-+]?\d+)?)\s*,\s*(-?[\d.]+(?:e[-+]?\d+)?)\s*[\])]$/i;
/** Residual degrees of freedom, as a label before its value (statsmodels' summary) or a column's name. */
const DOF_LABEL = /^(df residuals?|residual df|df[._ ]?resid(uals?)?|residual degrees of freedom|degrees of freedom \(residual\))\s*:?$/i;
const DOF_COLUMN = /^(df[._ ]?resid(uals?)?|residual[._ ]df|dof)$/i;
const NOBS_LABEL = /^(no\. observations|n[._ ]?obs(ervations)?|number of obs(ervations)?)\s*:?$/i;
const DF_MODEL_LABEL = /^(df model|model df)\s*:?$/i;
const COEFFICIENT = /^(coef\.?|coefficients?|estimate|beta)$/i;
const STD_ERROR = /^(std\.? ?err(or)?\.?|se|standard error)$/i;
/** Minima and maxima: a column so named ("max", "age_min"), or a row so labelled (pandas' describe). */
const ENDPOINT = /^(min|max|minimum|maximum|lowest|highest|smallest|largest)$|^(min|max)[._ ]|[._ ](min|max)$/i;
/** The number of people behind a statistic, as a row label or a column name. */
const N_LABEL = /^(n|count|obs|observations|nobs)$/i;

/** A table's kind: the first that fits, in this order. */
export function kindOf(table: Table): Kind {
  const histogram = histogramColumns(table);
  if (histogram) return { kind: "histogram", ...histogram };
  const atRisk = table.columns.findIndex((name) => AT_RISK.test(normalCell(name)));
  if (atRisk >= 0) return { kind: "survival", counts: new Set([atRisk]) };
  const stated = dofs(table);
  if (stated.length > 0 || table.columns.some((name) => COEFFICIENT.test(normalCell(name))))
    return { kind: "regression", counts: new Set(), dofs: stated };
  if (isCorrelation(table)) return { kind: "correlation", counts: new Set() };
  const frequency = frequencyColumns(table);
  return frequency.size > 0 ? { kind: "frequency", counts: frequency } : { kind: "other", counts: new Set() };
}

/** What a table's kind alone can disclose: few degrees of freedom, a minimum or maximum, a histogram's data-driven edges. */
export function kindFindings(table: Table, kind: Kind, s: OutputChecks): Found[] {
  return [
    ...(kind.kind === "regression" ? regressionFindings(table, kind.dofs, s) : []),
    ...(kind.kind === "correlation" ? correlationFindings(table, s) : []),
    ...(kind.kind === "histogram" ? binEdgeFindings(table, kind.edges) : []),
    ...endpointFindings(table, s),
  ];
}

/**
 * A frequency table as a cross-tabulation writes it (pandas, R, ACRO): one or more columns of labels,
 * every other column whole numbers, none named as a measure. Its numeric columns are counts whatever
 * they are called (categories: "male", "2024", "c1").
 */
function frequencyColumns(table: Table): Set<number> {
  const labels: number[] = [];
  const numbers: number[] = [];
  table.columns.forEach((_, c) => {
    const cells = table.rows.map((r) => normalCell(r[c] ?? "")).filter((v) => v !== "" && !SUPPRESSED.test(v));
    if (cells.length === 0) return;
    if (cells.every((v) => typeof countOf(v) === "number" && Number(v) >= 0)) numbers.push(c);
    else labels.push(c);
  });
  const measured = numbers.some((c) => MEASURE_NAME.test(normalCell(table.columns[c] ?? "")));
  return labels.length > 0 && numbers.length > 0 && !measured && table.rows.length > 0 ? new Set(numbers) : new Set();
}

/** A histogram: bin edges (two columns, one, or interval labels) beside whole numbers, the bars. */
function histogramColumns(table: Table): { edges: number[]; counts: Set<number> } | undefined {
  const names = table.columns.map(normalCell);
  const lower = names.findIndex((n) => LOWER_EDGE.test(n));
  const upper = names.findIndex((n) => UPPER_EDGE.test(n));
  const one = names.findIndex((n) => ONE_EDGE.test(n));
  const interval = table.columns.findIndex((_, c) => table.rows.length > 1 && table.rows.every((row) => INTERVAL.test(normalCell(row[c] ?? ""))));
  const edges = lower >= 0 && upper >= 0 ? [lower, upper] : one >= 0 ? [one] : interval >= 0 ? [interval] : [];
  if (edges.length === 0 || table.rows.length < 2) return undefined;
  const counts = new Set(
    table.columns
      .map((_, c) => c)
      .filter((c) => !edges.includes(c) && table.rows.every((row) => typeof countOf(normalCell(row[c] ?? "")) === "number")),
  );
  return counts.size > 0 ? { edges, counts } : undefined;
}

/**
 * The outer edges of a histogram (the first bin's lower, the last bin's upper) when they are not round
 * at the bins' own precision: bins cut from the data's minimum to its maximum show both values.
 */
function binEdgeFindings(table: Table, edges: number[]): Found[] {
  const spans = table.rows.map((row) => {
    const cells = edges.map((c) => normalCell(row[c] ?? ""));
    const label = INTERVAL.exec(cells[0] ?? "");
    return label ? [Number(label[1]), Number(label[2])] : cells.map((cell) => numberOf(cell) ?? Number.NaN);
  });
  const starts = spans.map((s) => s[0]!).filter(Number.isFinite);
  const ends = spans.map((s) => s.at(-1)!).filter(Number.isFinite);
  if (starts.length < 2) return [];
  const widths = starts
    .slice(1)
    .map((v, i) => Math.abs(v - starts[i]!))
    .filter((w) => w > 0)
    .sort((a, b) => a - b);
  const width = widths[Math.floor(widths.length / 2)];
  if (width === undefined) return [];
  const precision = 10 ** Math.floor(Math.log10(width));
  const round = (v: number) => Math.abs(v / precision - Math.round(v / precision)) < 1e-6;
  const column = table.columns[edges[0]!] ?? null;
  return [
    { at: Math.min(...starts), what: "lowest", row: spans.findIndex((s) => s[0] === Math.min(...starts)) + 1 },
    { at: Math.max(...ends), what: "highest", row: spans.findIndex((s) => s.at(-1) === Math.max(...ends)) + 1 },
  ]
    .filter((edge) => !round(edge.at))
    .map((edge) => ({
      rule: "bin-edge" as const,
      row: edge.row,
      column,
      value: String(edge.at),
      message: `the histogram's ${edge.what} edge, ${edge.at}, is not a round number at the bins' width (${width}): bins cut at the data's own minimum or maximum show that person's value; cut the bins at round edges`,
    }));
}

/** Residual degrees of freedom a table states: beside a label (or worked out from the observations and the model's df), or in a column. */
function dofs(table: Table): Dof[] {
  const found: Dof[] = [];
  // The header is a row too: a summary written without one (statsmodels' summary2().tables[0]) starts
  // with data. One walk finds every label; most cells are numbers, which no label is.
  const labelled: Record<"dof" | "nobs" | "model", Dof[]> = { dof: [], nobs: [], model: [] };
  [table.columns, ...table.rows].forEach((row, r) =>
    row.forEach((raw, c) => {
      if (!/[a-z]/i.test(raw)) return;
      const cell = normalCell(raw);
      const which = DOF_LABEL.test(cell) ? "dof" : NOBS_LABEL.test(cell) ? "nobs" : DF_MODEL_LABEL.test(cell) ? "model" : undefined;
      const value = which ? numberOf(row[c + 1] ?? "") : undefined;
      if (which && value !== undefined) labelled[which].push({ row: r === 0 ? null : r, column: table.columns[c + 1] ?? null, value });
    }),
  );
  found.push(...labelled.dof);
  const [nobs] = labelled.nobs;
  const [model] = labelled.model;
  if (found.length === 0 && nobs && model) found.push({ ...nobs, value: nobs.value - model.value - 1 });
  table.columns.forEach((name, c) => {
    if (!DOF_COLUMN.test(normalCell(name))) return;
    table.rows.forEach((row, i) => {
      const value = numberOf(row[c] ?? "");
      if (value !== undefined) found.push({ row: i + 1, column: name, value });
    });
  });
  return found;
}

/** A table of this kind that lacks what its check needs: held for a person to read (not-checked blocks by default). */
function unchecked(message: string): Found {
  return { rule: "not-checked", row: null, column: null, value: null, message };
}

/** A model with few residual degrees of freedom is close to a table of the people it was fitted on. */
function regressionFindings(table: Table, stated: Dof[], s: OutputChecks): Found[] {
  if (stated.length === 0) {
    if (!table.columns.some((name) => STD_ERROR.test(normalCell(name)))) return [];
    return [
      unchecked(
        "a table of model coefficients that does not state its residual degrees of freedom: write them beside it (a column df_resid, or a line 'Df Residuals:' as statsmodels' summary has) so they can be checked",
      ),
    ];
  }
  return stated
    .filter((d) => d.value < s.min_dof)
    .map((d) => ({
      rule: "low-dof" as const,
      row: d.row,
      column: d.column,
      value: String(d.value),
      message: `${d.value} residual degrees of freedom, below ${s.min_dof} (output_checks.min_dof): a model with so few is close to a table of the people it was fitted on`,
    }));
}

/** A correlation matrix: its row labels are its column names, its diagonal 1, every cell within [-1, 1]. */
function isCorrelation(table: Table): boolean {
  const names = table.columns.slice(1).map(normalCell);
  if (names.length < 2) return false;
  const rows = new Map(table.rows.map((row) => [normalCell(row[0] ?? ""), row] as const));
  return names.every((name, j) => {
    const row = rows.get(name);
    const values = names.map((_, k) => numberOf(row?.[k + 1] ?? ""));
    return row !== undefined && values[j] !== undefined && Math.abs(values[j] - 1) < 1e-9 && values.every((v) => v !== undefined && Math.abs(v) <= 1);
  });
}

/** A correlation over n people has n - 2 degrees of freedom; a matrix without its n cannot be checked. */
function correlationFindings(table: Table, s: OutputChecks): Found[] {
  const nRow = table.rows.find((row) => N_LABEL.test(normalCell(row[0] ?? "")));
  const nColumn = table.columns.findIndex((name) => N_LABEL.test(normalCell(name)));
  const ns = nRow ? nRow.slice(1).map((cell) => numberOf(cell)) : nColumn >= 0 ? table.rows.map((row) => numberOf(row[nColumn] ?? "")) : [];
  const known = ns.filter((n): n is number => n !== undefined);
  if (known.length === 0) {
    return [
      unchecked(
        "a correlation matrix that does not say how many people are behind it: add a row or column n, so its degrees of freedom (n - 2) can be checked",
      ),
    ];
  }
  const n = Math.min(...known);
  return n - 2 < s.min_dof
    ? [
        {
          rule: "low-dof",
          row: null,
          column: null,
          value: String(n),
          message: `correlations over ${n} people: ${n - 2} degrees of freedom, below ${s.min_dof} (output_checks.min_dof)`,
        },
      ]
    : [];
}

/** Minima and maxima, each one person's own value: a column so named, or a row so labelled (pandas' describe). */
function endpointFindings(table: Table, s: OutputChecks): Found[] {
  const found: Found[] = [];
  const flag = (row: number, column: string, raw: string, named: string) => {
    if (numberOf(raw) === undefined) return;
    const which = /max|high|large/i.test(named) ? "maximum" : "minimum";
    found.push({
      rule: "endpoint",
      row,
      column,
      value: raw.trim(),
      message: `a ${which} is one person's own value: publish a percentile, or a rounded or top-coded value, instead; or release it with an exception`,
    });
  };
  table.columns.forEach((name, c) => {
    if (ENDPOINT.test(normalCell(name))) table.rows.forEach((row, i) => flag(i + 1, name, row[c] ?? "", name));
  });
  table.rows.forEach((row, i) => {
    const label = normalCell(row[0] ?? "");
    if (ENDPOINT.test(label)) row.slice(1).forEach((cell, k) => flag(i + 1, table.columns[k + 1] ?? "", cell, label));
  });
  // pandas' describe: its row "count", beside the minima and maxima, holds each column's n.
  if (found.length > 0)
    table.rows.forEach((row, i) => {
      if (!/^count$/i.test(normalCell(row[0] ?? ""))) return;
      row.slice(1).forEach((cell, k) => {
        const count = countOf(normalCell(cell));
        if (typeof count === "number" && count > 0 && count < s.min_count)
          found.push({
            rule: "small-count",
            row: i + 1,
            column: table.columns[k + 1] ?? null,
            value: cell.trim(),
            message: `count ${count} is below the minimum of ${s.min_count} (output_checks.min_count)`,
          });
      });
    });
  return found;
}
