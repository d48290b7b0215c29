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
//      job (execute.ts); a stop file from the pass (a cancellation) or SIGTERM (scancel, anyone else)
//      stops it the same way a limit does
//   4. a spare of the warm loop goes back among the spares for the next run (waiting-spare.ts); then
//      write result.json, remove the stage, touch the wake file, and exit or take that next run
import fs from "node:fs";
import path from "node:path";
import { isDiskFull } from "../core/disk-space.ts";
import { errorMessage } from "../core/errors.ts";
import { exists, ifExists, inPlace, readJsonFile, writeFileAtomic, writeJsonAtomic } from "../core/fsutil.ts";
import { isRunning } from "../core/lock.ts";
import { removeTree } from "../core/remove.ts";
import { execute } from "./execute.ts";
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
/** Written by a pass to stop the run (a cancellation). */
const STOP_FILE = "stop";
/** How often a running supervisor looks for a stop where its folder cannot be watched. */
const STOP_LOOK_MS = 500;
/**
 * How long a supervisor waits for its pass to say go before it concludes the pass died and runs
 * nothing. The pass says go milliseconds after recording the run, so only a dead pass is this late;
 * the bound also covers a pipe whose far end somehow stays open after the pass is gone.
 */
export const GO_WAIT_MS = 120_000;

export async function supervise(runDir: string, options: { comeBack?: () => void } = {}): Promise<Outcome> {
  const request = await readJsonFile(path.join(runDir, REQUEST_FILE), RunRequestSchema);
  const stop = new AbortController();
  // Signalled (by someone other than a pass: a pass asks with a stop file) before or while the job
  // runs: the job is killed, the result says so, and this supervisor takes no further run.
  let signalled = false;
  const onSignal = () => {
    signalled = true;
    stop.abort();
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  try {
    if (!(await gate(request, runDir))) {
      // Back among the spares before the outcome is there to be seen, as after a run (below).
      if (!signalled) options.comeBack?.();
      await writeFileAtomic(path.join(runDir, NOT_STARTED_FILE), `${new Date().toISOString()}\n`);
      await removeTree(request.stage).catch(expected("a stage left is swept by the pass's recovery"));
      return { ran: false, signalled };
    }
    // A hint (the pass falls back to the time it recorded): not worth a disk flush before the job starts.
    await writeFileAtomic(path.join(runDir, STARTED_FILE), `${new Date().toISOString()}\n`, { durable: false });
    const told = watchForStop(runDir, stop);
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
    } finally {
      told.close();
    }
    // Back among the spares before the result is there to be seen: a pass that finds the run ended
    // starts the next job in this process (its request waits on the lifeline until this one is done).
    if (!signalled) options.comeBack?.();
    await writeJsonAtomic(path.join(runDir, RESULT_FILE), result);
    await removeTree(request.stage).catch(expected("the pass's recovery removes what is left"));
    // A touch, written in place: only its mtime and its event count, nobody reads it, and a supervisor
    // killed mid-write must not leave a temp file in the owner's state folder.
    if (request.wake)
      await fs.promises
        .writeFile(request.wake, `${new Date().toISOString()}\n`, { mode: 0o600 })
        .catch(expected("a wake-up only: the next pass at its interval collects the run anyway"));
    return { ran: true, signalled };
  } finally {
    process.off("SIGTERM", onSignal);
    process.off("SIGINT", onSignal);
  }
}

/** How a run went for its supervisor: whether the job ran, and whether a signal stopped it (then it takes no further run). */
export interface Outcome {
  ran: boolean;
  signalled: boolean;
}

/**
 * A pass's request to stop the run (a cancellation): a file in the run's folder, seen at once through
 * a watch, else within STOP_LOOK_MS. Not a signal: a spare supervisor takes one run after another, and
 * a signal meant for a run that just ended would stop the next.
 */
function watchForStop(runDir: string, stop: AbortController): { close(): void } {
  const look = () => {
    if (fs.existsSync(path.join(runDir, STOP_FILE))) stop.abort();
  };
  look();
  const watcher = watchFolder(runDir, look);
  const timer = setInterval(look, STOP_LOOK_MS);
  return {
    close: () => {
      clearInterval(timer);
      watcher?.close();
    },
  };
}

/** A watch of a run's folder calling `changed` on each event, or undefined where folders cannot be watched (then looks alone find changes). */
function watchFolder(dir: string, changed: () => void): fs.FSWatcher | undefined {
  try {
    return fs.watch(dir, { persistent: false }, changed);
  } catch {
    // No watching here (a Slurm node's shared folder): the looks alone.
    return undefined;
  }
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
  const watcher = watchFolder(runDir, () => woken?.());
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
export function sayGo(runDir: string): Promise<void> {
  return say(path.join(runDir, GO_FILE), "go\n");
}

/** For the pass: stop a running job (a cancellation); its result then says it was stopped. */
export function sayStop(runDir: string): Promise<void> {
  return say(path.join(runDir, STOP_FILE), "stop\n");
}

/** For the pass: tell a supervisor gated by a file that its run was given up (never recorded): it runs nothing. */
export function sayNoGo(runDir: string): Promise<void> {
  return say(path.join(runDir, NO_GO_FILE), "no\n");
}

/** A word to a supervisor: a tiny file in its run's folder, written in place (it is on the way from a decision to the job's start). */
function say(file: string, word: string): Promise<void> {
  return inPlace(() => fs.writeFileSync(file, word, { mode: 0o600 }));
}
