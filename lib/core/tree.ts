// Walking a submitted code folder without trusting it: lstat only (never follow a link), refuse
// anything that is not a plain file or folder, stop early at the configured caps.
import { createHash } from "node:crypto";

import fs from "node:fs";
import path from "node:path";
import { openRegularFile, readUntrustedFile } from "./fsutil.ts";
import { UnsafeTreeError } from "./errors.ts";

export interface TreeEntry {
  /** Path relative to the root, with "/" separators. */
  rel: string;
  type: "file" | "dir";
  size: number;
  /** Permission bits (setuid, setgid and sticky bits dropped). */
  mode: number;
}

export interface TreeCaps {
  maxFiles: number;
  maxBytes: number;
}

export interface WalkOptions extends Partial<TreeCaps> {
  /** Names passed over as if absent (SyftBox's conflict copies and temp files). */
  skip?: (name: string) => boolean;
  /** List any name (output listings): control characters are shown by whoever prints them, never refused. */
  anyName?: boolean;
  /** Entries passed over with all they hold, whatever they are (what SyftBox never syncs), each told to onLeftOut. */
  leaveOut?: (name: string, isDir: boolean) => boolean;
  onLeftOut?: (rel: string) => void;
}

/** Files SyftBox itself makes while syncing: conflict copies and temp files. Never part of a job. */
export function isSyncNoise(name: string): boolean {
  return /\.conflict\.[^/]*$/.test(name) || /\.syft\.tmp\./.test(name) || name.endsWith(".tmp");
}

// eslint-disable-next-line no-control-regex
const BAD_NAME = /[\u0000-\u001f\u007f\\]/;

/**
 * Files SyftBox reads as permissions (syft.pub.yaml, and the names older clients used) or as sync
 * rules. Wherever one lies in a synced folder it grants access to what is beside it, so none written
 * by a requester or a job may ever land in the owner's datasite.
 */
const SYFTBOX_CONTROL_FILES = new Set(["syft.pub.yaml", "syftperm.yaml", "_.syftperm", ".syftignore"]);

export function isSyftBoxControlFile(name: string): boolean {
  return SYFTBOX_CONTROL_FILES.has(name.toLowerCase());
}

/** Deeper than this, a tree is refused (code) or the job stopped (output): paths must stay short enough to handle. */
export const MAX_DEPTH = 64;
/** Longest relative path in a submission. */
const MAX_PATH_CHARS = 1024;

export async function walkTree(root: string, options: WalkOptions = {}): Promise<TreeEntry[]> {
  const caps = { maxFiles: options.maxFiles ?? Infinity, maxBytes: options.maxBytes ?? Infinity };
  const entries: TreeEntry[] = [];
  let files = 0;
  let bytes = 0;
  const visit = async (dir: string, relDir: string, depth: number): Promise<void> => {
    if (depth > MAX_DEPTH) throw new UnsafeTreeError(`${relDir.split("/").slice(0, 3).join("/")}/... is nested more than ${MAX_DEPTH} folders deep`);
    const names = (await fs.promises.readdir(dir)).sort();
    for (const name of names) {
      if (options.skip?.(name)) continue;
      const rel = relDir ? `${relDir}/${name}` : name;
      // Paths past PATH_MAX cannot be opened by name at all: refuse long before that.
      if (rel.length > MAX_PATH_CHARS) throw new UnsafeTreeError(`${rel.slice(0, 60)}... is a path longer than ${MAX_PATH_CHARS} characters`);
      const full = path.join(dir, name);
      const stat = await fs.promises.lstat(full);
      if (options.leaveOut?.(name, stat.isDirectory())) {
        options.onLeftOut?.(stat.isDirectory() ? `${rel}/` : rel);
        continue;
      }
      if (!options.anyName && (BAD_NAME.test(name) || name === "." || name === "..")) {
        throw new UnsafeTreeError(`${JSON.stringify(rel)} has a control character or backslash in its name`);
      }
      if (!options.anyName && isSyftBoxControlFile(name))
        throw new UnsafeTreeError(`${rel} is a SyftBox permission or sync file; jobs may not carry one`);
      if (stat.isSymbolicLink()) throw new UnsafeTreeError(`${rel} is a symbolic link; submit plain files only`);
      // Folders count against max_files like files: each costs the owner's disk and sync as much.
      files += 1;
      if (files > caps.maxFiles) throw new UnsafeTreeError(`more than ${caps.maxFiles} files and folders`);
      if (stat.isDirectory()) {
        entries.push({ rel, type: "dir", size: 0, mode: stat.mode & 0o777 });
        await visit(full, rel, depth + 1);
        continue;
      }
      if (!stat.isFile()) throw new UnsafeTreeError(`${rel} is not a regular file (device, fifo or socket)`);
      if (stat.nlink > 1) throw new UnsafeTreeError(`${rel} is a hard link; submit plain files only`);
      bytes += stat.size;
      if (bytes > caps.maxBytes) throw new UnsafeTreeError(`more than ${Math.round(caps.maxBytes / 1048576)} MB of code`);
      entries.push({ rel, type: "file", size: stat.size, mode: stat.mode & 0o777 });
    }
  };
  await visit(root, "", 1);
  return entries;
}

/**
 * The gate every job folder passes, on both sides (submit and intake): plain files only, within the
 * caps, and a run.sh at the top. Returns its entries; throws UnsafeTreeError saying what is wrong.
 */
