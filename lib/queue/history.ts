// The queue over the last days, from the audit log: how many jobs waited for a decision at the end of
// each day, how many came and were decided, and how long the decided ones had waited. The page draws
// it as a small chart; it is computed once per change of the log (the log only grows).
import fs from "node:fs";
import * as z from "zod";
import type { QueuePaths } from "../core/paths.ts";
import { ifExists } from "../core/fsutil.ts";

export interface QueueDay {
  /** The day (UTC), "2026-12-04". */
  day: string;
  submitted: number;
  decided: number;
  /** Jobs waiting for a decision at the end of the day (for today: now). */
  waiting: number;
  /** The median time the jobs decided that day had waited, in minutes; null when none was decided. */
  median_wait_minutes: number | null;
}

/** Events that put a job in the queue, and those that take it out of "waiting for a decision". */
const IN = new Set(["submitted"]);
const OUT = new Set(["approved", "rejected", "cancelled", "expired"]);
const EventLine = z.looseObject({ at: z.string(), event: z.string(), uid: z.string().nullable().optional() });
const WANTED = new RegExp(`"event":"(${[...IN, ...OUT].join("|")})"`);

const cache = new Map<string, { size: number; mtimeMs: number; key: string; days: QueueDay[] }>();

function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The last `days` days of the queue at `paths`, oldest first, today last. */
export async function queueHistory(paths: QueuePaths, days = 14, now = new Date()): Promise<QueueDay[]> {
  const stat = await ifExists(fs.promises.stat(paths.audit));
  const today = now.toISOString().slice(0, 10);
  const key = `${days}|${today}`;
  const cached = cache.get(paths.audit);
  if (stat && cached && cached.size === stat.size && cached.mtimeMs === stat.mtimeMs && cached.key === key) return cached.days;
  const first = new Date(Date.parse(`${today}T00:00:00Z`) - (days - 1) * 86_400_000).toISOString().slice(0, 10);
  const out = new Map<string, { submitted: number; decided: number; waits: number[]; waiting: number }>();
  for (let t = Date.parse(`${first}T00:00:00Z`); t <= Date.parse(`${today}T00:00:00Z`); t += 86_400_000)
    out.set(new Date(t).toISOString().slice(0, 10), { submitted: 0, decided: 0, waits: [], waiting: 0 });
  const text = stat ? await fs.promises.readFile(paths.audit, "utf8") : "";
  // Only the lines that matter are parsed: a long history costs one read and a text match a line.
  const since = new Map<string, number>();
  let day = first;
  const closeDaysUntil = (until: string) => {
    // Each day that ends before `until` keeps the number waiting at its end.
    for (const [d, v] of out) if (d >= day && d < until) v.waiting = since.size;
    day = until;
  };
  for (const line of text.split("\n")) {
    if (!WANTED.test(line)) continue;
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      // a line cut short by a crash mid-append: scq audit verify reports it; the chart goes on without it
      continue;
    }
    const parsed = EventLine.safeParse(json);
    if (!parsed.success || !parsed.data.uid) continue;
    const { at, event, uid } = parsed.data;
    const d = at.slice(0, 10);
    if (d > day) closeDaysUntil(d);
    const bucket = out.get(d);
    if (IN.has(event)) {
      since.set(uid, Date.parse(at));
      if (bucket) bucket.submitted++;
    } else if (since.has(uid)) {
      if (bucket) {
        bucket.decided++;
        bucket.waits.push((Date.parse(at) - since.get(uid)!) / 60_000);
      }
      since.delete(uid);
    }
  }
  closeDaysUntil("9999-12-31");
  const result = [...out].map(([d, v]) => ({
    day: d,
    submitted: v.submitted,
    decided: v.decided,
    waiting: v.waiting,
    median_wait_minutes: median(v.waits),
  }));
  if (stat) cache.set(paths.audit, { size: stat.size, mtimeMs: stat.mtimeMs, key, days: result });
  return result;
}
