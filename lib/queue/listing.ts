// Listing a queue of any size by reading only what is shown.
//
// Job uids are time-ordered (uid.ts), so the newest jobs are the largest uids and a page of a listing
// needs the uids of the status folders, never their records. Listing a folder of 100,000 entries
// still costs about 100 ms, so the pass keeps a cache of those names in its private state, per status:
// - index/<status>.uids.json: the folder's uids, sorted (one string, a uid a line: parsed as one JSON
//   string, not 100,000), and the folder's mtime as it was before they were listed;
// - index/<status>.order.json: the same uids in listing order, each line its sort time (13 digits of
//   ms) and its uid, so lines sort as strings in time order. A v7 uid's time is its own; a uid without
//   one (random v4 uids: every job of a Python client, every job from before v7) takes its record's
//   created_at, which never changes, from index/legacy-times.json (see refreshLegacyTimes). A listing
//   merges these lines, whatever the uids, and reads no record to order a page.
//
// The folders stay the truth. A status's cached names are used only while its folder's mtime is still
// the one recorded; any change since (a pass, a sync, a person, another program) changes the mtime,
// and then that folder is listed instead. A missing or unreadable cache is ignored the same way, and
// every job shown is read from its own folder anyway. The pass writes the cache at its end, for the
// folders whose mtime changed; a command that had to list a folder writes that folder's order back
// (the uids file stays the pass's own: it tells the pass what arrived since its last look).
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import * as z from "zod";
import { forEachLimit } from "../core/concurrency.ts";
import { exists, ifExists, readJsonFile, statIfExists, writeFileAtomic, writeJsonAtomic } from "../core/fsutil.ts";
import type { Job } from "../core/job.ts";
import { listJobDirs, readJob, readJobTime } from "./job-record.ts";
import type { QueuePaths } from "../core/paths.ts";
import { JOB_STATUSES, JobStatus } from "../core/schemas.ts";
import { isTimeOrdered, uidTime } from "../core/uid.ts";
import { expected } from "../core/expected.ts";

// One file per status folder, so a look at pending/ never parses the names of 100,000 finished jobs,
// and one small file of counts (`unplaced`: uids of that folder whose time could not be read yet, so
// the next pass tries their records again).
const lines = z.string().transform((s) => (s === "" ? [] : s.split("\n")));
const NamesSchema = z.object({ mtimeMs: z.number(), uids: lines });
const OrderSchema = z.object({ mtimeMs: z.number(), order: lines });
const CountsSchema = z.partialRecord(
  JobStatus,
  z.object({ mtimeMs: z.number(), count: z.number().int().min(0), unplaced: z.number().int().min(0).optional() }),
);

function cacheDir(paths: QueuePaths): string {
  return path.join(paths.state, "index");
}

function namesFile(paths: QueuePaths, status: JobStatus): string {
  return path.join(cacheDir(paths), `${status}.uids.json`);
}

function orderFile(paths: QueuePaths, status: JobStatus): string {
  return path.join(cacheDir(paths), `${status}.order.json`);
}

/** The cache's files are not synced to disk as they are written: one lost in a power cut is ignored (unreadable or out of date) and made again. */
const CACHE = { durable: false };

/** 100,000 uids take about 4 MB (5 MB as order lines); the bound leaves room for ten times that. */
const MAX_NAMES_BYTES = 64 * 1024 * 1024;

function folderMtime(paths: QueuePaths, status: JobStatus): number | undefined {
  return statIfExists(path.join(paths.jobs, status), { follow: true })?.mtimeMs;
}

// ---- order lines: "<ms, 13 digits> <uid>" ----------------------------------------------------------

const KEY_DIGITS = 13;

/** A uid's line in an order: its sort time, zero-padded, so lines compare as strings in time order (then by uid). */
export function orderLine(ms: number, uid: string): string {
  return `${String(sortKey(ms)).padStart(KEY_DIGITS, "0")} ${uid}`;
}

