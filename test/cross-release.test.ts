// Checks across releases, on a seeded corpus: 200 pairs where the second release, read beside the
// first, gives away a small number (a cell a few apart, after reordering rows or columns, renaming
// the file or adding a column; a suppressed cell an earlier total gives back), and 200 pairs where it
// does not (the same table again, a new period whose cells all moved by the threshold or more, other
// rows under another name, an unrelated table). The first table of each pair is released for real
// (rememberReleased, into a queue's private state); the second is checked as a pass checks it.
import fs from "fs-extra";
import os from "node:os";
import path from "node:path";
import { describe, expect, test } from "vitest";
import { checkOutput } from "../lib/disclosure/check-output.ts";
import { releasedBefore, rememberReleased } from "../lib/disclosure/released.ts";
import { queuePaths } from "../lib/core/paths.ts";
import { AppConfigSchema } from "../lib/core/schemas.ts";

const settings = AppConfigSchema.parse({}).output_checks;

/** A seeded generator (mulberry32): the corpus is the same on every run. */
function random(seed: number): (lo: number, hi: number) => number {
  let a = seed;
  return (lo, hi) => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return lo + Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * (hi - lo + 1));
  };
}

type Grid = { columns: string[]; rows: string[][] };
const csv = (g: Grid) => [g.columns, ...g.rows].map((r) => r.join(",")).join("\n") + "\n";

function baseTable(rnd: ReturnType<typeof random>, labels = "w"): Grid {
  const categories = Array.from({ length: rnd(2, 4) }, (_, j) => `c${j}`);
  const rows = Array.from({ length: rnd(4, 8) }, (_, k) => [`${labels}${k}`, ...categories.map(() => String(rnd(10, 200)))]);
  return { columns: ["ward", ...categories], rows };
}

