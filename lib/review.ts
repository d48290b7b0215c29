// What an owner needs to decide: the record, every file with its size, the text of the code,
// the code hash (recomputed now, so it is what will be approved) and the advisory findings.
import fs from "fs-extra";
import path from "node:path";
import { ownQueue, type Context } from "./context.ts";
import { scanText, type Finding } from "./danger.ts";
import { findJob, type Job } from "./lifecycle.ts";
import { treeHash, walkTree, type TreeEntry } from "./tree.ts";

const MAX_TEXT_BYTES = 256 * 1024;

export interface Review {
  job: Job;
  files: TreeEntry[];
  texts: { file: string; text: string }[];
  /** Files not shown: binary or too large. */
  notShown: { file: string; why: string }[];
  code_sha256: string;
  findings: Finding[];
}

export async function reviewJob(ctx: Context, ref: string): Promise<Review> {
  const job = await findJob(ownQueue(ctx), ref);
  const code = path.join(job.dir, "code");
  const hasCode = await fs.pathExists(code);
  const files = hasCode ? await walkTree(code) : [];
  const texts: Review["texts"] = [];
  const notShown: Review["notShown"] = [];
  const findings: Finding[] = [];
  // run.sh first: it is what runs.
  const ordered = [...files.filter((f) => f.rel === "run.sh"), ...files.filter((f) => f.rel !== "run.sh")];
  for (const entry of ordered) {
    if (entry.type !== "file") continue;
    if (entry.size > MAX_TEXT_BYTES) {
      notShown.push({ file: entry.rel, why: `${entry.size} bytes, too large to show` });
      continue;
    }
    const buffer = await fs.promises.readFile(path.join(code, entry.rel));
    if (buffer.includes(0)) {
      notShown.push({ file: entry.rel, why: "binary" });
      findings.push({ file: entry.rel, line: 0, rule: "binary file: cannot be reviewed as text", text: "" });
      continue;
    }
    const text = buffer.toString("utf8");
    texts.push({ file: entry.rel, text });
    findings.push(...scanText(entry.rel, text));
  }
  return { job, files, texts, notShown, code_sha256: hasCode ? await treeHash(code, files) : "", findings };
}
