// A job as every layer sees it: where its folder is (which says its status) and its record, and a
// job as shown to one user. Reading and moving jobs is lib/queue/'s business.
import type { JobMetadata, JobStatus } from "./schemas.ts";

export interface Job {
  /** Where the folder is, which is what counts. */
  status: JobStatus;
  uid: string;
  dir: string;
  meta: JobMetadata;
}

export interface JobView extends Job {
  /** The datasite whose queue holds the job. */
  owner: string;
  /** "approver": a listed approver reviewing another owner's queue (--datasite). */
  role: "owner" | "approver" | "requester";
  /** False while the job waits in the owner's inbox for their pass to take it in. */
  taken_in: boolean;
  /** A pending job's decision (or, voting, this person's vote) written and not yet applied by a pass: it can still be undone. */
  waiting_decision?: { decision: "approve" | "reject"; by: string; vote: boolean } | undefined;
}
