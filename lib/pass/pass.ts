// One pass of the processor: lock → recover → intake (and cancel requests) → log pending →
// count votes → apply decisions → start approved jobs in the slots free (never waiting for them) →
// collect ended runs (the audit lines of these steps' changes written together) → cleanup → unlock.
// Each step leaves every job in a state the next pass understands, so a pass can be killed at any point.
import fs from "node:fs";
import path from "node:path";
import { applyCancellations } from "./cancel.ts";
import { applyDecisions } from "./apply-decisions.ts";
import { settleForeignMoves } from "./foreign-moves.ts";
import { logPending } from "./log-pending.ts";
import { cleanup, type CleanupResult } from "./cleanup.ts";
import { ConfigError, errorMessage } from "../core/errors.ts";
import { asDiskFull, diskFull, isDiskFull, keepReserve, releaseReserve, unlessDiskFull } from "../core/disk-space.ts";
import { exists, writeJsonAtomic } from "../core/fsutil.ts";
import { intake, type IntakeResult } from "./intake.ts";
import { refreshIndex, statusUids } from "../queue/listing.ts";
import { now, oneAuditWrite } from "../queue/lifecycle.ts";
import { tryLock } from "../core/lock.ts";
import type { Context } from "../core/context.ts";
import { consoleLog, silentLog, type Log } from "../core/log.ts";
import { datasiteDir, queuePaths } from "../core/paths.ts";
import { queuePermissions } from "../queue/permissions.ts";
import { publishMocks } from "./mock.ts";
import { notify } from "./notify.ts";
import { ensureOwnerKey } from "../sign/keys.ts";
import { recover } from "./recover.ts";
import { collectRuns, endedRuns, startApproved, type Ran } from "./runs.ts";
import type { AppConfig } from "../core/schemas.ts";
import { describeSettings, settingsInForce, type Settings } from "../core/settings.ts";
import { applyVotes, grantApprovers } from "../approval/votes.ts";
import { applyOutputVotes } from "../disclosure/checkers.ts";

export interface PassOptions {
  dataDir: string;
  owner: string;
  config: AppConfig;
  /** Which file `config` came from, for the log and last-pass.json (resolveContext gives it). */
  settings?: Settings | undefined;
  log: Log;
  /**
   * Whether this pass writes the listing cache and settles jobs other programs moved (its last steps),
   * asked with the summary so far; always, unless said otherwise. The warm loop keeps it to once a
   * second while pass after pass acts: the pass its own moves wake next does it.
   */
  indexNow?: (summary: PassSummary) => boolean;
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
export function passFor(ctx: Context, json: boolean, indexNow?: PassOptions["indexNow"]): Promise<PassSummary> {
  return runPass({
    dataDir: ctx.dataDir,
    owner: ctx.email,
    config: ctx.config,
    settings: ctx.settings,
    log: json ? silentLog : consoleLog,
    indexNow,
  });
}

export async function runPass({ dataDir, owner, config, settings = settingsInForce(config), log, indexNow }: PassOptions): Promise<PassSummary> {
  if (!(await exists(datasiteDir(dataDir, owner)))) {
    throw new ConfigError(`No datasite for ${owner} in ${path.join(dataDir, "datasites")}: check email and data_dir in the SyftBox client config.`);
  }
  const paths = queuePaths(dataDir, owner, config.queue_name);
  const summary: PassSummary = {
    started_at: now(),
    finished_at: "",
    intake: { accepted: [], rejected: [], waiting: [] },
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
  let full = await diskFull(paths);
  if (full) releaseReserve(paths);
  const lock = await tryLock(paths.lock).catch(async (error: unknown) => {
    // Filled between the look and the lock (a run's output being copied): the reserve gives the room.
    if (full || !isDiskFull(error)) throw asDiskFull(error);
    releaseReserve(paths);
    full = await diskFull(paths);
    return tryLock(paths.lock).catch((again: unknown) => {
      throw asDiskFull(again);
    });
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
    await queuePermissions(paths.root, config.approvals, config.output_checkers?.checkers);
    if (!full) await publishMocks(paths, config, log);
    await recover(paths, log);
    // The signing key, made and published at the first pass: requesters can pin it before any result comes.
    if (!full) await ensureOwnerKey(paths).catch((error: unknown) => log(`signing key not made yet: ${errorMessage(error)}`));
    if (!full) summary.intake = await intake(paths, config, log);
    summary.cancelled = await applyCancellations(paths, config, log);
    const approvalsChanged = await grantApprovers(paths, config.approvals, summary.intake.accepted);
    // One listing of pending/ (names only) serves the summary and the decisions.
    const pending = (await statusUids(paths, ["pending"])).get("pending") ?? [];
    summary.pending = pending.length;
    await logPending(paths, pending, summary.intake.accepted.length, log);
    // From the decisions to the collections, the audit lines of every change are written together.
    await oneAuditWrite(paths, async () => {
      await applyVotes(paths, config.approvals, new Set(pending), log, approvalsChanged);
      summary.decided = await applyDecisions(paths, new Set(pending), log);
      const polled = await endedRuns(paths, config, log);
      const started = full ? { started: [], ran: [], problem: full } : await startApproved(paths, config, log, polled.running);
      const collected = await collectRuns(paths, config, log, polled.ended);
      await applyOutputVotes(paths, config.output_checkers, log);
      summary.started = started.started;
      summary.running = polled.running + started.started.length;
      summary.ran = [...collected, ...started.ran];
      summary.sandbox_problem = started.problem ?? null;
    });
    // On a full disk the sweep runs now, not on its hourly turn: removing expired jobs frees room.
    summary.cleanup = await cleanup(paths, config, log, Date.now(), { now: full !== undefined });
    if (indexNow?.(summary) ?? true) await settleForeignMoves(paths, await refreshIndex(paths), log);
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
    // What scq status shows of the last pass; on a full disk, the pass's work is done without it. Not
    // synced to disk: losing it in a power cut costs only that line of scq status.
    await unlessDiskFull(writeJsonAtomic(paths.lastPass, summary, { durable: false }), () =>
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
