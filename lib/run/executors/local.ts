// The local executor: each run under a supervisor process on this machine (scripts/supervise.ts; under
// the warm loop, a spare that takes run after run), in its own session (setsid) and nobody's child, so
// it outlives the process that started it and no signal to that process's group or tree reaches it.
// The pass writes `go` in the run folder once the run is recorded; the pass dying first (the
// supervisor watches its pid) means "never start". The run is found again by the supervisor's pid and
// kernel start time, which a reused pid never matches.
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { forgetRunDir, makeRunDir, runDir, supervisorCommand, type Executor, type Launched, type Staged } from "../executor.ts";
import { errorMessage, ScqError } from "../../core/errors.ts";
import { ifExists, readJsonFile, writeJsonAtomic } from "../../core/fsutil.ts";
import { isRunning, processStartTime } from "../../core/lock.ts";
import type { QueuePaths } from "../../core/paths.ts";
import { removeTree } from "../../core/remove.ts";
import { ensureStageRoot, ownStageRoot, stageJob } from "../stage.ts";
import { dataPathsProblem, sandboxProblem } from "../sandbox.ts";
import { startDetached, supervisorEnv } from "../detached.ts";
import { takeSpare } from "../spares.ts";
import { GO_WAIT_MS, REQUEST_FILE, RESULT_FILE, sayGo, sayNoGo, sayStop, startOf } from "../supervisor.ts";
import { RunResultSchema, type DataPath, type RunRequest, type RunResult, type SandboxMode } from "../../core/schemas.ts";

/** Past its deadline by this much, a supervisor is taken for hung: it is killed and its run counted lost. */
const OVERDUE_MS = 60_000;

export function localExecutor(paths: QueuePaths, mode: SandboxMode, dataPaths: DataPath[]): Executor {
  const resultOf = (runId: string) => ifExists(readJsonFile(path.join(runDir(paths, runId), RESULT_FILE), RunResultSchema));
  return {
    type: "local",

    async problem() {
      return (
        (await sandboxProblem(mode)) ??
        (await dataPathsProblem(mode, dataPaths)) ??
        (await ensureStageRoot(paths).then(
          () => undefined,
          (error: unknown) => errorMessage(error),
        ))
      );
    },

    async stage(job) {
      const { runId, stage, codeHash } = await stageJob(await ensureStageRoot(paths), path.join(job.dir, "code"), mode, dataPaths);
      return {
        runId,
        codeHash,
        stage: stage.root,
        discard: async () => {
          await removeTree(stage.root);
          await forgetRunDir(paths, runId);
        },
      };
    },

    async launch(staged: Staged, plan): Promise<Launched> {
      const request: RunRequest = { ...plan, stage: staged.stage, gate: "go-file", starter: thisProcess(), wake: paths.wake };
      // A spare (under the warm loop) is already up: its folder becomes the run's, and the request wakes it.
      const spare = await takeSpare(paths, staged.runId);
      const dir = spare?.dir ?? makeRunDir(paths, staged.runId);
      try {
        // Not flushed to disk: only this run's supervisor reads it, and a power cut ends that supervisor
        // anyway (the pass then fails the job as interrupted, from its pid and missing result).
        await writeJsonAtomic(path.join(dir, REQUEST_FILE), request, { durable: false });
      } finally {
        spare?.wake();
      }
      const { pid, start } = spare ?? (await startDetached(dir));
      return {
        ref: { executor: "local", run_id: staged.runId, pid, pid_start: start, host: os.hostname() },
        go: () => sayGo(dir),
        abort: () => sayNoGo(dir),
      };
    },

    async poll(ref, job) {
      if (ref.executor !== "local") throw new Error("not a local run");
      const result = await resultOf(ref.run_id);
      if (result) return { state: "finished", result };
      const start = await startOf(runDir(paths, ref.run_id));
      if (start && "neverStarted" in start) return { state: "never-started" };
      if (isRunning(ref.pid, ref.pid_start)) {
        // Alive, yet it never began the job long after it should have heard go: the pass that started
        // it is gone (stopped while starting it). The job never ran, so it is started again in its turn.
        const recorded = Date.parse(job.meta.started_at ?? job.meta.updated_at);
        if (!start && Date.now() - recorded > GO_WAIT_MS + OVERDUE_MS) {
          killSupervisor(ref.pid, ref.pid_start);
          return { state: "never-started" };
        }
        const started = start?.startedAt ?? Date.parse(job.meta.started_at ?? job.meta.updated_at);
        const limit = (job.meta.limits?.timeout_s ?? 0) * 1000;
        if (Date.now() - started > limit + OVERDUE_MS) {
          killSupervisor(ref.pid, ref.pid_start);
          return { state: "lost", reason: `its supervisor (pid ${ref.pid}) was still there ${OVERDUE_MS / 1000} s past the timeout and was killed` };
        }
        return { state: "running", detail: `supervisor pid ${ref.pid}` };
      }
      // It may have written its result just before it ended.
      const late = await resultOf(ref.run_id);
      if (late) return { state: "finished", result: late };
      return { state: "lost", reason: "its supervisor ended without a result (killed, crashed, or the machine restarted)" };
    },

    collect() {
      return Promise.resolve([]); // the supervisor wrote the logs into the results folder and the output into staging itself
    },

    async stop(ref) {
      // A file, not a signal: the supervisor may be a spare that has gone on to another run since.
      if (ref.executor === "local") await sayStop(runDir(paths, ref.run_id));
    },

    async forget(ref) {
      const root = await ownStageRoot(paths);
      if (root) await removeTree(path.join(root, ref.run_id));
      await forgetRunDir(paths, ref.run_id);
    },
  };
}

