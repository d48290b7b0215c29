// A resubmission after "request changes" (scq submit --revises) is read against the revision its
// reviewer already read: per file, what was added, removed or changed, and the comments on lines the
// reviewer left on the earlier one. Only a link the pass verified (intake keeps "revises" only for an
// earlier job of the same requester that was returned for changes) gets here.
import path from "node:path";
import type { Job } from "../core/job.ts";
import type { QueuePaths } from "../core/paths.ts";
import type { JobStatus, LineComment } from "../core/schemas.ts";
import { errorMessage } from "../core/errors.ts";
import { findJob } from "../queue/jobs.ts";
import { readCodeText, type CodeText } from "./code-text.ts";
import { diffLines, linesOf, type Hunk } from "./diff.ts";

/** Larger files are named as changed or not, not compared line by line. */
const MAX_COMPARED_BYTES = 256 * 1024;

export interface FileChange {
  file: string;
  change: "added" | "removed" | "changed";
  /** Lines added and removed (0 when the file is not compared line by line). */
  added: number;
  removed: number;
  hunks: Hunk[];
  /** Why the lines are not shown: a binary or too large file. */
  not_compared: string | null;
}

export interface Revision {
  /** The earlier job: the revision the reviewer read. */
  revises: string;
  status: JobStatus | null;
  code_sha256: string | null;
  /** Why the earlier code cannot be compared (cleaned up, unreadable); the changes are then empty. */
  unavailable: string | null;
  changes: FileChange[];
  unchanged: number;
  /** What the reviewer said on lines of the earlier revision. */
  comments: LineComment[];
}

function compare(before: CodeText, after: CodeText): { changes: FileChange[]; unchanged: number } {
  const byName = (c: CodeText) => new Map(c.texts.map((t) => [t.file, t]));
  const [was, is] = [byName(before), byName(after)];
  const changes: FileChange[] = [];
  let unchanged = 0;
  for (const file of [...new Set([...was.keys(), ...is.keys()])].sort()) {
    const [oldText, newText] = [was.get(file), is.get(file)];
    const change = !oldText ? "added" : !newText ? "removed" : "changed";
    const tooLarge = (oldText?.size ?? 0) > MAX_COMPARED_BYTES || (newText?.size ?? 0) > MAX_COMPARED_BYTES;
    const binary = oldText?.text === null || newText?.text === null;
    if (binary || tooLarge) {
      // Not text, or too large to compare here: still said, whether or not it changed.
      if (change === "changed" && !binary && oldText!.text === newText!.text) unchanged++;
      else changes.push({ file, change, added: 0, removed: 0, hunks: [], not_compared: binary ? "binary" : "too large to compare line by line" });
      continue;
    }
    const hunks = diffLines(linesOf(oldText?.text ?? ""), linesOf(newText?.text ?? ""));
    if (change === "changed" && hunks.length === 0) {
      unchanged++;
      continue;
    }
    const count = (op: string) => hunks.reduce((n, h) => n + h.lines.filter((l) => l.op === op).length, 0);
    changes.push({ file, change, added: count("+"), removed: count("-"), hunks, not_compared: null });
  }
  return { changes, unchanged };
}

/** The comparison of `job` (whose code is `now`) with the revision it revises, in the queue at `paths`; null when it revises none. */
export async function revisionOf(paths: QueuePaths, job: Job, now: CodeText): Promise<Revision | null> {
  const revises = job.meta.revises;
  if (!revises) return null;
  let earlier: Job;
  try {
    earlier = await findJob(paths, revises);
  } catch (error) {
    return { revises, status: null, code_sha256: null, unavailable: errorMessage(error), changes: [], unchanged: 0, comments: [] };
  }
  const base = {
    revises,
    status: earlier.status,
    code_sha256: earlier.meta.code_sha256,
    comments: earlier.meta.output_decisions?.line_comments ?? [],
  };
  try {
    return { ...base, unavailable: null, ...compare(await readCodeText(path.join(earlier.dir, "code")), now) };
  } catch (error) {
    return { ...base, unavailable: `its code cannot be read: ${errorMessage(error)}`, changes: [], unchanged: 0 };
  }
}
