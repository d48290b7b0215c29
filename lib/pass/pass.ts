// One pass of the processor: lock → recover → intake (and cancel requests) → log pending →
// count votes → apply decisions → collect finished runs → start approved ones (never waiting for them) → cleanup →
// unlock. Each step leaves every job in a state the next pass understands, so a pass can be killed
// at any point.
import fs from "node:fs";
import path from "node:path";
import { applyCancellations } from "./cancel.ts";
import { forEachLimit } from "../core/concurrency.ts";
import { cleanup, type CleanupResult } from "./cleanup.ts";
import { markerFor } from "../approval/decisions.ts";
import { ConfigError, errorMessage, reportJobError } from "../core/errors.ts";
import { asDiskFull, diskFull, keepReserve, releaseReserve, unlessDiskFull } from "../core/disk-space.ts";
import { exists, ifExists, readUntrustedFile, writeJsonAtomic } from "../core/fsutil.ts";
import { intake, type IntakeResult } from "./intake.ts";
import { pageJobs, refreshIndex, statusUids } from "../queue/listing.ts";
import type { Job } from "../core/job.ts";
import { readJob } from "../queue/jobs.ts";
import { now, TERMINAL_STATUSES, transition, update, type Recorder } from "../queue/lifecycle.ts";
import { tryLock } from "../core/lock.ts";
import type { Context } from "../core/context.ts";
import { age, consoleLog, prefixed, shortUid, silentLog, type Log } from "../core/log.ts";
import { datasiteDir, jobDir, queuePaths, type QueuePaths } from "../core/paths.ts";
import { queuePermissions } from "../queue/permissions.ts";
import { publishMocks } from "./mock.ts";
import { notify } from "./notify.ts";
import { recover } from "./recover.ts";
import { CODE_CHANGED, collectRuns, startApproved, type Ran } from "./runs.ts";
import type { AppConfig, JobStatus } from "../core/schemas.ts";
import { describeSettings, settingsInForce, type Settings } from "../core/settings.ts";
import { applyVotes, grantApprovers } from "../approval/votes.ts";
import { treeHash } from "../core/tree.ts";

export interface PassOptions {
  dataDir: string;
  owner: string;
  config: AppConfig;
  /** Which file `config` came from, for the log and last-pass.json (resolveContext gives it). */
  settings?: Settings | undefined;
  log: Log;
}

export interface PassSummary {
  skipped?: "locked";
  started_at: string;
  finished_at: string;
  intake: IntakeResult;
  cancelled: string[];
  pending: number;
  decided: { uid: string; to: string }[];
  /** Jobs this pass started (they run on, detached; a later pass collects them). */
  started: string[];
  /** Runs collected (or refused at start) by this pass. */
  ran: Ran[];
  /** Jobs still running when this pass ended. */
  running: number;
  sandbox_problem: string | null;
  /** "disk full at <folder> (N MB free)" when this pass ran short of room, else null. */
  disk_full: string | null;
  cleanup: CleanupResult;
  settings: Settings;
}

/** One pass as the owner of a resolved context: log lines on stdout, or (json) the summary returned alone. */
export function passFor(ctx: Context, json: boolean): Promise<PassSummary> {
  return runPass({ dataDir: ctx.dataDir, owner: ctx.email, config: ctx.config, settings: ctx.settings, log: json ? silentLog : consoleLog });
}

export async function runPass({ dataDir, owner, config, settings = settingsInForce(config), log }: PassOptions): Promise<PassSummary> {
  if (!(await exists(datasiteDir(dataDir, owner)))) {
    throw new ConfigError(`No datasite for ${owner} in ${path.join(dataDir, "datasites")}: check email and data_dir in the SyftBox client config.`);
  }
  const paths = queuePaths(dataDir, owner, config.queue_name);
  const summary: PassSummary = {
    started_at: now(),
    finished_at: "",
    intake: { accepted: [], rejected: [] },
    cancelled: [],
    pending: 0,
    decided: [],
    started: [],
    ran: [],
    running: 0,
    sandbox_problem: null,
    disk_full: null,
    cleanup: { expired: [], removed: [], swept: false },
    settings,
  };
  // On a low disk the reserve is given back first, so the lock and the records below can be written.
  const full = await diskFull(paths);
  if (full) await releaseReserve(paths);
  const lock = await tryLock(paths.lock).catch((error: unknown) => {
    throw asDiskFull(error);
  });
  if (!lock.acquired) {
    log(`another pass is running (pid ${lock.holder.pid}, since ${lock.holder.started_at}); nothing to do`);
    return { ...summary, skipped: "locked", finished_at: now() };
  }
  try {
    // Said on every pass: an owner who edits config.json sees in the log whether it was read.
    log(`settings: ${describeSettings(settings)}`);
    if (full) log(`${full}: this pass only collects, cancels, decides and cleans up; intake and new starts wait for room`);
    summary.disk_full = full ?? null;
    for (const dir of [paths.inbox, paths.jobs, paths.decisions]) await fs.promises.mkdir(dir, { recursive: true });
    // The private state (runs, intake notes, released hashes, dry runs) and unreleased output are the
    // owner's alone on this machine too: other local users cannot even pass through these folders.
    for (const dir of [paths.state, paths.staging]) {
      await fs.promises.mkdir(dir, { recursive: true, mode: 0o700 });
      await fs.promises.chmod(dir, 0o700);
    }
    await queuePermissions(paths.root, config.approvals?.approvers);
    if (!full) await publishMocks(paths, config, log);
    await recover(paths, log);
    if (!full) summary.intake = await intake(paths, config, log);
    summary.cancelled = await applyCancellations(paths, config, log);
    const approvalsChanged = await grantApprovers(paths, config.approvals, summary.intake.accepted);
    // One listing of pending/ (names only) serves the summary and the decisions.
    const pending = (await statusUids(paths, ["pending"])).get("pending") ?? [];
    summary.pending = pending.length;
    await logPending(paths, pending, summary.intake.accepted.length, log);
    await applyVotes(paths, config.approvals, new Set(pending), log, approvalsChanged);
    summary.decided = await applyDecisions(paths, new Set(pending), log);
    const collected = await collectRuns(paths, config, log);
    const started = full ? { started: [], ran: [], problem: full } : await startApproved(paths, config, log, collected.running);
    summary.started = started.started;
    summary.running = collected.running + started.started.length;
    summary.ran = [...collected.ran, ...started.ran];
    summary.sandbox_problem = started.problem ?? null;
    // On a full disk the sweep runs now, not on its hourly turn: removing expired jobs frees room.
    summary.cleanup = await cleanup(paths, config, log, Date.now(), { now: full !== undefined });
    await settleForeignMoves(paths, await refreshIndex(paths), log);
    // Jobs this pass took in that still wait for a person (a rule may have approved some).
    const decided = new Set(summary.decided.map((d) => d.uid));
    await notify(
      paths,
      config.notify,
      owner,
      summary.intake.accepted.filter((uid) => !decided.has(uid)),
      log,
    ).catch((error: unknown) => log(`notify: could not work this pass (the next one tries again): ${errorMessage(error)}`));
    summary.finished_at = now();
    // What scq status shows of the last pass; on a full disk, the pass's work is done without it.
    await unlessDiskFull(writeJsonAtomic(paths.lastPass, summary), () =>
      log(`pass: disk full: this pass's summary could not be kept (scq status shows the one before)`),
    );
    if (!(await diskFull(paths))) await keepReserve(paths);
    return summary;
  } catch (error) {
    throw asDiskFull(error);
  } finally {
    // We MUST release the lock whatever happened, or every later pass would wait for a dead one.
    await lock.release();
  }
}

