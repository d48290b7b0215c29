// File helpers every module shares. Whatever another process may read is written atomically: a temp
// file in the same folder (named *.tmp, which SyftBox does not sync), fsync, then rename.
// The modules a pass loads use node:fs directly: fs-extra's graceful-fs set-up alone costs ~10 ms of
// every pass's start. The CLI, the demo and the tests use fs-extra's helpers.
//
// The small reads, writes and looks here are done in place (node:fs's synchronous calls) behind
// promises: a hop to libuv's thread pool costs about 50 µs of CPU and latency a call, against 3–10 µs
// for a stat or a small file done in place, and a pass takes its steps one after another anyway. A
// job's lifecycle is some hundreds of them. Large or slow work (copying trees, listing 100,000
// entries, running processes) stays asynchronous.
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { z } from "zod";
import { describeZodIssues, InvalidFileError } from "./errors.ts";
import { UID_PATTERN } from "./schemas.ts";

/** `work` done now, in place, its result or its error as a settled promise (see the head of this file). */
export function inPlace<T>(work: () => T): Promise<T> {
  try {
    return Promise.resolve(work());
  } catch (error) {
    return Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }
}

interface WriteOptions {
  /**
   * false skips the fsync, for hints whose loss in a power cut costs nothing (the reader has a
   * fallback): still atomic, so a reader never sees half a file, but without the disk's flush latency
   * on a path where every millisecond is a job's (a run's start).
   */
  durable?: boolean;
  /** The file's permission bits (0o600: only its owner may read it, from the first byte). */
  mode?: number;
}

