// A job's supervisor: one small process per run, started by a pass (local executor) or by Slurm on a
// compute node, that outlives the pass. It owns the sandbox exactly as a pass once did: the timeout,
// the log and output caps, the memory watchdog. The pass reads only what the supervisor writes
// (result.json, atomically, in a folder no job can reach), never anything the job itself wrote.
//
//   1. read request.json (the pass wrote it, schema-checked here too)
//   2. wait for the pass's "go" (a file `go` in the run folder; on stdin for a run its caller waits
//      for): the pass says it only after it recorded the job as running, so a pass that dies before
//      that (its pid gone, or its pipe closed) leaves a supervisor that runs nothing; it writes
//      not-started, and the next pass puts the job back in approved/ (it never ran, so its approval
//      still stands)
//   3. write started (when the job really began: a Slurm job may have waited in the queue), run the
//      job (execute.ts); SIGTERM (a cancellation, scancel) stops it the same way a limit does
//   4. write result.json, remove the stage, touch the wake file, exit
import fs from "node:fs";
import path from "node:path";
import { isDiskFull } from "../core/disk-space.ts";
import { errorMessage } from "../core/errors.ts";
import { exists, ifExists, readJsonFile, writeFileAtomic, writeJsonAtomic } from "../core/fsutil.ts";
import { isRunning } from "../core/lock.ts";
import { removeTree } from "../core/remove.ts";
import { execute, prepareToExecute } from "./execute.ts";
import { RunRequestSchema, type RunRequest, type RunResult } from "../core/schemas.ts";
import { expected } from "../core/expected.ts";

export const REQUEST_FILE = "request.json";
export const RESULT_FILE = "result.json";
export const GO_FILE = "go";
/** Written instead of go when the pass gave the run up before recording it. */
export const NO_GO_FILE = "no-go";
/** Written when the pass never said go: the job did not run. */
export const NOT_STARTED_FILE = "not-started";
/** Written (the time, ISO) when the job begins: its time limit counts from here. */
export const STARTED_FILE = "started";
/**
 * How long a supervisor waits for its pass to say go before it concludes the pass died and runs
 * nothing. The pass says go milliseconds after recording the run, so only a dead pass is this late;
 * the bound also covers a pipe whose far end somehow stays open after the pass is gone.
 */
export const GO_WAIT_MS = 120_000;

export async function supervise(runDir: string): Promise<"ran" | "not started"> {
  const request = await readJsonFile(path.join(runDir, REQUEST_FILE), RunRequestSchema);
  const stop = new AbortController();
  // Told to stop before or while the job runs: the job is killed, and the result says so.
  process.on("SIGTERM", () => stop.abort());
  process.on("SIGINT", () => stop.abort());
  if (!(await gate(request, runDir))) {
    await writeFileAtomic(path.join(runDir, NOT_STARTED_FILE), `${new Date().toISOString()}\n`);
    await removeTree(request.stage).catch(expected("a stage left is swept by the pass's recovery"));
    return "not started";
  }
  // A hint (the pass falls back to the time it recorded): not worth a disk flush before the job starts.
  await writeFileAtomic(path.join(runDir, STARTED_FILE), `${new Date().toISOString()}\n`, { durable: false });
  let result: RunResult;
  try {
    result = await execute(request, stop.signal);
  } catch (error) {
    if (isDiskFull(error)) {
      // What was copied of its output is removed (it keeps the disk full, and is incomplete), so the
      // result below can be written and the job fails for its true reason.
      await removeTree(request.output).catch(expected("partial output left is swept by the pass's recovery"));
      result = crashed(`disk full at ${error.path ?? "the staging folder"}: its output could not be stored (the partial copy was removed)`);
    } else result = crashed(`the supervisor could not run the job: ${errorMessage(error)}`);
  }
  await writeJsonAtomic(path.join(runDir, RESULT_FILE), result);
  await removeTree(request.stage).catch(expected("the pass's recovery removes what is left"));
  // A touch, written in place: only its mtime and its event count, nobody reads it, and a supervisor
  // killed mid-write must not leave a temp file in the owner's state folder.
  if (request.wake)
    await fs.promises
      .writeFile(request.wake, `${new Date().toISOString()}\n`, { mode: 0o600 })
      .catch(expected("a wake-up only: the next pass at its interval collects the run anyway"));
  return "ran";
}

