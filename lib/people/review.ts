// What an owner needs to decide: the record, every file with its size, the text of the code,
// the code hash (recomputed now, so it is what will be approved) and the advisory findings.
// Every text file is scanned, however large; what is not shown, or not scanned, is named, so that
// "no findings" never hides a file nobody looked at.
import fs from "fs-extra";
import path from "node:path";
import { scanText, type Finding } from "./danger.ts";
import type { Context } from "../core/context.ts";
import type { Job } from "../core/job.ts";
import type { QueuePaths } from "../core/paths.ts";
import { approvalsOf } from "../approval/votes.ts";
import { treeHash, type TreeEntry } from "../core/tree.ts";
import { readCodeText } from "./code-text.ts";
import { revisionOf, type Revision } from "./revision.ts";

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
  /** What changed since the revision this job revises, when it revises one. */
  revision: Revision | null;
}

/** The review of a job already looked up in the queue at `paths` (where the revision it revises is looked up too). */
export async function buildReview(paths: QueuePaths, job: Job): Promise<Review> {
  const code = path.join(job.dir, "code");
  const hasCode = await fs.pathExists(code);
  const read = hasCode ? await readCodeText(code) : { files: [], texts: [] };
  const review: Review = { job, files: read.files, texts: [], notShown: [], notScanned: [], code_sha256: "", findings: [], revision: null };
  for (const { file, text, size } of read.texts) {
    if (text === null) {
      review.notShown.push({ file, why: "binary" });
      review.notScanned.push({ file, why: "binary: cannot be read or scanned as text" });
      review.findings.push({ file, line: 0, rule: "binary file: cannot be reviewed or scanned as text", text: "" });
      continue;
    }
    review.findings.push(...scanText(file, text));
    if (size > MAX_SHOWN_BYTES) review.notShown.push({ file, why: `${size} bytes, too large to show here; scanned` });
    else review.texts.push({ file, text });
  }
  review.code_sha256 = hasCode ? await treeHash(code, read.files) : "";
  review.revision = await revisionOf(paths, job, read);
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
  approvals: Awaited<ReturnType<typeof approvalsOf>>;
  /** What changed since the revision its reviewer read (null when it revises none, or for a requester's view). */
  revision: Revision | null;
}

export async function reviewView(ctx: Context, paths: QueuePaths, r: Review): Promise<ReviewView> {
  return {
    files: r.files,
    texts: r.texts,
    not_shown: r.notShown,
    not_scanned: r.notScanned,
    code_sha256: r.code_sha256,
    findings: r.findings,
    approvals: await approvalsOf(ctx, paths, r.job),
    revision: r.revision,
  };
}
