// Running one staged job to its end (the job's supervisor calls this; stage.ts staged it): start it
// in the sandbox with limits, a wall-clock timeout that kills the whole tree, capped logs and a
// watchdog on memory and disk use; then copy the output back (copy-output.ts).
// The result is one flat object in the style of execa's (failed, timedOut, exitCode, durationMs...)
// with its human message built in one function, `describeResult`.
import { copyOutput } from "./copy-output.ts";
import { outputCaps } from "./limits.ts";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { CappedLog } from "./capture.ts";

import { processStartTime } from "../core/lock.ts";

import { logFile, LOGS_DIR } from "../core/log-files.ts";

import { jobUsage, pidNamespace } from "./procscan.ts";

import { bwrapDisablesUserns, launchCommand, stageLayout, type Stage } from "./sandbox.ts";

import type { AppliedLimits, RunRequest, RunResult } from "../core/schemas.ts";
import { seccompProgram } from "./seccomp.ts";

import { MAX_DEPTH, measureTree } from "../core/tree.ts";

const MB = 1024 * 1024;
/** Time between SIGTERM and SIGKILL when a job is stopped. */
const KILL_GRACE_MS = 2000;
/** After the SIGKILL, how long the pass waits for the job's end before it stops waiting and says so. */
const ABANDON_AFTER_MS = 5000;
const WATCHDOG_MS = 500;

/** What starting a run loads or asks of the machine, done ahead by a spare supervisor (spares.ts) while it waits. */
export async function prepareToExecute(): Promise<void> {
  await Promise.all([import("execa"), bwrapDisablesUserns()]);
}

/**
 * Run one job to its end in its sandbox (the supervisor calls this): logs into `results`/run-logs as it
 * runs, output copied into `output` (owner-only) at the end, unless a limit was hit. `stop` aborted (the
 * supervisor was told to stop) ends the job as a limit would.
 */
export async function execute(request: RunRequest, stop?: AbortSignal): Promise<RunResult> {
  const { limits } = request;
  const stage = stageLayout(request.stage);
  fs.mkdirSync(path.join(request.results, LOGS_DIR), { recursive: true });
  const stdout = new CappedLog(logFile(request.results, "stdout"), limits.max_log_kb * 1024);
  const stderr = new CappedLog(logFile(request.results, "stderr"), limits.max_log_kb * 1024);
  const started = Date.now();
  const run = await startSandbox(request, stage, { stdout, stderr });
  let stopped = false;
  const onStop = () => {
    stopped = true;
    run.stop();
  };
  if (stop?.aborted) onStop();
  else stop?.addEventListener("abort", onStop, { once: true });
  const watch = watchLimits(stage.root, run, limits);
  const outcome = await run.ended;
  watch.stop();
  stop?.removeEventListener("abort", onStop);
  // Stragglers (mode none, or a job that outlived its sandbox's start): nothing of the job outlives it.
  await run.killAll();
  await Promise.all([stdout.finish(), stderr.finish()]);
  const durationMs = Date.now() - started;

  const caps = outputCaps(limits);
  const outputLimitReason = watch.outputLimitReason() ?? overOutputLimit(await measureTree(stage.root, caps), 0, caps, limits);
  const memoryLimitExceeded = watch.memoryLimitExceeded();
  const outputLimitExceeded = outputLimitReason !== null;
  const copied = outputLimitExceeded || memoryLimitExceeded || stopped ? { files: 0, skipped: [] } : await copyOutput(stage.output, request.output);
  const abandoned = outcome === "abandoned";
  const exitCode = abandoned ? null : (outcome.exitCode ?? null);
  let signal: string | null = abandoned ? "SIGKILL" : (outcome.signal ?? null);
  // bwrap reports a job killed by a signal as exit code 128 + signal number.
  if (request.mode === "bwrap" && exitCode !== null && exitCode > 128 && exitCode < 160) signal = signalName(exitCode - 128) ?? signal;
  const timedOut = !abandoned && outcome.timedOut;
  const result: RunResult = {
    exitCode,
    signal,
    failed: timedOut || outputLimitExceeded || memoryLimitExceeded || abandoned || stopped || exitCode !== 0,
    timedOut,
    outputLimitExceeded,
    outputLimitReason,
    memoryLimitExceeded,
    abandoned,
    stopped,
    durationMs,
    stdoutTruncated: stdout.truncated,
    stderrTruncated: stderr.truncated,
    outputFiles: copied.files,
    outputSkipped: copied.skipped,
    message: "",
  };
  // Neither an exit code nor a signal: the sandbox itself could not be started.
  const launchError = !abandoned && outcome.exitCode === undefined && outcome.signal === undefined ? outcome.message : undefined;
  result.message = describeResult(result, limits, launchError);
  return result;
}

/** What of execa's result execute uses. */
interface Ended {
  exitCode: number | undefined;
  signal: string | undefined;
  timedOut: boolean;
  message: string;
}