/**
 * One line a pass while jobs wait, however many: each job was named once, when intake took it in.
 * (A line per job per pass would be gigabytes a day for a long queue under run.sh --loop.)
 */
async function logPending(paths: QueuePaths, pending: string[], fresh: number, log: Log): Promise<void> {
  if (pending.length === 0) return;
  const [oldest] = (await pageJobs(paths, { statuses: ["pending"], limit: 1, oldestFirst: true })).jobs;
  const since = oldest ? `, oldest ${age(oldest.meta.created_at)}` : "";
  log(`pending: ${pending.length} (${fresh} new${since}); see them with scq pending, decide with scq review and scq approve|reject`);
}

/** Markers for pending jobs: one listing of decisions/, and only the jobs that have one are read. */
async function applyDecisions(paths: QueuePaths, pending: Set<string>, log: Log): Promise<{ uid: string; to: string }[]> {
  const rec: Recorder = { paths, log: prefixed(log, "decision: ") };
  const decided: { uid: string; to: string }[] = [];
  const marked = ((await ifExists(fs.promises.readdir(paths.decisions))) ?? [])
    .map((name) => name.replace(/\.json$/, ""))
    .filter((uid) => pending.has(uid));
  // Independent jobs whose changes mostly wait on the disk: a few at a time, reported in uid order.
  await forEachLimit(marked.sort(), 8, async (uid) => {
    try {
      const to = await applyDecision(rec, await readJob(paths, "pending", uid));
      if (to) decided.push({ uid, to });
    } catch (error) {
      // E.g. its folder is being deleted by a sync. It stays pending; the next pass looks again.
      reportJobError(rec.log, shortUid(uid), error);
    }
  });
  return decided.sort((a, b) => a.uid.localeCompare(b.uid));
}

async function applyDecision(rec: Recorder, job: Job): Promise<JobStatus | undefined> {
  let marker;
  try {
    marker = await markerFor(rec.paths, job.uid);
  } catch (error) {
    rec.log(`${shortUid(job.uid)} marker ignored: ${errorMessage(error)}`);
    return undefined;
  }
  if (!marker) return undefined;
  const decision = { by: marker.by, reason: marker.reason, at: marker.at };
  if (marker.decision === "reject") {
    await transition(
      rec,
      job,
      "rejected",
      { decision, completed_at: now(), error_message: `rejected by ${marker.by}: ${marker.reason}` },
      { event: "rejected", by: marker.by, detail: { reason: marker.reason }, say: `rejected by ${marker.by}: ${marker.reason}` },
    );
    return "rejected";
  }
  const current = await treeHash(path.join(job.dir, "code"));
  if (current !== marker.code_sha256) {
    await transition(
      rec,
      job,
      "failed",
      { decision, completed_at: now(), error_message: CODE_CHANGED },
      {
        event: "failed",
        detail: { reason: "code changed after approval", approved: marker.code_sha256, found: current },
        say: "NOT approved: its code changed after approval → failed",
      },
    );
    return "failed";
  }
  await transition(
    rec,
    job,
    "approved",
    { decision },
    { event: "approved", by: marker.by, detail: { reason: marker.reason, code_sha256: current }, say: `approved by ${marker.by}` },
  );
  return "approved";
}

/**
 * Jobs that arrived in a finished state's folder during this pass without this app moving them (their
 * record lacks the exact times every record it writes carries): the Python client's cancel_job moves a
 * job into rejected/ itself. Each is recorded once (a "cancelled" line for rejected/), so no change to
 * a job goes unaudited, and its record becomes one this app reads and writes from then on.
 */
async function settleForeignMoves(paths: QueuePaths, arrivals: Map<JobStatus, string[]>, log: Log): Promise<void> {
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