/** `data` may come in pieces (an iterable of strings): a large file is then never one string in memory. */
export function writeFileAtomic(file: string, data: string | Buffer | Iterable<string>, options: WriteOptions = {}): Promise<void> {
  return inPlace(() => {
    const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
    const fd = fs.openSync(tmp, "wx", options.mode ?? 0o644);
    try {
      if (typeof data === "string" || Buffer.isBuffer(data)) writeAll(fd, data);
      else for (const piece of data) writeAll(fd, piece);
      if (options.durable !== false) fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    try {
      fs.renameSync(tmp, file);
    } catch (error) {
      fs.rmSync(tmp, { force: true });
      throw error;
    }
  });
}

/** All of `data` at the file's current end: a write may take less than it was given. */
export function writeAll(fd: number, data: string | Buffer): void {
  const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : data;
  for (let at = 0; at < bytes.length;) at += fs.writeSync(fd, bytes, at, bytes.length - at);
}

/** The temp files writeFileAtomic names: .<name>.<pid>.<8 hex>.tmp */
const TEMP_FILE = /^\..+\.(\d+)\.[0-9a-f]{8}\.tmp$/;

/**
 * Remove the temp files of atomic writes that were cut off (their writer was killed between write and
 * rename) from a folder; those of a writer still alive are its own business.
 */
export async function removeDeadTempFiles(dir: string): Promise<void> {
  for (const name of (await ifExists(fs.promises.readdir(dir))) ?? []) {
    const pid = TEMP_FILE.exec(name)?.[1];
    if (pid !== undefined && !processAlive(Number(pid))) await fs.promises.rm(path.join(dir, name), { force: true });
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

export async function writeJsonAtomic(file: string, value: unknown, options: WriteOptions = {}): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(value, null, 2)}\n`, options);
}

/** The largest settings, record or marker file we read: anything bigger is refused unread. */
const MAX_RECORD_BYTES = 1024 * 1024;

/**
 * Open a file that someone else may have written, for reading, without trusting what it is: a link is
 * never followed, a FIFO never blocks us (O_NONBLOCK), and anything but a regular file is refused.
 * Whatever lstat said earlier, the checks here are on the open file itself, so a swap cannot fool them.
 */
export async function openRegularFile(file: string): Promise<{ handle: fs.promises.FileHandle; size: number }> {
  let handle: fs.promises.FileHandle;
  try {
    handle = await fs.promises.open(file, READ_UNTRUSTED);
  } catch (error) {
    throw notALink(file, error);
  }
  const stat = await handle.stat();
  try {
    refuseUnlessFile(file, stat);
  } catch (error) {
    await handle.close();
    throw error;
  }
  return { handle, size: stat.size };
}

const READ_UNTRUSTED = fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK;

/** An open refused for a link (O_NOFOLLOW) said as such; any other error as it is. */
function notALink(file: string, error: unknown): unknown {
  if ((error as NodeJS.ErrnoException).code === "ELOOP") return new InvalidFileError(file, ["is a symbolic link, not a regular file"], false);
  return error;
}

function refuseUnlessFile(file: string, stat: fs.Stats): void {
  if (stat.isFile()) return;
  const what = stat.isDirectory() ? "a folder" : stat.isFIFO() ? "a FIFO" : stat.isSocket() ? "a socket" : "a device";
  throw new InvalidFileError(file, [`is ${what}, not a regular file`], false);
}

/** The bytes of a file someone else may have written, refused unread when larger than `maxBytes`. */
export async function readUntrustedFile(file: string, maxBytes = MAX_RECORD_BYTES): Promise<Buffer> {
  return (await readUntrustedFileAndTime(file, maxBytes)).bytes;
}

/** readUntrustedFile, with the file's mtime from the same open (one open, one fstat, a read, a close). */
export function readUntrustedFileAndTime(file: string, maxBytes = MAX_RECORD_BYTES): Promise<{ bytes: Buffer; mtimeMs: number }> {
  return inPlace(() => {
    let fd: number;
    try {
      fd = fs.openSync(file, READ_UNTRUSTED);
    } catch (error) {
      throw notALink(file, error);
    }
    try {
      const stat = fs.fstatSync(fd);
      refuseUnlessFile(file, stat);
      if (stat.size > maxBytes) throw new InvalidFileError(file, [`is larger than ${maxBytes} bytes`], false);
      // Room for one byte more than the file had: a file growing while we read is caught too.
      let buffer = Buffer.allocUnsafe(Math.min(stat.size, maxBytes) + 1);
      let length = 0;
      for (;;) {
        if (length === buffer.length) buffer = Buffer.concat([buffer, Buffer.allocUnsafe(Math.min(buffer.length, maxBytes + 1 - length))]);
        const wanted = buffer.length - length;
        const bytesRead = fs.readSync(fd, buffer, length, wanted, length);
        length += bytesRead;
        if (length > maxBytes) throw new InvalidFileError(file, [`is larger than ${maxBytes} bytes`], false);
        // A regular file's read comes up short only at its end: no second read to be told so.
        if (bytesRead < wanted) break;
      }
      return { bytes: buffer.subarray(0, length), mtimeMs: stat.mtimeMs };
    } finally {
      fs.closeSync(fd);
    }
  });
}

/** Read a JSON file and validate it; errors name the file and each bad field. Safe on files others wrote. */
export async function readJsonFile<S extends z.ZodType>(file: string, schema: S, hint = "", maxBytes = MAX_RECORD_BYTES): Promise<z.output<S>> {
  let text: string;
  try {
    text = (await readUntrustedFile(file, maxBytes)).toString("utf8");
  } catch (error) {
    if (error instanceof InvalidFileError && hint) throw new InvalidFileError(file, error.problems, false, hint);
    throw error;
  }
  return parseJsonText(file, text, schema, hint);
}

export function parseJsonText<S extends z.ZodType>(file: string, text: string, schema: S, hint = ""): z.output<S> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new InvalidFileError(file, [`is not valid JSON (${(error as Error).message})`], true, hint);
  }
  const result = schema.safeParse(raw);
  if (!result.success) throw new InvalidFileError(file, describeZodIssues(result.error), false, hint);
  return result.data;
}

export function exists(p: string): Promise<boolean> {
  return inPlace(() => {
    try {
      fs.lstatSync(p);
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
  });
}

export function isNotFound(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === "ENOENT";
}

/** The value, or undefined when the file (or a folder on its path) is not there; any other failure is thrown. */
export async function ifExists<T>(work: Promise<T>): Promise<T | undefined> {
  try {
    return await work;
  } catch (error) {
    if (isMissing(error)) return undefined;
    throw error;
  }
}

/** Not there: the file, or a folder on its path. */
function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === "ENOENT" || code === "ENOTDIR";
}

/** A file's lstat (its stat with `follow`), in place; undefined when it (or a folder on its path) is not there. */
export function statIfExists(file: string, { follow = false } = {}): fs.Stats | undefined {
  try {
    return follow ? fs.statSync(file) : fs.lstatSync(file);
  } catch (error) {
    if (isMissing(error)) return undefined;
    throw error;
  }
}

/** Folder names in a listing, or [] when the folder does not exist; hidden and temp names are skipped. */
export function listDirs(dir: string): Promise<string[]> {
  return inPlace(() => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch (error) {
      if (isNotFound(error)) return [];
      throw error;
    }
    return entries.filter((e) => e.isDirectory() && !e.name.startsWith(".")).map((e) => e.name);
  });
}

/** The uids that `<uid>.json` files in `dir` name (none when it is missing): a write under way (a temp name) or sync noise names none yet. */
export async function uidFilesIn(dir: string): Promise<string[]> {
  return ((await ifExists(fs.promises.readdir(dir))) ?? [])
    .map((name) => (name.endsWith(".json") ? name.slice(0, -".json".length) : ""))
    .filter((uid) => UID_PATTERN.test(uid));
}

/** How long a file someone else writes that does not parse may be a write still under way (a sync bringing it) before it is judged. */
const STILL_ARRIVING_MS = 60_000;

/** Whether `file` changed so lately that it may be a write still under way: look again at a later pass rather than judge it now. */
export function mayStillBeArriving(file: string): Promise<boolean> {
  return inPlace(() => {
    const stat = statIfExists(file);
    return stat !== undefined && Date.now() - stat.mtimeMs < STILL_ARRIVING_MS;
  });
}
