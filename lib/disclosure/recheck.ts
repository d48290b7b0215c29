// Held output checked again, at its release, against what its requester was given since it was checked.
// The checks across releases (differencing, totals that give away suppressed cells) compare a table
// with the tables released before it; a job held for review is released later, perhaps after another
// job whose tables it now completes. What the owner releases is compared with what is out by then.
import path from "node:path";
import type { Job } from "../core/job.ts";
import type { QueuePaths } from "../core/paths.ts";
import type { ChecksReport, Finding } from "../core/schemas.ts";
import { acrossReleases, capPerRule, writeChecks } from "./check-output.ts";
import type { Held } from "./held.ts";
import { readTable, TABLE_LIMITS, tableType } from "./read-table.ts";
import { releasedBefore } from "./released.ts";
import { expected } from "../core/expected.ts";

/** A finding as the report says it: what it is and where, without its flags. */
const findingKey = (f: Omit<Finding, "blocking">) => `${f.rule} ${f.row} ${f.column} ${f.message}`;

export interface Recheck {
  /** The report with the new findings added to their files (written back to staging when there are any). */
  report: ChecksReport;
  /** Files that have findings they did not have when the run was checked. */
  added: { path: string; findings: Finding[] }[];
}

/**
 * The tables among `files` compared again with the releases to the job's requester made since
 * `report` was written, under the settings it was written with. Findings already in the report are
 * not said twice, so a second release attempt finds nothing new in what the first one added.
 */
export async function recheckAcrossReleases(paths: QueuePaths, job: Job, held: Held, report: ChecksReport, files: string[]): Promise<Recheck> {
  const settings = report.settings;
  const added: Recheck["added"] = [];
  const entries = report.files.map((entry) => ({ ...entry, findings: [...entry.findings] }));
  for (const entry of entries) {
    const format = tableType(entry.path);
    if (!format || !files.includes(entry.path) || entry.bytes > TABLE_LIMITS.bytes) continue;
    const table = await readTable(path.join(held.dir, "output", entry.path), format).catch(expected("not a table: compared with nothing"));
    if (!table) continue;
    const released = await releasedBefore(paths, job.meta.requester_email, entry.path, table.columns);
    if (!released.some((prior) => prior.at > report.checked_at && prior.uid !== job.uid)) continue;
    const said = new Set(entry.findings.map(findingKey));
    const fresh = capPerRule(acrossReleases(table, released, settings).filter((f) => !said.has(findingKey(f)))).map((f) => ({
      ...f,
      blocking: settings.blocking.includes(f.rule),
    }));
    if (fresh.length === 0) continue;
    entry.findings.push(...fresh);
    added.push({ path: entry.path, findings: fresh });
  }
  const rechecked = { ...report, files: entries };
  if (added.length > 0) await writeChecks(held.dir, rechecked);
  return { report: rechecked, added };
}
