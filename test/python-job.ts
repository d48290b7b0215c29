// A job as the Python syft-code-queue client writes it: straight into jobs/pending/<uid>/, with a
// random v4 uid, its CodeJob fields, naive local times, and quiet for longer than the settle time
// (as a finished sync leaves it).
import { randomUUID } from "node:crypto";
import fs from "fs-extra";
import path from "node:path";
import { OWNER, SCIENTIST } from "./helpers.ts";

export interface PythonJobOptions {
  /** run.sh of the job. */
  run?: string;
  /** How far the writer's clock is from UTC: its naive times are that clock's. */
  offsetHours?: number;
  /** Fields to set or override. */
  fields?: Record<string, unknown>;
}

export async function writePythonJob(jobsDir: string, options: PythonJobOptions = {}): Promise<string> {
  const uid = randomUUID();
  const dir = path.join(jobsDir, "pending", uid);
  await fs.outputFile(path.join(dir, "code", "run.sh"), options.run ?? "echo from python\n");
  const written = Date.now() - 60_000;
  // datetime.now().isoformat() on the writer's machine: naive.
  const localClock = new Date(written + (options.offsetHours ?? 0) * 3600_000).toISOString().replace("Z", "");
  const meta = path.join(dir, "metadata.json");
  await fs.writeJson(meta, {
    uid,
    name: "python job",
    requester_email: SCIENTIST,
    target_email: OWNER,
    code_folder: "/home/scientist/analysis",
    description: null,
    created_at: localClock,
    tags: [],
    status: "pending",
    updated_at: localClock,
    started_at: null,
    completed_at: null,
    output_folder: null,
    error_message: null,
    exit_code: null,
    logs: null,
    ...options.fields,
  });
  for (const p of [path.join(dir, "code", "run.sh"), path.join(dir, "code"), meta, dir]) await fs.utimes(p, new Date(written), new Date(written));
  return uid;
}