async function gate(request: RunRequest, runDir: string): Promise<boolean> {
  if (request.gate === "stdin") {
    const deadline = setTimeout(() => process.stdin.destroy(), GO_WAIT_MS);
    try {
      let said = "";
      for await (const chunk of process.stdin) {
        said += String(chunk);
        if (said.includes("go\n")) return true;
      }
      return false; // the pass's end of the pipe closed without a go: it died
    } catch {
      return false; // destroyed at the deadline: no go came in time
    } finally {
      clearTimeout(deadline);
    }
  }
  // Told by a file: at once through a watch of the run folder where events come, else by a look every
  // 200 ms (a Slurm node's shared folder).
  let woken: (() => void) | undefined;
  let watcher: fs.FSWatcher | undefined;
  try {
    watcher = fs.watch(runDir, { persistent: false }, () => woken?.());
  } catch {
    // No watching here: the looks alone.
  }
  try {
    for (const deadline = Date.now() + GO_WAIT_MS; Date.now() < deadline;) {
      if (await exists(path.join(runDir, GO_FILE))) return true;
      if (await exists(path.join(runDir, NO_GO_FILE))) return false;
      // The process that started the run is gone without a word: it died before recording the run.
      if (request.starter && !isRunning(request.starter.pid, request.starter.start)) return exists(path.join(runDir, GO_FILE));
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 200);
        woken = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    return false;
  } finally {
    watcher?.close();
  }
}

/**
 * A spare (spares.ts) waiting in `home` until a pass takes it: the run folder it became once its
 * request is there, or undefined when it retired (its loop gone) or its folder was removed. It waits
 * on its stdin alone: the loop writes a word there once the request is written, and its end there
 * means the loop is gone (or the spare was taken and told). Taken, and its request not there, it
 * looks a while (GO_WAIT_MS at most), as for a go.
 */
export async function waitAsSpare(home: string): Promise<string | undefined> {
  // Its working folder is `home` (the loop starts it there), and it follows the folder's rename.
  let kick: (() => void) | undefined;
  let lineEnded = false;
  const ended = () => {
    lineEnded = true;
    kick?.();
  };
  process.stdin.on("data", () => kick?.());
  process.stdin.on("end", ended);
  process.stdin.on("error", ended);
  const prepared = prepareToExecute().catch(expected("done again when the run starts, where a failure counts"));
  let takenAt: number | undefined;
  try {
    for (;;) {
      if (await exists(REQUEST_FILE)) {
        await prepared;
        return here(); // renamed to the run's folder by now
      }
      if (lineEnded && takenAt === undefined) {
        // Renamed away first, this folder can no longer be taken; if the rename finds it gone, a pass
        // took it a moment ago (and its request is on the way, unless that pass died).
        const retired = `${home}.retired`;
        const renamed = await fs.promises.rename(home, retired).then(
          () => true,
          () => false,
        );
        if (renamed) {
          await removeTree(retired).catch(expected("a spare's folder left is removed by the next loop"));
          return undefined;
        }
        takenAt = Date.now();
      }
      // The folder removed (a launch that failed, a new loop sweeping): nobody will ever ask.
      if (here() === undefined) return undefined;
      if (takenAt !== undefined && Date.now() - takenAt > GO_WAIT_MS) return undefined;
      await new Promise<void>((resolve) => {
        const timer = takenAt === undefined ? undefined : setTimeout(resolve, 200);
        kick = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  } finally {
    process.stdin.destroy();
  }
}

/** Where this process's working folder is now (process.cwd() keeps the path it first saw), or undefined once removed. */
function here(): string | undefined {
  try {
    return fs.realpathSync.native(".");
  } catch {
    return undefined; // removed: getcwd fails once the folder is gone
  }
}

function crashed(message: string): RunResult {
  return {
    exitCode: null,
    signal: null,
    failed: true,
    timedOut: false,
    outputLimitExceeded: false,
    outputLimitReason: null,
    memoryLimitExceeded: false,
    abandoned: false,
    stopped: false,
    durationMs: 0,
    stdoutTruncated: false,
    stderrTruncated: false,
    outputFiles: 0,
    outputSkipped: [],
    message,
  };
}

/** For the pass: what the supervisor in `runDir` said of the job's start (nothing yet: undefined). */
export async function startOf(runDir: string): Promise<{ neverStarted: true } | { startedAt: number } | undefined> {
  if (await exists(path.join(runDir, NOT_STARTED_FILE))) return { neverStarted: true };
  const text = await ifExists(fs.promises.readFile(path.join(runDir, STARTED_FILE), "utf8"));
  const at = text === undefined ? NaN : Date.parse(text.trim());
  return Number.isNaN(at) ? undefined : { startedAt: at };
}

/** For the pass: say go to a supervisor gated by a file, after the run is recorded. */
export async function sayGo(runDir: string): Promise<void> {
  await fs.promises.writeFile(path.join(runDir, GO_FILE), "go\n", { mode: 0o600 });
}

/** For the pass: tell a supervisor gated by a file that its run was given up (never recorded): it runs nothing. */
export async function sayNoGo(runDir: string): Promise<void> {
  await fs.promises.writeFile(path.join(runDir, NO_GO_FILE), "no\n", { mode: 0o600 });
}