const sortKey = (ms: number) => Math.min(Math.max(0, Math.floor(ms)), 10 ** KEY_DIGITS - 1);

const uidOfLine = (line: string) => line.slice(KEY_DIGITS + 1);

/** Names already read in this process, by folder, with the folder's mtime they were current for (the review page asks often). */
const seen = new Map<string, { mtimeMs: number; uids: string[] }>();
const ordersSeen = new Map<string, { mtimeMs: number; lines: string[] }>();

/** The uids in each status folder: from the cache where it is current, else from a listing. */
export async function statusUids(paths: QueuePaths, statuses: readonly JobStatus[] = JOB_STATUSES): Promise<Map<JobStatus, string[]>> {
  const result = new Map<JobStatus, string[]>();
  await Promise.all(statuses.map(async (status) => result.set(status, (await currentUids(paths, status)).uids)));
  return result;
}

/** A folder's uids, sorted, and the mtime they are current for (taken before any listing). */
async function currentUids(paths: QueuePaths, status: JobStatus): Promise<{ uids: string[]; mtimeMs: number | undefined }> {
  const folder = path.join(paths.jobs, status);
  const mtime = folderMtime(paths, status);
  const known = seen.get(folder);
  if (known && mtime !== undefined && known.mtimeMs === mtime) return known;
  if (mtime === undefined) return { uids: [], mtimeMs: undefined };
  // Missing or unreadable: the order is tried, then the folder is listed.
  const cached = await readJsonFile(namesFile(paths, status), NamesSchema, "", MAX_NAMES_BYTES).catch(
    expected("a cache only: listed again when it cannot be read"),
  );
  let uids: string[];
  if (cached?.mtimeMs === mtime) uids = cached.uids;
  else {
    const order = await readOrder(paths, status, mtime);
    uids = order ? order.map(uidOfLine) : await listJobDirs(paths, status);
  }
  // Sorted, so lookups can search them (the cache is written sorted: this is a check).
  if (!isSorted(uids)) uids.sort();
  // Listed here after the mtime was taken: a change meanwhile makes the next look list again.
  const current = { mtimeMs: mtime, uids };
  seen.set(folder, current);
  return current;
}

/** The order file of a status when it is current for `mtime`. */
async function readOrder(paths: QueuePaths, status: JobStatus, mtime: number): Promise<string[] | undefined> {
  const cached = await readJsonFile(orderFile(paths, status), OrderSchema, "", MAX_NAMES_BYTES).catch(
    expected("a cache only: the order is made again when it cannot be read"),
  );
  return cached?.mtimeMs === mtime ? cached.order : undefined;
}

/**
 * A status folder's uids in listing order (oldest first, as order lines): from this process's last
 * look, the order file, or made from the names and times, and then written back for the next reader.
 */
async function statusOrder(paths: QueuePaths, status: JobStatus): Promise<string[]> {
  const folder = path.join(paths.jobs, status);
  const mtime = folderMtime(paths, status);
  if (mtime === undefined) return [];
  const known = ordersSeen.get(folder);
  if (known?.mtimeMs === mtime) return known.lines;
  let order = await readOrder(paths, status, mtime);
  if (!order) {
    const { uids } = await currentUids(paths, status);
    const unplaced = await placeLegacy(paths, status, uids);
    order = linesOf(uids);
    // Only an order every line of which is right is kept: a record that could not be read is read again by the next.
    if (unplaced === 0 && (await exists(cacheDir(paths))))
      await writeOrder(paths, status, mtime, order.length, (i) => order![i]!).catch(expected("a cache only: the next reader makes the order again"));
  }
  ordersSeen.set(folder, { mtimeMs: mtime, lines: order });
  return order;
}

/** The order lines of `uids`: v7 uids by their own time, others by the times learnt (placeLegacy) or 0. */
function linesOf(uids: string[]): string[] {
  const at = inLineOrder(uids);
  return Array.from({ length: uids.length }, (_, i) => lineOf(at(i)));
}

