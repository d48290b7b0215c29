// The idle check: cron and the legacy SyftBox client start `run.sh` every few seconds, and most of
// those runs find nothing to do. A pass that left nothing behind (nothing running, nothing waiting on
// time, no submission in the inbox) writes down the mtimes of everything a pass takes work from; the
// next run compares them and, when none moved and the last full pass is recent, stops there, having
// loaded only this module. Anything that brings work (a submission, a decision, a vote, a cancel, a
// run's end, an edit of the settings or of the code) moves one of them, and the full pass runs.
//
// Loaded before anything else on that path, so it imports little: zod's small build, node's own modules.
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import * as z from "zod/mini";
import { APP_DIR } from "../core/paths.ts";

/** A full pass at least this often, for what falls due with time alone (an incomplete submission's grace, the hourly sweep, a notification to send again). */
export const FULL_PASS_EVERY_MS = 5 * 60_000;

const IdleRecordSchema = z.object({
  /** When the pass that wrote this began. */
  pass_at: z.number(),
  /** Each input and its mtime (ms) as that pass began: any later change makes them differ. */
  inputs: z.array(z.tuple([z.string(), z.number()])),
  /** Touched at each idle check, so `scq status` can say the queue is watched although no pass ran. */
  look_file: z.string(),
});
type IdleRecord = z.infer<typeof IdleRecordSchema>;

/**
 * Where the record of the run started with these arguments is kept: one per way of starting the app
 * (arguments, client and app config, home), in the app folder, which SyftBox never syncs. Owner-only.
 */
export function idleRecordFile(argv: readonly string[]): string {
  const env = process.env;
  const key = JSON.stringify([argv, env.SYFTBOX_CLIENT_CONFIG_PATH ?? null, env.SCQ_APP_CONFIG ?? null, os.homedir(), process.cwd()]);
  return path.join(APP_DIR, ".idle", `${createHash("sha256").update(key).digest("hex").slice(0, 16)}.json`);
}

const mtimeOf = (file: string) => fs.statSync(file, { throwIfNoEntry: false })?.mtimeMs ?? 0;

/** The inputs with their mtimes now: taken as a pass begins. */
export function inputTimes(inputs: readonly string[]): [string, number][] {
  return inputs.map((input) => [input, mtimeOf(input)]);
}

/**
 * The time of the last full pass when nothing has changed since and it is recent, else undefined (a
 * missing or unreadable record counts as a change). Idle, the look is noted in the record's look file.
 */
export function stillIdle(recordFile: string, nowMs = Date.now()): number | undefined {
  let record: IdleRecord;
  try {
    const parsed = IdleRecordSchema.safeParse(JSON.parse(fs.readFileSync(recordFile, "utf8")));
    if (!parsed.success) return undefined; // written by another version: a full pass writes it anew
    record = parsed.data;
  } catch {
    return undefined; // none yet, or half-written by a pass killed meanwhile
  }
  if (nowMs - record.pass_at >= FULL_PASS_EVERY_MS || nowMs < record.pass_at) return undefined;
  if (record.inputs.some(([input, mtime]) => mtimeOf(input) !== mtime)) return undefined;
  noteLook(record.look_file, nowMs);
  return record.pass_at;
}

/**
 * "Looked at the queue at this time, nothing had changed": a hint for `scq status` (not durable: its
 * loss costs nothing), told by the file's mtime, so a look costs one syscall, not a write.
 */
export function noteLook(lookFile: string, nowMs = Date.now()): void {
  const at = new Date(nowMs);
  try {
    fs.utimesSync(lookFile, at, at);
  } catch {
    try {
      writeSmallAtomic(lookFile, `${at.toISOString()}\n`);
      fs.utimesSync(lookFile, at, at);
    } catch {
      // No state folder yet: the next full pass makes one.
    }
  }
}

/** After a pass: the record for the next run (`record` when the pass left nothing behind), or none. Atomic. */
export function keepIdleRecord(recordFile: string, record: IdleRecord | undefined): void {
  if (!record) {
    fs.rmSync(recordFile, { force: true });
    return;
  }
  fs.mkdirSync(path.dirname(recordFile), { recursive: true, mode: 0o700 });
  writeSmallAtomic(recordFile, JSON.stringify(record));
}

/**
 * Write, owner-only, through a temp file and a rename: synchronous, and without core/fsutil.ts's
 * flushes, because these are hints a crash may lose (the next pass writes them anew). A failed write
 * leaves no temp file behind.
 */
function writeSmallAtomic(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    fs.writeFileSync(tmp, text, { mode: 0o600 });
    fs.renameSync(tmp, file);
  } catch (error) {
    fs.rmSync(tmp, { force: true });
    throw error;
  }
}
