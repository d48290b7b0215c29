// Listing a queue of any size by reading only what is shown.
//
// Job uids are time-ordered (uid.ts), so the newest jobs are the largest uids and a page of a listing
// needs the uids of the status folders, never their records. Listing a folder of 100,000 entries
// still costs about 100 ms, so the pass keeps a cache of those names: index/<status>.uids.json in its
// private state, per status the uids (one string, a uid a line: parsed as one JSON string, not 100,000)
// and the folder's mtime as it was before they were listed.
//
// The folders stay the truth. A status's cached uids are used only while its folder's mtime is still
// the one recorded; any change since (a pass, a sync, a person, another program) changes the mtime,
// and then that folder is listed instead. A missing or unreadable cache is ignored the same way, and
// every job shown is read from its own folder anyway. Only the pass writes the cache, at the end of a
// pass, for the folders whose mtime changed, and the sort times of uids without one of their own
// (index/legacy-times.json, see refreshLegacyTimes).
import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import { forEachLimit } from "../core/concurrency.ts";
import { exists, ifExists, readJsonFile, writeFileAtomic, writeJsonAtomic } from "../core/fsutil.ts";
import type { Job } from "../core/job.ts";
import { listJobDirs, readJob } from "./job-record.ts";
import type { QueuePaths } from "../core/paths.ts";
import { JOB_STATUSES, JobStatus } from "../core/schemas.ts";
import { isTimeOrdered, uidTime } from "../core/uid.ts";
import { expected } from "../core/expected.ts";

// One file per status folder, so a look at pending/ never parses the names of 100,000 finished jobs,
// and one small file of counts.
const NamesSchema = z.object({ mtimeMs: z.number(), uids: z.string().transform((s) => (s === "" ? [] : s.split("\n"))) });
const CountsSchema = z.partialRecord(JobStatus, z.object({ mtimeMs: z.number(), count: z.number().int().min(0) }));

function cacheDir(paths: QueuePaths): string {
  return path.join(paths.state, "index");
}

function namesFile(paths: QueuePaths, status: JobStatus): string {
  return path.join(cacheDir(paths), `${status}.uids.json`);
}

/** 100,000 uids take about 4 MB; the bound leaves room for ten times that. */
const MAX_NAMES_BYTES = 64 * 1024 * 1024;

async function folderMtime(paths: QueuePaths, status: JobStatus): Promise<number | undefined> {
  return (await ifExists(fs.promises.stat(path.join(paths.jobs, status))))?.mtimeMs;
}

/** Names already read in this process, by folder, with the folder's mtime they were current for (the review page asks often). */
const seen = new Map<string, { mtimeMs: number; uids: string[] }>();

/** The uids in each status folder: from the cache where it is current, else from a listing. */
export async function statusUids(paths: QueuePaths, statuses: readonly JobStatus[] = JOB_STATUSES): Promise<Map<JobStatus, string[]>> {
  const result = new Map<JobStatus, string[]>();
  await Promise.all(
    statuses.map(async (status) => {
      const folder = path.join(paths.jobs, status);
      const mtime = await folderMtime(paths, status);
      const known = seen.get(folder);
      if (known && mtime !== undefined && known.mtimeMs === mtime) return result.set(status, known.uids);
      // Missing or unreadable: the folder is listed instead.
      const cached = await readJsonFile(namesFile(paths, status), NamesSchema, "", MAX_NAMES_BYTES).catch(
        expected("a cache only: listed again when it cannot be read"),
      );
      const uids = cached && mtime !== undefined && cached.mtimeMs === mtime ? cached.uids : await listJobDirs(paths, status);
      // Sorted, so listings merge folders instead of sorting them (the cache is written sorted: this is a check).
      if (!isSorted(uids)) uids.sort();
      // Listed here after the mtime was taken: a change meanwhile makes the next look list again.
      if (mtime !== undefined) seen.set(folder, { mtimeMs: mtime, uids });
      return result.set(status, uids);
    }),
  );
  return result;
}

/** How many jobs each status folder holds: from the small counts file where current, else by listing. */
export async function statusCounts(paths: QueuePaths): Promise<Record<JobStatus, number>> {
  const counts = await readJsonFile(path.join(cacheDir(paths), "counts.json"), CountsSchema).catch(
    expected("a cache only: counted again when it cannot be read"),
  );
  const result = {} as Record<JobStatus, number>;
  await Promise.all(
    JOB_STATUSES.map(async (status) => {
      const mtime = await folderMtime(paths, status);
      const cached = counts?.[status];
      result[status] = cached && mtime !== undefined && cached.mtimeMs === mtime ? cached.count : (await listJobDirs(paths, status)).length;
    }),
  );
  return result;
}

