// A spare supervisor's own side (the loop's side is spares.ts): it waits in its folder under
// state/spares/ until a pass takes it (renames the folder to a run's folder and writes the request),
// runs that job as any supervisor does, then makes itself a new folder there and says so down its
// lifeline, to wait for the next run. Taking job after job, it saves each of them a Node start.
//
// The lifeline is its stdin: one end of a socket whose other end only the loop holds. The loop writes
// "request" once a request is written; the spare writes "back <folder name>" once it waits again. Its
// end means the loop is gone: a waiting spare retires, a running one finishes its run, then retires.
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { exists } from "../core/fsutil.ts";
import { removeTree } from "../core/remove.ts";
import { expected } from "../core/expected.ts";
import { prepareToExecute } from "./execute.ts";
import { GO_WAIT_MS, REQUEST_FILE } from "./supervisor.ts";

/** Runs a spare takes before it retires (the loop starts a fresh one): what one process may gather over time stays small. */
const RUNS_PER_SPARE = 200;

export interface Lifeline {
  /** Words from the loop since last asked (any word: "you are taken, look for your request"). */
  told: boolean;
  ended: boolean;
  /** Called on each word and at the end. */
  kick?: (() => void) | undefined;
  say(text: string): void;
}

/** The lifeline on fd 0 (a socket both ways; process.stdin would only read it). */
export function lifeline(): Lifeline {
  const socket = new net.Socket({ fd: 0, readable: true, writable: true });
  const line: Lifeline = {
    told: false,
    ended: false,
    say: (text) => {
      if (!line.ended) socket.write(text);
    },
  };
  const ended = () => {
    line.ended = true;
    line.kick?.();
  };
  socket.on("data", () => {
    line.told = true;
    line.kick?.();
  });
  socket.on("end", ended);
  socket.on("error", ended);
  socket.on("close", ended);
  return line;
}

/**
 * Wait in `home` (the working folder) until a pass takes it: the run folder it became once its
 * request is there, or undefined when it retired (its loop gone) or its folder was removed. Taken, it
 * looks for its request a while (GO_WAIT_MS at most), as for a go.
 */
export async function waitAsSpare(home: string, line: Lifeline): Promise<string | undefined> {
  const prepared = prepareToExecute().catch(expected("done again when the run starts, where a failure counts"));
  let takenAt: number | undefined;
  try {
    for (;;) {
      if (await exists(REQUEST_FILE)) {
        await prepared;
        return here(); // the working folder follows the rename: it is the run's folder by now
      }
      if (line.told && takenAt === undefined) takenAt = Date.now();
      if (line.ended && takenAt === undefined) {
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
        line.kick = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  } finally {
    line.kick = undefined;
  }
}

/**
 * After its run, a new folder beside its first one (in state/spares/), made its working folder, and
 * "back" said down the line: the folder's name, or undefined when it should retire instead (the loop
 * gone, enough runs taken, or no folder to be had).
 */
export function comeBack(spares: string, line: Lifeline, runs: number): string | undefined {
  if (line.ended || runs >= RUNS_PER_SPARE) return undefined;
  const home = path.join(spares, randomBytes(8).toString("hex"));
  try {
    fs.mkdirSync(home, { mode: 0o700 });
    process.chdir(home);
  } catch {
    return undefined; // the spares folder swept (a new loop) or the disk full: retire
  }
  // Words from here on are for this wait (a word unread from the last take is no news).
  line.told = false;
  line.say(`back ${path.basename(home)}\n`);
  return home;
}

/** Where this process's working folder is now (process.cwd() keeps the path it first saw), or undefined once removed. */
function here(): string | undefined {
  try {
    return fs.realpathSync.native(".");
  } catch {
    return undefined; // removed: getcwd fails once the folder is gone
  }
}
