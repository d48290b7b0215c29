// The pass's step for jobs another program moved: the Python client's cancel_job moves a job into
// rejected/ itself. Each is recorded once, so no change to a job goes unaudited.
import path from "node:path";
import { reportJobError } from "../core/errors.ts";
import { readUntrustedFile } from "../core/fsutil.ts";
import { prefixed, shortUid, type Log } from "../core/log.ts";
import { jobDir, type QueuePaths } from "../core/paths.ts";
import type { JobStatus } from "../core/schemas.ts";
import { readJob } from "../queue/jobs.ts";
import { TERMINAL_STATUSES, update, type Recorder } from "../queue/lifecycle.ts";

/**
 * Jobs that arrived in a finished state's folder during this pass without this app moving them (their
 * record lacks the exact times every record it writes carries). Each is recorded once (a "cancelled"
 * line for rejected/), and its record becomes one this app reads and writes from then on.
 */
export async function settleForeignMoves(paths: QueuePaths, arrivals: Map<JobStatus, string[]>, log: Log): Promise<void> {
  const rec: Recorder = { paths, log: prefixed(log, "recover: ") };
  for (const status of TERMINAL_STATUSES) {
    for (const uid of arrivals.get(status) ?? []) {
      try {
        const raw = (await readUntrustedFile(path.join(jobDir(paths, status, uid), "metadata.json"))).toString("utf8");
        if ((JSON.parse(raw) as Record<string, unknown>).scq_times !== undefined) continue; // moved by this app
        const job = await readJob(paths, status, uid);
        const cancelled = status === "rejected";
        await update(
          rec,
          job,
          { error_message: job.meta.error_message ?? (cancelled ? "cancelled outside this app (a Python syft-code-queue client)" : null) },
          {
            event: cancelled ? "cancelled" : "recovered",
            by: cancelled ? job.meta.requester_email : null,
            detail: { moved_by: "another program (a Python syft-code-queue client?)", to: status },
            say: `was moved into ${status}/ by another program (a Python client?): recorded${cancelled ? " as cancelled" : ""}`,
          },
        );
      } catch (error) {
        reportJobError(rec.log, shortUid(uid), error);
      }
    }
  }
}
