// Notifications: the owner's `notify` targets (a webhook URL, JSON POST; or a local command, the event
// JSON on stdin) hear of submitted, pending_for_review, approved, completed, failed and released jobs.
//
// Events come from the audit log, which already records every change once: each pass reads the lines
// appended since the last one (a byte offset kept in private state) and turns them into messages in an
// outbox (state/outbox/), then sends what is due within a fixed budget, so a slow or dead target never
// holds a pass for more than a few seconds. A failed send is retried by later passes with growing
// waits, then given up. Every attempt is one audit line ("notified"). Requesters take turns in each
// target's queue, so one requester's flood of jobs delays nobody else's news.
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import * as z from "zod";
import { appendAudit } from "../queue/audit.ts";
import { errorMessage } from "../core/errors.ts";
import { ifExists, readJsonFile, writeJsonAtomic } from "../core/fsutil.ts";
import { findJob } from "../queue/jobs.ts";
import type { Log } from "../core/log.ts";
import type { QueuePaths } from "../core/paths.ts";
import { AuditEventSchema, NotifyTarget, type NotifyEvent } from "../core/schemas.ts";
import { expected } from "../core/expected.ts";

/** What one pass may spend sending. */
const BUDGET_MS = 3000;
const ATTEMPT_TIMEOUT_MS = 2000;
const MAX_ATTEMPTS = 8;
/** Audit read per pass at most: a long backlog is worked through over several passes. */
const MAX_READ = 1024 * 1024;

const CursorSchema = z.object({ offset: z.number().int().min(0) });
const MessageSchema = z.object({
  id: z.string(),
  target: NotifyTarget,
  payload: z.object({ event: z.string(), at: z.string() }).loose(),
  attempts: z.number().int(),
  next_at: z.number(),
  /** Whose job it is about: each requester's messages take turns with the others'. */
  requester: z.string().optional(),
});
type Message = z.infer<typeof MessageSchema>;

/** Orders the messages queued within one millisecond. */
let sequence = 0;

const FROM_AUDIT: Partial<Record<string, NotifyEvent>> = {
  submitted: "submitted",
  approved: "approved",
  completed: "completed",
  failed: "failed",
  released: "released",
};

/**
 * The pass's step: queue what happened since the last pass for every target that wants it, plus one
 * pending_for_review for jobs this pass took in that still wait; then send what is due.
 */
export async function notify(paths: QueuePaths, targets: NotifyTarget[], owner: string, pendingNew: string[], log: Log): Promise<void> {
  const cursorFile = path.join(paths.state, "notify-cursor.json");
  if (targets.length === 0) {
    // Nothing to tell (and no write on an idle pass); targets added later start from their first pass.
    fs.rmSync(cursorFile, { force: true });
    return;
  }
  const size = (await ifExists(fs.promises.stat(paths.audit)))?.size ?? 0;
  const cursor = await ifExists(readJsonFile(cursorFile, CursorSchema));
  // The first pass that has targets: history is not replayed; from now on.
  if (!cursor) await writeJsonAtomic(cursorFile, { offset: size });
  // Each event with the requester of the job it is about (kept out of the payload: it orders sending).
  const events: { payload: Record<string, unknown>; requester?: string }[] = [];
  const known = new Map<string, string | undefined>();
  if (cursor && cursor.offset > size) await writeJsonAtomic(cursorFile, { offset: size }); // the log was replaced
  if (cursor && cursor.offset < size) {
    const { lines, offset } = await readFrom(paths.audit, cursor.offset, size);
    for (const line of lines) {
      let raw: unknown;
      try {
        raw = JSON.parse(line);
      } catch {
        continue; // a damaged line: scq audit verify reports it
      }
      const parsed = AuditEventSchema.safeParse(raw);
      if (!parsed.success) continue;
      const e = parsed.data;
      const kind = FROM_AUDIT[e.event] ?? (e.event === "recovered" && e.detail.to === "failed" ? "failed" : undefined);
      if (!kind) continue;
      events.push({
        payload: { event: kind, at: e.at, uid: e.uid, by: e.by, detail: e.detail, datasite: owner },
        requester: kind === "submitted" ? (e.by ?? undefined) : await requesterOf(paths, e.uid, known),
      });
    }
    await writeJsonAtomic(cursorFile, { offset });
  }
  if (pendingNew.length > 0) {
    events.push({
      payload: { event: "pending_for_review", at: new Date().toISOString(), uids: pendingNew, count: pendingNew.length, datasite: owner },
    });
  }
  const outbox = outboxOf(paths);
  fs.mkdirSync(outbox, { recursive: true });
  for (const { payload, requester } of events) {
    for (const target of targets) {
      if (target.events && !target.events.includes(payload.event as NotifyEvent)) continue;
      const message: Message = {
        // Names sort in the order the events happened: the outbox is sent in name order.
        id: `${String(Date.now()).padStart(15, "0")}-${String(sequence++).padStart(6, "0")}-${randomBytes(4).toString("hex")}`,
        target,
        payload: payload as Message["payload"],
        attempts: 0,
        next_at: 0,
        ...(requester ? { requester } : {}),
      };
      await writeJsonAtomic(path.join(outbox, `${message.id}.json`), message);
    }
  }
  await sendDue(paths, outbox, log);
}

const outboxOf = (paths: QueuePaths) => path.join(paths.state, "outbox");

/** Messages not sent yet (a target was down): a later pass tries again, when they are due. */
export async function unsentMessages(paths: QueuePaths): Promise<number> {
  return (await fs.promises.readdir(outboxOf(paths)).catch(expected("no outbox yet: nothing unsent", []))).length;
}

