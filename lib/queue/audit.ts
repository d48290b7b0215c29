// audit.jsonl: one JSON line per event, each carrying the SHA-256 of the line before it, so an edit
// or deletion anywhere breaks the chain from that line on (`scq audit verify`).
// The chain alone cannot see its own end cut off, its last line edited, the file emptied or deleted,
// or the whole chain recomputed. So each append also records the head (line count and the hash of the
// last line) in the app's private state, outside the synced datasite, and verify checks the file
// against it. What stays out of reach: someone who can write the app's state too (the owner's own
// account) can rewrite both; only a copy of the head kept elsewhere would catch that.
// Appends are serialised: within a process by one queue per file, across processes (the pass and
// `scq approve` may append at once) by a small lock file.
import { faultPoint } from "../core/fault.ts";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { withFileLock } from "../core/lock.ts";
import * as z from "zod";
import { exists, ifExists, readJsonFile, writeAll, writeJsonAtomic } from "../core/fsutil.ts";
import { AuditEventSchema, Sha256, type AuditEvent } from "../core/schemas.ts";
import { describeZodIssues } from "../core/errors.ts";
import type { QueuePaths } from "../core/paths.ts";
import { expected } from "../core/expected.ts";

const GENESIS = "0".repeat(64);

export type AuditInput = Omit<AuditEvent, "prev" | "at" | "by" | "uid" | "detail"> & Partial<Pick<AuditEvent, "by" | "uid" | "detail">>;

function lineHash(line: string): string {
  return createHash("sha256").update(line).digest("hex");
}

/** The complete lines in the last `window` bytes of the file (a few dozen events), oldest first. */
async function tailLines(file: string, window = 64 * 1024): Promise<string[]> {
  const handle = await ifExists(fs.promises.open(file, "r"));
  if (!handle) return [];
  try {
    const { size } = await handle.stat();
    const start = Math.max(0, size - window);
    const buffer = Buffer.alloc(size - start);
    await handle.read(buffer, 0, buffer.length, start);
    const lines = buffer
      .toString("utf8")
      .split("\n")
      .filter((l) => l.length > 0);
    return start > 0 ? lines.slice(1) : lines;
  } finally {
    await handle.close();
  }
}

/** Is there an `event` for `uid` at or after `since` among the log's last lines? (Recovery asks, to append a lost line once.) */
export async function auditHasSince(paths: QueuePaths, uid: string, event: string, since: string): Promise<boolean> {
  for (const line of (await tailLines(paths.audit)).reverse()) {
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch {
      continue; // a line cut short by a crash: verify reports it, recovery looks past it
    }
    const parsed = AuditEventSchema.safeParse(raw);
    if (!parsed.success) continue;
    if (parsed.data.at < since) return false;
    if (parsed.data.uid === uid && parsed.data.event === event) return true;
  }
  return false;
}

/** The last complete line of the file, reading only its tail. */
async function lastLine(file: string): Promise<string | undefined> {
  let handle: fs.promises.FileHandle;
  try {
    handle = await fs.promises.open(file, "r");
  } catch {
    // no audit log yet: no last line
    return undefined;
  }
  try {
    const { size } = await handle.stat();
    let window = 4096;
    for (;;) {
      const start = Math.max(0, size - window);
      const buffer = Buffer.alloc(size - start);
      await handle.read(buffer, 0, buffer.length, start);
      const text = buffer.toString("utf8").replace(/\n+$/, "");
      const cut = text.lastIndexOf("\n");
      if (cut >= 0 || start === 0) return text.slice(cut + 1) || undefined;
      window *= 4;
    }
  } finally {
    await handle.close();
  }
}

interface Pending {
  input: AuditInput;
  resolve: (event: AuditEvent) => void;
  reject: (error: unknown) => void;
}

/** Appends waiting in this process, per audit file; one drain at a time writes them. */
const queues = new Map<string, Pending[]>();

export function appendAudit(paths: QueuePaths, input: AuditInput): Promise<AuditEvent> {
  return new Promise((resolve, reject) => {
    const queue = queues.get(paths.audit);
    if (queue) {
      queue.push({ input, resolve, reject });
      return;
    }
    const fresh = [{ input, resolve, reject }];
    queues.set(paths.audit, fresh);
    void drain(paths, fresh);
  });
}

/**
 * Take the file lock once and write everything queued meanwhile. While we hold the lock nobody else
 * appends, so the last line is read once and then carried along instead of re-read for each event.
 */
