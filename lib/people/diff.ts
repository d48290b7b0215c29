// Line diffs between two revisions of a job's code, for a reviewer who has read the earlier one: the
// shortest edit script (Myers' O(ND) algorithm), cut into hunks with a few lines of context, the way
// `diff -u` shows them.

export interface DiffLine {
  op: " " | "-" | "+";
  text: string;
}

export interface Hunk {
  /** First line (1-based) of the hunk in the earlier and the newer text, and how many lines each side has (diff -u's header). */
  old_start: number;
  old_lines: number;
  new_start: number;
  new_lines: number;
  lines: DiffLine[];
}

/** Beyond this many differences a file is shown as replaced whole: the trace would cost more than it tells. */
const MAX_EDITS = 2000;

/** The shortest edit script from `a` to `b`, line by line; null when they differ in more than MAX_EDITS lines. */
function editScript(a: string[], b: string[]): DiffLine[] | null {
  // Common ends first: most revisions touch a few lines, and this keeps the search to them.
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++;
  const x0 = a.slice(head, a.length - tail);
  const y0 = b.slice(head, b.length - tail);
  const n = x0.length;
  const m = y0.length;
  const max = Math.min(n + m, MAX_EDITS);
  const offset = max + 1;
  // v[k]: the furthest x reached on diagonal k; one copy per step d, to walk back along.
  const v = new Int32Array(2 * max + 3);
  const trace: Int32Array[] = [];
  let found = n + m === 0;
  for (let d = 0; d <= max && !found; d++) {
    trace.push(v.slice());
    for (let k = -d; k <= d; k += 2) {
      let x = k === -d || (k !== d && v[offset + k - 1]! < v[offset + k + 1]!) ? v[offset + k + 1]! : v[offset + k - 1]! + 1;
      let y = x - k;
      while (x < n && y < m && x0[x] === y0[y]) {
        x++;
        y++;
      }
      v[offset + k] = x;
      if (x >= n && y >= m) {
        found = true;
        break;
      }
    }
  }
  if (!found) return null;
  const middle: DiffLine[] = [];
  let x = n;
  let y = m;
  for (let d = trace.length - 1; d >= 0; d--) {
    const w = trace[d]!;
    const k = x - y;
    const prevK = k === -d || (k !== d && w[offset + k - 1]! < w[offset + k + 1]!) ? k + 1 : k - 1;
    const prevX = w[offset + prevK]!;
    const prevY = prevX - prevK;
    while (x > prevX && y > prevY) {
      x--;
      y--;
      middle.push({ op: " ", text: x0[x]! });
    }
    // The one edit of step d: an insertion of y0[y - 1], or a deletion of x0[x - 1].
    if (d > 0) middle.push(x === prevX ? { op: "+", text: y0[y - 1]! } : { op: "-", text: x0[x - 1]! });
    x = prevX;
    y = prevY;
  }
  return [
    ...a.slice(0, head).map((text) => ({ op: " " as const, text })),
    ...middle.reverse(),
    ...a.slice(a.length - tail).map((text) => ({ op: " " as const, text })),
  ];
}

/** The lines of a text as a diff sees them: a last newline ends the last line, it does not start another. */
export function linesOf(text: string): string[] {
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  return lines;
}

/** The hunks that turn `before` into `after`, with `context` unchanged lines around each change; none when equal. */
export function diffLines(before: string[], after: string[], context = 3): Hunk[] {
  const script = editScript(before, after) ?? [
    ...before.map((text) => ({ op: "-" as const, text })),
    ...after.map((text) => ({ op: "+" as const, text })),
  ];
  // Where each line of the script stands in the earlier and the newer text.
  const at: { old: number; new: number }[] = [];
  let oldLine = 1;
  let newLine = 1;
  for (const line of script) {
    at.push({ old: oldLine, new: newLine });
    if (line.op !== "+") oldLine++;
    if (line.op !== "-") newLine++;
  }
  const changed = script.flatMap((line, i) => (line.op === " " ? [] : [i]));
  const hunks: Hunk[] = [];
  for (let i = 0; i < changed.length; i++) {
    const first = changed[i]!;
    // A hunk runs on while the next change is close enough for the contexts to touch.
    while (i + 1 < changed.length && changed[i + 1]! - changed[i]! <= 2 * context + 1) i++;
    const last = changed[i]!;
    const from = Math.max(0, first - context);
    const to = Math.min(script.length, last + context + 1);
    const lines = script.slice(from, to);
    const oldLines = lines.filter((l) => l.op !== "+").length;
    const newLines = lines.filter((l) => l.op !== "-").length;
    // As diff -u writes it: a side with no lines names the line before the place (0 at the top).
    hunks.push({
      old_start: at[from]!.old - (oldLines === 0 ? 1 : 0),
      old_lines: oldLines,
      new_start: at[from]!.new - (newLines === 0 ? 1 : 0),
      new_lines: newLines,
      lines,
    });
  }
  return hunks;
}
