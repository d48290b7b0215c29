// One pass of the processor: lock → recover → intake (and cancel requests) → log pending →
// apply decisions → run approved → cleanup → unlock. Each step leaves every job in a state the next
// pass understands, so a pass can be killed at any point.
import fs from "node:fs";
import path from "node:path";
import { applyCancellations } from "./cancel.ts";
import { cleanup, type CleanupResult } from "./cleanup.ts";
import { forEachLimit } from "./concurrency.ts";
import { approvalMatches, markerFor } from "./decisions.ts";
import { ConfigError, errorMessage, reportJobError } from "./errors.ts";
import { exists, ifExists, readUntrustedFile, writeFileAtomic, writeJsonAtomic } from "./fsutil.ts";
import { intake, type IntakeResult } from "./intake.ts";
import { pageJobs, refreshIndex, statusUids } from "./listing.ts";
import { listJobs, readJob, type Job } from "./jobs.ts";
import { now, TERMINAL_STATUSES, transition, update, type Recorder } from "./lifecycle.ts";
import { tryLock } from "./lock.ts";
import type { Context } from "./context.ts";
import { age, consoleLog, prefixed, shortUid, silentLog, type Log } from "./log.ts";
import { datasiteDir, jobDir, queuePaths, resultsDir, type QueuePaths } from "./paths.ts";
import { queuePermissions } from "./permissions.ts";
import { recover } from "./recover.ts";
import { removeTree } from "./remove.ts";
import { appliedLimits, ensureStageRoot, execute, stageJob, type RunResult } from "./runner.ts";
import { dataPathsProblem, sandboxProblem } from "./sandbox.ts";
import type { AppConfig, JobStatus } from "./schemas.ts";
import { describeSettings, settingsInForce, type Settings } from "./settings.ts";
import { treeHash } from "./tree.ts";

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
  ran: { uid: string; status: "completed" | "failed"; message: string }[];
  sandbox_problem: string | null;
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
    ran: [],
    sandbox_problem: null,
    cleanup: { expired: [], removed: [], swept: false },
    settings,
  };
  const lock = await tryLock(paths.lock);
  if (!lock.acquired) {
    log(`another pass is running (pid ${lock.holder.pid}, since ${lock.holder.started_at}); nothing to do`);
    return { ...summary, skipped: "locked", finished_at: now() };
  }
  try {
    // Said on every pass: an owner who edits config.json sees in the log whether it was read.
    log(`settings: ${describeSettings(settings)}`);
    for (const dir of [paths.inbox, paths.jobs, paths.decisions]) await fs.promises.mkdir(dir, { recursive: true });
    await queuePermissions(paths.root);
    await recover(paths, log);
    summary.intake = await intake(paths, config, log);
    summary.cancelled = await applyCancellations(paths, log);
    // One listing of pending/ (names only) serves the summary and the decisions.
    const pending = (await statusUids(paths, ["pending"])).get("pending") ?? [];
    summary.pending = pending.length;
    await logPending(paths, pending, summary.intake.accepted.length, log);
    summary.decided = await applyDecisions(paths, new Set(pending), log);
    const ran = await runApproved(paths, config, log);
    summary.ran = ran.ran;
    summary.sandbox_problem = ran.problem ?? null;
    summary.cleanup = await cleanup(paths, config, log);
    await settleForeignMoves(paths, await refreshIndex(paths), log);
    summary.finished_at = now();
    await writeJsonAtomic(paths.lastPass, summary);
    return summary;
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
  for (const uid of marked.sort()) {
    try {
      const to = await applyDecision(rec, await readJob(paths, "pending", uid));
      if (to) decided.push({ uid, to });
    } catch (error) {
      // E.g. its folder is being deleted by a sync. It stays pending; the next pass looks again.
      reportJobError(rec.log, shortUid(uid), error);
    }
  }
  return decided;
}

const CODE_CHANGED = "code changed after approval: approve it again after reviewing the new code";

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

async function runApproved(paths: QueuePaths, config: AppConfig, log: Log): Promise<{ ran: PassSummary["ran"]; problem?: string }> {
  const { jobs, problems } = await listJobs(paths, ["approved"]);
  for (const p of problems) log(`approved/${p.uid} has unreadable metadata, not run: ${p.error.message}`);
  if (jobs.length === 0) return { ran: [] };
  const problem =
    (await sandboxProblem(config.sandbox.mode)) ??
    (await dataPathsProblem(config.sandbox.mode, config.sandbox.data_paths)) ??
    (await ensureStageRoot(paths).then(
      () => undefined,
      (error: unknown) => errorMessage(error),
    ));
  if (problem) {
    log(`NOT running ${jobs.length} approved job(s): ${problem}`);
    return { ran: [], problem };
  }
  if (config.sandbox.mode === "none") log(`WARNING: sandbox mode is "none": jobs run UNSANDBOXED, with resource limits only`);
  const queue = sortBy(jobs, (j) => j.meta.decision?.at ?? j.meta.updated_at);
  const ran: PassSummary["ran"] = [];
  await forEachLimit(queue, config.max_concurrent_jobs, async (job) => {
    const rec: Recorder = { paths, log: prefixed(log, "run: ") };
    try {
      const outcome = await runOne(rec, config, job);
      if (outcome) ran.push(outcome);
    } catch (error) {
      // E.g. its folder vanished under us (a sync, a person). Where it still is, the next pass finds it.
      reportJobError(rec.log, shortUid(job.uid), error);
    }
  });
  return { ran };
}