interface SandboxInit {
  pid: number;
  start: string;
  namespace: string;
}

interface SandboxRun {
  /** Settles when the job has ended, or, when it survived being killed, when the pass stops waiting for it. */
  ended: Promise<Ended | "abandoned">;
  /** The sandbox's init (bwrap only), once bwrap has said which it is. */
  init: Promise<SandboxInit | undefined>;
  /** SIGKILL to the sandbox's init and to the process group. */
  killAll(): Promise<void>;
  /** Stop the job now (a limit was hit): kill everything, and wait for its end a bounded time only. */
  stop(): void;
}

/**
 * Start the job in its sandbox. execa owns the plain cases: the wall-clock timeout (SIGTERM, then
 * SIGKILL after the grace), cancellation when a limit is hit, and the result's flags. The rest is
 * for jobs that try to outlive all that: SIGKILL to the sandbox's init (checked by its start time, so
 * a reused pid is never hit) makes the kernel kill every process in its pid namespace, whatever they
 * did to their session, process group or parent-death signal; and the pass never waits for a job's
 * end more than ABANDON_AFTER_MS after that.
 */
async function startSandbox(request: RunRequest, stage: Stage, logs: { stdout: CappedLog; stderr: CappedLog }): Promise<SandboxRun> {
  const { limits } = request;
  const bwrap = request.mode === "bwrap";
  const seccomp = bwrap ? seccompProgram() : undefined;
  const launch = launchCommand({
    mode: request.mode,
    stage,
    limits,
    network: request.network,
    dataPaths: request.data_paths,
    job: { uid: request.uid, name: request.name },
    fds: { args: 3, info: 4, seccomp: seccomp ? 5 : undefined },
    disableUserns: bwrap && (await bwrapDisablesUserns()),
  });
  // Loaded here, not at the top: an idle pass never starts a job and should not pay for execa.
  const { execa } = await import("execa");
  // bwrap reads its options from fd 3 (`--args`), so host paths stay out of every command line the job
  // can read (/proc/1/cmdline); the command after "--" stays on its own command line. It says on fd 4
  // which pid is the sandbox's init; fd 5 is the seccomp filter.
  const split = launch.args.indexOf("--");
  const fds = bwrap
    ? [
        new Uint8Array(
          Buffer.from(
            launch.args
              .slice(0, split)
              .map((a) => `${a}\0`)
              .join(""),
          ),
        ),
        "pipe" as const,
        ...(seccomp ? [new Uint8Array(seccomp)] : []),
      ]
    : [];
  const cancel = new AbortController();
  const child = execa(launch.file, bwrap ? ["--args", "3", ...launch.args.slice(split)] : launch.args, {
    cwd: launch.cwd,
    env: launch.env,
    extendEnv: false,
    ...(launch.uid === undefined ? {} : { uid: launch.uid, gid: launch.gid }),
    // Own process group, so the whole tree can be signalled at once.
    detached: true,
    stdio: ["ignore", "pipe", "pipe", ...fds],
    buffer: false,
    reject: false,
    timeout: limits.timeout_s * 1000,
    killSignal: "SIGTERM",
    forceKillAfterDelay: KILL_GRACE_MS,
    cancelSignal: cancel.signal,
    // If the supervisor dies, bwrap's --die-with-parent takes the sandbox with it.
    cleanup: true,
  });
  child.stdout?.on("data", (chunk: Buffer) => logs.stdout.write(chunk));
  child.stderr?.on("data", (chunk: Buffer) => logs.stderr.write(chunk));
  const init = bwrap ? sandboxInit(child.stdio[4]) : Promise.resolve(undefined);
  const killAll = async () => {
    const known = await init;
    if (known && processStartTime(known.pid) === known.start) signalPid(known.pid, "SIGKILL");
    if (child.pid !== undefined) signalGroup(child.pid, "SIGKILL");
  };
  // We MUST NOT wait for the job forever: once it has been killed, its end is awaited a bounded time.
  let abandon: () => void = () => {};
  const abandoned = new Promise<"abandoned">((resolve) => (abandon = () => resolve("abandoned")));
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    cancel.abort();
    void killAll();
    setTimeout(() => {
      child.stdout?.destroy();
      child.stderr?.destroy();
      abandon();
    }, ABANDON_AFTER_MS).unref();
  };
  // execa's timeout signals bwrap (or, in mode none, the job's first process); past the grace the
  // whole tree goes, whatever it did to escape that signal.
  const backstop = setTimeout(stop, limits.timeout_s * 1000 + KILL_GRACE_MS);
  const exited = child.then(({ exitCode, signal, timedOut, message }): Ended => ({ exitCode, signal, timedOut, message: message ?? "" }));
  const ended = Promise.race([exited, abandoned]).finally(() => clearTimeout(backstop));
  return { ended, init, killAll, stop };
}

