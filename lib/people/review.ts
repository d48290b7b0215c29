// What an owner needs to decide: the record, every file with its size, the text of the code,
// the code hash (recomputed now, so it is what will be approved) and the advisory findings.
// Every text file is scanned, however large; what is not shown, or not scanned, is named, so that
// "no findings" never hides a file nobody looked at.
import fs from "fs-extra";
import path from "node:path";
import { scanText, type Finding } from "./danger.ts";
import { openRegularFile } from "../core/fsutil.ts";
import type { Context } from "../core/context.ts";
import type { Job } from "../core/job.ts";
import { approvalsOf } from "../approval/votes.ts";
import { treeHash, walkTree, type TreeEntry } from "../core/tree.ts";

/** Larger text files are scanned but not printed in full. */
const MAX_SHOWN_BYTES = 256 * 1024;

export interface Review {
  job: Job;
  files: TreeEntry[];
  texts: { file: string; text: string }[];
  /** Files whose text is not shown: binary, or too large to print. */
  notShown: { file: string; why: string }[];
  /** Files the advisory scan could not read as text (binary): nothing at all is known of them. */
  notScanned: { file: string; why: string }[];
  code_sha256: string;
  findings: Finding[];
}

/** The review of a job already looked up (by the owner: the code is in their own queue). */
export async function buildReview(job: Job): Promise<Review> {
  const code = path.join(job.dir, "code");
  const hasCode = await fs.pathExists(code);
  const files = hasCode ? await walkTree(code) : [];
  const review: Review = { job, files, texts: [], notShown: [], notScanned: [], code_sha256: "", findings: [] };
  // run.sh first: it is what runs.
  const ordered = [...files.filter((f) => f.rel === "run.sh"), ...files.filter((f) => f.rel !== "run.sh")];
  for (const entry of ordered) {
    if (entry.type !== "file") continue;
    const { handle } = await openRegularFile(path.join(code, entry.rel));
    const buffer = await handle.readFile().finally(() => handle.close());
    if (buffer.includes(0)) {
      review.notShown.push({ file: entry.rel, why: "binary" });
      review.notScanned.push({ file: entry.rel, why: "binary: cannot be read or scanned as text" });
      review.findings.push({ file: entry.rel, line: 0, rule: "binary file: cannot be reviewed or scanned as text", text: "" });
      continue;
    }
    const text = buffer.toString("utf8");
    review.findings.push(...scanText(entry.rel, text));
    if (entry.size > MAX_SHOWN_BYTES) review.notShown.push({ file: entry.rel, why: `${entry.size} bytes, too large to show here; scanned` });
    else review.texts.push({ file: entry.rel, text });
  }
  review.code_sha256 = hasCode ? await treeHash(code, files) : "";
  return review;
}

/** A code review as every view shows it (scq review --json, the page): one shape, built here only. */
export interface ReviewView {
  files: TreeEntry[];
  texts: Review["texts"];
  not_shown: Review["notShown"];
  not_scanned: Review["notScanned"];
  /** Null only in a requester's view, which shows no code. */
  code_sha256: string | null;
  findings: Finding[];
  /** Where the job stands with N-of-M approvals (null when the owner asks for none, or for a requester's view). */
  approvals: ReturnType<typeof approvalsOf>;
}

export function reviewView(ctx: Context, r: Review): ReviewView {
  return {
    files: r.files,
    texts: r.texts,
    not_shown: r.notShown,
    not_scanned: r.notScanned,
    code_sha256: r.code_sha256,
    findings: r.findings,
    approvals: approvalsOf(ctx, r.job),
  };
}