const timeOf = (uid: string) => uidTime(uid) ?? legacyTimes.get(uid) ?? 0;
const lineOf = (uid: string) => orderLine(timeOf(uid), uid);

/**
 * The uid at each place of `uids`' order (sorted uids, as the folders' names are kept). Already in
 * order for v7 uids (their string order is their time order); placed by lineOrder when v4 ones are
 * mixed in.
 */
function inLineOrder(uids: string[]): (i: number) => string {
  if (uids.every(isTimeOrdered)) return (i) => uids[i]!;
  const order = lineOrder(uids);
  return (i) => uids[order[i]!]!;
}

/**
 * The positions of `uids` (sorted) in the order of their lines (sort time, then uid), the lines
 * themselves never made: for writing an order line by line (100,000 lines at once are 9 MB of a
 * pass's peak). Each uid becomes one number, the rank of its time among the times, times the count,
 * plus its position (exact while the count is under 94 million), and the numbers are sorted natively:
 * no comparator, whose sort copies the list twice into the heap.
 */
function lineOrder(uids: string[]): Uint32Array {
  const n = uids.length;
  const times = new Float64Array(n);
  for (let i = 0; i < n; i += 1) times[i] = sortKey(timeOf(uids[i]!));
  const sorted = times.slice().sort();
  const keys = new Float64Array(n);
  for (let i = 0; i < n; i += 1) keys[i] = firstPast(sorted, times[i]!, true) * n + i;
  keys.sort();
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i += 1) order[i] = keys[i]! % n;
  return order;
}

/** Learn the times of the uids without one of their own (kept by the pass, else read from records); how many could not be read. */
async function placeLegacy(paths: QueuePaths, status: JobStatus, uids: string[]): Promise<number> {
  const legacy = uids.filter((uid) => !isTimeOrdered(uid));
  if (legacy.some((uid) => !legacyTimes.has(uid))) await learnLegacyTimes(paths);
  let unplaced = 0;
  await forEachLimit(legacy, READ_CONCURRENCY, async (uid) => {
    if (legacyTimes.has(uid)) return;
    const ms = await readJobTime(paths, status, uid);
    if (ms === undefined) unplaced += 1;
    else legacyTimes.set(uid, ms);
  });
  return unplaced;
}

/** A status's order file, of `count` lines, the i-th made by `line(i)`. */
async function writeOrder(paths: QueuePaths, status: JobStatus, mtime: number, count: number, line: (i: number) => string): Promise<void> {
  await writeFileAtomic(orderFile(paths, status), jsonOfLines(`{"mtimeMs":${mtime},"order":"`, count, line), CACHE);
}

/**
 * A cache file's JSON, `head`, the lines joined by newlines (as \n), and its end, in pieces: a list of
 * 100,000 is never one string (nor three, as a join and JSON.stringify make). Digits, spaces and uids
 * need no escaping.
 */
function* jsonOfLines(head: string, count: number, line: (i: number) => string): Iterable<string> {
  yield head;
  yield* piecesOf(count, line, "\\n");
  yield '"}';
}

/** A piece stays under V8's large-object size (128 KB), so it dies young instead of piling up until a full collection. */
const PIECE_LINES = 1024;

/** `count` lines, the i-th made by `line(i)`, joined by `separator`, PIECE_LINES at a time: the lines are never all made at once. */
function* piecesOf(count: number, line: (i: number) => string, separator: string): Iterable<string> {
  const piece: string[] = [];
  for (let at = 0; at < count; at += PIECE_LINES) {
    piece.length = 0;
    for (let i = at; i < Math.min(count, at + PIECE_LINES); i += 1) piece.push(line(i));
    yield `${at > 0 ? separator : ""}${piece.join(separator)}`;
  }
}

