// The pass's three steps for runs, none of which ever waits for a job:
//   endedRuns:     each job in running/ is polled through the executor that started it: which runs
//                  ended, and how many still run (a run that never began goes back to approved/ here)
//   startApproved: approved jobs, oldest decision first, in the slots the still-running leave free:
//                  stage the code, check the approval against the hash of the staged copy, launch the
//                  run held at its gate, record the job as running, then say go.
//   collectRuns:   each ended run is collected (logs, output, exit code, limits hit, output checks)
//                  and its job moves to completed or failed; a run that ended without a result fails
//                  as "interrupted", partial logs kept.
// Starting comes before collecting: an ended run holds no sandbox, and the jobs started in its slot
// run while the pass checks and signs what it left.
import path from "node:path";
import { failCodeChanged, verdictOn } from "../approval/verdict.ts";
import { cancelRecorded, describeRun, noteQueued, RUN_RECORD, runDir, type Executor } from "../run/executor.ts";
import { executorFor } from "../run/which-executor.ts";
import { errorMessage, LaunchRefusedError, reportJobError } from "../core/errors.ts";
import { checkLogs, checkOutput, checksSummary, writeChecks } from "../disclosure/check-output.ts";
import { releasedBefore } from "../disclosure/released.ts";
import { signRelease } from "../proof/statement.ts";
import { releaseAll } from "../disclosure/release.ts";
import { holdFor } from "../disclosure/checkers.ts";
import { exists, writeFileAtomic, writeJsonAtomic } from "../core/fsutil.ts";
import type { Job } from "../core/job.ts";
import { listJobs } from "../queue/jobs.ts";
import { now, transition, update, type Recorder } from "../queue/lifecycle.ts";
import { prefixed, shortUid, type Log } from "../core/log.ts";
import { faultPoint } from "../core/fault.ts";
import { EXECUTION_LOG, LOGS_DIR, readLog, type Stream } from "../core/log-files.ts";
import { resultsDir, type QueuePaths } from "../core/paths.ts";
import { removeTree } from "../core/remove.ts";
import { appliedLimits, limitsHit } from "../run/limits.ts";
import { readChecksReport } from "../disclosure/results.ts";
import type { AppConfig, JobMetadata, RunRef, RunResult } from "../core/schemas.ts";
import { expected } from "../core/expected.ts";

export interface Ran {
  uid: string;
  status: "completed" | "failed";
  message: string;
}

/** A run that ended, as its poll found it: to be collected. */
interface Ended {
  job: Job;
  /** The executor that started it (none for a job started by a version that ran jobs inside the pass). */
  executor: Executor | undefined;
  end: { result: RunResult } | { lost: string; neverRan?: true | undefined };
}

/** What polling running/ found: the runs that ended, and how many still run (their slots taken). */
export interface Polled {
  ended: Ended[];
  running: number;
}

/** Poll every running job: which runs ended (to collect), how many still run. Runs that never began go back to approved/. */
export async function endedRuns(paths: QueuePaths, config: AppConfig, log: Log): Promise<Polled> {
  const rec: Recorder = { paths, log: prefixed(log, "run: ") };
  const { jobs, problems } = await listJobs(paths, ["running"]);
  const ended: Ended[] = [];
  let running = problems.length; // unreadable records are settled by recovery; their slots count meanwhile
  const unreachable = new Map<string, number>();
  // One executor of each kind for the whole step, so a cluster is asked once per pass, not once per job.
  const executors = new Map<RunRef["executor"], Promise<Executor>>();
  const executorOf = (type: RunRef["executor"]) => {
    const made = executors.get(type) ?? executorFor(config, paths, type);
    executors.set(type, made);
    return made;
  };
  for (const job of jobs) {
    try {
      const ref = job.meta.run;
      if (!ref) {
        // Started by a version that ran jobs inside the pass, and that pass is gone.
        ended.push({ job, executor: undefined, end: { lost: "its pass stopped while it ran (crash, kill or reboot)" } });
        continue;
      }
      const executor = await executorOf(ref.executor);
      const poll = await executor.poll(ref, job);
      if (poll.state === "running") {
        running += 1;
        await noteQueued(paths, ref.run_id, poll.queued).catch(expected("a hint for scq status and the page only"));
      } else if (poll.state === "unreachable") {
        running += 1;
        unreachable.set(poll.reason, (unreachable.get(poll.reason) ?? 0) + 1);
      } else if (poll.state === "never-started") await requeue(rec, job, executor);
      else ended.push({ job, executor, end: poll.state === "finished" ? { result: poll.result } : { lost: poll.reason, neverRan: poll.neverRan } });
    } catch (error) {
      running += 1;
      reportJobError(rec.log, shortUid(job.uid), error);
    }
  }
  for (const [reason, count] of unreachable) rec.log(`${count} running job(s) left as they are, to be collected later: ${reason}`);
  return { ended, running };
}

