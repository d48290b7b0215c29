// A job as it is on disk: its folder (which is the truth about its status) and its record. The
// smallest pieces every other module builds on; finding jobs is jobs.ts, changing them lifecycle.ts.
import fs from "node:fs";
import path from "node:path";
import { describeZodIssues, InvalidFileError } from "../core/errors.ts";
import { expected } from "../core/expected.ts";
import { ifExists, readUntrustedFileAndTime } from "../core/fsutil.ts";
import { jobDir, type QueuePaths } from "../core/paths.ts";
import type { Job } from "../core/job.ts";
import { JobMetadataSchema, UID_PATTERN, type JobMetadata, type JobStatus } from "../core/schemas.ts";

export async function readJob(paths: QueuePaths, status: JobStatus, uid: string): Promise<Job> {
  const dir = jobDir(paths, status, uid);
  const meta = await readRecord(path.join(dir, "metadata.json"));
  return { status, uid, dir, meta };
}

/**
 * Records this process has read and checked, by file, with the bytes (and mtime) they were read from.
 * A pass looks at every approved and running record several times, and the warm loop passes again
 * and again over records that have not changed: the same bytes are not parsed and checked again.
 * (Compared by content, not by inode or time: an edit in place within a timestamp's granularity
 * would fool those.)
 */
const recordsRead = new Map<string, { bytes: Buffer; mtimeMs: number; meta: JobMetadata }>();
/** Enough for every approved and running job and a page or two of others; the oldest go first. */
const RECORDS_KEPT = 2048;

/** A metadata.json, ours or a Python client's: bounded, not followed through links, times read with their zones. */
async function readRecord(file: string): Promise<JobMetadata> {
  const { bytes, mtimeMs } = await readUntrustedFileAndTime(file);
  const known = recordsRead.get(file);
  // The mtime too: a Python client's naive times are read in the zone it tells (recordFromDisk).
  if (known && known.mtimeMs === mtimeMs && known.bytes.equals(bytes)) return structuredClone(known.meta);
  const parsed = JobMetadataSchema.safeParse(recordFromDisk(parseRecordJson(file, bytes), mtimeMs));
  if (!parsed.success) throw new InvalidFileError(file, describeZodIssues(parsed.error), false);
  recordsRead.delete(file);
  if (recordsRead.size >= RECORDS_KEPT) recordsRead.delete(recordsRead.keys().next().value!);
  recordsRead.set(file, { bytes: Buffer.from(bytes), mtimeMs, meta: structuredClone(parsed.data) });
  return parsed.data;
}

function parseRecordJson(file: string, bytes: Buffer): unknown {
  try {
    return JSON.parse(bytes.toString("utf8"));
  } catch (error) {
    throw new InvalidFileError(file, [`is not valid JSON (${(error as Error).message})`], true);
  }
}

/**
 * Only a job's sort time (its created_at, in ms), for ordering jobs whose uid carries none: the
 * record is read as cheaply as it can be and only that field is checked. Undefined when unreadable
 * or without a valid time (such a job is read in full, and reported, when it is shown).
 */
export async function readJobTime(paths: QueuePaths, status: JobStatus, uid: string): Promise<number | undefined> {
  const file = path.join(jobDir(paths, status, uid), "metadata.json");
  const raw = await readUntrustedFileAndTime(file)
    .then(({ bytes, mtimeMs }) => recordFromDisk(parseRecordJson(file, bytes), mtimeMs))
    .catch(expected("a record being synced or moved: placed when readable"));
  const created = typeof raw === "object" && raw !== null ? (raw as Record<string, unknown>).created_at : undefined;
  const ms = typeof created === "string" ? Date.parse(created) : NaN;
  return Number.isFinite(ms) ? ms : undefined;
}

/**
 * The job folders in one status folder. Only uid-named folders are jobs: SyftBox conflict copies
 * (`<uid>.conflict.<ts>`), temp folders and anything else there are never listed, run or moved.
 */
export async function listJobDirs(paths: QueuePaths, status: JobStatus): Promise<string[]> {
  // Entry by entry, not one array of 100,000 entries (a finished folder's size): a third of the memory.
  const uids: string[] = [];
  const dir = await ifExists(fs.promises.opendir(path.join(paths.jobs, status), { bufferSize: 1024 }));
  if (!dir) return uids;
  for await (const entry of dir) if (entry.isDirectory() && UID_PATTERN.test(entry.name)) uids.push(entry.name);
  return uids;
}

// ---- on disk: shared with the Python syft-code-queue client -------------------------------------
//
// The Python client reads every metadata.json in jobs/ with its pydantic CodeJob model, compares its
// times with its own, which are naive (no zone: `datetime.now()`), and fails on a mix of naive and
// zone-aware ones. So the four times it reads (created_at, updated_at, started_at, completed_at) are
// written naive, in UTC, and the exact zone-aware ones are kept beside them in `scq_times`, which is
// ours. Reading, `scq_times` wins; a record without it is a Python client's, whose naive times are in
// the writer's local zone: that zone is told from the file's mtime (the instant the record was
// written) against its naive updated_at, rounded to 15 minutes, or else assumed to be UTC.

const TIME_FIELDS = ["created_at", "updated_at", "started_at", "completed_at"] as const;
const ZONED = /(?:[zZ]|[+-]\d\d:?\d\d)$/;

/** "2026-11-23T12:00:00.123Z" → "2026-11-23T12:00:00.123000" (what Python's isoformat writes for a naive time). */
function naiveUtc(iso: string): string {
  return `${new Date(iso).toISOString().slice(0, 23)}000`;
}

/** The record as written to metadata.json. */
export function recordToDisk(meta: JobMetadata): Record<string, unknown> {
  const disk: Record<string, unknown> = { ...meta, code_folder: meta.code_folder };
  const exact: Record<string, string | null> = {};
  for (const field of TIME_FIELDS) {
    const value = meta[field];
    exact[field] = value;
    disk[field] = value === null ? null : naiveUtc(value);
  }
  disk.scq_times = exact;
  return disk;
}

/** Times of a record as read from disk, with their zones; see above. Leaves anything that is not a time alone. */
export function recordFromDisk(raw: unknown, mtimeMs: number): unknown {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return raw;
  const record = { ...(raw as Record<string, unknown>) };
  const exact = record.scq_times;
  if (typeof exact === "object" && exact !== null) {
    for (const field of TIME_FIELDS) {
      const value = (exact as Record<string, unknown>)[field];
      if (typeof value === "string" || value === null) record[field] = value;
    }
    return record;
  }
  const naive = TIME_FIELDS.filter((f) => typeof record[f] === "string" && !ZONED.test(record[f]));
  if (naive.length === 0) return record;
  const reference = typeof record.updated_at === "string" && !ZONED.test(record.updated_at) ? record.updated_at : (record[naive[0]!] as string);
  const wallClock = Date.parse(`${reference}Z`);
  let offset = Math.round((wallClock - mtimeMs) / 60_000 / 15) * 15;
  const told = Number.isFinite(offset) && Math.abs(offset) <= 14 * 60;
  if (!told) offset = 0;
  for (const field of naive) {
    const ms = Date.parse(`${record[field] as string}Z`);
    if (!Number.isNaN(ms)) record[field] = new Date(ms - offset * 60_000).toISOString();
  }
  record.time_zone = { offset_minutes: offset, source: told ? "file mtime" : "assumed UTC" };
  return record;
}
