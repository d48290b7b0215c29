// Where everything lives. See DESIGN §3: one place computes every path, nobody joins strings elsewhere.
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { JobStatus } from "./schemas.ts";

/** The app folder: SyftBox tells us (SYFTBOX_APP_DIR), else the checkout this file belongs to. */
export const APP_DIR = process.env.SYFTBOX_APP_DIR ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

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
  /** Private state of the processor, outside the synced datasite: lock, last pass, run staging. */
  state: string;
  lock: string;
  lastPass: string;
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
    state,
    lock: path.join(state, "process.lock"),
    lastPass: path.join(state, "last-pass.json"),
  };
}

export function jobDir(paths: QueuePaths, status: JobStatus, uid: string): string {
  return path.join(paths.jobs, status, uid);
}

/** Where a job's logs/ and output/ are: in its folder, or in staging until the owner releases them. */
export function resultsDir(paths: QueuePaths, job: { uid: string; dir: string; meta: { output_review: string | null } }): string {
  return job.meta.output_review === "pending" ? path.join(paths.staging, job.uid) : job.dir;
}

export function decisionFile(paths: QueuePaths, uid: string): string {
  return path.join(paths.decisions, `${uid}.json`);
}

export function defaultClientConfigPath(): string {
  return process.env.SYFTBOX_CLIENT_CONFIG_PATH ?? path.join(os.homedir(), ".syftbox", "config.json");
}