/** Collect the runs `endedRuns` found ended: each job leaves running/ for completed/ or failed/. */
export async function collectRuns(paths: QueuePaths, config: AppConfig, log: Log, ended: readonly Ended[]): Promise<Ran[]> {
  const rec: Recorder = { paths, log: prefixed(log, "run: ") };
  const ran: Ran[] = [];
  for (const { job, executor, end } of ended) {
    try {
      ran.push(await finish(rec, config, job, executor, end));
    } catch (error) {
      // It stays in running/, its run ended: the next pass collects it (its slot is free meanwhile).
      reportJobError(rec.log, shortUid(job.uid), error);
    }
  }
  return ran;
}

/**
 * A run whose supervisor never began the job (the pass that started it was killed between recording
 * it and saying go): the job never ran, so its approval still stands and it goes back to approved/,
 * to be started again in its turn (the approval checked again then).
 */
async function requeue(rec: Recorder, job: Job, executor: Executor): Promise<void> {
  const ref = job.meta.run;
  await transition(
    rec,
    job,
    "approved",
    { started_at: null, run: null, output_review: null },
    {
      event: "recovered",
      detail: { reason: "its run never began: the pass that started it stopped before it said go", run: ref },
      say: "never began (the pass that started it stopped before it said go) → approved again; it starts in its turn",
    },
  );
  if (ref) await executor.forget(ref).catch(expected("run folders left are swept by recovery"));
  await removeTree(path.join(rec.paths.staging, job.uid)).catch(expected("staging left is swept by cleanup"));
}

