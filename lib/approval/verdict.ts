// "May this code run as this job?" has one answer, and it is here. The pass asks it when it applies a
// decision (pending), when it starts a job (approved, against the staged copy it is about to run) and
// when it finishes a change a crashed pass left half done. Only a decision marker for exactly this
// code approves: a status field, a folder in approved/ or a vote never does by itself.
import { errorMessage } from "../core/errors.ts";
import type { Job } from "../core/job.ts";
import type { DecisionMarker } from "../core/schemas.ts";
import type { QueuePaths } from "../core/paths.ts";
import { now, transition, type Recorder } from "../queue/lifecycle.ts";
import { markerFor } from "./decisions.ts";

export type Verdict =
  | { is: "approved"; marker: DecisionMarker; codeHash: string }
  | { is: "rejected"; marker: DecisionMarker }
  /** Approved, but for other code than the code that would run now. */
  | { is: "code-changed"; marker: DecisionMarker; codeHash: string }
  | { is: "undecided" }
  | { is: "unreadable"; error: string };

/**
 * The verdict on job `uid` with its code as it is now. `codeHash` is asked for only when an approval
 * has to be compared with it (hashing a large tree for a rejection would be wasted).
 */
export async function verdictOn(paths: QueuePaths, uid: string, codeHash: () => Promise<string>): Promise<Verdict> {
  let marker: DecisionMarker | undefined;
  try {
    marker = await markerFor(paths, uid);
  } catch (error) {
    return { is: "unreadable", error: errorMessage(error) };
  }
  if (!marker || marker.uid !== uid) return { is: "undecided" };
  if (marker.decision === "reject") return { is: "rejected", marker };
  const current = await codeHash();
  return current === marker.code_sha256 ? { is: "approved", marker, codeHash: current } : { is: "code-changed", marker, codeHash: current };
}

export const CODE_CHANGED = "code changed after approval: approve it again after reviewing the new code";

/** The one way a job whose code changed after its approval ends: failed, both hashes in the audit. */
export function failCodeChanged(rec: Recorder, job: Job, verdict: Extract<Verdict, { is: "code-changed" }>, when: string): Promise<Job> {
  const { marker, codeHash } = verdict;
  return transition(
    rec,
    job,
    "failed",
    { decision: { by: marker.by, reason: marker.reason, at: marker.at }, completed_at: now(), error_message: CODE_CHANGED },
    {
      event: "failed",
      detail: { reason: "code changed after approval", approved: marker.code_sha256, found: codeHash },
      say: `${when}: its code changed after approval → failed`,
    },
  );
}