/** This process, as a run's starter: its supervisor runs nothing if it dies before saying go. */
function thisProcess(): { pid: number; start: string } {
  const start = processStartTime(process.pid);
  if (start === undefined) throw new Error("cannot read this process's start time from /proc");
  return { pid: process.pid, start };
}

/**
 * A supervisor for a run its caller waits for (runToEnd): the caller's own child, in its process
 * group, so a Ctrl-C at the terminal reaches it too, gated by "go" on its stdin.
 */
async function spawnSupervisor(dir: string): Promise<{ child: ChildProcess; pid: number; start: string }> {
  const out = await fs.promises.open(path.join(dir, "supervisor.txt"), "a", 0o600);
  const { file, args } = supervisorCommand();
  const child = spawn(file, [...args, dir], { cwd: dir, stdio: ["pipe", out.fd, out.fd], env: supervisorEnv() });
  const spawned = new Promise<void>((resolve, reject) => {
    child.once("spawn", resolve);
    child.once("error", reject);
  });
  await out.close();
  await spawned;
  const pid = child.pid;
  const start = pid === undefined ? undefined : processStartTime(pid);
  if (pid === undefined || start === undefined) {
    child.stdin?.destroy();
    throw new Error("the supervisor ended as it started; see supervisor.txt in its run folder");
  }
  return { child, pid, start };
}

/**
 * One run to its end under its own supervisor, as real runs go, for a caller that waits for it (a
 * dry run, scq try): the same gate, sandbox, limits and watchdog, and the same story when it is
 * killed or crashes. Its run folder (request, result, the supervisor's words) is made under `root`,
 * owner-only, and removed after. The caller told to stop (SIGINT, SIGTERM) stops the run as a
 * cancellation would, and the result says so.
 */
export async function runToEnd(root: string, request: Omit<RunRequest, "gate" | "starter" | "wake">): Promise<RunResult> {
  const dir = await fs.promises.mkdtemp(path.join(root, "supervise-"));
  fs.chmodSync(dir, 0o700);
  let running: { pid: number; start: string } | undefined;
  const stop = () => {
    if (running && isRunning(running.pid, running.start)) process.kill(running.pid, "SIGTERM");
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  try {
    await writeJsonAtomic(path.join(dir, REQUEST_FILE), { ...request, gate: "stdin", starter: null, wake: null } satisfies RunRequest);
    const { child, pid, start } = await spawnSupervisor(dir);
    running = { pid, start };
    const ended = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.stdin?.end("go\n");
    await ended;
    const result = await ifExists(readJsonFile(path.join(dir, RESULT_FILE), RunResultSchema));
    if (!result) {
      const said = (await ifExists(fs.promises.readFile(path.join(dir, "supervisor.txt"), "utf8")))?.trim().split("\n").slice(-5).join("\n");
      throw new ScqError(`the run's supervisor ended without a result (killed or crashed)${said ? `: ${said}` : ""}`);
    }
    return result;
  } finally {
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
    await removeTree(dir);
  }
}

function killSupervisor(pid: number, start: string): void {
  // Its sandbox goes with it: bwrap's --die-with-parent.
  if (isRunning(pid, start)) process.kill(pid, "SIGKILL");
}
