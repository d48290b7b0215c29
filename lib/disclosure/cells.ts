// One cell of a job's table, read the way every output check reads it.

export const NUMBER = /^\s*-?\d+(\.\d+)?\s*$/;
/** What statistical offices write for a suppressed or missing cell. */
export const SUPPRESSED = /^(<\s*\d+|≤\s*\d+|\*+|-|–|—|\.\.?|x|c|\[[a-z]\]|n\/?a|nan|null|none|suppressed|redacted|masked)$/i;
/** A number as statistics packages print one: a sign, a fraction, an exponent ("1.2e-05"). */
const ANY_NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i;

/** A cell as the checks compare it: digits and letters of other scripts (fullwidth "３") folded to ASCII, trimmed. */
export function normalCell(raw: string): string {
  // NFKC leaves printable ASCII as it is, and most cells are that: normalising them all was most of
  // the time a table of a million cells took to check.
  return (PRINTABLE_ASCII.test(raw) ? raw : raw.normalize("NFKC")).trim();
}
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

/** The count a cell holds, if it holds one: a whole number, or one within a millionth of it (noise added to hide a count hides nothing). */
export function countOf(cell: string): number | "marker" | "text" {
  if (cell === "" || SUPPRESSED.test(cell)) return "marker";
  if (!NUMBER.test(cell)) return "text";
  const v = Number(cell);
  const whole = Math.round(v);
  return Math.abs(v - whole) <= 1e-6 * Math.max(1, Math.abs(v)) ? whole : "text";
}

/** The number a cell holds, in any notation a package prints, or undefined. */
export function numberOf(raw: string): number | undefined {
  const cell = normalCell(raw);
  return ANY_NUMBER.test(cell) ? Number(cell) : undefined;
}
