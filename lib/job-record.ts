// A job as it is on disk: its folder (which is the truth about its status) and its record. The
// smallest pieces every other module builds on; finding jobs is jobs.ts, changing them lifecycle.ts.
import path from "node:path";
import { listDirs, readJsonFile } from "./fsutil.ts";
import { jobDir, type QueuePaths } from "./paths.ts";
import { JobMetadataSchema, UID_PATTERN, type JobMetadata, type JobStatus } from "./schemas.ts";

export interface Job {
  /** Where the folder is, which is what counts. */
  status: JobStatus;
  uid: string;
  dir: string;
  meta: JobMetadata;
}

export async function readJob(paths: QueuePaths, status: JobStatus, uid: string): Promise<Job> {
  const dir = jobDir(paths, status, uid);
  const meta = await readJsonFile(path.join(dir, "metadata.json"), JobMetadataSchema);
  return { status, uid, dir, meta };
}

/**
 * The job folders in one status folder. Only uid-named folders are jobs: SyftBox conflict copies
 * (`<uid>.conflict.<ts>`), temp folders and anything else there are never listed, run or moved.
 */
export async function listJobDirs(paths: QueuePaths, status: JobStatus): Promise<string[]> {
  return (await listDirs(path.join(paths.jobs, status))).filter((name) => UID_PATTERN.test(name));
}