/** Move a finished or lost run's job out of running/: we MUST, whatever the run left, or it would hold its slot for ever. */
async function finish(
  rec: Recorder,
  config: AppConfig,
  job: Job,
  executor: Executor | undefined,
  end: { result: RunResult } | { lost: string; neverRan?: true | undefined },
): Promise<Ran> {
  const { paths, log } = rec;
  const ref = job.meta.run;
  const results = resultsDir(paths, job);
  // Output is held in the owner-only staging folder until it has been checked (and, with release
  // "review" or a blocking finding, until the owner releases it).
  const held = path.join(paths.staging, job.uid);
  const skipped = executor && ref ? await executor.collect(ref, { results, output: path.join(held, "output") }, job) : [];
  const result = "result" in end ? end.result : undefined;
  const outputSkipped = [...(result?.outputSkipped ?? []), ...skipped];
  if (outputSkipped.length > 0) log(`${shortUid(job.uid)} output not copied: ${outputSkipped.slice(0, 10).join(", ")}`);
  if (job.meta.sender === "unverified") await writeExecutionLog(results);
  const checks = await checkResults(rec, config, job, held);
  // With output checkers, nothing goes before they have reviewed it (checkers listed since the job began included).
  // (Should that fail, the job is held all the same, and the next pass writes what it waits for.)
  if (config.output_checkers)
    await holdFor(held, config.output_checkers).catch((error: unknown) =>
      log(`${shortUid(job.uid)} output checkers not noted yet: ${errorMessage(error)}`),
    );
  // With release "auto", checked output goes to the requester now, unless a finding blocks it.
  const blocked = job.meta.output_review !== "pending" && ((checks?.blocking ?? 0) > 0 || config.output_checkers !== undefined);
  if (blocked && checks?.blocking)
    log(`${shortUid(job.uid)} output and logs held for review: ${checks.blocking} blocking finding(s); see scq checks, then scq release`);
  const releasedNow = job.meta.output_review !== "pending" && !blocked;
  if (releasedNow) await releaseAll(paths, job, held);
  const cancel = ref ? await cancelRecorded(paths, ref.run_id) : undefined;
  const status = result && !result.failed ? "completed" : "failed";
  const message = cancel
    ? `cancelled by ${cancel.by} while it ran${cancel.reason ? `: ${cancel.reason}` : ""}`
    : "lost" in end && end.neverRan
      ? `not run: ${end.lost}`
      : (result?.message ?? `interrupted: ${"lost" in end ? end.lost : "unknown"}; partial logs are kept`);
  const review = job.meta.output_review === "pending" || blocked;
  const outcome = {
    completed_at: now(),
    exit_code: result?.exitCode ?? null,
    timed_out: result?.timedOut ?? false,
    duration_ms: result?.durationMs ?? null,
    output_folder: "output",
    error_message: status === "failed" ? message : null,
    limits_hit: [...(result ? limitsHit(result) : []), ...(cancel ? ["cancelled"] : [])],
    checks,
    output_review: review ? ("pending" as const) : null,
  };
  // Signed before the move, so the statement moves with the files it names; a pass cut off here signs again.
  if (releasedNow) {
    await signRelease(
      paths,
      { ...job, status, meta: { ...job.meta, ...outcome } },
      {
        by: "auto",
        at: outcome.completed_at,
        withheld: [],
        exception: null,
      },
    ).catch((error: unknown) => log(`${shortUid(job.uid)} its result could not be signed: ${errorMessage(error)}`));
  }
  const finished = await transition(
    rec,
    job,
    status,
    outcome,
    cancel
      ? {
          event: "cancelled",
          by: cancel.by,
          detail: { reason: cancel.reason, while: "running" },
          say: `cancelled by ${cancel.by} while it ran → failed`,
        }
      : result
        ? {
            event: status,
            detail: { exit_code: result.exitCode, message, duration_ms: result.durationMs, limits_hit: limitsHit(result) },
            say: `${status} in ${result.durationMs} ms${status === "failed" ? `: ${message}` : ""}${
              config.output_checkers
                ? "; output and logs await the output checkers' review, then your release (scq checks, scq release)"
                : blocked
                  ? "; its output awaits release (scq release)"
                  : review
                    ? "; output and logs await release (scq release)"
                    : ""
            }`,
          }
        : { event: "recovered", detail: { to: "failed", reason: "interrupted", why: message }, say: `→ failed (${message})` },
  );
  if (executor && ref) {
    await executor.forget(ref).catch((error: unknown) => log(`${shortUid(job.uid)} run folders not removed yet: ${errorMessage(error)}`));
  }
  return { uid: finished.uid, status, message };
}

/**
 * The disclosure check of what the run wrote, before anything of it is released: output-checks.json
 * beside output/, a summary in the record, a pass-log line. A check that fails is said, never fatal:
 * the job must still leave running/.
 */
