// Where the queue's folders and the app's own files are: the layout of a queue and of the app folder.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { JobStatus } from "./schemas.ts";

/**
 * The app folder: the nearest folder above this module that holds both run.sh and package.json.
 * One rule for every way the code runs: from the sources (lib/), from the bundle run.sh builds
 * (dist/) and from any of its chunks (dist/chunks/), whatever the working folder or the environment
 * says. SYFTBOX_APP_DIR is not consulted: the code knows where it is, and the variable is absent
 * under cron and the legacy client.
 */
function findAppDir(from: string): string {
  for (let dir = path.resolve(from); ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, "run.sh")) && fs.existsSync(path.join(dir, "package.json"))) return dir;
    if (dir === path.dirname(dir))
      throw new Error(`no folder holding run.sh and package.json above ${from}: the app folder is incomplete; clone it again`);
  }
}

export const APP_DIR = findAppDir(path.dirname(fileURLToPath(import.meta.url)));

/** The owner's settings file: config.json in the app folder. */
export const DEFAULT_APP_CONFIG = path.join(APP_DIR, "config.json");

export function datasiteDir(dataDir: string, email: string): string {
  return path.join(dataDir, "datasites", email);
}

export interface QueuePaths {
  owner: string;
  root: string;
  inbox: string;
  jobs: string;
  /** Complete inbox folders frozen here (owner-only) while intake validates them: jobs/.intake/<email>/<uid>. */
  intake: string;
  decisions: string;
  /** Output and logs of finished jobs awaiting the owner's release (release: "review"); owner-only. */
  staging: string;
  audit: string;
  /** Held files published to the listed output checkers, one folder per job under review (lib/disclosure/checkers.ts). */
  outputReview: string;
  /** Each output checker's reviews, output-votes/<checker>/<uid>.json, written by them. */
  outputVotes: string;
  /** Private state of the processor, outside the synced datasite: lock, last pass, run staging. */
  state: string;
  lock: string;
  lastPass: string;
  /** One private folder per run (state/runs/<run id>): the supervisor's request and result, a cancellation. */
  runs: string;
  /** Supervisors started ahead of need by the warm loop, one folder each (lib/run/spares.ts). */
  spares: string;
  /** Touched by a supervisor when its run ends, so `run.sh --loop` starts the next pass at once. */
  wake: string;
  /** The time of the last idle check that found nothing changed (no pass ran): for `scq status`. */
  lastLook: string;
  /** The owner's public signing keys, published where everyone can read them (lib/sign/keys.ts). */
  publicKeys: string;
  /** As a requester: what each of my submissions sent (its code's hash), and the owners' keys I pinned (lib/proof/verify.ts). */
  submitted: string;
  pins: string;
}

export function queuePaths(dataDir: string, owner: string, queueName: string): QueuePaths {
  const root = path.join(datasiteDir(dataDir, owner), "app_data", queueName);
  const state = path.join(dataDir, ".syft-code-queue", owner, queueName);
  return {
    owner,
    root,
    inbox: path.join(root, "inbox"),
    jobs: path.join(root, "jobs"),
    intake: path.join(root, "jobs", ".intake"),
    decisions: path.join(root, "decisions"),
    staging: path.join(root, "staging"),
    audit: path.join(root, "audit.jsonl"),
    outputReview: path.join(root, "output-review"),
    outputVotes: path.join(root, "output-votes"),
    state,
    lock: path.join(state, "process.lock"),
    lastPass: path.join(state, "last-pass.json"),
    runs: path.join(state, "runs"),
    spares: path.join(state, "spares"),
    wake: path.join(state, "wake"),
    lastLook: path.join(state, "last-look"),
    publicKeys: publishedKeysFile(dataDir, owner),
    submitted: path.join(state, "submitted"),
    pins: path.join(state, "pins.json"),
  };
}

/** Where `owner` publishes the public keys their results are signed with: under public/, which SyftBox lets everyone read. */
export function publishedKeysFile(dataDir: string, owner: string): string {
  return path.join(datasiteDir(dataDir, owner), "public", "syft-code-queue", "keys.json");
}

export function jobDir(paths: QueuePaths, status: JobStatus, uid: string): string {
  return path.join(paths.jobs, status, uid);
}

/**
 * Where a job's logs and output/ are: in the owner-only staging folder while it runs and until they
 * are checked and released (logs leave through the same checks and decisions as output), then in its
 * folder.
 */
export function resultsDir(paths: QueuePaths, job: { uid: string; dir: string; status: string; meta: { output_review: string | null } }): string {
  return job.meta.output_review === "pending" || job.status === "running" ? path.join(paths.staging, job.uid) : job.dir;
}

/** Beside a finished job's output/: what the disclosure check found in it (lib/checks/). */
export const CHECKS_FILE = "output-checks.json";

/** In a requester's inbox: their requests to cancel jobs, inbox/<email>/cancel/<uid>.json. */
export const CANCEL_FOLDER = "cancel";

export function decisionFile(paths: QueuePaths, uid: string): string {
  return path.join(paths.decisions, `${uid}.json`);
}

/** One approver's vote on a job (N-of-M approvals): in the folder only that approver may write. */
export function voteFile(paths: QueuePaths, voter: string, uid: string): string {
  return path.join(paths.decisions, voter, `${uid}.json`);
}

export function defaultClientConfigPath(): string {
  return process.env.SYFTBOX_CLIENT_CONFIG_PATH ?? path.join(os.homedir(), ".syftbox", "config.json");
}