async function sendDue(paths: QueuePaths, outbox: string, log: Log): Promise<void> {
  const deadline = Date.now() + BUDGET_MS;
  // Targets side by side, each one's messages in order: a dead target never starves the others.
  const byTarget = new Map<string, { file: string; message: Message }[]>();
  for (const name of (await fs.promises.readdir(outbox)).sort()) {
    const file = path.join(outbox, name);
    const message = await readJsonFile(file, MessageSchema).catch(expected("a message being written: sent on a later pass"));
    if (!message) {
      fs.rmSync(file, { force: true });
      continue;
    }
    if (message.next_at > Date.now()) continue;
    const key = describe(message.target);
    byTarget.set(key, [...(byTarget.get(key) ?? []), { file, message }]);
  }
  await Promise.all(
    [...byTarget.values()].map(async (queue) => {
      for (const { file, message } of takingTurns(queue)) {
        if (Date.now() >= deadline) return; // the rest waits for the next pass
        await attempt(paths, file, message, deadline, log);
      }
    }),
  );
}

async function attempt(paths: QueuePaths, file: string, message: Message, deadline: number, log: Log): Promise<void> {
  const n = message.attempts + 1;
  const error = await send(message, Math.min(ATTEMPT_TIMEOUT_MS, deadline - Date.now()));
  const target = describe(message.target);
  const uid = typeof message.payload.uid === "string" ? message.payload.uid : null;
  await appendAudit(paths, {
    event: "notified",
    uid,
    by: null,
    detail: { target, event: message.payload.event, attempt: n, ok: error === undefined, ...(error ? { error } : {}) },
  });
  if (error === undefined) {
    fs.rmSync(file, { force: true });
  } else if (n >= MAX_ATTEMPTS) {
    log(`notify: gave up telling ${target} of ${message.payload.event} after ${n} attempts: ${error}`);
    fs.rmSync(file, { force: true });
  } else {
    // 10 s, 20 s, 40 s, ... at most an hour.
    const wait = Math.min(10_000 * 2 ** (n - 1), 3_600_000);
    log(`notify: ${target} did not take ${message.payload.event} (${error}); trying again in ${Math.round(wait / 1000)} s`);
    await writeJsonAtomic(file, { ...message, attempts: n, next_at: Date.now() + wait });
  }
}

/** One attempt; undefined when the target took it, else why not. */
async function send(message: Message, timeoutMs: number): Promise<string | undefined> {
  const body = JSON.stringify(message.payload);
  try {
    if ("url" in message.target) {
      const res = await fetch(message.target.url, {
        method: "POST",
        headers: { "content-type": "application/json", "user-agent": "syft-code-queue" },
        body,
        signal: AbortSignal.timeout(Math.max(100, timeoutMs)),
        redirect: "error",
      });
      await res.body?.cancel();
      return res.ok ? undefined : `HTTP ${res.status}`;
    }
    const { execa } = await import("execa");
    const [file, ...args] = message.target.command;
    const run = await execa(file!, args, { input: body, timeout: Math.max(100, timeoutMs), reject: false, stdout: "ignore", stderr: "pipe" });
    if (run.timedOut) return `timed out after ${timeoutMs} ms`;
    return run.exitCode === 0 ? undefined : `exit code ${run.exitCode}${run.stderr ? `: ${String(run.stderr).slice(0, 200)}` : ""}`;
  } catch (error) {
    return errorMessage(error);
  }
}

/**
 * One target's messages, each requester's in the order they happened, the requesters taking turns:
 * a requester who sends 300 jobs at once does not put every other requester's news behind them.
 */
function takingTurns<T extends { message: Message }>(queue: T[]): T[] {
  const lanes = new Map<string, T[]>();
  for (const item of queue) {
    const key = item.message.requester ?? "";
    const lane = lanes.get(key);
    if (lane) lane.push(item);
    else lanes.set(key, [item]);
  }
  const out: T[] = [];
  for (let i = 0; out.length < queue.length; i += 1) for (const lane of lanes.values()) if (i < lane.length) out.push(lane[i]!);
  return out;
}

/** The requester of the job an event is about (undefined once it is gone), looked up once a pass. */
async function requesterOf(paths: QueuePaths, uid: string | null, known: Map<string, string | undefined>): Promise<string | undefined> {
  if (uid === null) return undefined;
  if (!known.has(uid))
    known.set(uid, (await findJob(paths, uid).catch(expected("a job gone since: its requester is unknown")))?.meta.requester_email);
  return known.get(uid);
}

function describe(target: NotifyTarget): string {
  return "url" in target ? target.url : target.command.join(" ");
}

/** Whole lines between two byte offsets (at most MAX_READ bytes), and the offset after the last one. */
async function readFrom(file: string, from: number, to: number): Promise<{ lines: string[]; offset: number }> {
  const handle = await fs.promises.open(file, "r");
  try {
    const length = Math.min(to - from, MAX_READ);
    const buffer = Buffer.alloc(length);
    const { bytesRead } = await handle.read(buffer, 0, length, from);
    const text = buffer.subarray(0, bytesRead).toString("utf8");
    const end = text.lastIndexOf("\n");
    if (end < 0) return { lines: [], offset: from };
    return { lines: text.slice(0, end).split("\n").filter(Boolean), offset: from + Buffer.byteLength(text.slice(0, end + 1)) };
  } finally {
    await handle.close();
  }
}