async function checkResults(rec: Recorder, config: AppConfig, job: Job, results: string): Promise<JobMetadata["checks"]> {
  const output = path.join(results, "output");
  if (!(await exists(output)) && !(await exists(path.join(results, LOGS_DIR)))) {
    // Published already by a pass that died before recording the job as finished: its report went along.
    const published = await readChecksReport(job.dir);
    return published ? checksSummary(published) : null;
  }
  try {
    const report = await checkOutput(output, config.output_checks, config.sandbox.data_paths, (rel, columns) =>
      releasedBefore(rec.paths, job.meta.requester_email, rel, columns),
    );
    // The logs leave the datasite too: checked like output, and held with it.
    report.files.push(...(await checkLogs(results, config.output_checks, config.sandbox.data_paths)));
    await writeChecks(results, report);
    const summary = checksSummary(report);
    if (summary.findings > 0) {
      const rules = [...new Set(report.files.flatMap((f) => f.findings.map((x) => x.rule)))].join(", ");
      rec.log(
        `${shortUid(job.uid)} output checks: ${summary.findings} finding(s)${summary.blocking ? `, ${summary.blocking} blocking` : ""} in ${summary.files} file(s) (${rules}); see scq checks ${shortUid(job.uid)}`,
      );
    }
    return summary;
  } catch (error) {
    rec.log(`${shortUid(job.uid)} output checks could not run: ${errorMessage(error)}`);
    return null;
  }
}

/** Start approved jobs in the slots that `running` (runs still going) leave free. Returns what could not even be tried, and why. */
export async function startApproved(
  paths: QueuePaths,
  config: AppConfig,
  log: Log,
  running: number,
): Promise<{ started: string[]; ran: Ran[]; problem?: string }> {
  const slots = config.max_concurrent_jobs - running;
  if (slots <= 0) return { started: [], ran: [] };
  const { jobs, problems } = await listJobs(paths, ["approved"]);
  for (const p of problems) log(`approved/${p.uid} has unreadable metadata, not run: ${p.error.message}`);
  if (jobs.length === 0) return { started: [], ran: [] };
  const executor = await executorFor(config, paths);
  const problem = await executor.problem();
  if (problem) {
    log(`NOT starting ${jobs.length} approved job(s): ${problem}`);
    await sayWhyNotStarted(paths, log, jobs, problem);
    return { started: [], ran: [], problem };
  }
  if (config.sandbox.mode === "none") log(`WARNING: sandbox mode is "none": jobs run UNSANDBOXED, with resource limits only`);
  // Oldest approval first; approvals of the same moment (one batch) in the order the jobs were sent.
  const approvedAt = (job: Job) => job.meta.decision?.at ?? job.meta.updated_at;
  const queue = [...jobs].sort((a, b) => approvedAt(a).localeCompare(approvedAt(b)) || a.uid.localeCompare(b.uid));
  const ran: Ran[] = [];
  const started: string[] = [];
  for (const job of queue) {
    if (started.length >= slots) break;
    const rec: Recorder = { paths, log: prefixed(log, "run: ") };
    try {
      const outcome = await startOne(rec, config, executor, job);
      if (outcome === "started") started.push(job.uid);
      else if (outcome) ran.push(outcome);
    } catch (error) {
      // E.g. its folder vanished under us, or the cluster refused it. It stays approved; the next pass tries again.
      reportJobError(rec.log, shortUid(job.uid), error);
    }
  }
  return { started, ran };
}

