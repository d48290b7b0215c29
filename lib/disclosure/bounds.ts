// How far a reader can narrow suppressed cells down from the totals a table publishes: each unknown's
// least and greatest value under the table's equations (a row's cells add up to its total, a column's
// to its) with no count below zero, as a linear-programming solver finds them. Statistical offices
// audit a suppressed table this way (τ-Argus); working out one cell at a time, as rules.ts does first,
// misses what only several equations together give. A plain simplex on a dense tableau, with Bland's
// rule (so it never cycles): a table has tens of suppressed cells, not thousands.

/** Σ coef · x[unknown] + constant = 0; every unknown is a count, never below zero. */
export interface Equation {
  terms: { unknown: number; coef: number }[];
  constant: number;
}

export interface Interval {
  lo: number;
  /** Infinity when no equation bounds it from above. */
  hi: number;
}

/** More than this many unknowns (or equations) and the table is not solved: its cost grows as their product, twice an unknown. */
const MAX_UNKNOWNS = 200;

/**
 * The arithmetic one table may cost, in tableau entries visited (about a second at worst; a block of
 * 200 suppressed cells takes some 25 ms): a table built to make the simplex crawl is left unsolved.
 */
const WORK_BUDGET = 300_000_000;

const EPS = 1e-9;

interface Tableau {
  /** A row per equation: a coefficient per unknown, then the right-hand side. */
  rows: number[][];
  /** The unknown each row solves for. */
  basis: number[];
  /** What is left of the table's WORK_BUDGET, shared by every solve of it. */
  budget: { left: number };
}

/**
 * Each unknown's interval, or undefined when no values satisfy the equations (totals that do not
 * add up: nothing can be worked out from them) or there are too many to solve.
 */
export function cellIntervals(unknowns: number, equations: Equation[]): Interval[] | undefined {
  if (unknowns > MAX_UNKNOWNS || equations.length > MAX_UNKNOWNS) return undefined;
  const start = feasibleStart(unknowns, equations, { left: WORK_BUDGET });
  if (!start) return undefined;
  const intervals: Interval[] = [];
  for (let k = 0; k < unknowns; k += 1) {
    const lo = minimum(start, unknowns, k, 1);
    const hi = minimum(start, unknowns, k, -1);
    if (lo === undefined || hi === undefined) return undefined;
    intervals.push({ lo: Math.max(0, lo), hi: -hi });
  }
  return intervals;
}

/**
 * A first solution (phase one): an artificial unknown per equation absorbs its right-hand side, and
 * their sum is driven to zero. Undefined when it cannot be (no solution at all).
 */
function feasibleStart(n: number, equations: Equation[], budget: { left: number }): Tableau | undefined {
  const m = equations.length;
  const rows = equations.map((eq, i) => {
    const row = new Array<number>(n + m + 1).fill(0);
    for (const { unknown, coef } of eq.terms) row[unknown]! += coef;
    row[n + i] = 1;
    row[n + m] = -eq.constant;
    // A right-hand side below zero: the equation times -1 (its artificial stays +1).
    if (row[n + m]! < 0) for (let j = 0; j <= n + m; j += 1) if (j !== n + i) row[j] = -row[j]!;
    return row;
  });
  const tableau: Tableau = { rows, basis: equations.map((_, i) => n + i), budget };
  const cost = new Array<number>(n + m).fill(0).map((_, j) => (j >= n ? 1 : 0));
  if (solve(tableau, cost) !== "optimal") return undefined;
  const leftOver = tableau.rows.reduce((sum, row, i) => sum + (tableau.basis[i]! >= n ? row[n + m]! : 0), 0);
  if (leftOver > 1e-6) return undefined;
  // Artificials still in the basis (at zero) leave it for a real unknown; a row with none is redundant.
  for (let i = tableau.rows.length - 1; i >= 0; i -= 1) {
    if (tableau.basis[i]! < n) continue;
    const j = tableau.rows[i]!.findIndex((v, col) => col < n && Math.abs(v) > EPS);
    if (j >= 0) pivot(tableau, i, j);
    else {
      tableau.rows.splice(i, 1);
      tableau.basis.splice(i, 1);
    }
  }
  return { rows: tableau.rows.map((row) => [...row.slice(0, n), row[n + m]!]), basis: tableau.basis, budget };
}

/** The least value of sign · x[k] from the feasible start (undefined if it has none: unbounded below). */
function minimum(start: Tableau, n: number, k: number, sign: 1 | -1): number | undefined {
  const tableau: Tableau = { rows: start.rows.map((row) => [...row]), basis: [...start.basis], budget: start.budget };
  const cost = new Array<number>(n).fill(0);
  cost[k] = sign;
  const outcome = solve(tableau, cost);
  if (outcome === "unbounded") return sign === -1 ? -Infinity : undefined;
  if (outcome !== "optimal") return undefined;
  const at = tableau.basis.indexOf(k);
  return sign * (at >= 0 ? tableau.rows[at]!.at(-1)! : 0);
}

/** Minimise cost · x over the tableau's equations, x ≥ 0, from its basis (phase two). */
function solve(tableau: Tableau, cost: number[]): "optimal" | "unbounded" | "too long" {
  const width = cost.length;
  for (;;) {
    tableau.budget.left -= 2 * width * tableau.rows.length; // the reduced costs, then the pivot
    if (tableau.budget.left < 0) return "too long";
    // Entering: the first unknown whose reduced cost is below zero (Bland's rule).
    let entering = -1;
    for (let j = 0; j < width && entering < 0; j += 1) {
      if (tableau.basis.includes(j)) continue;
      let reduced = cost[j]!;
      for (let i = 0; i < tableau.rows.length; i += 1) reduced -= cost[tableau.basis[i]!]! * tableau.rows[i]![j]!;
      if (reduced < -EPS) entering = j;
    }
    if (entering < 0) return "optimal";
    // Leaving: the tightest ratio, ties to the smallest unknown.
    let leaving = -1;
    let best = Infinity;
    for (let i = 0; i < tableau.rows.length; i += 1) {
      const a = tableau.rows[i]![entering]!;
      if (a <= EPS) continue;
      const ratio = tableau.rows[i]!.at(-1)! / a;
      if (ratio < best - EPS || (Math.abs(ratio - best) <= EPS && tableau.basis[i]! < tableau.basis[leaving]!)) {
        best = ratio;
        leaving = i;
      }
    }
    if (leaving < 0) return "unbounded";
    pivot(tableau, leaving, entering);
  }
}

function pivot(tableau: Tableau, r: number, c: number): void {
  const row = tableau.rows[r]!;
  const p = row[c]!;
  for (let j = 0; j < row.length; j += 1) row[j] = row[j]! / p;
  for (let i = 0; i < tableau.rows.length; i += 1) {
    if (i === r) continue;
    const other = tableau.rows[i]!;
    const f = other[c]!;
    if (f === 0) continue;
    for (let j = 0; j < other.length; j += 1) other[j] = other[j]! - f * row[j]!;
  }
  tableau.basis[r] = c;
}