/**
 * Twice a second: what the job wrote (its stage, plus files it deleted but keeps open) against the
 * output caps, and the memory of all its processes together against memory_mb. The first limit hit
 * stops the job.
 */
function watchLimits(stageRoot: string, run: SandboxRun, limits: AppliedLimits) {
  const caps = outputCaps(limits);
  let outputLimitReason: string | null = null;
  let memoryLimitExceeded = false;
  let measuring = false;
  const timer = setInterval(() => {
    if (measuring || outputLimitReason !== null || memoryLimitExceeded) return;
    measuring = true;
    void (async () => {
      const tree = await measureTree(stageRoot, caps);
      const known = await run.init;
      const usage = known ? await jobUsage(known.namespace) : undefined;
      outputLimitReason = overOutputLimit(tree, usage?.hiddenDiskBytes ?? 0, caps, limits);
      if (outputLimitReason === null && usage && usage.memoryBytes > limits.memory_mb * MB) memoryLimitExceeded = true;
      if (outputLimitReason !== null || memoryLimitExceeded) run.stop();
    })().finally(() => {
      measuring = false;
    });
  }, WATCHDOG_MS);
  return {
    stop: () => clearInterval(timer),
    outputLimitReason: () => outputLimitReason,
    memoryLimitExceeded: () => memoryLimitExceeded,
  };
}

/** Why what the job wrote is over its limits, in words, or null when it is not. */
function overOutputLimit(
  tree: { bytes: number; files: number; tooDeep: boolean },
  hiddenBytes: number,
  caps: { maxBytes: number; maxFiles: number },
  limits: AppliedLimits,
): string | null {
  if (tree.tooDeep) return `nested folders more than ${MAX_DEPTH} deep`;
  if (tree.bytes + hiddenBytes > caps.maxBytes) {
    return `wrote more than ${limits.max_output_mb} MB${hiddenBytes > 0 ? " (files it deleted but kept open included)" : ""} (limits.max_output_mb)`;
  }
  if (tree.files > caps.maxFiles) return `wrote more than ${caps.maxFiles} files and folders (twice limits.max_files)`;
  return null;
}

/**
 * The sandbox's init as bwrap reports it on its info fd: pid (in our namespace), start time, pid
 * namespace. The stream is read to its end (never cut short, which would break bwrap's write).
 */
function sandboxInit(info: NodeJS.ReadableStream | undefined): Promise<{ pid: number; start: string; namespace: string } | undefined> {
  return new Promise((resolve) => {
    if (!info) return resolve(undefined);
    let text = "";
    let found = false;
    info.on("data", (chunk: Buffer) => {
      if (found) return;
      text += chunk.toString();
      const match = /"child-pid"\s*:\s*(\d+)/.exec(text);
      if (!match) return;
      found = true;
      const pid = Number(match[1]);
      const start = processStartTime(pid);
      void pidNamespace(pid).then((namespace) => resolve(start && namespace ? { pid, start, namespace } : undefined));
    });
    // The stream ends right after bwrap's one write: only a stream that ended without it means "unknown".
    info.on("end", () => found || resolve(undefined));
    info.on("error", () => found || resolve(undefined));
  });
}

/** The one place a run's outcome becomes words. */
function describeResult(r: RunResult, limits: AppliedLimits, launchError?: string): string {
  if (launchError) return `could not start the job: ${launchError}`;
  if (r.timedOut) return `timed out after ${limits.timeout_s} seconds (job_timeout); the job and all its processes were killed`;
  if (r.outputLimitExceeded) return `${r.outputLimitReason}; the job was killed and its output discarded`;
  if (r.memoryLimitExceeded) {
    return `memory limit: its processes together held more than ${limits.memory_mb} MB (limits.memory_mb); the job was killed and its output discarded`;
  }
  if (r.stopped) return "stopped on request; the job and all its processes were killed";
  if (r.abandoned) return "killed, and it did not end when told: its supervisor stopped waiting for it";
  if (r.signal) {
    const hints: Record<string, string> = {
      SIGXCPU: ` (CPU time limit of ${limits.cpu_seconds} s)`,
      SIGXFSZ: ` (file size limit of ${limits.max_file_mb} MB, limits.max_file_mb)`,
      SIGKILL: ` (possibly the memory limit of ${limits.memory_mb} MB, limits.memory_mb)`,
      SIGSEGV: ` (possibly the memory limit of ${limits.memory_mb} MB, limits.memory_mb)`,
    };
    return `killed by ${r.signal}${hints[r.signal] ?? ""}`;
  }
  if (r.exitCode !== 0) return `exited with code ${r.exitCode}; see run-logs/stderr.txt`;
  return "completed";
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  signalPid(-pid, signal);
}

function signalPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

function signalName(n: number): string | undefined {
  return Object.entries(os.constants.signals).find(([, v]) => v === n)?.[0];
}
