// Lock files holding {pid, pid_start, started_at}. Created with O_EXCL so only one process wins.
// A lock whose process is gone (or whose pid now belongs to another process, told apart by the
// kernel start time) is stale and taken over: it is first renamed away, which only one taker can
// do, then created afresh with O_EXCL.
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { isNotFound, parseJsonText } from "./fsutil.ts";
import { LockSchema } from "./schemas.ts";
import type { z } from "zod";
import { expected } from "./expected.ts";

type LockInfo = z.infer<typeof LockSchema>;

/** Start time of a process in clock ticks since boot (field 22 of /proc/<pid>/stat), or undefined if it is gone. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may contain spaces and parentheses: count fields after the last ")".
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    // no such process (it exited): no start time
    return undefined;
  }
}

/**
 * Is the process that had this pid and start time still running? A zombie (ended, not yet reaped by
 * its parent) is not: its work is over.
 */
export function isRunning(pid: number, start: string): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return fields[19] === start && fields[0] !== "Z" && fields[0] !== "X";
  } catch {
    // no such process: not alive
    return false;
  }
}

function isAlive(info: LockInfo): boolean {
  return isRunning(info.pid, info.pid_start);
}

export type TryLockResult = { acquired: true; release: () => Promise<void> } | { acquired: false; holder: LockInfo };

export async function tryLock(file: string): Promise<TryLockResult> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const mine: LockInfo = {
    pid: process.pid,
    pid_start: processStartTime(process.pid) ?? "unknown",
    started_at: new Date().toISOString(),
  };
  for (let attempt = 0; attempt < 5; attempt += 1) {
    try {
      await fs.promises.writeFile(file, JSON.stringify(mine), { flag: "wx" });
      return { acquired: true, release: () => releaseLock(file, mine) };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") {
        // Made but not written (a full disk): an empty lock would hold off the next passes, so it goes.
        await fs.promises.rm(file, { force: true }).catch(expected("a lock file already gone"));
        throw error;
      }
    }
    const holder = await readLock(file);
    if (holder === "gone") continue;
    if (holder !== "unreadable" && isAlive(holder)) return { acquired: false, holder };
    if (holder === "unreadable" && !(await olderThan(file, 10_000))) {
      // Just created by someone who has not finished writing it: treat as held.
      await sleep(50);
      continue;
    }
    // Stale: move it aside (only one of several takers can), then try O_EXCL again.
    const aside = `${file}.stale.${randomBytes(4).toString("hex")}`;
    try {
      fs.renameSync(file, aside);
      fs.rmSync(aside, { force: true });
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }
  const holder = await readLock(file);
  if (typeof holder === "object") return { acquired: false, holder };
  throw new Error(`Could not take the lock ${file}; remove it if no pass is running`);
}

async function readLock(file: string): Promise<LockInfo | "gone" | "unreadable"> {
  try {
    return parseJsonText(file, await fs.promises.readFile(file, "utf8"), LockSchema);
  } catch (error) {
    return isNotFound(error) ? "gone" : "unreadable";
  }
}

async function olderThan(file: string, ms: number): Promise<boolean> {
  try {
    return Date.now() - (await fs.promises.stat(file)).mtimeMs > ms;
  } catch {
    // gone: as good as stale
    return true;
  }
}

async function releaseLock(file: string, mine: LockInfo): Promise<void> {
  // Only remove the lock if it is still ours (a very slow pass may have been taken over).
  const holder = await readLock(file);
  if (typeof holder === "object" && holder.pid === mine.pid && holder.started_at === mine.started_at) {
    fs.rmSync(file, { force: true });
  }
}

/**
 * Run `fn` holding a short-lived lock, waiting for it up to `timeoutMs`. Such a lock is held for a
 * millisecond or two (an audit append), so the wait starts at about a millisecond and doubles: a
 * fixed wait of tens of ms would cost a pass that meets an `scq approve` at work more than the work.
 */
export async function withFileLock<T>(file: string, fn: () => Promise<T>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let wait = 1; ; wait = Math.min(wait * 2, 50)) {
    const lock = await tryLock(file);
    if (lock.acquired) {
      try {
        return await fn();
      } finally {
        await lock.release();
      }
    }
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${file} held by pid ${lock.holder.pid}`);
    await sleep(wait * (0.5 + Math.random()));
  }
}
