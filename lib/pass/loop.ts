// The warm loop behind `run.sh --loop`: one long-lived process that runs the same complete pass as a
// lone `run.sh` (runPass: the same lock, journal and recovery, so it can be killed anywhere), at once
// when something a pass acts on changes (inputs.ts), else every `interval` seconds; idle, a wake at
// the interval is a look at the inputs' mtimes, and a full pass runs at least every few minutes (idle.ts). A pass in a fresh
// process pays a Node start, the loading of its modules and cold caches; here a decision reaches its
// job in a fraction of a second. The settings are read again before every pass, as a fresh process
// would read them. The loop ends itself now and then ("restart": run.sh starts a new one, rebuilding
// the bundle if the sources changed), so a slow leak or an upgrade of the code never lives long.
import fs from "node:fs";
import path from "node:path";
import { ownQueue, type Context } from "../core/context.ts";
import { errorMessage } from "../core/errors.ts";
import { APP_DIR } from "../core/paths.ts";
import { consoleLog } from "../core/log.ts";
import { passFor, type PassSummary } from "./pass.ts";
import { dropSpares, keepSpares } from "../run/spares.ts";
import { FULL_PASS_EVERY_MS, noteLook } from "./idle.ts";
import { acted, leftNothing, settingsFiles, watchInputs, type ChangeKind, type InputWatch } from "./inputs.ts";

export interface LoopOptions {
  /** Who and where, read again before every pass: an edit of config.json counts from the next pass. */
  context: () => Promise<Context>;
  /** Each pass's summary as one JSON line on stdout, instead of log lines. */
  json: boolean;
  /** Stops the loop: at once while it waits, after the pass while one runs. */
  signal: AbortSignal;
  /** Restart after this long (run.sh starts a new loop). */
  restartAfterMs: number;
  /** Files whose change counts as one besides the settings files (the SyftBox client config). */
  watchAlso: readonly string[];
}

/**
 * How often the inputs' mtimes are compared, for changes no event reported: a second after each pass
 * or change, then twice as long each time nothing changed, up to POLL_MAX_MS (the look at each
 * interval's end does not start the steps again). Right after a pass is when files arrive that no
 * watch saw yet (a new submission's folder is watched only from the pass that saw it); a queue left
 * alone costs two looks an interval besides the interval's own, each a stat of every work input.
 */
const POLL_MS = 1000;
const POLL_MAX_MS = 4000;
/** After an event, a moment for the rest of a burst (a submission's files arrive one by one), so one pass takes it all. */
const SETTLE_MS = 20;
/**
 * After a pass that did nothing, this long before the next: bounds the loop's CPU should events come
 * without end (a chatty sync). After a pass that did something, as long as that pass took (at most
 * this): work flows on at half a CPU at most. A run's end is no chatter: it is taken at once.
 */
const MIN_GAP_MS = 100;
/**
 * While pass after pass acts (a burst of short jobs), the listing cache is written at most this often:
 * a reader meanwhile lists the folders it finds changed. The pass after a burst (woken by the burst's
 * own moves) did nothing, and writes it.
 */
const INDEX_EVERY_MS = 1000;
/** Above this, the loop restarts: whatever grew is let go. */
const MAX_RSS_BYTES = 256 * 1024 * 1024;

/** The bundle's build stamp: a new build (run.sh, scq.sh) means new code, and a restart picks it up. */
const codeStamp = () =>
  fs.promises.stat(path.join(APP_DIR, "dist", ".built")).then(
    (s) => s.mtimeMs,
    () => 0,
  );