function shuffle<T>(items: T[], rnd: ReturnType<typeof random>): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i -= 1) {
    const j = rnd(0, i);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** One cell (not a label) moved by 1 to 9: one person more or fewer, say. */
function nudge(g: Grid, rnd: ReturnType<typeof random>): Grid {
  const rows = g.rows.map((r) => [...r]);
  const r = rnd(0, rows.length - 1);
  const c = rnd(1, g.columns.length - 1);
  rows[r]![c] = String(Number(rows[r]![c]) + rnd(1, 9));
  return { columns: g.columns, rows };
}

function reorderColumns(g: Grid, rnd: ReturnType<typeof random>): Grid {
  const order = [
    0,
    ...shuffle(
      g.columns.slice(1).map((_, i) => i + 1),
      rnd,
    ),
  ];
  return { columns: order.map((i) => g.columns[i]!), rows: g.rows.map((r) => order.map((i) => r[i]!)) };
}

type Pair = { kind: string; first: { name: string; grid: Grid }; second: { name: string; grid: Grid } };

function corpus(): { attacks: Pair[]; benign: Pair[] } {
  const attacks: Pair[] = [];
  const benign: Pair[] = [];
  for (let i = 0; i < 50; i += 1) {
    const rnd = random(1000 + i);
    const t = baseTable(rnd);
    attacks.push({
      kind: "same name, rows shuffled, a cell 1–9 apart",
      first: { name: "wards.csv", grid: t },
      second: { name: "wards.csv", grid: nudge({ ...t, rows: shuffle(t.rows, rnd) }, rnd) },
    });
    const u = baseTable(rnd);
    attacks.push({
      kind: "renamed, columns reordered, a cell 1–9 apart",
      first: { name: "wards.csv", grid: u },
      second: { name: `update-${i}.csv`, grid: nudge(reorderColumns(u, rnd), rnd) },
    });
    const v = baseTable(rnd);
    const nudged = nudge(v, rnd); // a cell of the columns both have: the added one has nothing to compare with
    const added = { columns: [...v.columns, "extra"], rows: nudged.rows.map((r) => [...r, String(rnd(10, 90))]) };
    attacks.push({
      kind: "same name, a column added, a cell 1–9 apart",
      first: { name: "wards.csv", grid: v },
      second: { name: "wards.csv", grid: added },
    });
    const w = baseTable(rnd);
    const withTotal = { columns: [...w.columns, "total"], rows: w.rows.map((r) => [...r, String(r.slice(1).reduce((s, x) => s + Number(x), 0))]) };
    const hidden = w.rows.map((r) => [...r]);
    hidden[rnd(0, hidden.length - 1)]![rnd(1, w.columns.length - 1)] = "*";
    attacks.push({
      kind: "a suppressed cell an earlier row total gives back",
      first: { name: "wards.csv", grid: withTotal },
      second: { name: "wards.csv", grid: { columns: w.columns, rows: hidden } },
    });

    const a = baseTable(rnd);
    benign.push({ kind: "the same table again", first: { name: "wards.csv", grid: a }, second: { name: "wards.csv", grid: a } });
    const b = baseTable(rnd);
    const later = { columns: b.columns, rows: b.rows.map((r) => [r[0]!, ...r.slice(1).map((x) => String(Number(x) + rnd(10, 60)))]) };
    benign.push({
      kind: "a new period: every cell moved by 10 or more",
      first: { name: "wards.csv", grid: b },
      second: { name: "wards.csv", grid: later },
    });
    const c = baseTable(rnd);
    const others = {
      columns: c.columns,
      rows: c.rows.map((r) => [r[0]!.replace("w", "x"), ...r.slice(1).map((x) => String(Number(x) + rnd(-5, 5)))]),
    };
    benign.push({ kind: "other rows under another name", first: { name: "wards.csv", grid: c }, second: { name: `regions-${i}.csv`, grid: others } });
    const d = baseTable(rnd);
    const ages = {
      columns: ["age band", "male", "female"],
      rows: ["18-30", "31-50", "51+"].map((band) => [band, String(rnd(10, 200)), String(rnd(10, 200))]),
    };
    benign.push({ kind: "an unrelated table", first: { name: "wards.csv", grid: d }, second: { name: `ages-${i}.csv`, grid: ages } });
  }
  return { attacks, benign };
}

async function flagged(pair: Pair): Promise<boolean> {
  const root = await fs.promises.mkdtemp(path.join(os.tmpdir(), "scq-cross-"));
  try {
    const paths = queuePaths(path.join(root, "SyftBox"), "owner@test.local", "code-queue");
    const first = path.join(root, "first");
    await fs.outputFile(path.join(first, pair.first.name), csv(pair.first.grid));
    await rememberReleased(paths, "scientist@test.local", "job-1", first, [pair.first.name]);
    const second = path.join(root, "second");
    await fs.outputFile(path.join(second, pair.second.name), csv(pair.second.grid));
    const report = await checkOutput(second, settings, [], (rel, columns) => releasedBefore(paths, "scientist@test.local", rel, columns));
    return report.files.some((f) => f.findings.some((x) => x.rule === "differencing" || x.rule === "recoverable"));
  } finally {
    await fs.remove(root);
  }
}

describe("checks across releases, on 200 attack pairs and 200 benign ones", () => {
  test("recall at least 95 %, false positives at most 5 %", async () => {
    const { attacks, benign } = corpus();
    expect(attacks).toHaveLength(200);
    expect(benign).toHaveLength(200);
    const missed: string[] = [];
    for (const pair of attacks) if (!(await flagged(pair))) missed.push(pair.kind);
    const falsePositives: string[] = [];
    for (const pair of benign) if (await flagged(pair)) falsePositives.push(pair.kind);
    const recall = 1 - missed.length / attacks.length;
    const fpRate = falsePositives.length / benign.length;
    console.log(`cross-release corpus: recall ${(recall * 100).toFixed(1)} %, false positives ${(fpRate * 100).toFixed(1)} %`);
    expect({ recall: recall >= 0.95, missed }).toEqual({ recall: true, missed: [] });
    expect({ fp: fpRate <= 0.05, falsePositives }).toMatchObject({ fp: true });
  });
});
