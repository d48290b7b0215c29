// A full disk is an operating condition, not a crash. The pass keeps a small reserve file in its
// private state; when the disk holding the queue or the state runs low, it gives the reserve back
// first, so it can still take its lock and record what needs no more room: collect finished runs,
// cancel, decide, and clean up (which frees space). Intake and new starts, which copy code, wait
// until there is room again; the reserve is made again then.
import fs from "node:fs";
import path from "node:path";
import { DiskFullError } from "./errors.ts";
import type { QueuePaths } from "./paths.ts";
import { expected } from "./expected.ts";

const MB = 1024 * 1024;
/** The reserve given back on a full disk: room for the lock, records, audit lines and a pass summary. */
const RESERVE_BYTES = 4 * MB;
/** Below this much free space (or this many free inodes) the pass works as on a full disk. */
const LOW_BYTES = 32 * MB;
const LOW_INODES = 1000;

const reserveFile = (paths: QueuePaths) => path.join(paths.state, "disk-reserve");

/** "disk full at <folder> (N MB free)" when a disk the queue lives on is low, else undefined. */
export async function diskFull(paths: QueuePaths): Promise<string | undefined> {
  for (const dir of [paths.root, paths.state]) {
    const stats = await fs.promises.statfs(await nearestExisting(dir));
    const free = stats.bavail * stats.bsize;
    // A filesystem without inode counts (some network ones) reports 0 files in all: not "full".
    const inodesLow = stats.files > 0 && stats.ffree < LOW_INODES;
    if (free < LOW_BYTES || inodesLow) {
      return `disk full at ${dir} (${(free / MB).toFixed(1)} MB${inodesLow ? `, ${stats.ffree} inodes` : ""} free)`;
    }
  }
  return undefined;
}

/** Give the reserve back, so the pass can write its lock and records on a full disk. */
export function releaseReserve(paths: QueuePaths): void {
  fs.rmSync(reserveFile(paths), { force: true });
}

/** Make the reserve, if it is missing and there is room for it. Never fails the pass. */
export async function keepReserve(paths: QueuePaths): Promise<void> {
  const file = reserveFile(paths);
  if (
    await fs.promises.stat(file).then(
      (s) => s.size === RESERVE_BYTES,
      () => false,
    )
  )
    return;
  try {
    const handle = await fs.promises.open(file, "w", 0o600);
    try {
      // Written, not a sparse hole: the blocks must really be taken to be given back.
      await handle.write(Buffer.alloc(RESERVE_BYTES, 0x2e));
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // No room for the reserve: a later pass keeps it; a partial one is removed, better none than that.
    await fs.promises.rm(file, { force: true }).catch(expected("no room after all: better none than a partial one"));
  }
}

/** Is this the kernel saying there is no room (no space, no inodes, over quota)? */
export function isDiskFull(error: unknown): error is NodeJS.ErrnoException {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === "ENOSPC" || code === "EDQUOT";
}

/**
 * A write the pass keeps only for itself (a hint it can do without): on a full disk it is skipped and
 * `skipped` says so; any other error stands.
 */
export async function unlessDiskFull(write: Promise<void>, skipped: () => void): Promise<void> {
  await write.catch((error: unknown) => {
    if (!isDiskFull(error)) throw error;
    skipped();
  });
}

/** A disk-full error from the kernel as one that names where, for the pass's caller. */
export function asDiskFull(error: unknown): unknown {
  if (!isDiskFull(error)) return error;
  return new DiskFullError(`disk full at ${error.path ?? "an unknown path"}: free some space there (old jobs, other files); the next pass goes on`, {
    path: error.path,
    cause: error,
  });
}

async function nearestExisting(dir: string): Promise<string> {
  for (let d = dir; ; d = path.dirname(d)) {
    if (
      await fs.promises.stat(d).then(
        () => true,
        () => false,
      )
    )
      return d;
    if (path.dirname(d) === d) return d;
  }
}