export async function warmLoop({ context, json, signal, restartAfterMs, watchAlso }: LoopOptions): Promise<"stopped" | "restart"> {
  const born = Date.now();
  const code = await codeStamp();
  let watched: { key: string; watch: InputWatch } | undefined;
  let changed = false;
  let runEnded = false;
  let wake: ((kind: ChangeKind) => void) | undefined;
  const onChange = (kind: ChangeKind) => {
    changed = true;
    if (kind === "run-end") runEnded = true;
    wake?.(kind);
  };
  const onStop = () => wake?.("input");
  signal.addEventListener("abort", onStop);
  let announced = false;
  /** The next poll's delay: POLL_MS after a pass, doubling (to POLL_MAX_MS) while nothing changes, across intervals too. */
  let step = POLL_MS;
  let lookFile = "";
  let interval = 10;
  let indexedAt = 0;
  const indexNow = (summary: PassSummary) => {
    if (acted(summary) && Date.now() - indexedAt < INDEX_EVERY_MS) return false;
    indexedAt = Date.now();
    return true;
  };
  try {
    while (!signal.aborted) {
      // What the inputs were as the pass began: anything that changes them later, by the pass itself or
      // anyone else, makes the stamp differ, so nothing that arrives during a pass waits for the interval.
      let before: string | undefined;
      let beforeWork: string | undefined;
      let again = false;
      let idle = false;
      let gap = MIN_GAP_MS;
      const passed = Date.now();
      try {
        const ctx = await context();
        interval = ctx.config.interval;
        const files = settingsFiles(ctx, watchAlso);
        const paths = ownQueue(ctx);
        lookFile = paths.lastLook;
        const key = [paths.root, paths.state, ...files].join("\n");
        if (watched?.key !== key) {
          watched?.watch.close();
          watched = { key, watch: watchInputs(paths, files, onChange) };
        }
        if (!announced && !json) {
          consoleLog(`loop: a pass at once when a submission, decision, vote, cancel or run's end arrives, else every ${interval}s`);
          announced = true;
        }
        changed = false;
        runEnded = false;
        before = watched.watch.stamp();
        beforeWork = watched.watch.workStamp();
        const summary = await passFor(ctx, json, indexNow);
        if (json) process.stdout.write(`${JSON.stringify(summary)}\n`);
        // Another process's pass held the lock: ours runs once it is done, not an interval later.
        again = summary.skipped === "locked";
        idle = await leftNothing(summary, paths);
        if (acted(summary)) gap = Math.min(MIN_GAP_MS, Date.now() - passed);
        watched.watch.rearm();
        await keepSpares(paths, sparesWanted(ctx, summary)).catch((error: unknown) =>
          process.stderr.write(`[syft-code-queue] no spare supervisor: ${errorMessage(error)}; jobs start with a fresh one\n`),
        );
      } catch (error) {
        process.stderr.write(`[syft-code-queue] pass failed: ${errorMessage(error)}; trying again in ${interval}s\n`);
        before = undefined;
        beforeWork = undefined;
      }
      const notBefore = Date.now() + gap;
      step = POLL_MS;
      for (;;) {
        if (await restartDue()) return "restart";
        const wait = Math.min(again ? POLL_MS : interval * 1000, Math.max(0, born + restartAfterMs - Date.now()));
        if (signal.aborted || (await nextChange(wait, beforeWork, watched?.watch, notBefore)) === "changed") break;
        if (!idle || Date.now() - passed >= FULL_PASS_EVERY_MS) break;
        if (watched?.watch.stamp() !== before) break;
        noteLook(lookFile);
      }
    }
    return "stopped";
  } finally {
    signal.removeEventListener("abort", onStop);
    watched?.watch.close();
    dropSpares();
  }

  async function restartDue(): Promise<boolean> {
    return Date.now() - born > restartAfterMs || process.memoryUsage.rss() > MAX_RSS_BYTES || (await codeStamp()) !== code;
  }

  /**
   * Until an event, a changed stamp or a stop ("changed"), or the time is up. A failed pass (`before`
   * unknown) waits out its time, events aside. Changes count from `notBefore` on, a run's end at once.
   */
  function nextChange(ms: number, before: string | undefined, watch: InputWatch | undefined, notBefore: number): Promise<"changed" | "time"> {
    return new Promise((resolve) => {
      const timers: NodeJS.Timeout[] = [];
      let poll: NodeJS.Timeout | undefined;
      const done = (why: "changed" | "time") => {
        for (const timer of timers) clearTimeout(timer);
        clearTimeout(poll);
        wake = undefined;
        resolve(why);
      };
      wake = (kind) => {
        if (signal.aborted || kind === "run-end") done("changed");
        else timers.push(setTimeout(() => done("changed"), Math.max(SETTLE_MS, notBefore - Date.now())));
      };
      timers.push(setTimeout(() => done("time"), ms));
      const look = (after: number) => {
        poll = setTimeout(() => {
          step = Math.min(after * 2, POLL_MAX_MS);
          if (before !== undefined && watch && watch.workStamp() !== before) done("changed");
          else look(step);
        }, after);
      };
      look(step);
      // Changed while the pass ran: its events came before anyone waited for them.
      if (changed) wake(runEnded ? "run-end" : "input");
    });
  }
}

/**
 * Spare supervisors to keep (lib/run/spares.ts), for the local executor while its sandbox can start:
 * as many as run at once, so that a batch of approvals (`scq approve --all-pending`) starts every job
 * without a Node start, and each finished run's successor starts as fast. A waiting spare costs no CPU
 * and about 17 MB of its own memory, so no more than IDLE_SPARES wait while nothing runs.
 */
function sparesWanted(ctx: Context, summary: PassSummary): number {
  if (ctx.config.executor.type !== "local" || summary.sandbox_problem || summary.skipped) return 0;
  const busy = summary.running > 0 || summary.started.length > 0;
  return busy ? ctx.config.max_concurrent_jobs : Math.min(ctx.config.max_concurrent_jobs, IDLE_SPARES);
}
const IDLE_SPARES = 4;
