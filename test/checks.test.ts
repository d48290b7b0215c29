// The disclosure check on real-looking outputs (and hostile ones), then end to end: a job's output is
// checked when a pass collects it, and `scq checks` shows the findings to whoever may see the output.
import { execa } from "execa";
import fs from "fs-extra";
import os from "node:os";
import path from "node:path";
import { describe, expect, test } from "vitest";
import { checkOutput } from "../lib/disclosure/check-output.ts";
import { readAudit } from "../lib/queue/audit.ts";
import { decide } from "../lib/approval/decisions.ts";
import { AppConfigSchema, type OutputChecks } from "../lib/core/schemas.ts";
import { makeWorld, OWNER, runScript, SCIENTIST, submitRevision, worldArgs } from "./helpers.ts";

const defaults = AppConfigSchema.parse({}).output_checks;

async function outputs(files: Record<string, string>): Promise<string> {
  const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), "scq-checks-"));
  for (const [rel, text] of Object.entries(files)) await fs.outputFile(path.join(dir, rel), text);
  return dir;
}

async function check(files: Record<string, string>, settings: Partial<OutputChecks> = {}, dataPaths: string[] = []) {
  const report = await checkOutput(await outputs(files), { ...defaults, ...settings }, dataPaths);
  return report.files.flatMap((f) => f.findings.map((x) => ({ file: f.path, ...x })));
}

