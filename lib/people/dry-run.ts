// Runs on made-up data, before anyone decides: the same sandbox, limits and variables as a real run,
// with each data path's `mock` folder mounted under the private folder's name and no private data at
// all. Two ways in:
//   - the owner's dry run of a pending job (scq dry-run, the page's button): logs, output and its
//     checks kept in the app's private state (state/dry-runs/<uid>/, never synced), one audit line;
//   - a requester's `scq try` of their own folder, before submitting, against the mock data the owner
//     publishes (mock.ts): results in a folder of their choosing.
// Neither changes a job's state: a dry run approves nothing.
import { randomUUID } from "node:crypto";
import os from "node:os";
import fs from "node:fs";
import path from "node:path";
import { appendAudit } from "../queue/audit.ts";
import { checkOutput } from "../disclosure/check-output.ts";
import { ownQueue, type Context } from "../core/context.ts";
import { JobStateError, ScqError } from "../core/errors.ts";
import { ifExists, readJsonFile, writeJsonAtomic } from "../core/fsutil.ts";
import type { Job } from "../core/job.ts";
import { findJob } from "../queue/jobs.ts";
import { now } from "../queue/lifecycle.ts";
import { drawMocks } from "./fresh-mock.ts";
import { mockFolder, MockManifestSchema } from "../pass/mock.ts";
import { CHECKS_FILE, datasiteDir, type QueuePaths } from "../core/paths.ts";
import { removeTree } from "../core/remove.ts";
import { appliedLimits } from "../run/limits.ts";
import { ensureStageRoot, stageJob } from "../run/stage.ts";
import { runToEnd } from "../run/executors/local.ts";
import { dataMounts, mockDataPaths } from "../core/data-paths.ts";
import { dataPathsProblem, sandboxProblem } from "../run/sandbox.ts";
import { RunResultSchema, Sha256, Timestamp, type AppliedLimits, type DataPath, type RunResult, type SandboxMode } from "../core/schemas.ts";
import * as z from "zod";
import { expected } from "../core/expected.ts";

export const DryRunRecordSchema = z.object({
  uid: z.string(),
  by: z.string(),
  started_at: Timestamp,
  finished_at: Timestamp,
  code_sha256: Sha256,
  /** The mock folders mounted, by the name the job sees under $DATA_DIR. */
  mocks: z.array(z.object({ name: z.string(), source: z.string() })),
  result: RunResultSchema,
});
export type DryRunRecord = z.infer<typeof DryRunRecordSchema>;

export function dryRunDir(paths: QueuePaths, uid: string): string {
  return path.join(paths.state, "dry-runs", uid);
}

interface Sandboxed {
  mode: SandboxMode;
  network: boolean;
  limits: AppliedLimits;
  data: DataPath[];
}

/**
 * Run `code` once in the sandbox, to its end, results into `results` (run-logs/, output/). The stage
 * and the supervisor's run folder are made under `root` (not the pass's stage root, whose leftovers a
 * pass clears) and removed after.
 */
async function runOnce(
  root: string,
  code: string,
  uid: string,
  name: string,
  run: Sandboxed,
  results: string,
  afterwards?: (data: DataPath[]) => Promise<void>,
): Promise<{ result: RunResult; codeHash: string }> {
  // Those messages are worded for the pass, which leaves approved jobs approved; nothing is approved here.
  const refuse = (problem: string) => new ScqError(problem.replace(/ Approved jobs stay approved\.$/, ""));
  const problem = await sandboxProblem(run.mode);
  if (problem) throw refuse(problem);
  // Each run its own rows (fresh-mock.ts): a job must not be able to tell a run on the mock by its bytes.
  const drawnRoot = await fs.promises.mkdtemp(path.join(root, "mock-"));
  try {
    const data = await drawMocks(run.data, drawnRoot);
    const unreadable = await dataPathsProblem(run.mode, data);
    if (unreadable) throw refuse(unreadable);
    const { runId, stage, codeHash } = await stageJob(root, code, run.mode, data);
    try {
      // Under its own supervisor, as a real run: one kill, timeout and crash story for every run.
      const result = await runToEnd(root, {
        uid,
        name,
        mode: run.mode,
        network: run.network,
        data_paths: data,
        limits: run.limits,
        stage: stage.root,
        results,
        output: path.join(results, "output"),
      });
      await afterwards?.(data);
      return { result, codeHash };
    } finally {
      await removeTree(path.join(root, runId));
    }
  } finally {
    await removeTree(drawnRoot);
  }
}

