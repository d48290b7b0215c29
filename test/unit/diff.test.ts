import { describe, expect, test } from "vitest";
import { diffLines, linesOf, type Hunk } from "../../lib/people/diff.ts";

/** Apply hunks to `before` as patch would: each must find its removed and context lines where it says. */
function patch(before: string[], hunks: Hunk[]): string[] {
  const out = [...before];
  let shift = 0;
  for (const h of hunks) {
    const old = h.lines.filter((l) => l.op !== "+").map((l) => l.text);
    const now = h.lines.filter((l) => l.op !== "-").map((l) => l.text);
    const at = h.old_start - (h.old_lines === 0 ? 0 : 1) + shift;
    expect(out.slice(at, at + old.length)).toEqual(old);
    out.splice(at, old.length, ...now);
    shift += now.length - old.length;
  }
  return out;
}

describe("line diffs between revisions", () => {
  test("a change and an addition far apart are two hunks with three lines of context, as diff -u shows them", () => {
    const before = linesOf("a\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk\nl\nm\n");
    const after = linesOf("a\nB\nc\nd\ne\nf\ng\nh\ni\nj\nk\nl\nm\nn\n");
    const hunks = diffLines(before, after);
    expect(hunks.map((h) => [h.old_start, h.old_lines, h.new_start, h.new_lines])).toEqual([
      [1, 5, 1, 5],
      [11, 3, 11, 4],
    ]);
    expect(hunks[0]!.lines.map((l) => `${l.op}${l.text}`)).toEqual([" a", "-b", "+B", " c", " d", " e"]);
    expect(diffLines(before, before)).toEqual([]);
  });

  test("whatever the two texts, the hunks turn the first into the second (1,000 random pairs)", () => {
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const text = () => Array.from({ length: Math.floor(random() * 40) }, () => "abcde"[Math.floor(random() * 5)]!);
    for (let i = 0; i < 1000; i++) {
      const [before, after] = [text(), text()];
      expect(patch(before, diffLines(before, after))).toEqual(after);
    }
  });

  test("texts too different to trace are shown as replaced whole, still correct", () => {
    const before = Array.from({ length: 3000 }, (_, i) => `old ${i}`);
    const after = Array.from({ length: 3000 }, (_, i) => `new ${i}`);
    const hunks = diffLines(before, after);
    expect(hunks).toHaveLength(1);
    expect(patch(before, hunks)).toEqual(after);
  });
});
