// Running one approved job. Two halves, because the pass must check the approval between them:
//   stageJob: copy the code into a private stage folder and hash *that copy*; the copy is what runs,
//             so the hash checked against the approval marker is the hash of the code that runs.
//   execute:  start it in the sandbox with limits, a wall-clock timeout that kills the whole tree,
//             capped logs and a watchdog on disk use; then copy the output back and remove the stage.
// The result is one flat object in the style of execa's (failed, timedOut, exitCode, durationMs...)
// with its human message built in one function, `describeResult`.
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { CappedLog } from "./capture.ts";
import type { Job } from "./lifecycle.ts";
import { launchCommand, prepareStageFiles, stageLayout, type Stage } from "./sandbox.ts";
import type { AppliedLimits, AppConfig, SandboxMode } from "./schemas.ts";
import { copyTreeHashed, measureTree } from "./tree.ts";
import type { QueuePaths } from "./paths.ts";

const MB = 1024 * 1024;
/** Time between SIGTERM and SIGKILL when a job is stopped. */
const KILL_GRACE_MS = 2000;
const WATCHDOG_MS = 500;

export interface RunResult {
  exitCode: number | null;
  signal: string | null;
  failed: boolean;
  timedOut: boolean;
  /** The job wrote more than limits.max_output_mb or more than limits.max_files files. */
  outputLimitExceeded: boolean;
  durationMs: number;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  /** Files copied back into output/, and what was left behind (links, devices). */
  outputFiles: number;
  outputSkipped: string[];
  message: string;
}

/** Every stage folder of one queue lives under one root, so a new pass can clear what a dead one left. */
export function stageRoot(paths: QueuePaths): string {
  const key = createHash("sha256").update(paths.state).digest("hex").slice(0, 16);
  return path.join(os.tmpdir(), `syft-code-queue-${key}`);
}

export async function stageJob(paths: QueuePaths, job: Job, mode: SandboxMode, dataPaths: string[]): Promise<{ stage: Stage; codeHash: string }> {
  const root = stageRoot(paths);
  await fs.promises.mkdir(root, { recursive: true, mode: 0o711 });
  await fs.promises.chmod(root, 0o711);
  const stage = stageLayout(await fs.promises.mkdtemp(path.join(root, `${job.uid}-`)));
  // code/ passed the intake gate; copyTreeHashed checks it again and hashes the very bytes it writes.
  const codeHash = await copyTreeHashed(path.join(job.dir, "code"), stage.work);
  await prepareStageFiles(mode, stage, dataPaths);
  return { stage, codeHash };
}

export interface ExecuteOptions {
  config: AppConfig;
  limits: AppliedLimits;
  job: Job;
  stage: Stage;
  /** The folder that receives logs/ and output/: the job's own, or its staging folder. */
  resultsDir: string;
  /** Called with the pid once the job is running (for tests and progress). */
  onStart?: (pid: number) => void;
}

export function appliedLimits(config: AppConfig): AppliedLimits {
  return {
    ...config.limits,
    timeout_s: config.job_timeout,
    cpu_seconds: config.limits.cpu_seconds ?? config.job_timeout * Math.max(1, os.availableParallelism()),
  };
}

export async function execute({ config, limits, job, stage, resultsDir, onStart }: ExecuteOptions): Promise<RunResult> {
  const logs = path.join(resultsDir, "logs");
  await fs.promises.mkdir(logs, { recursive: true });
  const stdout = new CappedLog(path.join(logs, "stdout.txt"), limits.max_log_kb * 1024);
  const stderr = new CappedLog(path.join(logs, "stderr.txt"), limits.max_log_kb * 1024);
  const launch = launchCommand({
    mode: config.sandbox.mode,
    stage,
    limits,
    network: config.sandbox.network,
    dataPaths: config.sandbox.data_paths,
    job: { uid: job.uid, name: job.meta.name },
  });
  // Loaded here, not at the top: an idle pass never starts a job and should not pay for execa.
  const { execa } = await import("execa");
  const started = Date.now();
  const child = execa(launch.file, launch.args, {
    cwd: launch.cwd,
    env: launch.env,
    extendEnv: false,
    ...(launch.uid === undefined ? {} : { uid: launch.uid, gid: launch.gid }),
    // Own process group, so a timeout can signal the whole tree at once.
    detached: true,
    stdin: "ignore",
    buffer: false,
    reject: false,
    // If this pass dies, bwrap's --die-with-parent takes the sandbox with it.
    cleanup: true,
  });
  child.stdout?.on("data", (chunk: Buffer) => stdout.write(chunk));
  child.stderr?.on("data", (chunk: Buffer) => stderr.write(chunk));
  if (child.pid !== undefined) onStart?.(child.pid);

  let timedOut = false;
  let outputLimitExceeded = false;
  const killTree = () => {
    if (child.pid === undefined) return;
    signalGroup(child.pid, "SIGTERM");
    setTimeout(() => signalGroup(child.pid!, "SIGKILL"), KILL_GRACE_MS).unref();
  };
  const timer = setTimeout(() => {
    timedOut = true;
    killTree();
  }, limits.timeout_s * 1000);
  // Everything the job can write (work copy, output, home, tmp) counts against the output cap.
  const caps = { maxBytes: limits.max_output_mb * MB, maxFiles: limits.max_files * 2 };
  let measuring = false;
  const watchdog = setInterval(() => {
    if (measuring) return;
    measuring = true;
    void measureTree(stage.root, caps)
      .then(({ bytes, files }) => {
        if (!outputLimitExceeded && (bytes > caps.maxBytes || files > caps.maxFiles)) {
          outputLimitExceeded = true;
          if (child.pid !== undefined) signalGroup(child.pid, "SIGKILL");
        }
      })
      .finally(() => {
        measuring = false;
      });
  }, WATCHDOG_MS);

  const outcome = await child;
  clearTimeout(timer);
  clearInterval(watchdog);
  // The group may still hold stragglers (mode none): make sure nothing of the job outlives it.
  if (child.pid !== undefined) signalGroup(child.pid, "SIGKILL");
  await Promise.all([stdout.finish(), stderr.finish()]);
  const durationMs = Date.now() - started;

  if (!outputLimitExceeded) {
    const final = await measureTree(stage.root, caps);
    outputLimitExceeded = final.bytes > caps.maxBytes || final.files > caps.maxFiles;
  }
  let outputFiles = 0;
  const outputSkipped: string[] = [];
  if (!outputLimitExceeded) {
    const copied = await copyOutput(stage.output, path.join(resultsDir, "output"));
    outputFiles = copied.files;
    outputSkipped.push(...copied.skipped);
  }
  const exitCode = outcome.exitCode ?? null;
  let signal: string | null = outcome.signal ?? null;
  // bwrap reports a job killed by a signal as exit code 128 + signal number.
  if (config.sandbox.mode === "bwrap" && exitCode !== null && exitCode > 128 && exitCode < 160) {
    signal = signalName(exitCode - 128) ?? signal;
  }
  const result: RunResult = {
    exitCode,
    signal,
    failed: timedOut || outputLimitExceeded || exitCode !== 0,
    timedOut,
    outputLimitExceeded,
    durationMs,
    stdoutTruncated: stdout.truncated,
    stderrTruncated: stderr.truncated,
    outputFiles,
    outputSkipped,
    message: "",
  };
  // No exit code and no signal: the sandbox itself could not be started.
  const launchError = outcome.exitCode === undefined && outcome.signal === undefined ? outcome.message : undefined;
  result.message = describeResult(result, limits, launchError);
  return result;
}