/** The owner's dry run of one of their pending jobs on the mock data; replaces the job's previous dry run. */
export async function dryRun(ctx: Context, ref: string): Promise<DryRunRecord> {
  const paths = ownQueue(ctx);
  const job = await findJob(paths, ref);
  if (job.status !== "pending") {
    throw new JobStateError(`Job ${job.uid} is ${job.status}: dry runs are for pending jobs, before you decide.`, { uid: job.uid });
  }
  const data = mockDataPaths(ctx.config.sandbox.data_paths);
  const dir = dryRunDir(paths, job.uid);
  const root = await ensureStageRoot(paths, "dry-runs");
  // What a killed dry run left (its stage, its unfinished results) goes once no dry run can still be using it.
  const stale = 2 * (ctx.config.job_timeout + 60) * 1000;
  await removeOlderThan(root, stale, () => true);
  await removeOlderThan(path.dirname(dir), stale, (name) => name.includes(".new-"));
  const fresh = `${dir}.new-${process.pid}`;
  await removeTree(fresh);
  fs.mkdirSync(fresh, { recursive: true });
  const started_at = now();
  let record: DryRunRecord;
  try {
    const run = { mode: ctx.config.sandbox.mode, network: ctx.config.sandbox.network, limits: appliedLimits(ctx.config), data };
    const { result, codeHash } = await runOnce(root, path.join(job.dir, "code"), job.uid, job.meta.name, run, fresh, async (drawn) => {
      // The findings the real run's output would get (as advice: a dry run releases nothing), with the rows it saw.
      const report = await checkOutput(path.join(fresh, "output"), ctx.config.output_checks, drawn).catch(
        expected("checks that cannot run leave the dry run without findings"),
      );
      if (report) await writeJsonAtomic(path.join(fresh, CHECKS_FILE), report);
    });
    record = {
      uid: job.uid,
      by: ctx.email,
      started_at,
      finished_at: now(),
      code_sha256: codeHash,
      mocks: dataMounts(data).map((m) => ({ name: m.target, source: m.source })),
      result,
    };
    await writeJsonAtomic(path.join(fresh, "dry-run.json"), record);
  } catch (error) {
    await removeTree(fresh);
    throw error;
  }
  // The new results replace the old: a reader sees the old, none, or the new, never half of one.
  await removeTree(dir);
  fs.renameSync(fresh, dir);
  await appendAudit(paths, {
    event: "dry-run",
    uid: job.uid,
    by: ctx.email,
    detail: {
      mocks: record.mocks.map((m) => m.name),
      exit_code: record.result.exitCode,
      failed: record.result.failed,
      message: record.result.message,
    },
  });
  return record;
}

async function removeOlderThan(dir: string, ageMs: number, which: (name: string) => boolean): Promise<void> {
  for (const name of (await ifExists(fs.promises.readdir(dir))) ?? []) {
    const stat = which(name) ? await ifExists(fs.promises.lstat(path.join(dir, name))) : undefined;
    if (stat && Date.now() - stat.mtimeMs > ageMs) await removeTree(path.join(dir, name));
  }
}

/** The last dry run of a job, with where its logs and output are, or undefined if it has none. */
export async function lastDryRun(paths: QueuePaths, job: Job): Promise<(DryRunRecord & { dir: string }) | undefined> {
  const dir = dryRunDir(paths, job.uid);
  const record = await ifExists(readJsonFile(path.join(dir, "dry-run.json"), DryRunRecordSchema));
  return record ? { ...record, dir } : undefined;
}

// ---- the requester's side: scq try ----------------------------------------------------------------

export interface TryOptions {
  folder: string;
  to: string;
  /** Where logs and output go: a new or empty folder. */
  out: string;
}

/**
 * Run a requester's own folder against the mock data an owner publishes, with the owner's limits and
 * network setting and this machine's sandbox: what the job would do on the real data, minus the data.
 */
export async function tryOnMock(ctx: Context, options: TryOptions): Promise<{ result: RunResult; out: string; mocks: string[] }> {
  const published = mockFolder(datasiteDir(ctx.dataDir, options.to), ctx.config.queue_name);
  const manifestFile = path.join(published, "manifest.json");
  const manifest = await ifExists(
    readJsonFile(manifestFile, MockManifestSchema, "The owner's app writes it; wait for SyftBox to sync it again, or ask them."),
  );
  if (!manifest) {
    throw new ScqError(
      `${options.to} publishes no mock data (no ${manifestFile}): ask them to give their data paths a "mock" folder, or wait for SyftBox to sync it.`,
    );
  }
  const stat = await ifExists(fs.promises.stat(options.folder));
  if (!stat?.isDirectory()) throw new ScqError(`--folder ${options.folder} is not a folder: give the folder you would submit (with its run.sh).`);
  const there = await ifExists(fs.promises.readdir(options.out));
  if (there && there.length > 0) throw new ScqError(`--out ${options.out} is not empty: give a new or empty folder for the logs and output.`);
  const run: Sandboxed = {
    mode: ctx.config.sandbox.mode,
    network: manifest.network,
    // The owner's limits where they give them (the manifest's schema keeps only known ones), this app's defaults elsewhere.
    limits: { ...appliedLimits(ctx.config), ...manifest.limits },
    data: manifest.mocks.map((m) => ({ path: path.join(published, m.name), name: m.name })),
  };
  // What SyftBox synced is the owner's: a mock that is a link could point anywhere on this machine.
  for (const m of manifest.mocks) {
    const mock = await ifExists(fs.promises.lstat(path.join(published, m.name)));
    if (!mock?.isDirectory()) throw new ScqError(`The mock data "${m.name}" of ${options.to} is not a folder at ${published} (not synced yet?).`);
  }
  fs.mkdirSync(options.out, { recursive: true });
  // A fresh root of a random name for each try: no other local user can take its name first.
  const root = await fs.promises.mkdtemp(path.join(os.tmpdir(), "scq-try-"));
  let result: RunResult;
  try {
    fs.chmodSync(root, 0o711);
    ({ result } = await runOnce(root, path.resolve(options.folder), randomUUID(), "try", run, path.resolve(options.out)));
  } finally {
    await removeTree(root).catch(expected("a try folder left is in the temp folder, removed with it"));
  }
  return { result, out: path.resolve(options.out), mocks: manifest.mocks.map((m) => m.name) };
}