/** How many jobs each status folder holds: from the small counts file where current, else from the names. */
export async function statusCounts(paths: QueuePaths): Promise<Record<JobStatus, number>> {
  const counts = await readJsonFile(path.join(cacheDir(paths), "counts.json"), CountsSchema).catch(
    expected("a cache only: counted again when it cannot be read"),
  );
  const result = {} as Record<JobStatus, number>;
  await Promise.all(
    JOB_STATUSES.map(async (status) => {
      const mtime = folderMtime(paths, status);
      const cached = counts?.[status];
      result[status] = cached && mtime !== undefined && cached.mtimeMs === mtime ? cached.count : (await currentUids(paths, status)).uids.length;
    }),
  );
  return result;
}

/** The uids of sorted `now` that sorted `before` lacks: one walk of both, no set of 100,000. */
function newIn(now: string[], before: string[]): string[] {
  const fresh: string[] = [];
  let at = 0;
  for (const uid of now) {
    while (at < before.length && before[at]! < uid) at += 1;
    if (before[at] !== uid) fresh.push(uid);
  }
  return fresh;
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
  fs.mkdirSync(dir, { recursive: true });
  const counts =
    (await readJsonFile(path.join(dir, "counts.json"), CountsSchema).catch(expected("a cache only: counted again when it cannot be read"))) ?? {};
  const arrivals = new Map<JobStatus, string[]>();
  const changed: { status: JobStatus; mtime: number; uids: string[] }[] = [];
  for (const status of JOB_STATUSES) {
    // The mtime is taken before the listing: a change made while listing leaves the cache stale, never wrong.
    // A folder not there yet is recorded as empty (mtime -1), so what arrives when it appears is known.
    const mtime = folderMtime(paths, status) ?? -1;
    const file = namesFile(paths, status);
    const was = counts[status];
    // (A cache from before the files had their present form is written anew once.)
    const current = was?.mtimeMs === mtime && (await exists(file));
    if (current && !was.unplaced && (await exists(orderFile(paths, status)))) continue;
    if (current) {
      // Unchanged, but its order is missing or waits for records that could not be read: the order alone is made again.
      changed.push({ status, mtime, uids: (await currentUids(paths, status)).uids });
      continue;
    }
    const before = await readJsonFile(file, NamesSchema, "", MAX_NAMES_BYTES).catch(expected("a cache only: written anew when it cannot be read"));
    const uids = mtime === -1 ? [] : (await listJobDirs(paths, status)).sort();
    if (before) arrivals.set(status, newIn(uids, before.uids.sort()));
    await writeFileAtomic(
      file,
      jsonOfLines(`{"mtimeMs":${mtime},"uids":"`, uids.length, (i) => uids[i]!),
      CACHE,
    );
    await fs.promises.rm(path.join(dir, `${status}.json`), { force: true }); // the form before this one
    if (mtime !== -1) seen.set(path.join(paths.jobs, status), { mtimeMs: mtime, uids });
    changed.push({ status, mtime, uids });
  }
  const unplacedIn = changed.length > 0 || !(await exists(timesFile(paths))) ? await refreshLegacyTimes(paths) : new Map<JobStatus, number>();
  // The orders after the times: each v4 uid of a changed folder is placed by a time the pass just kept.
  for (const { status, mtime, uids } of changed) {
    const unplaced = unplacedIn.get(status) ?? 0;
    // Written line by line, never held whole.
    const at = inLineOrder(uids);
    await writeOrder(paths, status, mtime, uids.length, (i) => lineOf(at(i)));
    counts[status] = { mtimeMs: mtime, count: uids.length, ...(unplaced > 0 ? { unplaced } : {}) };
  }
  // Last: a pass stopped before this writes the folders' files again next time.
  if (changed.length > 0) await writeJsonAtomic(path.join(dir, "counts.json"), counts, CACHE);
  return arrivals;
}

// Uids without a time of their own are ordered by their record's created_at, which never changes. The
// pass keeps those times (index/legacy-times.json, a "uid ms" line each) for every such uid the status
// folders hold, so a job that moves from folder to folder is never read again to place it, and a uid
// the file does not know yet (arrived since the pass) is read from its record.
const TimesSchema = z.object({ times: z.string() });