async function drain(paths: QueuePaths, queue: Pending[]): Promise<void> {
  const written: (Pending & { event: AuditEvent })[] = [];
  try {
    fs.mkdirSync(path.dirname(paths.audit), { recursive: true });
    await withFileLock(`${paths.audit}.lock`, async () => {
      let previous = await lastLine(paths.audit);
      let head = (await readHead(paths)) ?? (await countHead(paths));
      // Left behind the log's end (a pass killed between an append and its head's write): brought to
      // the end when the whole log verifies with it, the lines past it going on from it. Anything else
      // is left as it is, for verifyAudit to report.
      if (previous !== undefined && lineHash(previous) !== head.last) {
        const verdict = await verifyAudit(paths);
        if (verdict.ok) head = { lines: verdict.lines, last: lineHash(previous) };
      }
      // Opened on the first line; each line written whole under the lock (O_APPEND: readers see it in one piece).
      let fd: number | undefined;
      try {
        for (let item = queue.shift(); item; item = queue.shift()) {
          const event: AuditEvent = {
            at: new Date().toISOString(),
            event: item.input.event,
            uid: item.input.uid ?? null,
            by: item.input.by ?? null,
            detail: item.input.detail ?? {},
            prev: previous === undefined ? GENESIS : lineHash(previous),
          };
          const line = JSON.stringify(event);
          try {
            fd ??= fs.openSync(paths.audit, "a", 0o600);
            writeAll(fd, `${line}\n`);
            faultPoint("audit:appended");
            previous = line;
            head.lines += 1;
            head.last = lineHash(line);
            written.push({ ...item, event });
          } catch (error) {
            item.reject(error);
          }
        }
        // The lines on disk before the head that names them: after a power cut the head may be behind
        // the log (verify accepts that), never ahead of it (which verify reports as lines removed).
        if (fd !== undefined && written.length > 0) fs.fdatasyncSync(fd);
      } finally {
        if (fd !== undefined) fs.closeSync(fd);
      }
      // The head once for everything written under this lock; an append is done once its head is.
      await writeHead(paths, head);
      for (const item of written.splice(0)) item.resolve(item.event);
    });
  } catch (error) {
    for (const item of [...written.splice(0), ...queue.splice(0)]) item.reject(error);
  } finally {
    queues.delete(paths.audit);
    // Appends that arrived while the lock was being released get a drain of their own.
    if (queue.length > 0) {
      queues.set(paths.audit, queue);
      void drain(paths, queue);
    }
  }
}

export async function readAudit(paths: QueuePaths): Promise<AuditEvent[]> {
  const text = (await ifExists(fs.promises.readFile(paths.audit, "utf8"))) ?? "";
  return text
    .split("\n")
    .filter((line) => line.length > 0)
    .map((line) => AuditEventSchema.parse(JSON.parse(line)));
}

/**
 * One job's events, oldest first. Lines are matched as text before they are parsed, so a long log
 * costs one read, not one parse per line.
 */
export async function jobHistory(paths: QueuePaths, uid: string): Promise<AuditEvent[]> {
  const text = (await ifExists(fs.promises.readFile(paths.audit, "utf8"))) ?? "";
  const needle = `"uid":"${uid}"`;
  return text
    .split("\n")
    .filter((line) => line.includes(needle))
    .map((line) => AuditEventSchema.parse(JSON.parse(line)))
    .filter((e) => e.uid === uid);
}

/** The end of the log as the last append left it: kept outside the synced folder. */
const AuditHeadSchema = z.object({ lines: z.number().int().min(0), last: Sha256 });
type AuditHead = z.infer<typeof AuditHeadSchema>;

function headFile(paths: QueuePaths): string {
  return path.join(paths.state, "audit-head.json");
}

/** The log's head as recorded by its last append (lines and the hash of the last), or undefined before the first. */
export async function readHead(paths: QueuePaths): Promise<AuditHead | undefined> {
  if (!(await exists(headFile(paths)))) return undefined;
  return readJsonFile(headFile(paths), AuditHeadSchema);
}

async function writeHead(paths: QueuePaths, head: AuditHead): Promise<void> {
  fs.mkdirSync(paths.state, { recursive: true });
  await writeJsonAtomic(headFile(paths), head);
}

/** The head of a log kept before heads were recorded: taken from the file once. */
async function countHead(paths: QueuePaths): Promise<AuditHead> {
  const lines = ((await ifExists(fs.promises.readFile(paths.audit, "utf8"))) ?? "").split("\n").filter((l) => l.length > 0);
  return { lines: lines.length, last: lines.length > 0 ? lineHash(lines.at(-1)!) : GENESIS };
}

export interface AuditVerdict {
  ok: boolean;
  lines: number;
  /** 1-based line number of the first line that breaks the chain (lines + 1 when the end is missing). */
  brokenAt?: number;
  reason?: string;
  /** The head the app recorded at its last append, or null when none was recorded yet. */
  head: AuditHead | null;
}

export async function verifyAudit(paths: QueuePaths): Promise<AuditVerdict> {
  const text = (await ifExists(fs.promises.readFile(paths.audit, "utf8"))) ?? "";
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  const head = (await readHead(paths).catch(expected("an unreadable head is shown as none: the chain itself is what is checked"))) ?? null;
  let expectedPrev = GENESIS;
  const hashes: string[] = [];
  for (const [index, line] of lines.entries()) {
    const broken = (reason: string): AuditVerdict => ({ ok: false, lines: lines.length, brokenAt: index + 1, reason, head });
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch {
      // the verdict names the line
      return broken("not valid JSON");
    }
    const parsed = AuditEventSchema.safeParse(raw);
    if (!parsed.success) return broken(describeZodIssues(parsed.error).join("; "));
    if (parsed.data.prev !== expectedPrev) {
      // A change to line N shows at line N + 1, whose prev no longer matches: both are named.
      return broken(
        `prev hash does not match line ${index}: line ${index} or ${index + 1} was changed, or lines were removed or inserted between them`,
      );
    }
    expectedPrev = lineHash(line);
    hashes.push(expectedPrev);
  }
  // The head names a line of the chain just verified: its last, or an earlier one when a pass was
  // killed between an append and the head's write (the next append brings it to the end). A head
  // past the end, or naming a line that is not there, means lines were removed or rewritten.
  if (head && (head.lines > lines.length || (hashes[head.lines - 1] ?? GENESIS) !== head.last)) {
    return {
      ok: false,
      lines: lines.length,
      brokenAt: Math.min(head.lines, lines.length) + 1,
      reason:
        `the log ends at line ${lines.length}, but the last append recorded ${head.lines} lines ending in ${head.last.slice(0, 12)}…: ` +
        `lines were removed or rewritten at its end, or the whole chain was recomputed`,
      head,
    };
  }
  return { ok: true, lines: lines.length, head };
}
