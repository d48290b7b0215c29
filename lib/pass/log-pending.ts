// The pass's step that tells the owner what waits for them.
import { age, type Log } from "../core/log.ts";
import type { QueuePaths } from "../core/paths.ts";
import { pageJobs } from "../queue/listing.ts";

/**
 * One line a pass while jobs wait, however many: each job was named once, when intake took it in.
 * (A line per job per pass would be gigabytes a day for a long queue under run.sh --loop.)
 */
export async function logPending(paths: QueuePaths, pending: string[], fresh: number, log: Log): Promise<void> {
  if (pending.length === 0) return;
  const [oldest] = (await pageJobs(paths, { statuses: ["pending"], limit: 1, oldestFirst: true })).jobs;
  const since = oldest ? `, oldest ${age(oldest.meta.created_at)}` : "";
  log(`pending: ${pending.length} (${fresh} new${since}); see them with scq pending, decide with scq review and scq approve|reject`);
}