function isSorted(uids: string[]): boolean {
  for (let i = 1; i < uids.length; i += 1) if (uids[i - 1]! > uids[i]!) return false;
  return true;
}

/**
 * The pass's last step: refresh the cache for the folders that changed since it was written. Returns
 * the uids that arrived in each changed folder since the cache was last written (where there was one).
 */
export async function refreshIndex(paths: QueuePaths): Promise<Map<JobStatus, string[]>> {
  const dir = cacheDir(paths);
  await fs.promises.mkdir(dir, { recursive: true });
  const counts =
    (await readJsonFile(path.join(dir, "counts.json"), CountsSchema).catch(expected("a cache only: counted again when it cannot be read"))) ?? {};
  const arrivals = new Map<JobStatus, string[]>();
  let changed = false;
  for (const status of JOB_STATUSES) {
    // The mtime is taken before the listing: a change made while listing leaves the cache stale, never wrong.
    // A folder not there yet is recorded as empty (mtime -1), so what arrives when it appears is known.
    const mtime = (await folderMtime(paths, status)) ?? -1;
    const file = namesFile(paths, status);
    // (A cache from before the names file had its present form is written anew once.)
    if (counts[status]?.mtimeMs === mtime && (await exists(file))) continue;
    const before = await readJsonFile(file, NamesSchema, "", MAX_NAMES_BYTES).catch(expected("a cache only: written anew when it cannot be read"));
    const uids = mtime === -1 ? [] : (await listJobDirs(paths, status)).sort();
    if (before) {
      const known = new Set(before.uids);
      arrivals.set(
        status,
        uids.filter((uid) => !known.has(uid)),
      );
    }
    await writeFileAtomic(file, JSON.stringify({ mtimeMs: mtime, uids: uids.join("\n") }));
    await fs.promises.rm(path.join(dir, `${status}.json`), { force: true }); // the form before this one
    counts[status] = { mtimeMs: mtime, count: uids.length };
    changed = true;
  }
  if (changed) await writeJsonAtomic(path.join(dir, "counts.json"), counts);
  if (changed || !(await exists(timesFile(paths)))) await refreshLegacyTimes(paths);
  return arrivals;
}

// Uids without a time of their own (random v4 uids: every job of a Python client, every job from
// before v7) are ordered by their record's created_at, which never changes. The pass keeps those
// times beside the names (index/legacy-times.json, a "uid ms" line each), so a listing reads none of
// their records to order them, however long the history; a uid the file does not know yet (arrived
// since the pass) is read from its record, as before.
const TimesSchema = z.object({ times: z.string().transform((s) => (s === "" ? [] : s.split("\n"))) });

function timesFile(paths: QueuePaths): string {
  return path.join(cacheDir(paths), "legacy-times.json");
}

/** The times the pass kept, by uid; undefined when there is no file yet (an unreadable one reads as empty). */
async function readLegacyTimes(paths: QueuePaths): Promise<Map<string, number> | undefined> {
  const file = timesFile(paths);
  if (!(await exists(file))) return undefined;
  const parsed = await readJsonFile(file, TimesSchema, "", MAX_NAMES_BYTES).catch(expected("a cache only: records are read instead"));
  const known = new Map<string, number>();
  for (const line of parsed?.times ?? []) {
    const [uid, ms] = line.split(" ");
    if (uid && ms && /^\d+$/.test(ms)) known.set(uid, Number(ms));
  }
  return known;
}

/** The kept times into `legacyTimes`, once for each change of the file (by its mtime) in this process. */
const timesLoaded = new Map<string, number>();
async function learnLegacyTimes(paths: QueuePaths): Promise<void> {
  const file = timesFile(paths);
  const mtime = (await ifExists(fs.promises.stat(file)))?.mtimeMs;
  if (mtime === undefined || timesLoaded.get(file) === mtime) return;
  timesLoaded.set(file, mtime);
  for (const [uid, ms] of (await readLegacyTimes(paths)) ?? []) if (!legacyTimes.has(uid)) legacyTimes.set(uid, ms);
}

