// Which jobs in jobs/ this datasite's own intake admitted. That is the only proof of who sent a job:
// the inbox it came from. Fields in metadata.json prove nothing (anyone the owner lets write into
// jobs/ can write any field), so the proof lives in the pass's private state, outside the synced
// datasite: one empty file per admitted uid, removed when the job is cleaned up.
import fs from "node:fs";
import path from "node:path";
import { listJobs } from "./jobs.ts";
import type { Log } from "../core/log.ts";
import type { QueuePaths } from "../core/paths.ts";

function registry(paths: QueuePaths): string {
  return path.join(paths.state, "admitted");
}

export async function recordAdmitted(paths: QueuePaths, uid: string): Promise<void> {
  fs.mkdirSync(registry(paths), { recursive: true, mode: 0o700 });
  await fs.promises.writeFile(path.join(registry(paths), uid), "");
}

export async function forgetAdmitted(paths: QueuePaths, uid: string): Promise<void> {
  await fs.promises.rm(path.join(registry(paths), uid), { force: true });
}

/** The uids admitted so far: one listing, for a pass to check every pending job against. */
export async function admittedUids(paths: QueuePaths, log: Log): Promise<Set<string>> {
  try {
    return new Set(await fs.promises.readdir(registry(paths)));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  // First pass of a version that keeps the registry: the jobs already in the queue were admitted by
  // the version before (which trusted its own code_sha256 field), so they are taken over once.
  const { jobs } = await listJobs(paths, ["pending", "approved", "running"]);
  const ours = jobs.filter((j) => j.meta.code_sha256 !== null);
  fs.mkdirSync(registry(paths), { recursive: true, mode: 0o700 });
  for (const job of ours) await recordAdmitted(paths, job.uid);
  if (ours.length > 0) log(`intake: started the register of admitted jobs with the ${ours.length} job(s) already in the queue`);
  return new Set(ours.map((j) => j.uid));
}
