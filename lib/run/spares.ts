// Spare supervisors: under the warm loop, supervisors started ahead of need, so that starting a job
// costs no Node start (about a tenth of a second of CPU, most of a trivial job's cost in the queue).
//
// A spare is an ordinary supervisor (scripts/supervise.ts --spare) started as every local one is (in
// a session of its own, nobody's child), waiting in a folder of its own under state/spares/. The pass
// takes one by renaming that folder to the run's folder (runs/<run id>): one atomic step, so a spare
// retiring at the same moment (it renames its folder away first) is never taken, and the pass starts
// a fresh supervisor instead. The pass then writes request.json into the folder and says so down the
// spare's lifeline, and from there the spare is the run's supervisor like any other: the same gate
// (go), the same result, found again by its pid and start time. Once its result is written it makes
// itself a new folder here and says "back" (waiting-spare.ts): the loop counts it among its spares
// again, and the next job runs in the same process. A cancellation is a file in the run's folder, not
// a signal, so a stop meant for a run that has ended never reaches the next one.
//
// The lifeline: each spare's stdin is one end of a socket whose other end only the loop holds. A
// waiting spare reads it and nothing else (no timer, no watch: it costs no CPU while it waits). The
// loop gone (ended, restarted, killed), the spare reads end-of-file and retires; a spare already taken
// carries on with its run, then retires.
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import type { Socket } from "node:net";
import path from "node:path";
import { expected } from "../core/expected.ts";
import { isRunning } from "../core/lock.ts";
import type { QueuePaths } from "../core/paths.ts";
import { removeTree } from "../core/remove.ts";
import { startDetached } from "./detached.ts";

interface Spare {
  dir: string;
  pid: number;
  start: string;
  /** The loop's end of the spare's lifeline. */
  line?: Socket;
}

/** This process's waiting spares (only the warm loop has any): a lone pass starts its supervisors afresh. */
const spares: Spare[] = [];
/** Spares taken for a run, which come back once it is over (or die). */
const busy = new Set<Spare>();

/**
 * Keep `count` live spares for the queue at `paths`: the dead ones forgotten (their folders removed),
 * missing ones started, extra ones told to retire. The first call also removes what spares of an
 * earlier loop left.
 */
export async function keepSpares(paths: QueuePaths, count: number): Promise<void> {
  if (!swept.has(paths.spares)) {
    swept.add(paths.spares);
    for (const name of await fs.promises.readdir(paths.spares).catch(expected("no spares yet", [] as string[])))
      await removeTree(path.join(paths.spares, name));
  }
  for (const spare of [...spares]) {
    if (isRunning(spare.pid, spare.start)) continue;
    forget(spare);
    await removeTree(spare.dir);
  }
  for (const spare of [...busy]) if (!isRunning(spare.pid, spare.start)) forget(spare);
  // Those running a job count: they come back when it is over.
  while (spares.length > 0 && spares.length + busy.size > count) forget(spares.at(-1)!);
  while (spares.length + busy.size < count) spares.push(await startSpare(paths));
}
const swept = new Set<string>();

/**
 * A spare for the run `runId`, its folder now the run's folder, or undefined when there is none. The
 * caller writes request.json into the folder, then calls `wake` (also when that failed): a word down
 * the lifeline, which the spare reads as "look for your request".
 */
export async function takeSpare(paths: QueuePaths, runId: string): Promise<{ dir: string; pid: number; start: string; wake(): void } | undefined> {
  const to = path.join(paths.runs, runId);
  fs.mkdirSync(paths.runs, { recursive: true, mode: 0o700 });
  // Words already on the lifelines are heard first: a spare says "back" before its result is written,
  // so one whose run this pass found ended is among the spares by now.
  if (busy.size > 0) await new Promise(setImmediate);
  while (spares.length > 0) {
    const spare = spares.shift()!;
    const wake = () => spare.line?.write("request\n");
    if (!isRunning(spare.pid, spare.start)) {
      spare.line?.destroy();
      await removeTree(spare.dir);
      continue;
    }
    try {
      fs.renameSync(spare.dir, to);
    } catch {
      spare.line?.destroy();
      continue; // it retired first (its folder is gone): the next one, else a fresh supervisor
    }
    busy.add(spare);
    return { dir: to, pid: spare.pid, start: spare.start, wake };
  }
  return undefined;
}

/** All spares told to retire (the loop ends). */
export function dropSpares(): void {
  for (const spare of [...spares, ...busy]) forget(spare);
}

function forget(spare: Spare): void {
  if (spares.includes(spare)) spares.splice(spares.indexOf(spare), 1);
  busy.delete(spare);
  spare.line?.destroy(); // end-of-file: it retires and removes its folder (a running one, after its run)
}

async function startSpare(paths: QueuePaths): Promise<Spare> {
  const dir = path.join(paths.spares, randomBytes(8).toString("hex"));
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const spare: Spare = { dir, ...(await startDetached(dir, { spare: true })) };
  // "back <folder>": its run is over and it waits again, in a new folder beside the first.
  let heard = "";
  spare.line?.on("data", (chunk: Buffer) => {
    heard += chunk.toString();
    for (let end = heard.indexOf("\n"); end >= 0; end = heard.indexOf("\n")) {
      const name = /^back ([0-9a-f]{16})$/.exec(heard.slice(0, end))?.[1];
      heard = heard.slice(end + 1);
      if (name === undefined || !busy.has(spare)) continue;
      busy.delete(spare);
      spare.dir = path.join(paths.spares, name);
      // First in line: taken before one never used, which is the one to retire when there are too many.
      spares.unshift(spare);
    }
  });
  return spare;
}
