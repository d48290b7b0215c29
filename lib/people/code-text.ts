// The text of a job's code as a reviewer reads it: every file, run.sh first, each either text or
// named as binary. Shared by the review and by the comparison with an earlier revision.
import path from "node:path";
import { openRegularFile } from "../core/fsutil.ts";
import { walkTree, type TreeEntry } from "../core/tree.ts";

export interface CodeText {
  files: TreeEntry[];
  /** Every file, run.sh first (it is what runs), with its text: null for a file with a NUL byte (not text). */
  texts: { file: string; text: string | null; size: number }[];
}

export async function readCodeText(code: string): Promise<CodeText> {
  const files = await walkTree(code);
  const out: CodeText = { files, texts: [] };
  const ordered = [...files.filter((f) => f.rel === "run.sh"), ...files.filter((f) => f.rel !== "run.sh")];
  for (const entry of ordered) {
    if (entry.type !== "file") continue;
    const { handle } = await openRegularFile(path.join(code, entry.rel));
    const buffer = await handle.readFile().finally(() => handle.close());
    out.texts.push({ file: entry.rel, text: buffer.includes(0) ? null : buffer.toString("utf8"), size: entry.size });
  }
  return out;
}