async function startOne(rec: Recorder, config: AppConfig, executor: Executor, approved: Job): Promise<Ran | "started" | undefined> {
  const { paths } = rec;
  const staged = await executor.stage(approved);
  const limits = appliedLimits(config);
  let launched;
  try {
    // Asked of the staged copy, which is what runs: a folder in approved/ proves nothing by itself.
    const verdict = await verdictOn(paths, approved.uid, () => Promise.resolve(staged.codeHash));
    if (verdict.is !== "approved") {
      await staged.discard();
      if (verdict.is === "code-changed") {
        await failCodeChanged(rec, approved, verdict, "NOT run");
        return { uid: approved.uid, status: "failed", message: "code changed after approval" };
      }
      await backToPending(rec, approved);
      return undefined;
    }
    // Logs and output both go to the owner-only staging folder; they leave once checked (finish).
    const results = path.join(paths.staging, approved.uid);
    launched = await executor.launch(staged, {
      uid: approved.uid,
      name: approved.meta.name,
      mode: config.sandbox.mode,
      network: config.sandbox.network,
      data_paths: config.sandbox.data_paths,
      limits,
      results,
      output: path.join(paths.staging, approved.uid, "output"),
    });
  } catch (error) {
    await staged.discard().catch(expected("a stage left is swept by recovery; the launch error is what counts"));
    // Refused for good (Slurm: more memory than any node has, no such partition): the job fails with
    // what the scheduler said, instead of being tried again every pass for ever.
    if (error instanceof LaunchRefusedError && error.final) {
      await transition(
        rec,
        approved,
        "failed",
        { completed_at: now(), error_message: error.message },
        { event: "failed", detail: { reason: error.message }, say: `NOT run: ${error.message} → failed` },
      );
      return { uid: approved.uid, status: "failed", message: error.message };
    }
    throw error;
  }
  const unsandboxed = config.sandbox.mode === "none";
  faultPoint("start:launched");
  let running: Job;
  try {
    running = await transition(
      rec,
      approved,
      "running",
      {
        started_at: now(),
        limits,
        sandbox: config.sandbox.mode,
        error_message: null,
        run: launched.ref,
        // Set before the run: a job interrupted mid-run keeps its partial logs in staging, unreleased.
        output_review: config.release === "review" || config.output_checkers ? "pending" : null,
      },
      {
        event: "started",
        detail: { sandbox: config.sandbox.mode, limits, run: launched.ref },
        say: `"${approved.meta.name}" started${unsandboxed ? " UNSANDBOXED (sandbox mode none)" : " in the bwrap sandbox"} (${describeRun(launched.ref)})`,
      },
    );
  } catch (error) {
    // Not recorded, so it must never run: the gate stays shut and the stage goes.
    await launched.abort().catch(expected("the gate stays shut whatever abort says; the record error is what counts"));
    await staged.discard().catch(expected("a stage left is swept by recovery; the record error is what counts"));
    throw error;
  }
  // Recorded: from here on the job is found again through its run, whatever happens to this pass.
  // A copy of its record stays in the run's private folder: should a sync delete the job's folder
  // while it runs, recovery restores the record from it (recover.ts).
  await writeJsonAtomic(path.join(runDir(paths, launched.ref.run_id), RUN_RECORD), running.meta, { durable: false }).catch(
    expected("a copy for recovery only; the record itself is written"),
  );
  faultPoint("start:recorded");
  await launched.go();
  return "started";
}

/** A job in approved/ with no approval for any code (a forged or hand-made move): a person reviews it. */
async function backToPending(rec: Recorder, approved: Job): Promise<void> {
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
}

/**
 * Approved jobs this machine cannot start now (no usable sandbox, a data path gone) say so in their
 * record, where the requester reads it, instead of showing "approved" with no end in sight. Written
 * once per reason (an idle pass writes nothing); starting the job clears it.
 */
async function sayWhyNotStarted(paths: QueuePaths, log: Log, jobs: Job[], problem: string): Promise<void> {
  const rec: Recorder = { paths, log: prefixed(log, "run: ") };
  // (Worded for the owner's log; the requester needs only what is wrong.)
  const message = `${NOT_STARTED_YET}${problem.replace(/ Approved jobs stay approved\.$/, "")}`;
  for (const job of jobs) {
    if (job.meta.error_message === message) continue;
    await update(
      rec,
      job,
      { error_message: message },
      { event: "start-waits", detail: { reason: problem }, say: `waits to start: ${problem}` },
    ).catch((error: unknown) => reportJobError(rec.log, shortUid(job.uid), error));
  }
}

/** How a job's record starts when it is approved but cannot start yet (listings say "approved (cannot start yet …)"). */
const NOT_STARTED_YET = "cannot start yet on the owner's machine: ";

/**
 * Python syft-code-queue clients read a job's log from execution.log in its folder. SyftBox never
 * syncs *.log, so only a Python client on the owner's own machine sees it; requesters read run-logs/.
 */
async function writeExecutionLog(dir: string): Promise<void> {
  const read = async (stream: Stream) => (await readLog(dir, stream)) ?? "";
  await writeFileAtomic(path.join(dir, EXECUTION_LOG), `${await read("stdout")}${await read("stderr")}`);
}