describe("the rules", () => {
  test("a frequency table with small cells and a zero: each cell is named with its row, column and value", async () => {
    const found = await check({ "by_ward.csv": "ward,count\nNorth,3\nSouth,0\nEast,25\nWest,\n" });
    expect(found.map(({ rule, row, column, value }) => ({ rule, row, column, value }))).toEqual([
      { rule: "small-count", row: 1, column: "count", value: "3" },
      { rule: "zero-count", row: 2, column: "count", value: "0" },
    ]);
    expect(found[0]!.message).toBe("count 3 is below the minimum of 10 (output_checks.min_count)");
    // Safe by default: a small count blocks (output_checks.blocking's default); a zero is advice.
    expect(found.map((f) => f.blocking)).toEqual([true, false]);
    expect((await check({ "by_ward.csv": "ward,count\nNorth,3\n" }, { blocking: [] })).every((f) => !f.blocking)).toBe(true);
  });

  test("a rounded table with no small cells passes; with rounding set, an unrounded count is flagged", async () => {
    expect(await check({ "rounded.tsv": "age band\tn\n18-30\t15\n31-50\t20\n51+\t35\n" }, { rounding: 5 })).toEqual([]);
    const found = await check({ "counts.csv": "age band,n\n18-30,15\n31-50,23\n" }, { rounding: 5 });
    expect(found).toMatchObject([{ rule: "unrounded", row: 2, column: "n", value: "23" }]);
  });

  test("dominance as ACRO checks it: the p % rule (the rest after the two largest under p % of the largest) and n-k", async () => {
    const found = await check({
      "spend.csv": "region,total,total_top1,total_top2\nA,1000,850,100\nB,1000,300,250\nC,1000,450,420\nD,1000,480,470\n",
    });
    expect(found.map(({ rule, row }) => ({ rule, row }))).toEqual([
      { rule: "dominance-p", row: 1 },
      { rule: "dominance-nk", row: 1 },
      { rule: "dominance-nk", row: 3 },
      { rule: "dominance-nk", row: 4 },
    ]);
    expect(found[0]!.message).toContain("the rest of this total (50) is 5.9 % of the largest: under 10 %");
    // D: the rest (50) is 10.4 % of the largest, just over p; with p at 11 it is flagged too.
    expect(
      (await check({ "spend.csv": "region,total,total_top1,total_top2\nD,1000,480,470\n" }, { dominance: { p: 11, n: 2, k: 99 } })).map(
        (f) => f.rule,
      ),
    ).toEqual(["dominance-p"]);
  });

  test("typed outputs: a regression's residual degrees of freedom, as statsmodels' summary states them or in a column", async () => {
    const info =
      "Model:,OLS,Adj. R-squared:,0.412\nDependent Variable:,y,AIC:,80.1\nNo. Observations:,12,Df Model:,3\nDf Residuals:,8,F-statistic:,4.1\n";
    expect((await check({ "model_info.csv": info })).map(({ rule, value }) => ({ rule, value }))).toEqual([{ rule: "low-dof", value: "8" }]);
    expect(await check({ "model_info.csv": info.replace("Df Residuals:,8", "Df Residuals:,40") })).toEqual([]);
    // Without the label, observations less the model's df less one.
    expect((await check({ "model_info.csv": info.replace("Df Residuals:,8,", "Log-Likelihood:,-3.2,") })).map((f) => f.value)).toEqual(["8"]);
    const coefficients = "term,coef,std err,df_resid\nintercept,1.2,0.3,6\nage,0.04,0.01,6\n";
    expect((await check({ "coef.csv": coefficients })).map((f) => f.rule)).toEqual(["low-dof", "low-dof"]);
    expect(await check({ "coef.csv": coefficients }, { min_dof: 5 })).toEqual([]);
    // Coefficients with their standard errors and nothing that says how many people are behind them: held, to be read.
    const bare = await check({ "coef.csv": "term,coef,std err\nintercept,1.2,0.3\n" });
    expect(bare.map((f) => f.rule)).toEqual(["not-checked"]);
    expect(bare[0]!.message).toContain("df_resid");
  });

  test("typed outputs: a survival table's people at risk are counts; its events are not", async () => {
    const km = "time,num at risk,num events,Surv prob\n2,40,1,0.975\n5,39,2,0.925\n9,12,1,0.848\n14,4,1,0.636\n";
    expect((await check({ "km.csv": km })).map(({ rule, row, column }) => ({ rule, row, column }))).toEqual([
      { rule: "small-count", row: 4, column: "num at risk" },
    ]);
    // R's survfit summary names them n.risk and n.event.
    expect((await check({ "km.csv": "time,n.risk,n.event,surv\n3,25,1,0.96\n8,6,2,0.64\n" })).map((f) => f.value)).toEqual(["6"]);
  });

  test("typed outputs: a histogram's bars are counts, and outer edges cut at the data's own minimum or maximum are named", async () => {
    const found = await check({ "hist.csv": "bin_left,bin_right,height\n17.3,27.3,14\n27.3,37.3,3\n37.3,47.3,22\n47.3,57.3,19\n" });
    expect(found.map(({ rule, row, value }) => ({ rule, row, value }))).toEqual([
      { rule: "small-count", row: 2, value: "3" },
      { rule: "bin-edge", row: 1, value: "17.3" },
      { rule: "bin-edge", row: 4, value: "57.3" },
    ]);
    // Round edges at the bins' width, as pandas' cut writes intervals: nothing.
    expect(await check({ "hist.csv": 'age,count\n"(20, 30]",14\n"(30, 40]",22\n"(40, 50]",19\n' })).toEqual([]);
  });

  test("typed outputs: a minimum or maximum is one person's value, in a column or as pandas' describe writes it", async () => {
    const byGroup = await check({ "ages.csv": "ward,n,mean_age,max_age\nNorth,40,51.2,97\nSouth,35,48.9,93\n" });
    expect(byGroup.map(({ rule, row, column }) => ({ rule, row, column }))).toEqual([
      { rule: "endpoint", row: 1, column: "max_age" },
      { rule: "endpoint", row: 2, column: "max_age" },
    ]);
    expect(byGroup[0]!.message).toContain("a maximum is one person's own value");
    const described = await check({
      "describe.csv": ",age,income\ncount,40,7\nmean,51.2,30100\nstd,9.1,8000\nmin,19,12000\n50%,50,29000\nmax,97,81000\n",
    });
    expect(described.map(({ rule, row, column }) => `${rule} ${row} ${column}`)).toEqual([
      "endpoint 4 age",
      "endpoint 4 income",
      "endpoint 6 age",
      "endpoint 6 income",
      "small-count 1 income",
    ]);
    expect(described.filter((f) => f.rule === "endpoint").every((f) => f.blocking)).toBe(true);
  });

  test("typed outputs: a correlation matrix needs its n, and enough of it", async () => {
    const matrix = ",age,income,bmi\nage,1,0.41,-0.12\nincome,0.41,1,0.05\nbmi,-0.12,0.05,1\n";
    expect((await check({ "corr.csv": matrix })).map((f) => f.rule)).toEqual(["not-checked"]);
    expect((await check({ "corr.csv": `${matrix}n,9,9,9\n` })).map(({ rule, value }) => ({ rule, value }))).toEqual([
      { rule: "low-dof", value: "9" },
    ]);
    expect(await check({ "corr.csv": `${matrix}n,120,120,118\n` })).toEqual([]);
  });

  test("rounding as a protection, when the owner says so: a table of counts all rounded to the base has its small counts as advice", async () => {
    const table = "ward,male,female\nNorth,5,20\nSouth,15,10\nEast,30,0\n";
    expect((await check({ "t.csv": table })).map((f) => f.rule)).toEqual(["small-count", "zero-count"]);
    const protectedBy = await check({ "t.csv": table }, { rounding: 5, rounding_protects: true });
    expect(protectedBy.map(({ rule, value, blocking }) => ({ rule, value, blocking }))).toEqual([
      { rule: "rounded-count", value: "5", blocking: false },
      { rule: "rounded-count", value: "0", blocking: false },
    ]);
    expect(protectedBy[0]!.message).toContain("the true count is 3–7");
    // One count not on the base: the table is not rounded, and nothing is taken as protected.
    expect((await check({ "t.csv": table.replace("30", "31") }, { rounding: 5, rounding_protects: true })).map((f) => f.rule)).toEqual([
      "small-count",
      "unrounded",
      "zero-count",
    ]);
  });

  test("a patient-level extract: too many rows, identifying column names and values, and rows of the private data", async () => {
    const data = await fs.promises.mkdtemp(path.join(os.tmpdir(), "scq-data-"));
    await fs.outputFile(path.join(data, "patients.csv"), "patient_id,age,postcode\nP001,34,SW1A 1AA\nP002,51,M1 1AE\nP003,29,B33 8TH\n");
    const rows = Array.from({ length: 6000 }, (_, i) => `${i},${20 + (i % 60)},person${i}@mail.example`).join("\n");
    const found = await check(
      {
        "extract.csv": `patient_id,age,contact\n${rows}\n`,
        "copied.csv": "patient_id,age,postcode\nP002,51,M1 1AE\nP003,29,B33 8TH\n",
      },
      {},
      [data],
    );
    const rules = found.map((f) => `${f.file}: ${f.rule}${f.column ? ` ${f.column}` : ""}`);
    expect(rules).toEqual([
      "copied.csv: identifier-column patient_id",
      "copied.csv: identifier-column postcode",
      "copied.csv: data-rows",
      "extract.csv: row-count",
      "extract.csv: identifier-column patient_id",
      "extract.csv: identifier-values contact",
    ]);
    expect(found.find((f) => f.rule === "data-rows")!.message).toBe(
      `2 row(s) equal rows of the private data (${path.basename(data)}/patients.csv, and maybe others)`,
    );
  });

  test("a file SyftBox never syncs (a .log, anything under logs/) is flagged: the requester would never receive it", async () => {
    const found = await check({ "summary.txt": "ok\n", "run.log": "x\n", "logs/detail.txt": "x\n" });
    expect(found.filter((f) => f.rule === "not-synced").map((f) => f.file)).toEqual(["logs/detail.txt", "run.log"]);
    expect(found.find((f) => f.rule === "not-synced")!.message).toMatch(/never syncs/);
  });

  test("file policy: an image passes, an archive's type and an over-size file are flagged", async () => {
    const dir = await outputs({ "plot.png": "\x89PNG\r\n\x1a\n", "bundle.zip": "PK\x03\x04" });
    // 2 GB, sparse: the check must judge it by its size and never read it.
    await execa("truncate", ["-s", "2G", path.join(dir, "huge.csv")]);
    const started = Date.now();
    const report = await checkOutput(dir, defaults, []);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(report.files.map((f) => [f.path, f.findings.map((x) => x.rule)])).toEqual([
      ["bundle.zip", ["file-type"]],
      ["huge.csv", ["file-size"]],
      ["plot.png", []],
    ]);
    expect(report.files[1]!.findings[0]!.message).toBe("2048.0 MB: over output_checks.max_file_mb (100 MB); not read");
  });

  test("an SVG is held by default, and says why; an owner who lists svg in allowed_types lets it pass", async () => {
    const svg = '<svg xmlns="http://www.w3.org/2000/svg"><text opacity="0">North 3</text><rect width="4" height="2"/></svg>';
    const found = await check({ "plot.svg": svg });
    expect(found.map((f) => `${f.file} ${f.rule} ${f.blocking}`)).toEqual(["plot.svg file-type true"]);
    expect(found[0]!.message).toMatch(/^type "svg" is not in output_checks.allowed_types: an SVG is XML text that can carry more than it shows/);
    expect(await check({ "plot.svg": svg }, { allowed_types: [...defaults.allowed_types, "svg"] })).toEqual([]);
  });

  test("a trained model's file is held, and says why: it can carry the rows it was trained on", async () => {
    const found = await check({ "model.pt": "\x80\x02", "weights.safetensors": "{}" });
    expect(found.map((f) => `${f.file} ${f.rule} ${f.blocking}`)).toEqual(["model.pt file-type true", "weights.safetensors file-type true"]);
    expect(found[0]!.message).toMatch(/^type "pt" is not in output_checks.allowed_types: a trained model can carry the rows it was trained on/);
  });

  test("hostile tables: malformed CSV and JSON nested 100,000 deep are reported as not checked, quickly", async () => {
    const started = Date.now();
    const found = await check({
      "broken.csv": 'a,b\n"unterminated,1\n',
      "deep.json": `${"[".repeat(100_000)}${"]".repeat(100_000)}`,
      "records.json": JSON.stringify([{ area: "X", count: 4 }]),
    });
    expect(Date.now() - started).toBeLessThan(2000);
    expect(found.map(({ file, rule }) => `${file} ${rule}`)).toEqual(["broken.csv not-checked", "deep.json not-checked", "records.json small-count"]);
    expect(found[0]!.message).toMatch(/^could not be checked as a table: not valid CSV: /);
    expect(found[1]!.message).toBe("could not be checked as a table: JSON nested more than 64 deep");
  });

  test("walking around the count checks: a one-field header, suppression markers, noise, other scripts' digits, nested JSON, counts in names", async () => {
    const rules = async (files: Record<string, string>) =>
      (await check(files)).map(({ file, rule, row, column, value }) => `${file} ${rule} ${row ?? "-"} ${column ?? "-"} ${value ?? "-"}`);
    // A header of one field: every cell of every line is still read (and the file flagged as ragged).
    // (Labels beside whole numbers: a frequency table, whose numbers are counts whatever their columns are called.)
    expect(await rules({ "one.csv": "ward\nNorth,count,3\n" })).toEqual(["one.csv ragged-rows - - 1", "one.csv small-count 1 column_3 3"]);
    expect(await rules({ "narrow.csv": "ward\nNorth,3\nSouth,40\n" })).toEqual([
      "narrow.csv ragged-rows - - 1",
      "narrow.csv small-count 1 column_2 3",
    ]);
    const narrow = await checkOutput(await outputs({ "w.csv": "n\n3,x\n" }), defaults, []);
    expect(narrow.files[0]).toMatchObject({ columns: 2 });
    expect(await rules({ "w.csv": "n\n3,x\n" })).toEqual(["w.csv ragged-rows - - 1", "w.csv small-count 1 n 3"]);
    // A suppression marker, a noisy count, fullwidth digits: the column stays a count column.
    expect(await rules({ "s.csv": "ward,count\nNorth,<5\nSouth,3.0000001\nEast,３\nWest,40\n" })).toEqual([
      "s.csv small-count 2 count 3.0000001",
      "s.csv small-count 3 count ３",
    ]);
    // Text that is neither a count nor a marker is reported, not a reason to pass the column over.
    expect(await rules({ "t.csv": "ward,n\nNorth,few\nSouth,2\n" })).toEqual(["t.csv small-count 2 n 2", "t.csv not-checked - n few"]);
    // Counts nested in JSON records, or in one record.
    expect(await rules({ "nested.json": JSON.stringify([{ ward: "North", stats: { n: 4 } }]) })).toEqual(["nested.json small-count 1 stats.n 4"]);
    expect(await rules({ "one.json": JSON.stringify({ groups: [{ count: 2 }, { count: 50 }] }) })).toEqual([
      "one.json small-count 1 groups.0.count 2",
    ]);
    // A count in a file's or a folder's name.
    expect(await rules({ "ward_North_n=3/summary.txt": "ok\n", "cases-12.txt": "ok\n" })).toEqual([
      "ward_North_n=3/summary.txt small-count - - ward_North_n=3",
    ]);
  });

  test("the requester's manifest is checked as any file: its notes may not carry rows of the private data", async () => {
    const data = await fs.promises.mkdtemp(path.join(os.tmpdir(), "scq-data-"));
    await fs.outputFile(path.join(data, "patients.csv"), "patient_id,age,postcode\nP001,34,SW1A 1AA\nP002,51,M1 1AE\n");
    const manifest = { files: { "summary.txt": { description: "ages by ward, e.g.\nP002,51,M1 1AE", controls: [] } } };
    const found = await check({ "summary.txt": "ok\n", "manifest.json": JSON.stringify(manifest) }, {}, [data]);
    expect(found.map((f) => `${f.file} ${f.rule} ${f.blocking}`)).toEqual(["manifest.json data-rows true"]);
    expect(found[0]!.message).toBe(`1 line(s) of its notes are rows of the private data (${path.basename(data)}/patients.csv, and maybe others)`);
  });

  test("near-copies of private rows: columns reordered, or one column added, are still rows of the private data", async () => {
    const data = await fs.promises.mkdtemp(path.join(os.tmpdir(), "scq-data-"));
    await fs.outputFile(path.join(data, "patients.csv"), "code,age,ward\nP001,34,North\nP002,51,South\n");
    const found = await check(
      {
        "reordered.csv": "ward,age,code\nSouth,51,P002\n",
        "extra.csv": "code,age,ward,score\nP001,34,North,0.7\n",
        "aggregate.csv": "ward,mean_age\nNorth,34\n",
      },
      {},
      [data],
    );
    expect(found.map((f) => `${f.file} ${f.rule}`)).toEqual(["extra.csv data-rows", "reordered.csv data-rows"]);
  });

  test("a frequency table as a cross-tabulation writes it (labels, then whole numbers under category names) has its cells checked as counts; numbers named as measures do not", async () => {
    const found = await check({
      "crosstab.csv": "group,male,female\nA,12,4\nB,30,0\n",
      "ages.csv": "group,mean_age,median_age\nA,4,5\n",
      // A total column named as counts beside the categories: they are counts all the same.
      "with-total.csv": "ward,male,female,total\nNorth,3,17,20\n",
    });
    expect(found.map(({ file, rule, row, column }) => `${file} ${rule} ${row} ${column}`)).toEqual([
      "crosstab.csv small-count 1 female",
      "crosstab.csv zero-count 2 female",
      "with-total.csv small-count 1 male",
    ]);
  });

  test("a suppressed cell its row's or column's published total gives back is flagged; a block of suppressed cells is not", async () => {
    const rules = async (text: string) =>
      (await check({ "t.csv": text })).filter((f) => f.rule === "recoverable").map((f) => `${f.row} ${f.column} ${f.value}: ${f.message}`);
    expect(await rules("ward,male,female,total\nNorth,12,*,20\nSouth,30,25,55\n")).toEqual([
      "1 female *: the only suppressed cell of its row: the row's total (20) less the other cells gives 8",
    ]);
    // Two in a row, but each the only one of its column, whose total row is published.
    expect(await rules("ward,male,female\nNorth,<5,<5\nSouth,30,25\nTotal,33,29\n")).toEqual([
      "1 male <5: the only suppressed cell of its column: the column's total (33) less the other cells gives 3",
      "1 female <5: the only suppressed cell of its column: the column's total (29) less the other cells gives 4",
    ]);
    expect(await rules("ward,male,female,total\nNorth,*,*,20\nSouth,*,*,55\nTotal,42,33,75\n")).toEqual([]);
    // A chain: no row or column has one suppressed cell alone at first, but East's and South's do,
    // and with those filled in North's two come out through their columns.
    expect(await rules("ward,a,b,c,total\nNorth,*,*,10,30\nSouth,*,12,15,40\nEast,14,*,18,48\nTotal,32,43,43,118\n")).toEqual([
      "2 a *: the only suppressed cell of its row: the row's total (40) less the other cells gives 13",
      "3 b *: the only suppressed cell of its row: the row's total (48) less the other cells gives 16",
      "1 a *: the only suppressed cell of its column, once the cells worked out before are filled in: the column's total (32) less the other cells gives 5",
      "1 b *: the only suppressed cell of its column, once the cells worked out before are filled in: the column's total (43) less the other cells gives 15",
    ]);
    expect(await rules("ward,male,female\nNorth,12,*\nSouth,30,25\n")).toEqual([]);
  });

  test("a block of suppressed cells its totals pin down together is flagged, as a linear-programming reader finds it", async () => {
    const found = async (text: string) =>
      (await check({ "t.csv": text }))
        .filter((f) => f.rule === "recoverable" || f.rule === "narrow-bounds")
        .map((f) => `${f.rule} ${f.row} ${f.column}: ${f.message}`);
    // No row or column has one suppressed cell alone, but North has 5 in all and a has 25 while South
    // has 20: North's a is 5, no less, and the rest follows.
    expect(await found("ward,a,b,total\nNorth,*,*,5\nSouth,*,*,20\nTotal,25,0,25\n")).toEqual([
      "recoverable 1 a: its row and column totals, taken together, leave it one value: 5",
      "recoverable 1 b: its row and column totals, taken together, leave it one value: 0",
      "recoverable 2 a: its row and column totals, taken together, leave it one value: 20",
      "recoverable 2 b: its row and column totals, taken together, leave it one value: 0",
    ]);
    // Pinned within 4 of the truth: the small ones are flagged, South's b (36 to 40) is no one's secret.
    expect(await found("ward,a,b,total\nNorth,*,*,5\nSouth,*,*,40\nTotal,4,41,45\n")).toEqual([
      "narrow-bounds 1 a: its row and column totals, taken together, put it between 0 and 4: less than the threshold (10) apart",
      "narrow-bounds 1 b: its row and column totals, taken together, put it between 1 and 5: less than the threshold (10) apart",
      "narrow-bounds 2 a: its row and column totals, taken together, put it between 0 and 4: less than the threshold (10) apart",
    ]);
    // A suppressed row total the grand total gives back.
    expect(await found("ward,a,b,total\nNorth,30,40,*\nSouth,50,60,110\nTotal,80,100,180\n")).toEqual([
      "recoverable 1 total: the only suppressed cell of its column: the column's total (180) less the other cells gives 70",
    ]);
    // Totals that do not add up give nothing to work out; a block wide enough is left alone.
    expect(await found("ward,a,b,total\nNorth,*,*,5\nSouth,*,*,20\nTotal,90,90,25\n")).toEqual([]);
    expect(await found("ward,a,b,total\nNorth,*,*,30\nSouth,*,*,55\nTotal,42,43,85\n")).toEqual([]);
    // A hostile size: 15 × 15 suppressed (225 unknowns, over the 200 solved) is left to the one-at-a-time
    // solving; 14 × 14 whose first row's totals are tiny is solved, and that row's cells are pinned.
    const block = (n: number, first: number) => {
      const header = `ward,${Array.from({ length: n }, (_, c) => `k${c}`).join(",")},total`;
      const rows = Array.from({ length: n }, (_, r) => `w${r},${Array(n).fill("*").join(",")},${r === 0 ? first : 20 * n}`);
      const totals = `Total,${Array.from({ length: n }, (_, c) => (c === 0 ? 20 * (n - 1) + first : 20 * (n - 1))).join(",")},${20 * n * (n - 1) + first}`;
      return [header, ...rows, totals].join("\n");
    };
    expect(await found(block(15, 3))).toEqual([]);
    const pinned = await found(block(14, 3));
    expect(pinned.filter((f) => f.startsWith("narrow-bounds 1 "))).toHaveLength(14);
  });

  test("a rule the owner made blocking is reported as blocking; many findings of one rule are capped with a count", async () => {
    const rows = Array.from({ length: 80 }, (_, i) => `g${i},2`).join("\n");
    const found = await check({ "many.csv": `group,n\n${rows}\n` }, { blocking: ["small-count"] });
    expect(found).toHaveLength(51);
    expect(found.every((f) => f.blocking)).toBe(true);
    expect(found.at(-1)!.message).toBe("and 30 more like these");
  });
});

