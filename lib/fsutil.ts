// File helpers every module shares. Whatever another process may read is written atomically: a temp
// file in the same folder (named *.tmp, which SyftBox does not sync), fsync, then rename.
// The modules a pass loads use node:fs directly: fs-extra's graceful-fs set-up alone costs ~10 ms of
// every pass's start. The CLI, the demo and the tests use fs-extra's helpers.
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { z } from "zod";
import { describeZodIssues, InvalidFileError } from "./errors.ts";

export async function writeFileAtomic(file: string, data: string | Buffer): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
  const handle = await fs.promises.open(tmp, "wx", 0o644);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await fs.promises.rename(tmp, file);
  } catch (error) {
    await fs.promises.rm(tmp, { force: true });
    throw error;
  }
}

export async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(value, null, 2)}\n`);
}

/** Read a JSON file and validate it; errors name the file and each bad field. */
export async function readJsonFile<S extends z.ZodType>(file: string, schema: S, hint = ""): Promise<z.output<S>> {
  const stat = await fs.promises.lstat(file);
  if (!stat.isFile()) throw new InvalidFileError(file, ["is not a regular file"], false, hint);
  if (stat.size > 1024 * 1024) throw new InvalidFileError(file, ["is larger than 1 MB"], false, hint);
  const text = await fs.promises.readFile(file, "utf8");
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

export async function exists(p: string): Promise<boolean> {
  try {
    await fs.promises.lstat(p);
    return true;
  } catch (error) {
    if (isNotFound(error)) return false;
    throw error;
  }
}

export function isNotFound(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === "ENOENT";
}

/** Folder names in a listing, or [] when the folder does not exist; hidden and temp names are skipped. */
export async function listDirs(dir: string): Promise<string[]> {
  let entries: fs.Dirent[];
  try {
    entries = await fs.promises.readdir(dir, { withFileTypes: true });
  } catch (error) {
    if (isNotFound(error)) return [];
    throw error;
  }
  return entries.filter((e) => e.isDirectory() && !e.name.startsWith(".")).map((e) => e.name);
}