function timesFile(paths: QueuePaths): string {
  return path.join(cacheDir(paths), "legacy-times.json");
}

/**
 * The kept times into `legacyTimes`; the file's text, or undefined when there is none (an unreadable
 * one reads as empty). Read line by line from the one string: no array of 100,000 lines.
 */
async function loadLegacyTimes(paths: QueuePaths): Promise<string | undefined> {
  const file = timesFile(paths);
  const mtime = (await ifExists(fs.promises.stat(file)))?.mtimeMs;
  if (mtime === undefined) return undefined;
  timesLoaded.set(file, mtime);
  const text = (await readJsonFile(file, TimesSchema, "", MAX_NAMES_BYTES).catch(expected("a cache only: records are read instead")))?.times ?? "";
  for (let at = 0; at < text.length;) {
    const newline = text.indexOf("\n", at);
    const end = newline === -1 ? text.length : newline;
    const space = text.indexOf(" ", at);
    const ms = Number(text.slice(space + 1, end));
    if (space > at && space < end && Number.isSafeInteger(ms)) legacyTimes.set(text.slice(at, space), ms);
    at = end + 1;
  }
  return text;
}

/** The mtime of the times file as this process last loaded it (the loop's process lives on). */
const timesLoaded = new Map<string, number>();

/** The kept times into `legacyTimes`, once for each change of the file (by its mtime) in this process. */
async function learnLegacyTimes(paths: QueuePaths): Promise<void> {
  const file = timesFile(paths);
  const mtime = (await ifExists(fs.promises.stat(file)))?.mtimeMs;
  if (mtime !== undefined && timesLoaded.get(file) !== mtime) await loadLegacyTimes(paths);
}

/**
 * Keep the times file to the legacy uids the status folders hold now: new ones read from their
 * records, gone ones dropped. Returns, by folder, how many could not be placed (unreadable records).
 */