export async function checkJobCode(
  root: string,
  limits: { max_files: number; max_code_mb: number },
  options: Pick<WalkOptions, "leaveOut" | "onLeftOut"> = {},
): Promise<TreeEntry[]> {
  const entries = await walkTree(root, { ...options, maxFiles: limits.max_files, maxBytes: limits.max_code_mb * 1024 * 1024 });
  if (!entries.some((e) => e.rel === "run.sh" && e.type === "file")) {
    throw new UnsafeTreeError("has no run.sh: the owner's machine runs `bash run.sh` at the top of the job folder", true);
  }
  return entries;
}

/**
 * SHA-256 over a manifest of the tree: one line per entry, "d <path>" or "f <path> <size> <sha256>",
 * sorted by path. Names, layout and contents all count; timestamps and modes do not.
 */
/** One line of the manifest; treeHash and copyTreeHashed must write exactly the same ones. */
function manifestLine(rel: string, file?: { size: number; sha256: string }): string {
  return file ? `f ${rel} ${file.size} ${file.sha256}\n` : `d ${rel}\n`;
}

export async function treeHash(root: string, entries?: TreeEntry[]): Promise<string> {
  const list = entries ?? (await walkTree(root));
  const manifest = createHash("sha256");
  for (const entry of list) {
    if (entry.type === "dir") {
      manifest.update(manifestLine(entry.rel));
      continue;
    }
    const content = createHash("sha256");
    // Opened without following links or blocking on a FIFO: the tree may be changing under us.
    const { handle } = await openRegularFile(path.join(root, entry.rel));
    try {
      // Small files in one read (most code); large ones streamed so memory stays flat.
      if (entry.size <= 1024 * 1024) content.update(await handle.readFile());
      else for await (const chunk of handle.createReadStream({ autoClose: false, highWaterMark: 1024 * 1024 })) content.update(chunk as Buffer);
    } finally {
      await handle.close();
    }
    manifest.update(manifestLine(entry.rel, { size: entry.size, sha256: content.digest("hex") }));
  }
  return manifest.digest("hex");
}

/**
 * Copy a tree of plain files (checked as walkTree checks it, or the entries given) and return the
 * treeHash of exactly the bytes written, so what is hashed is what will run.
 */
export async function copyTreeHashed(from: string, to: string, entries?: TreeEntry[]): Promise<string> {
  const manifest = createHash("sha256");
  fs.mkdirSync(to, { recursive: true });
  for (const entry of entries ?? (await walkTree(from))) {
    const target = path.join(to, entry.rel);
    if (entry.type === "dir") {
      fs.mkdirSync(target, { mode: 0o755 });
      manifest.update(manifestLine(entry.rel));
      continue;
    }
    const content = await readForCopy(path.join(from, entry.rel), entry.size);
    fs.writeFileSync(target, content, { flag: "wx", mode: entry.mode | 0o600 });
    manifest.update(manifestLine(entry.rel, { size: content.length, sha256: createHash("sha256").update(content).digest("hex") }));
  }
  return manifest.digest("hex");
}

/** Files up to this size (most code) are read in place; larger ones through the thread pool (see fsutil.ts). */
const IN_PLACE_BYTES = 1024 * 1024;

/** A file of the tree, whole, opened as untrusted (no link, no FIFO): `size` is what the walk saw, the bytes are what is there now. */
async function readForCopy(file: string, size: number): Promise<Buffer> {
  if (size <= IN_PLACE_BYTES) return readUntrustedFile(file, Number.MAX_SAFE_INTEGER);
  const { handle } = await openRegularFile(file);
  return handle.readFile().finally(() => handle.close());
}

/**
 * Bytes, files and folders under a folder, stopping as soon as either passes its cap, or as soon as
 * folders nest deeper than MAX_DEPTH (for the run watchdog: what lies deeper could not be counted).
 */
export async function measureTree(root: string, stopAt: TreeCaps): Promise<{ bytes: number; files: number; tooDeep: boolean }> {
  let bytes = 0;
  let files = 0;
  const stack: [string, number][] = [[root, 0]];
  while (stack.length > 0) {
    const [dir, depth] = stack.pop()!;
    if (depth > MAX_DEPTH) return { bytes, files, tooDeep: true };
    let names: fs.Dirent[];
    try {
      names = await readdirOpening(dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENAMETOOLONG") return { bytes, files, tooDeep: true };
      continue; // a folder the job removed: nothing there to count
    }
    for (const entry of names) {
      const full = path.join(dir, entry.name);
      files += 1;
      if (entry.isDirectory()) {
        stack.push([full, depth + 1]);
      } else {
        try {
          bytes += (await fs.promises.lstat(full)).size;
        } catch {
          // removed between readdir and lstat
        }
      }
      if (bytes > stopAt.maxBytes || files > stopAt.maxFiles) return { bytes, files, tooDeep: false };
    }
  }
  return { bytes, files, tooDeep: false };
}

/** A folder the job made unreadable to hide what it holds is opened up again (the job's files are the pass user's). */
async function readdirOpening(dir: string): Promise<fs.Dirent[]> {
  try {
    return await fs.promises.readdir(dir, { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EACCES") throw error;
    fs.chmodSync(dir, 0o700);
    return fs.promises.readdir(dir, { withFileTypes: true });
  }
}