/** Keep the times file to the legacy uids the status folders hold now: new ones read from their records, gone ones dropped. */
async function refreshLegacyTimes(paths: QueuePaths): Promise<void> {
  const names = await statusUids(paths);
  const known = await readLegacyTimes(paths);
  const now = new Map<string, number>();
  const unread: { uid: string; status: JobStatus }[] = [];
  for (const [status, uids] of names)
    for (const uid of uids) {
      if (isTimeOrdered(uid)) continue;
      const ms = known?.get(uid);
      if (ms === undefined) unread.push({ uid, status });
      else now.set(uid, ms);
    }
  await forEachLimit(unread, READ_CONCURRENCY, async ({ uid, status }) => {
    const job = await readJob(paths, status, uid).catch(expected("a record being synced or moved: its time is learnt at a later pass"));
    if (job) now.set(uid, Date.parse(job.meta.created_at));
  });
  if (known && now.size === known.size && unread.length === 0) return;
  await writeFileAtomic(timesFile(paths), JSON.stringify({ times: [...now].map(([uid, ms]) => `${uid} ${ms}`).join("\n") }));
}

export interface Page {
  jobs: Job[];
  /** The uid to pass as `after` for the next page, or null on the last page. */
  next: string | null;
  /** How many jobs the listed statuses hold in all (before any filter). */
  total: number;
}

export interface PageOptions {
  statuses?: readonly JobStatus[];
  /** At most this many jobs (default 50). */
  limit?: number;
  /** Start after this uid (the `next` of the page before). */
  after?: string | undefined;
  /** Only jobs for which this is true (read from their records, page by page, until the page is full). */
  match?: ((job: Job) => boolean) | undefined;
  /** Newest first (the default), or oldest first. */
  oldestFirst?: boolean;
}

const READ_CONCURRENCY = 16;

/** One page of a queue, newest first, reading the records of the jobs on it (and, with a filter, of those passed over). */
export async function pageJobs(paths: QueuePaths, options: PageOptions = {}): Promise<Page> {
  const limit = options.limit ?? 50;
  const statuses = options.statuses ?? JOB_STATUSES;
  const names = await statusUids(paths, statuses);
  const total = statuses.reduce((sum, status) => sum + (names.get(status)?.length ?? 0), 0);
  const order = await inOrder(paths, statuses, names, !options.oldestFirst, options.after);
  const jobs: Job[] = [];
  let more = false;
  pages: for (;;) {
    // Without a filter, exactly the jobs still wanted; with one, a batch at a time until the page is full.
    const batch = take(order, options.match ? READ_CONCURRENCY * 4 : limit - jobs.length);
    if (batch.length === 0) break;
    const read = new Array<Job | undefined>(batch.length);
    await forEachLimit([...batch.keys()], READ_CONCURRENCY, async (k) => {
      // Gone or unreadable since the listing (a pass moved it, a sync is writing it): not on this page.
      read[k] = await readJob(paths, batch[k]!.status, batch[k]!.uid).catch(
        expected("a record being synced or moved: left out of this page, listed when readable"),
      );
    });
    for (const [k, job] of read.entries()) {
      if (job && (!options.match || options.match(job))) jobs.push(job);
      if (jobs.length === limit) {
        more = k + 1 < batch.length || !order.next().done;
        break pages;
      }
    }
  }
  return { jobs, next: more ? jobs.at(-1)!.uid : null, total };
}

function take<T>(iterator: Iterator<T>, count: number): T[] {
  const out: T[] = [];
  while (out.length < count) {
    const step = iterator.next();
    if (step.done) break;
    out.push(step.value);
  }
  return out;
}

/**
 * The uids of the listed folders in order, lazily, starting after `after`: a merge of each folder's
 * sorted names (a v7 uid's hex begins with its time, fixed width, so string order is time order),
 * never a sort of them all. Uids without a time (Python clients') are placed by their record's
 * created_at. A uid seen in two folders (moved while we looked) comes once, in the later status.
 */