async function runOne(rec: Recorder, config: AppConfig, approved: Job): Promise<PassSummary["ran"][number] | undefined> {
  const { paths, log } = rec;
  const { stage, codeHash } = await stageJob(paths, approved, config.sandbox.mode, config.sandbox.data_paths);
  try {
    // Only a marker for exactly this code approves; a folder in approved/ proves nothing by itself.
    if (!(await approvalMatches(paths, approved.uid, codeHash))) {
      const marker = await markerFor(paths, approved.uid).catch(() => undefined);
      if (marker?.decision === "approve") {
        await transition(
          rec,
          approved,
          "failed",
          { completed_at: now(), error_message: CODE_CHANGED },
          {
            event: "failed",
            detail: { reason: "code changed after approval", approved: marker.code_sha256, found: codeHash },
            say: "NOT run: its code changed after approval → failed",
          },
        );
        return { uid: approved.uid, status: "failed", message: "code changed after approval" };
      }
      await transition(
        rec,
        approved,
        "pending",
        { decision: null, error_message: "found in approved/ without a matching approval marker: back to pending for review" },
        {
          event: "returned",
          detail: { reason: "in approved/ without a matching approval marker" },
          say: "was in approved/ without an approval marker → back to pending, not run",
        },
      );
      return undefined;
    }
    const limits = appliedLimits(config);
    const unsandboxed = config.sandbox.mode === "none";
    const job = await transition(
      rec,
      approved,
      "running",
      {
        started_at: now(),
        limits,
        sandbox: config.sandbox.mode,
        error_message: null,
        // Set before the run: a job interrupted mid-run keeps its partial logs in staging, unreleased.
        output_review: config.release === "review" ? "pending" : null,
      },
      {
        event: "started",
        detail: { sandbox: config.sandbox.mode, limits },
        say: `"${approved.meta.name}" started${unsandboxed ? " UNSANDBOXED (sandbox mode none)" : " in the bwrap sandbox"}`,
      },
    );
    // From here on we MUST move the job out of running/, whatever execute() does.
    let result: RunResult | undefined;
    let crash: string | undefined;
    const review = config.release === "review";
    // Set by the transition to running above: the job's own folder, or staging until released.
    const results = resultsDir(paths, job);
    try {
      result = await execute({ config, limits, job, stage, resultsDir: results });
    } catch (error) {
      crash = `the runner failed: ${errorMessage(error)}`;
    }
    if (result && result.outputSkipped.length > 0) {
      log(`${shortUid(job.uid)} output not copied: ${result.outputSkipped.slice(0, 10).join(", ")}`);
    }
    if (job.meta.sender === "unverified") await writeExecutionLog(results);
    const status = result && !result.failed ? "completed" : "failed";
    const message = result?.message ?? crash ?? "unknown failure";
    await transition(
      rec,
      job,
      status,
      {
        completed_at: now(),
        exit_code: result?.exitCode ?? null,
        timed_out: result?.timedOut ?? false,
        duration_ms: result?.durationMs ?? null,
        output_folder: "output",
        error_message: status === "failed" ? message : null,
        output_review: review ? "pending" : null,
      },
      {
        event: status,
        detail: { exit_code: result?.exitCode ?? null, message, duration_ms: result?.durationMs ?? null },
        say: `${status} in ${result?.durationMs ?? 0} ms${status === "failed" ? `: ${message}` : ""}${review ? "; output and logs await release (scq release)" : ""}`,
      },
    );
    return { uid: job.uid, status, message };
  } finally {
    // A stage the job made hard to remove is said and retried by the next pass's recovery, never fatal.
    await removeTree(stage.root).catch((error: unknown) =>
      log(`${shortUid(approved.uid)} stage not removed yet (the next pass retries): ${errorMessage(error)}`),
    );
  }
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

/** Python syft-code-queue clients read a job's log from execution.log in its folder. */
async function writeExecutionLog(dir: string): Promise<void> {
  const read = async (name: string) => (await ifExists(fs.promises.readFile(path.join(dir, "logs", name), "utf8"))) ?? "";
  await writeFileAtomic(path.join(dir, "execution.log"), `${await read("stdout.txt")}${await read("stderr.txt")}`);
}

function sortBy<T>(items: T[], key: (item: T) => string): T[] {
  return [...items].sort((a, b) => key(a).localeCompare(key(b)));
}