/** The one place a run's outcome becomes words. */
export function describeResult(r: RunResult, limits: AppliedLimits, launchError?: string): string {
  if (launchError) return `could not start the job: ${launchError}`;
  if (r.timedOut) return `timed out after ${limits.timeout_s} seconds (job_timeout); the job and all its processes were killed`;
  if (r.outputLimitExceeded) {
    return `wrote more than ${limits.max_output_mb} MB or ${limits.max_files * 2} files (limits.max_output_mb / max_files); the job was killed and its output discarded`;
  }
  if (r.signal) {
    const hints: Record<string, string> = {
      SIGXCPU: ` (CPU time limit of ${limits.cpu_seconds} s)`,
      SIGXFSZ: ` (file size limit of ${limits.max_file_mb} MB, limits.max_file_mb)`,
      SIGKILL: ` (possibly the memory limit of ${limits.memory_mb} MB, limits.memory_mb)`,
      SIGSEGV: ` (possibly the memory limit of ${limits.memory_mb} MB, limits.memory_mb)`,
    };
    return `killed by ${r.signal}${hints[r.signal] ?? ""}`;
  }
  if (r.exitCode !== 0) return `exited with code ${r.exitCode}; see logs/stderr.txt`;
  return "completed";
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

function signalName(n: number): string | undefined {
  return Object.entries(os.constants.signals).find(([, v]) => v === n)?.[0];
}

/** Copy plain files and folders only; links and special files made by the job are left behind and named. */
async function copyOutput(from: string, to: string): Promise<{ files: number; skipped: string[] }> {
  await fs.promises.mkdir(to, { recursive: true });
  let files = 0;
  const skipped: string[] = [];
  const visit = async (src: string, dst: string, rel: string): Promise<void> => {
    for (const name of await fs.promises.readdir(src).catch(() => [] as string[])) {
      const s = path.join(src, name);
      const d = path.join(dst, name);
      const r = rel ? `${rel}/${name}` : name;
      const stat = await fs.promises.lstat(s);
      if (stat.isDirectory()) {
        await fs.promises.mkdir(d, { recursive: true });
        await visit(s, d, r);
      } else if (stat.isFile()) {
        try {
          await copyNoFollow(s, d);
          files += 1;
        } catch {
          skipped.push(r); // made unreadable, or swapped for a link after the lstat
        }
      } else {
        skipped.push(r);
      }
    }
  };
  await visit(from, to, "");
  return { files, skipped };
}

/**
 * Copy a file the job wrote without ever following a link: in mode none a process of the job may
 * outlive it and swap the file for a link to a secret between our lstat and our read.
 */
async function copyNoFollow(from: string, to: string): Promise<void> {
  const source = await fs.promises.open(from, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    if (!(await source.stat()).isFile()) throw new Error(`${from} is not a regular file`);
    await pipeline(source.createReadStream(), fs.createWriteStream(to, { flags: "wx" }));
  } finally {
    await source.close().catch(() => {});
  }
}

/** Remove a stage, even if the job left folders without write permission. */
export async function removeStage(root: string): Promise<void> {
  try {
    await fs.promises.rm(root, { recursive: true, force: true });
  } catch {
    await makeWritable(root);
    await fs.promises.rm(root, { recursive: true, force: true });
  }
}

async function makeWritable(dir: string): Promise<void> {
  await fs.promises.chmod(dir, 0o700).catch(() => {});
  for (const entry of await fs.promises.readdir(dir, { withFileTypes: true }).catch(() => [] as fs.Dirent[])) {
    if (entry.isDirectory()) await makeWritable(path.join(dir, entry.name));
  }
}
