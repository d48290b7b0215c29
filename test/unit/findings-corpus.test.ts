// The advisory findings measured on a corpus of real-looking analysis scripts (Python, R, shell) with
// hand labels: every labelled risk found and named for what the line does, nothing else flagged in the
// risky scripts, and on benign scripts at most a tenth of the false alarms of the rules before.
import fs from "node:fs";
import path from "node:path";
import { describe, expect, test } from "vitest";
import * as z from "zod";
import { scanText } from "../../lib/people/danger.ts";

const root = path.join(import.meta.dirname, "..", "fixtures", "findings");
const Labels = z.object({
  benign_findings_before: z.number().int().positive(),
  risky: z.record(z.string(), z.array(z.tuple([z.number().int().positive(), z.string()]))),
});
const labels = Labels.parse(JSON.parse(fs.readFileSync(path.join(root, "labels.json"), "utf8")));

/** Each finding as "line first-word-of-rule", the form the labels use. */
function scan(kind: "benign" | "risky", file: string): string[] {
  return scanText(file, fs.readFileSync(path.join(root, kind, file), "utf8")).map((f) => `${f.line} ${f.rule.split(" ")[0]}`);
}
const files = (kind: string) => fs.readdirSync(path.join(root, kind)).sort();

describe("advisory findings on a labelled corpus", () => {
  test("the corpus is at least 40 scripts in Python, R and shell, and every risky script is labelled", () => {
    const all = [...files("benign"), ...files("risky")];
    expect(all.length).toBeGreaterThanOrEqual(40);
    for (const ext of [".py", ".R", ".sh"]) {
      expect(files("benign").filter((f) => f.endsWith(ext)).length, ext).toBeGreaterThanOrEqual(8);
      expect(files("risky").filter((f) => f.endsWith(ext)).length, ext).toBeGreaterThanOrEqual(2);
    }
    expect(Object.keys(labels.risky).sort()).toEqual(files("risky"));
  });

  test("every labelled risk is found, named for what the line does, and nothing else in those scripts is", () => {
    for (const file of files("risky")) {
      const wanted = labels.risky[file]!.map(([line, rule]) => `${line} ${rule}`).sort();
      expect(scan("risky", file).sort(), file).toEqual(wanted);
    }
  });

  test("benign scripts: at least 90 % of the false alarms of the rules before are gone", () => {
    const alarms = files("benign").flatMap((file) => scan("benign", file).map((f) => `${file}:${f}`));
    expect(alarms.length).toBeLessThanOrEqual(Math.floor(labels.benign_findings_before / 10));
  });
});