describe("in the queue", () => {
  test("a pass checks what a finished job wrote; scq checks shows it, text and --json, to the owner and the requester", async () => {
    // Findings as advice only (no blocking rules): the output goes, and scq checks says it went.
    const world = await makeWorld({ output_checks: { blocking: [] } });
    const uid = await world.submit({ "run.sh": 'printf "ward,count\\nNorth,3\\nEast,25\\n" > "$OUTPUT_DIR/wards.csv"\n' }, "ward counts");
    const job = await world.approveAndRun(uid);
    expect(job.status).toBe("completed");
    expect(job.meta.checks).toEqual({ files: 1, findings: 1, blocking: 0 });
    expect(world.lines).toContainEqual(
      `run: ${uid.slice(-8)} output checks: 1 finding(s) in 1 file(s) (small-count); see scq checks ${uid.slice(-8)}`,
    );
    const text = await runScript("scq.ts", ["checks", uid.slice(-8), ...worldArgs(world, SCIENTIST)]);
    expect(text.exitCode).toBe(0);
    expect(text.stdout).toContain("  wards.csv  (csv, 27 bytes, 2 rows × 2 columns) [released to the requester]\n");
    expect(text.stdout).toContain('    [small-count] row 1, column "count" = 3: count 3 is below the minimum of 10 (output_checks.min_count)');
    // In brief where the output and the review are shown.
    const brief = "Output checks: 1 finding(s) in 1 file(s) (details: scq checks)\n  wards.csv: small-count";
    expect((await runScript("scq.ts", ["output", uid, ...worldArgs(world, SCIENTIST)])).stdout).toContain(brief);
    expect((await runScript("scq.ts", ["review", uid, ...worldArgs(world, OWNER)])).stdout).toContain(brief);
    const json = await runScript("scq.ts", ["checks", uid, "--json", ...worldArgs(world, OWNER)]);
    expect(JSON.parse(json.stdout)).toMatchObject({
      uid,
      status: "completed",
      files: [{ path: "wards.csv", rows: 2, findings: [{ rule: "small-count" }] }],
    });
  });

  test('with release "review" the findings wait with the output: the owner sees them, the requester only after release', async () => {
    const world = await makeWorld({ release: "review", output_checks: { blocking: ["small-count"] } });
    const uid = await world.submit({ "run.sh": 'printf "area,n\\nA,4\\n" > "$OUTPUT_DIR/t.csv"\n' });
    await world.pass();
    await decide(world.owner, uid, { decision: "approve" });
    await world.settle();
    const owner = await runScript("scq.ts", ["checks", uid, ...worldArgs(world, OWNER)]);
    expect(owner.stdout).toContain('    BLOCKING [small-count] row 1, column "n" = 4');
    const early = await runScript("scq.ts", ["checks", uid, ...worldArgs(world, SCIENTIST)]);
    expect(early.exitCode).toBe(1);
    expect(early.stderr).toMatch(/await the owner's review before release/);
    // Its blocking finding needs a written exception to go out.
    expect((await runScript("scq.ts", ["release", uid, ...worldArgs(world, OWNER)])).exitCode).toBe(1);
    expect((await runScript("scq.ts", ["release", uid, "--exception", "the panel accepted this count", ...worldArgs(world, OWNER)])).exitCode).toBe(
      0,
    );
    const later = await runScript("scq.ts", ["checks", uid, "--json", ...worldArgs(world, SCIENTIST)]);
    expect(JSON.parse(later.stdout)).toMatchObject({ files: [{ path: "t.csv", findings: [{ rule: "small-count", blocking: true }] }] });
  });

  test('release "auto" with a blocking rule: output that fails it is held, never reaches the requester\'s folder, until the owner decides', async () => {
    const world = await makeWorld({ output_checks: { blocking: ["small-count"] } });
    const uid = await world.submit({ "run.sh": 'printf "area,n\\nA,4\\n" > "$OUTPUT_DIR/t.csv"\necho ok > "$OUTPUT_DIR/note.txt"\necho logged\n' });
    const job = await world.approveAndRun(uid);
    expect(job.status).toBe("completed");
    expect(job.meta.output_review).toBe("pending");
    expect(await fs.pathExists(path.join(job.dir, "output"))).toBe(false);
    expect(world.lines).toContainEqual(
      `run: ${uid.slice(-8)} output and logs held for review: 1 blocking finding(s); see scq checks, then scq release`,
    );
    // The owner still reads the logs; the requester waits.
    expect((await runScript("scq.ts", ["logs", uid, ...worldArgs(world, OWNER)])).stdout).toBe("logged");
    expect((await runScript("scq.ts", ["output", uid, ...worldArgs(world, SCIENTIST)])).exitCode).toBe(1);
    // A file with a blocking finding goes out only with a written exception, or is withheld.
    const refused = await runScript("scq.ts", ["release", uid, ...worldArgs(world, OWNER)]);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toContain("t.csv has blocking findings");
    const noReason = await runScript("scq.ts", ["release", uid, "--withhold", "t.csv", ...worldArgs(world, OWNER)]);
    expect(noReason.exitCode).toBe(2);
    expect(noReason.stderr).toContain("--withhold needs --reason");
    const released = await runScript("scq.ts", ["release", uid, "--withhold", "t.csv", "-r", "a cell under 10", ...worldArgs(world, OWNER)]);
    expect(released.stdout).toBe(`Released to ${SCIENTIST}: 2 file(s) of ${uid}, its logs among them; withheld: t.csv.`);
    const seen = await runScript("scq.ts", ["output", uid, ...worldArgs(world, SCIENTIST)]);
    expect(seen.stdout).toContain("  note.txt  (3 bytes)\n  withheld: t.csv: a cell under 10");
    // The report that went along covers only what was released (findings quote the values they flag).
    const checks = JSON.parse((await runScript("scq.ts", ["checks", uid, "--json", ...worldArgs(world, SCIENTIST)])).stdout) as {
      files: { path: string }[];
    };
    expect(checks.files.map((f) => f.path)).toEqual(["note.txt", "run-logs/stdout.txt"]);
    const audit = await readAudit(world.paths);
    expect(audit.filter((e) => e.uid === uid && e.event === "released").map((e) => e.detail)).toEqual([
      {
        released: ["note.txt", "run-logs/stdout.txt"],
        withheld: [{ path: "t.csv", reason: "a cell under 10" }],
        exception: null,
        changes_requested: null,
      },
    ]);
  });

  test("request changes: the job goes back with a comment, its output withheld; the requester submits a revision linked to it", async () => {
    const world = await makeWorld({ release: "review" });
    const uid = await world.submit({
      "run.sh": [
        'printf "ward,count\\nNorth,12\\nSouth,7\\n" > "$OUTPUT_DIR/wards.csv"',
        `cat > "$OUTPUT_DIR/manifest.json" <<'EOF'`,
        '{"files": {"wards.csv": {"description": "patients per ward, 2024", "controls": ["none yet"]}}}',
        "EOF",
        "",
      ].join("\n"),
    });
    await world.approveAndRun(uid);
    const review = await runScript("scq.ts", ["checks", uid, ...worldArgs(world, OWNER)]);
    expect(review.stdout).toContain(
      "  wards.csv  (csv, 28 bytes, 2 rows × 2 columns) [HELD for your release]\n    the requester says: patients per ward, 2024\n    controls applied: none yet\n",
    );
    expect(review.stdout).toContain("  manifest.json  (json, ");
    // Comments on lines name a line the code has, and go with a request for changes only.
    const nowhere = await runScript("scq.ts", ["release", uid, "--request-changes", "x", "--comment", "run.sh:99: here", ...worldArgs(world, OWNER)]);
    expect([nowhere.exitCode, nowhere.stderr]).toEqual([2, `error: run.sh of job ${uid} has 4 line(s): there is no line 99 to comment on.`]);
    const alone = await runScript("scq.ts", ["release", uid, "--comment", "run.sh:1: here", ...worldArgs(world, OWNER)]);
    expect([alone.exitCode, alone.stderr]).toEqual([2, "error: Comments on lines go with a request for changes (--request-changes)."]);
    const unparsed = await runScript("scq.ts", ["release", uid, "--request-changes", "x", "--comment", "line one", ...worldArgs(world, OWNER)]);
    expect(unparsed.exitCode).toBe(2);
    expect(unparsed.stderr).toContain('--comment "line one": write it as FILE:LINE: text');
    const back = await runScript("scq.ts", [
      "release",
      uid,
      "--request-changes",
      "suppress cells under 10, then resubmit",
      "--comment",
      "run.sh:1: South has 7 patients: drop rows under 10",
      ...worldArgs(world, OWNER),
    ]);
    expect(back.stdout).toBe(`Returned ${uid} to ${SCIENTIST} with your comment; its output and logs withheld.`);
    const mine = await runScript("scq.ts", ["job", uid, "--json", ...worldArgs(world, SCIENTIST)]);
    expect(JSON.parse(mine.stdout)).toMatchObject({
      output_decisions: {
        changes_requested: "suppress cells under 10, then resubmit",
        released: [],
        line_comments: [{ file: "run.sh", line: 1, text: "South has 7 patients: drop rows under 10" }],
      },
    });
    // The requester reads the comments and what to do next.
    const told = await runScript("scq.ts", ["job", uid.slice(-8), ...worldArgs(world, SCIENTIST)]);
    expect(told.stdout).toContain(
      [
        `Changes requested by ${OWNER}: suppress cells under 10, then resubmit`,
        "  run.sh:1  South has 7 patients: drop rows under 10",
        `Change the code and submit it again as a revision: scq submit <folder> --to ${OWNER} --revises ${uid.slice(-8)}`,
      ].join("\n"),
    );
    const revised = await submitRevision(
      world,
      { "run.sh": 'printf "ward,count\\nNorth,12\\n" > "$OUTPUT_DIR/wards.csv"\n', "README.md": "Counts under 10 dropped.\n" },
      uid,
    );
    await world.pass();
    expect((await world.job(revised)).meta.revises).toBe(uid);
    // Its reviewer reads what changed since the revision they returned, and what they said on it.
    const reread = await runScript("scq.ts", ["review", revised.slice(-8), ...worldArgs(world, OWNER)]);
    expect(reread.stdout).toContain(
      [
        `Changes since ${uid} (the revision returned for changes, completed):`,
        "──── README.md: added (+1 -0) ────",
        "@@ -0,0 +1,1 @@",
        "+Counts under 10 dropped.",
        "──── run.sh: changed (+1 -4) ────",
        "@@ -1,4 +1,1 @@",
        '-printf "ward,count\\nNorth,12\\nSouth,7\\n" > "$OUTPUT_DIR/wards.csv"',
        `-cat > "$OUTPUT_DIR/manifest.json" <<'EOF'`,
      ].join("\n"),
    );
    expect(reread.stdout).toContain(
      '+printf "ward,count\\nNorth,12\\n" > "$OUTPUT_DIR/wards.csv"\nComments on that revision:\n  run.sh:1  South has 7 patients: drop rows under 10\n',
    );
    const json = JSON.parse((await runScript("scq.ts", ["review", revised, "--json", ...worldArgs(world, OWNER)])).stdout) as { revision: unknown };
    expect(json.revision).toMatchObject({
      revises: uid,
      status: "completed",
      unchanged: 0,
      changes: [
        { file: "README.md", change: "added" },
        { file: "run.sh", change: "changed", added: 1, removed: 4 },
      ],
    });
  });

  test("differencing aligns rows by their labels: the same table reordered, with a column added, is still compared cell by cell", async () => {
    const { differencingFindings } = await import("../lib/disclosure/rules.ts");
    const prior = {
      uid: "0".repeat(36),
      at: "",
      columns: ["ward", "count"],
      rows: [
        ["North", "20"],
        ["East", "30"],
      ],
    };
    const now = {
      columns: ["ward", "beds", "count"],
      rows: [
        ["East", "12", "30"],
        ["North", "8", "21"],
      ],
    };
    expect(differencingFindings(now, [prior], defaults).map((f) => `${f.row} ${f.column} ${f.value}`)).toEqual(["2 count 21"]);
    // Without labels, rows are compared by position.
    const bare = { uid: "1".repeat(36), at: "", columns: ["count"], rows: [["20"], ["30"]] };
    expect(differencingFindings({ columns: ["count"], rows: [["20"], ["33"]] }, [bare], defaults).map((f) => `${f.row} ${f.value}`)).toEqual([
      "2 33",
    ]);
  });

  test("a suppressed cell is recoverable from a total released before: its row's total, or its column's", async () => {
    const { recoverableFromReleased } = await import("../lib/disclosure/rules.ts");
    const byRow = {
      uid: "2".repeat(36),
      at: "",
      columns: ["ward", "total"],
      rows: [
        ["North", "20"],
        ["South", "55"],
      ],
    };
    const now = {
      columns: ["ward", "male", "female"],
      rows: [
        ["North", "12", "<5"],
        ["South", "30", "25"],
      ],
    };
    expect(recoverableFromReleased(now, [byRow], defaults).map((f) => `${f.row} ${f.column} ${f.message}`)).toEqual([
      "1 female the only suppressed cell of its row, whose total (20) was released before by job 22222222: less the other cells it gives 8",
    ]);
    const byColumn = { uid: "3".repeat(36), at: "", columns: ["ward", "male", "female"], rows: [["Total", "42", "33"]] };
    expect(recoverableFromReleased(now, [byColumn], defaults).map((f) => `${f.row} ${f.column} ${f.value}`)).toEqual(["1 female <5"]);
    // Two suppressed in the row, no column total before: nothing to work out.
    expect(recoverableFromReleased({ columns: now.columns, rows: [["North", "*", "*"]] }, [byRow], defaults)).toEqual([]);
    // A block whose own column totals leave it wide open, but which the row totals released before pin
    // down: North's cells are 0 to 5 (South's, 15 to 25, are no one's secret).
    const rowTotals = {
      uid: "4".repeat(36),
      at: "",
      columns: ["ward", "total"],
      rows: [
        ["North", "5"],
        ["South", "40"],
      ],
    };
    const block = {
      columns: ["ward", "a", "b"],
      rows: [
        ["North", "*", "*"],
        ["South", "*", "*"],
        ["Total", "25", "20"],
      ],
    };
    const tail = "its row and column totals, taken together, put it between 0 and 5: less than the threshold (10) apart";
    expect(recoverableFromReleased(block, [rowTotals], defaults).map((f) => `${f.rule} ${f.row} ${f.column}: ${f.message}`)).toEqual([
      `narrow-bounds 1 a: with the totals released before by job 44444444, ${tail}`,
      `narrow-bounds 1 b: with the totals released before by job 44444444, ${tail}`,
    ]);
    expect(recoverableFromReleased(block, [], defaults)).toEqual([]);
    // As the pass checks an output: the releases of the same file name to the same requester are asked for.
    const report = await checkOutput(await outputs({ "wards.csv": "ward,male,female\nNorth,12,<5\nSouth,30,25\n" }), defaults, [], (rel) =>
      Promise.resolve(rel === "wards.csv" ? [byRow] : []),
    );
    expect(report.files[0]!.findings.filter((f) => f.rule === "recoverable").map((f) => `${f.row} ${f.column} ${f.blocking}`)).toEqual([
      "1 female true",
    ]);
  });

  test("the other way round: totals that give away a suppressed cell of a table released before are flagged on the totals", async () => {
    const { exposedBy } = await import("../lib/disclosure/rules.ts");
    const block = {
      uid: "5".repeat(36),
      at: "",
      columns: ["ward", "male", "female"],
      rows: [
        ["North", "12", "<5"],
        ["South", "30", "25"],
      ],
    };
    const totals = {
      columns: ["ward", "total"],
      rows: [
        ["North", "20"],
        ["South", "55"],
      ],
    };
    expect(exposedBy(totals, [block], defaults).map((f) => `${f.rule} ${f.row} ${f.column}: ${f.message}`)).toEqual([
      "recoverable null null: gives away a suppressed cell of the table released before by job 55555555, row 1, column female: " +
        "the only suppressed cell of its row, whose total (20) was given by this table: less the other cells it gives 8",
    ]);
    // A table with nothing suppressed gives nothing away; totals of other rows give nothing away.
    expect(exposedBy(totals, [{ ...block, rows: [["North", "12", "8"]] }], defaults)).toEqual([]);
    expect(exposedBy({ columns: totals.columns, rows: [["East", "20"]] }, [block], defaults)).toEqual([]);
    // As the pass checks an output.
    const report = await checkOutput(await outputs({ "totals.csv": "ward,total\nNorth,20\nSouth,55\n" }), defaults, [], () =>
      Promise.resolve([block]),
    );
    expect(report.files[0]!.findings.map((f) => `${f.rule} ${f.blocking}`)).toEqual(["recoverable true"]);
  });

  test("held output is checked again when it is released, against what its requester was given since: in either order", async () => {
    const world = await makeWorld({ release: "review" });
    const run = async (csv: string) => {
      const uid = await world.submit({ "run.sh": `printf "${csv}" > "$OUTPUT_DIR/wards.csv"\n` });
      return world.approveAndRun(uid);
    };
    // Each alone has nothing to find: a cell suppressed with no total, totals that are all large.
    const block = await run("ward,male,female\\nNorth,12,<5\\nSouth,30,25\\n");
    const totals = await run("ward,total\\nNorth,20\\nSouth,55\\n");
    for (const job of [block, totals]) expect(job.meta.checks).toEqual({ files: 1, findings: 0, blocking: 0 });
    // The block goes first; the totals, released after it, would give its suppressed cell away.
    expect((await runScript("scq.ts", ["release", block.uid, ...worldArgs(world, OWNER)])).exitCode).toBe(0);
    const refused = await runScript("scq.ts", ["release", totals.uid, ...worldArgs(world, OWNER)]);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toContain(
      "checked again against what its requester was given since its run was checked, wards.csv has new blocking findings",
    );
    const checks = await runScript("scq.ts", ["checks", totals.uid, ...worldArgs(world, OWNER)]);
    expect(checks.stdout).toContain(`gives away a suppressed cell of the table released before by job ${block.uid.slice(-8)}, row 1, column female`);
    expect(await fs.pathExists(path.join(world.paths.jobs, "completed", totals.uid, "output"))).toBe(false);
    // Shown once, the finding is the owner's to weigh like any other: withheld here.
    const withheld = await runScript("scq.ts", [
      "release",
      totals.uid,
      "--withhold",
      "wards.csv",
      "-r",
      "gives a cell away",
      ...worldArgs(world, OWNER),
    ]);
    expect(withheld.exitCode).toBe(0);
    // And the other way: a block held while totals of its rows were released since (another file: beds.csv).
    const run2 = async (csv: string) => world.approveAndRun(await world.submit({ "run.sh": `printf "${csv}" > "$OUTPUT_DIR/beds.csv"\n` }));
    const held = await run2("ward,men,women\\nNorth,13,<5\\nSouth,30,25\\n");
    const rowTotals = await run2("ward,all\\nNorth,20\\nSouth,55\\n");
    expect(held.meta.checks?.blocking).toBe(0);
    expect((await runScript("scq.ts", ["release", rowTotals.uid, ...worldArgs(world, OWNER)])).exitCode).toBe(0);
    // An exception written before the finding was seen does not cover it.
    const blocked = await runScript("scq.ts", ["release", held.uid, "--exception", "before seeing it", ...worldArgs(world, OWNER)]);
    expect(blocked.exitCode).toBe(1);
    expect(blocked.stderr).toContain("beds.csv has new blocking findings");
    const seen = JSON.parse((await runScript("scq.ts", ["checks", held.uid, "--json", ...worldArgs(world, OWNER)])).stdout) as {
      files: { findings: { rule: string; row: number; column: string; message: string }[] }[];
    };
    expect(seen.files[0]!.findings.map((f) => `${f.rule} ${f.row} ${f.column}`)).toEqual(["recoverable 1 women"]);
    expect(seen.files[0]!.findings[0]!.message).toContain(
      `whose total (20) was released before by job ${rowTotals.uid.slice(-8)}: less the other cells it gives 7`,
    );
    // Now seen, it goes with the owner's exception, and the record counts it.
    const done = await runScript("scq.ts", ["release", held.uid, "--exception", "the panel accepted it", "--json", ...worldArgs(world, OWNER)]);
    expect(done.exitCode).toBe(0);
    expect((JSON.parse(done.stdout) as { checks: unknown }).checks).toEqual({ files: 1, findings: 1, blocking: 1 });
  });

  test("differencing: a table like one already released to the same requester, with cells a few apart, is flagged", async () => {
    const world = await makeWorld();
    const first = await world.approveAndRun(
      await world.submit({ "run.sh": 'printf "ward,count\\nNorth,20\\nEast,30\\n" > "$OUTPUT_DIR/wards.csv"\n' }),
    );
    expect(first.meta.checks).toEqual({ files: 1, findings: 0, blocking: 0 });
    // The same table a week later, one patient more in North: 21 − 20 discloses that patient.
    const second = await world.approveAndRun(
      await world.submit({ "run.sh": 'printf "ward,count\\nNorth,21\\nEast,30\\n" > "$OUTPUT_DIR/wards.csv"\n' }),
    );
    const report = JSON.parse((await runScript("scq.ts", ["checks", second.uid, "--json", ...worldArgs(world, OWNER)])).stdout) as {
      files: { findings: { rule: string; row: number; column: string; value: string; message: string }[] }[];
    };
    expect(report.files[0]!.findings).toEqual([
      {
        rule: "differencing",
        blocking: true,
        row: 1,
        column: "count",
        value: "21",
        message: `differs by 1 from the same cell (20) of the table released to this requester by job ${first.uid.slice(-8)}`,
      },
    ]);
  });
});