async function inOrder(
  paths: QueuePaths,
  statuses: readonly JobStatus[],
  names: Map<JobStatus, string[]>,
  newest: boolean,
  after: string | undefined,
): Promise<Iterator<{ uid: string; status: JobStatus }>> {
  const where = (uid: string) => statuses.findLast((status) => binarySearch(names.get(status) ?? [], uid) >= 0) ?? statuses[0]!;
  const legacy: { uid: string; status: JobStatus }[] = [];
  const lists = statuses.map((status) => {
    const all = names.get(status) ?? [];
    for (const uid of all) if (!isTimeOrdered(uid)) legacy.push({ uid, status });
    return { status, uids: all, at: 0 };
  });
  // The pass's times first (when they changed since this process read them); records only for the rest.
  if (legacy.some(({ uid }) => !legacyTimes.has(uid))) await learnLegacyTimes(paths);
  await forEachLimit(legacy, READ_CONCURRENCY, async ({ uid, status }) => {
    if (legacyTimes.has(uid)) return;
    const job = await readJob(paths, status, uid).catch(expected("a record being synced or moved: left out of this page, listed when readable"));
    legacyTimes.set(uid, job ? Date.parse(job.meta.created_at) : 0);
  });
  legacy.sort((a, b) => compareUids(a.uid, b.uid) * (newest ? 1 : -1));
  const direction = newest ? 1 : -1;
  // Each list's cursor: the first position (in the direction of travel) past `after`.
  for (const list of lists) {
    const n = list.uids.length;
    if (after === undefined) list.at = newest ? n - 1 : 0;
    else if (isTimeOrdered(after)) {
      const bound = lowerBound(list.uids, after);
      list.at = newest ? bound - 1 : list.uids[bound] === after ? bound + 1 : bound;
    } else list.at = newest ? n - 1 : 0; // a Python uid as cursor: the lists are skipped up to it below
  }
  let legacyAt = after === undefined ? 0 : legacy.findIndex((l) => compareUids(l.uid, after) * direction > 0);
  if (legacyAt < 0) legacyAt = legacy.length;
  const afterPythonUid = after !== undefined && !isTimeOrdered(after);
  const seen = new Set<string>();
  const next = (): { uid: string; status: JobStatus } | undefined => {
    for (;;) {
      let best: (typeof lists)[number] | undefined;
      for (const list of lists) {
        while (list.at >= 0 && list.at < list.uids.length && !isTimeOrdered(list.uids[list.at]!)) list.at -= direction;
        if (list.at < 0 || list.at >= list.uids.length) continue;
        if (!best || list.uids[list.at]! > best.uids[best.at]! === newest) best = list;
      }
      const candidate = best ? best.uids[best.at]! : undefined;
      const fromLegacy = legacyAt < legacy.length && (candidate === undefined || compareUids(legacy[legacyAt]!.uid, candidate) * direction < 0);
      let uid: string;
      if (fromLegacy) uid = legacy[legacyAt++]!.uid;
      else if (best && candidate !== undefined) {
        uid = candidate;
        best.at -= direction;
      } else return undefined;
      if (seen.has(uid)) continue;
      seen.add(uid);
      if (afterPythonUid && compareUids(uid, after) * direction <= 0) continue;
      return { uid, status: where(uid) };
    }
  };
  return {
    next: () => {
      const value = next();
      return value ? { value, done: false } : { value: undefined, done: true };
    },
  };
}

/** The first index whose uid is not below `uid` in a sorted list. */
function lowerBound(sorted: string[], uid: string): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (sorted[mid]! < uid) low = mid + 1;
    else high = mid;
  }
  return low;
}

function binarySearch(sorted: string[], uid: string): number {
  const at = lowerBound(sorted, uid);
  return sorted[at] === uid ? at : -1;
}

/** Sort times of uids without one of their own, learnt from their records (a process reads each once). */
const legacyTimes = new Map<string, number>();

/** Negative when `a` is newer than `b`. */
export function compareUids(a: string, b: string): number {
  const ta = uidTime(a) ?? legacyTimes.get(a) ?? 0;
  const tb = uidTime(b) ?? legacyTimes.get(b) ?? 0;
  return tb - ta || (a < b ? 1 : a > b ? -1 : 0);
}

/**
 * A token that changes whenever anything a listing shows may have changed: the mtimes of the status
 * folders (a job moved, arrived or left), of the journal (every change through lifecycle.ts passes
 * through it, in place or not), of decisions/ (a marker written) and of the inbox. Stats only, for
 * the review page's "nothing changed" answers.
 */
export async function queueVersion(paths: QueuePaths): Promise<string> {
  const folders = [...JOB_STATUSES.map((s) => path.join(paths.jobs, s)), path.join(paths.state, "journal"), paths.decisions, paths.inbox];
  const mtimes = await Promise.all(folders.map(async (f) => (await ifExists(fs.promises.stat(f)))?.mtimeMs ?? 0));
  return mtimes.join(":");
}