async function refreshLegacyTimes(paths: QueuePaths): Promise<Map<JobStatus, number>> {
  const names = await statusUids(paths);
  const before = await loadLegacyTimes(paths);
  // The first pass after a history of 100,000 v4 jobs arrives reads each record once, for its time only.
  const unplaced = new Map<JobStatus, number>();
  for (const [status, uids] of names) unplaced.set(status, await placeLegacy(paths, status, uids));
  // The file's lines for the folders as they are, in a fixed order (an unchanged set is an unchanged
  // text), compared by hash and written in pieces: 100,000 lines are never one string.
  const kept = (uid: string) => !isTimeOrdered(uid) && legacyTimes.has(uid);
  let count = 0;
  for (const uids of names.values()) for (const uid of uids) if (kept(uid)) count += 1;
  // Made at its size, not grown (a growing array of 100,000 leaves its smaller copies behind).
  const legacy = new Array<string>(count);
  count = 0;
  for (const uids of names.values()) for (const uid of uids) if (kept(uid)) legacy[count++] = uid;
  const line = (i: number) => `${legacy[i]!} ${legacyTimes.get(legacy[i]!)!}`;
  const now = createHash("sha256");
  for (const piece of piecesOf(legacy.length, line, "\n")) now.update(piece);
  if (before !== undefined && now.digest("hex") === createHash("sha256").update(before).digest("hex")) return unplaced;
  const file = timesFile(paths);
  await writeFileAtomic(file, jsonOfLines('{"times":"', legacy.length, line), CACHE);
  // What it holds is in `legacyTimes` already: not loaded again.
  timesLoaded.set(file, (await fs.promises.stat(file)).mtimeMs);
  return unplaced;
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
  const orders = await Promise.all(statuses.map(async (status) => ({ status, lines: await statusOrder(paths, status) })));
  const total = orders.reduce((sum, { lines }) => sum + lines.length, 0);
  const start = options.after === undefined ? undefined : orderLine((await cursorTime(paths, options.after, orders)) ?? 0, options.after);
  const order = inOrder(orders, !options.oldestFirst, start);
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
 * order lines, never a sort of them all. A uid seen in two folders (moved while we looked) comes once,
 * in the later status.
 */
function inOrder(
  orders: { status: JobStatus; lines: string[] }[],
  newest: boolean,
  start: string | undefined,
): Iterator<{ uid: string; status: JobStatus }> {
  const direction = newest ? -1 : 1;
  // Each list's cursor: its first line past `start` in the direction of travel.
  const lists = orders.map(({ status, lines }) => {
    let at: number;
    if (start === undefined) at = newest ? lines.length - 1 : 0;
    else at = newest ? firstPast(lines, start, true) - 1 : firstPast(lines, start, false);
    return { status, lines, at };
  });
  const emitted = new Set<string>();
  const next = (): { uid: string; status: JobStatus } | undefined => {
    for (;;) {
      let best: string | undefined;
      for (const list of lists) {
        const line = list.lines[list.at];
        if (line !== undefined && (best === undefined || line > best === newest)) best = line;
      }
      if (best === undefined) return undefined;
      // Every folder at this line moves past it; the later status (lists are in lifecycle order) names it.
      let status: JobStatus = lists[0]!.status;
      for (const list of lists)
        if (list.lines[list.at] === best) {
          status = list.status;
          list.at += direction;
        }
      const uid = uidOfLine(best);
      if (emitted.has(uid)) continue;
      emitted.add(uid);
      return { uid, status };
    }
  };
  return {
    next: () => {
      const value = next();
      return value ? { value, done: false } : { value: undefined, done: true };
    },
  };
}

/**
 * The sort time of a page's cursor (the last uid of the page before): its own, a time known, its line
 * in a listed folder, the pass's times, or its record in any folder (a cursor from another status).
 * Undefined for a job gone since: its successors are then those its uid sorts before.
 */
async function cursorTime(paths: QueuePaths, after: string, orders: { lines: string[] }[]): Promise<number | undefined> {
  const own = uidTime(after) ?? legacyTimes.get(after);
  if (own !== undefined) return own;
  for (const { lines } of orders) {
    const line = lines.find((l) => l.endsWith(after));
    if (line) return Number(line.slice(0, KEY_DIGITS));
  }
  await learnLegacyTimes(paths);
  if (legacyTimes.has(after)) return legacyTimes.get(after);
  for (const status of JOB_STATUSES) {
    const ms = await ifExists(fs.promises.stat(path.join(paths.jobs, status, after))).then((found) => found && readJobTime(paths, status, after));
    if (ms !== undefined) return ms;
  }
  return undefined;
}

/** The first index in a sorted list whose item is above `item` (`orEqual`: not below it). */
function firstPast<T extends string | number>(sorted: ArrayLike<T>, item: T, orEqual: boolean): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (sorted[mid]! < item || (!orEqual && sorted[mid] === item)) low = mid + 1;
    else high = mid;
  }
  return low;
}

/**
 * Times by uid, 100,000 of them at little cost: each uid has a slot (a small integer) in a Map and its
 * time sits in that slot of an array of doubles. A Map of the times themselves would box each one in
 * the heap, 16 bytes more a uid, at the peak of the first pass after a re-sync.
 */
class TimesByUid {
  private readonly slots = new Map<string, number>();
  private times = new Float64Array(1024);

  get(uid: string): number | undefined {
    const slot = this.slots.get(uid);
    return slot === undefined ? undefined : this.times[slot];
  }

  has(uid: string): boolean {
    return this.slots.has(uid);
  }

  set(uid: string, ms: number): void {
    let slot = this.slots.get(uid);
    if (slot === undefined) {
      slot = this.slots.size;
      if (slot === this.times.length) {
        const grown = new Float64Array(this.times.length * 2);
        grown.set(this.times);
        this.times = grown;
      }
      this.slots.set(uid, slot);
    }
    this.times[slot] = ms;
  }
}

/** Sort times of uids without one of their own, as kept by the pass or read from records (a process reads each once). */
const legacyTimes = new TimesByUid();

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
