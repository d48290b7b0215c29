// Where approved jobs run: the interface both executors implement, and what they share.
//
// A run is detached from the pass that starts it. The pass stages the code (and checks the approval
// against the hash of that copy), asks the executor to launch it, records the job as running with
// the executor's reference to the run (RunRef, in the job's metadata), then says "go". Later passes
// poll the run and, once it has finished, collect it. No pass ever waits for a job.
//
// Each run has a private folder, state/runs/<run id>/, outside the synced datasite and out of every
// job's reach: the local supervisor's request and result live there, and so does a cancellation.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import * as z from "zod";
import { ifExists, readJsonFile, writeJsonAtomic } from "../core/fsutil.ts";
import type { Job } from "../core/job.ts";
import { APP_DIR, type QueuePaths } from "../core/paths.ts";
import { removeTree } from "../core/remove.ts";
import type { RunRef, RunRequest, RunResult } from "../core/schemas.ts";
import { expected } from "../core/expected.ts";

/** What the pass knows of a staged run before launching it. */
export interface Staged {
  runId: string;
  /** The hash of the staged copy: what will run. */
  codeHash: string;
  /** The stage folder the sandbox is built from. */
  stage: string;
  /** Remove what staging made (the approval did not match, or the launch failed). */
  discard(): Promise<void>;
}

/** A launched run, held at its gate until the pass has recorded it. */
export interface Launched {
  ref: RunRef;
  /** The run is recorded: start the job. */
  go(): Promise<void>;
  /** The run could not be recorded: it must never start. */
  abort(): Promise<void>;
}

export type Poll =
  /** `queued`: it waits in the scheduler's queue, not yet begun (the scheduler's reason, in its words). */
  | { state: "running"; detail: string; queued?: string }
  | { state: "finished"; result: RunResult }
  /** It ended without a result (its supervisor was killed, the node or the machine restarted). */
  | { state: "lost"; reason: string; neverRan?: true }
  /** Its supervisor never ran the job (the pass that started it stopped before saying go): it may start again. */
  | { state: "never-started" }
  /** Nothing can be said now (the cluster cannot be reached): the job stays as it is. */
  | { state: "unreachable"; reason: string };

/** The part of a run request the pass decides; each executor adds where the files are and how to start. */
export type RunPlan = Pick<RunRequest, "uid" | "name" | "mode" | "network" | "data_paths" | "limits"> & {
  /** Where logs/ must end up: the job's folder in running/, or its staging folder. */
  results: string;
  /** Where output/ must end up: the job's owner-only staging folder, until it is checked and released. */
  output: string;
};

export interface Executor {
  readonly type: "local" | "slurm";
  /** Why jobs cannot start now (in words that say what to do), or undefined. */
  problem(): Promise<string | undefined>;
  /** Copy the job's code into a fresh stage for one run and hash the copy. */
  stage(job: Job): Promise<Staged>;
  /** Start the run's supervisor, held at its gate. */
  launch(staged: Staged, plan: RunPlan): Promise<Launched>;
  /** Where the run is now. */
  poll(ref: RunRef, job: Job): Promise<Poll>;
  /** Bring a finished (or lost) run's logs and output to where they go; what was left behind, in words. */
  collect(ref: RunRef, to: { results: string; output: string }, job: Job): Promise<string[]>;
  /** Stop a running job (its result then says it was stopped). */
  stop(ref: RunRef): Promise<void>;
  /** Remove everything the run left outside the job's folder. */
  forget(ref: RunRef): Promise<void>;
}

/** In a run's private folder: a copy of the job's record as it started (recovery restores it if a sync deletes the job). */
export const RUN_RECORD = "job.json";

/** The run's private folder. */
export function runDir(paths: QueuePaths, runId: string): string {
  return path.join(paths.runs, runId);
}

/** A cancellation the pass recorded for a running job, so the collected result is told as one. */
export function cancelFile(paths: QueuePaths, runId: string): string {
  return path.join(runDir(paths, runId), "cancel.json");
}

/** A cancellation is recorded before the stop, so the collected result is told as one. */
export async function recordCancel(paths: QueuePaths, runId: string, request: CancelRecord): Promise<void> {
  makeRunDir(paths, runId);
  await writeJsonAtomic(cancelFile(paths, runId), request);
}

export const CancelRecordSchema = z.object({ by: z.string(), reason: z.string(), at: z.string() });
type CancelRecord = z.infer<typeof CancelRecordSchema>;

export async function cancelRecorded(paths: QueuePaths, runId: string): Promise<CancelRecord | undefined> {
  return ifExists(readJsonFile(cancelFile(paths, runId), CancelRecordSchema));
}

export function makeRunDir(paths: QueuePaths, runId: string): string {
  const dir = runDir(paths, runId);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}

export async function forgetRunDir(paths: QueuePaths, runId: string): Promise<void> {
  await removeTree(runDir(paths, runId));
}

/**
 * How to start a supervisor: from the bundle when this code runs from it (run.sh builds dist/),
 * else from the sources through tsx, as run.sh falls back to.
 */
export function supervisorCommand(): { file: string; args: string[] } {
  const bundle = path.join(APP_DIR, "dist", "supervise.mjs");
  const here = fileURLToPath(import.meta.url);
  if (here.startsWith(path.join(APP_DIR, "dist") + path.sep) && fs.existsSync(bundle)) return { file: process.execPath, args: [bundle] };
  const loader = pathToFileURL(path.join(APP_DIR, "node_modules", "tsx", "dist", "loader.mjs")).href;
  return { file: process.execPath, args: ["--import", loader, path.join(APP_DIR, "scripts", "supervise.ts")] };
}

/** Where a running job runs. */
export function describeRun(ref: RunRef): string {
  return ref.executor === "local" ? `local (supervisor pid ${ref.pid} on ${ref.host})` : `Slurm job ${ref.job_id} (partition ${ref.partition})`;
}

/** For `scq status` and the page (the owner's side): where it runs and, if the last pass saw it waiting in Slurm's queue, why. */
export async function describeRunNow(paths: QueuePaths, ref: RunRef): Promise<string> {
  const queued = ref.executor === "slurm" ? await queuedSince(paths, ref.run_id) : undefined;
  return queued ? `${describeRun(ref)}, queued in Slurm (${queued.reason}) since ${queued.since}` : describeRun(ref);
}

/** In a run's private folder while the pass sees it waiting in the scheduler's queue: why, and since when. */
const QUEUED_FILE = "queued.json";
const QueuedSchema = z.object({ reason: z.string(), since: z.string() });

export async function queuedSince(paths: QueuePaths, runId: string): Promise<z.infer<typeof QueuedSchema> | undefined> {
  return ifExists(readJsonFile(path.join(runDir(paths, runId), QUEUED_FILE), QueuedSchema)).catch(expected("a hint only: no queue reason to show"));
}

/** What the pass saw of a run this time: written only when the reason changes, removed once it runs. */
export async function noteQueued(paths: QueuePaths, runId: string, reason: string | undefined): Promise<void> {
  const file = path.join(runDir(paths, runId), QUEUED_FILE);
  const before = await queuedSince(paths, runId);
  if (reason === undefined) {
    if (before) await fs.promises.rm(file, { force: true });
    return;
  }
  if (before?.reason === reason) return;
  await writeJsonAtomic(file, { reason, since: before?.since ?? new Date().toISOString() }, { durable: false });
}
