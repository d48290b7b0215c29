// The Slurm executor: each run is a batch job whose script starts the same supervisor on a compute
// node, which builds the same bubblewrap sandbox there. Everything the node needs is under
// `shared_dir`, a folder this machine and every node see at the same path:
//
//   <shared_dir>/syft-code-queue-<key>/
//     bin/supervise-<hash>.mjs      the supervisor, one self-contained file (from dist/, built by run.sh)
//     run-XXXXXX/                   one run: request.json, job.sh, go, result.json, slurm.txt,
//       stage/                      the staged code, output, home, tmp (the sandbox's folders)
//       results/                    run-logs/ and output/ the supervisor wrote; the pass collects them
//
// The batch job waits for `go` (written once the pass recorded the run), so a pass that dies between
// sbatch and that record leaves a job that is still approved and a batch job that runs nothing.
// sbatch gets --time from job_timeout (a backstop: the supervisor enforces the timeout itself),
// --mem from memory_mb, --cpus-per-task, a job name carrying the uid, and --export=NONE, so nothing of
// the owner's environment reaches the node. States come from squeue, once per pass; a job squeue no
// longer lists and that left no result is looked up in sacct (when accounting is on) to say why.
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import * as z from "zod";
import { forgetRunDir, makeRunDir, runDir as privateRunDir, supervisorCommand, type Executor, type Launched, type Poll } from "../executor.ts";
import { errorMessage, LaunchRefusedError } from "../../core/errors.ts";
import { exists, ifExists, readJsonFile, readUntrustedFile, writeFileAtomic, writeJsonAtomic } from "../../core/fsutil.ts";
import { logFile, LOGS_DIR } from "../../core/log-files.ts";
import { age } from "../../core/log.ts";
import { APP_DIR, type QueuePaths } from "../../core/paths.ts";
import { removeTree } from "../../core/remove.ts";
import { appliedLimits, outputCaps } from "../limits.ts";
import { copyOutput } from "../copy-output.ts";
import { ensureOwnFolder, stageJob } from "../stage.ts";
import { REQUEST_FILE, RESULT_FILE, sayGo, startOf } from "../supervisor.ts";
import { NOBODY } from "../sandbox.ts";
import { measureTree } from "../../core/tree.ts";
import { AppConfigSchema, RunResultSchema, type DataPath, type ExecutorConfig, type RunRequest, type SandboxMode } from "../../core/schemas.ts";
import { expected } from "../../core/expected.ts";

type SlurmConfig = Extract<ExecutorConfig, { type: "slurm" }>;

/** Memory for the supervisor itself (node) on top of the job's memory_mb, in the --mem request. */
const SUPERVISOR_MB = 512;
/** A Slurm command that takes longer than this is taken as "the cluster cannot be reached". */
const COMMAND_TIMEOUT_MS = 30_000;
/** Past its deadline by this much and still RUNNING, a batch job is cancelled (the supervisor should have ended it). */
const OVERDUE_MS = 300_000;
const MB = 1024 * 1024;

/** Where a run's shared folder is: kept in its private folder, so a change of shared_dir never loses a run. */
const WhereSchema = z.object({ run_dir: z.string() });

export function slurmExecutor(paths: QueuePaths, config: SlurmConfig | undefined, mode: SandboxMode, dataPaths: DataPath[]): Executor {
  const key = createHash("sha256").update(paths.state).digest("hex").slice(0, 16);
  const rootOf = (c: SlurmConfig) => path.join(c.shared_dir, `syft-code-queue-${key}`);
  const needConfig = (): SlurmConfig => {
    if (!config) throw new Error('executor.type is not "slurm" in config.json: no new job can be sent to the cluster');
    return config;
  };
  const whereFile = (runId: string) => path.join(privateRunDir(paths, runId), "where.json");
  const sharedDirOf = async (runId: string) => (await ifExists(readJsonFile(whereFile(runId), WhereSchema)))?.run_dir;
  // One squeue a pass, whatever the number of running jobs; undefined until asked.
  let queue: ReturnType<typeof squeue> | undefined;

  return {
    type: "slurm",

    async problem() {
      const c = needConfig();
      const { execa } = await import("execa");
      const info = await execa("sinfo", ["-h", "-p", c.partition, "-o", "%a"], { reject: false, timeout: COMMAND_TIMEOUT_MS });
      if (info.exitCode !== 0) {
        return `cannot reach the Slurm cluster (sinfo: ${firstLine(info.stderr) || info.shortMessage}). Approved jobs stay approved and start once it answers.`;
      }
      if (!String(info.stdout).includes("up")) {
        return `Slurm partition "${c.partition}" (executor.partition) is ${String(info.stdout).trim() || "unknown to the cluster"}: fix config.json or ask the cluster's admin. Approved jobs stay approved.`;
      }
      return ensureOwnFolder(rootOf(c), "Remove it, or point executor.shared_dir at a folder only you can write.", true).then(
        () => undefined,
        (error: unknown) => errorMessage(error),
      );
    },

    async stage(job) {
      const root = rootOf(needConfig());
      const { runId, stage, codeHash } = await stageJob(root, path.join(job.dir, "code"), mode, dataPaths, "stage");
      const shared = path.join(root, runId);
      await lockRunFolder(shared, stage.root);
      return {
        runId,
        codeHash,
        stage: stage.root,
        discard: async () => {
          await removeTree(shared);
          await forgetRunDir(paths, runId);
        },
      };
    },

    async launch(staged, plan): Promise<Launched> {
      const c = needConfig();
      const root = rootOf(c);
      const shared = path.join(root, staged.runId);
      const request: RunRequest = {
        ...plan,
        results: path.join(shared, "results"),
        output: path.join(shared, "results", "output"),
        stage: staged.stage,
        gate: "go-file",
        starter: null,
        wake: null,
      };
      await writeJsonAtomic(path.join(shared, REQUEST_FILE), request, { mode: 0o600 });
      // Made here, owner-only, before the node writes into them (Slurm keeps an existing file's mode).
      fs.mkdirSync(request.results, { mode: 0o700 });
      await fs.promises.writeFile(path.join(shared, "slurm.txt"), "", { mode: 0o600 });
      makeRunDir(paths, staged.runId);
      await writeJsonAtomic(whereFile(staged.runId), { run_dir: shared });
      const command = [c.node ?? process.execPath, ...(await clusterSupervisor(root)), shared];
      const script = path.join(shared, "job.sh");
      await writeFileAtomic(
        script,
        [
          "#!/bin/sh",
          `# syft-code-queue: job ${plan.uid}, run ${staged.runId}. Started by sbatch; runs the job's supervisor on this node.`,
          "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
          "export PATH",
          `exec ${command.map(shellQuote).join(" ")}`,
          "",
        ].join("\n"),
        { mode: 0o600 }, // sbatch reads it once, as this user
      );
      const minutes = Math.ceil((plan.limits.timeout_s + 120) / 60);
      const args = [
        "--parsable",
        `--job-name=scq-${plan.uid}`,
        `--partition=${c.partition}`,
        ...(c.account ? [`--account=${c.account}`] : []),
        `--time=${minutes}`,
        `--mem=${plan.limits.memory_mb + SUPERVISOR_MB}M`,
        `--cpus-per-task=${c.cpus_per_task}`,
        "--nodes=1",
        "--ntasks=1",
        "--no-requeue",
        "--export=NONE",
        `--chdir=${shared}`,
        `--output=${path.join(shared, "slurm.txt")}`,
        ...c.extra_args,
        script,
      ];
      const { execa } = await import("execa");
      const submitted = await execa("sbatch", args, { reject: false, timeout: COMMAND_TIMEOUT_MS });
      const jobId = /^(\d+)/.exec(String(submitted.stdout).trim())?.[1];
      if (submitted.exitCode !== 0 || !jobId) {
        const said = firstLine(submitted.stderr) || (submitted.shortMessage ?? "no message");
        // A refusal of the request itself stays a refusal; a controller that does not answer may next time.
        const transient = submitted.timedOut || /unable to contact|socket timed out|connection refused|try again|temporarily|busy/i.test(said);
        if (transient)
          throw new LaunchRefusedError(`sbatch could not submit the job: ${said}; it stays approved and is tried again next pass`, false);
        throw new LaunchRefusedError(`Slurm refused the job: ${said}`, true);
      }
      return {
        ref: { executor: "slurm", run_id: staged.runId, job_id: jobId, partition: c.partition },
        go: () => sayGo(shared),
        abort: async () => {
          await execa("scancel", [jobId], { reject: false, timeout: COMMAND_TIMEOUT_MS });
        },
      };
    },

    async poll(ref, job): Promise<Poll> {
      if (ref.executor !== "slurm") throw new Error("not a Slurm run");
      const shared = await sharedDirOf(ref.run_id);
      if (!shared)
        return { state: "lost", reason: `its run folder is not recorded (the private folder ${privateRunDir(paths, ref.run_id)} is gone)` };
      const result = await ifExists(readJsonFile(path.join(shared, RESULT_FILE), RunResultSchema));
      if (result) return { state: "finished", result };
      const start = await startOf(shared);
      if (start && "neverStarted" in start) return { state: "never-started" };
      queue ??= squeue();
      const jobs = await queue;
      if ("unreachable" in jobs) return { state: "unreachable", reason: jobs.unreachable };
      const { state, reason } = jobs.get(ref.job_id) ?? {};
      if (state === "PENDING" || state === "CONFIGURING") {
        const why = reason && reason !== "None" ? reason : state.toLowerCase();
        const since = job.meta.started_at ?? job.meta.updated_at;
        const waited = Date.now() - Date.parse(since);
        const bound = (config?.max_queue_wait ?? 0) * 1000;
        if (!start && bound > 0 && waited > bound) {
          // Never begun, so nothing of the job ran: cancelled here, failed with Slurm's reason.
          await this.stop(ref);
          return {
            state: "lost",
            neverRan: true,
            reason: `it waited in Slurm's queue for ${age(since)} (${why}), longer than executor.max_queue_wait (${config?.max_queue_wait} s), and was cancelled before it began`,
          };
        }
        return { state: "running", detail: `Slurm job ${ref.job_id} queued (${why})`, queued: why };
      }
      if (state !== undefined) {
        // Its time counts from when the job began on a node, not from sbatch: a job may wait in
        // Slurm's queue for hours. Before it began, Slurm's own --time bounds nothing yet either.
        if (start && state === "RUNNING" && Date.now() - start.startedAt > (job.meta.limits?.timeout_s ?? 0) * 1000 + OVERDUE_MS) {
          await this.stop(ref);
        }
        return { state: "running", detail: `Slurm job ${ref.job_id} ${state}` };
      }
      // Gone from the queue: it may have written its result just before.
      const late = await ifExists(readJsonFile(path.join(shared, RESULT_FILE), RunResultSchema));
      if (late) return { state: "finished", result: late };
      const how = await sacctState(ref.job_id);
      const said = await tail(path.join(shared, "slurm.txt"));
      return { state: "lost", reason: `Slurm job ${ref.job_id} ended (${how}) without a result${said ? `; its batch output ends: ${said}` : ""}` };
    },

    async collect(ref, to, job) {
      const shared = ref.executor === "slurm" ? await sharedDirOf(ref.run_id) : undefined;
      if (!shared) return [];
      // Set when the job started; the defaults only for a record that somehow lost them.
      const limits = job.meta.limits ?? appliedLimits(AppConfigSchema.parse({}));
      const from = path.join(shared, "results");
      const skipped: string[] = [];
      // Logs: the supervisor capped them; what comes back is bounded again, in case the folder was tampered with.
      fs.mkdirSync(path.join(to.results, LOGS_DIR), { recursive: true });
      for (const stream of ["stdout", "stderr"] as const) {
        const max = limits.max_log_kb * 1024 + 4096;
        const data = await ifExists(readUntrustedFile(logFile(from, stream), max)).catch((error: unknown) => {
          skipped.push(`${LOGS_DIR}/${stream}.txt (${errorMessage(error)})`);
          return undefined;
        });
        if (data) await writeFileAtomic(logFile(to.results, stream), data);
      }
      const output = path.join(from, "output");
      if (!(await exists(output))) return skipped;
      const caps = outputCaps(limits);
      const size = await measureTree(output, caps);
      if (size.tooDeep || size.bytes > caps.maxBytes || size.files > caps.maxFiles) {
        return [...skipped, "output/ (over limits.max_output_mb or limits.max_files on the shared folder: not collected)"];
      }
      const copied = await copyOutput(output, to.output);
      return [...skipped, ...copied.skipped];
    },

    async stop(ref) {
      if (ref.executor !== "slurm") return;
      const { execa } = await import("execa");
      // SIGTERM to the batch job: its supervisor kills the sandbox and writes a result saying it was stopped.
      await execa("scancel", [ref.job_id], { reject: false, timeout: COMMAND_TIMEOUT_MS });
    },

    async forget(ref) {
      const shared = await sharedDirOf(ref.run_id);
      if (shared) await removeTree(shared);
      await forgetRunDir(paths, ref.run_id);
    },
  };
}

/** Our jobs in the queue: job id → state and Slurm's reason (why it waits), or why the controller could not be asked. */
async function squeue(): Promise<Map<string, { state: string; reason: string }> | { unreachable: string }> {
  const { execa } = await import("execa");
  const listed = await execa("squeue", ["-h", "--me", "-o", "%i|%T|%r"], { reject: false, timeout: COMMAND_TIMEOUT_MS });
  if (listed.exitCode !== 0) return { unreachable: `cannot reach the Slurm controller (squeue: ${firstLine(listed.stderr) || listed.shortMessage})` };
  const jobs = new Map<string, { state: string; reason: string }>();
  for (const line of String(listed.stdout).split("\n")) {
    const [id, state, reason = ""] = line.trim().split("|");
    if (id && state) jobs.set(id, { state, reason });
  }
  return jobs;
}

/**
 * Keep a run's shared folder from every other user of the cluster, who can learn its path from
 * squeue: the run folder is 0700, or under a root pass (the job runs as `nobody`, who must pass
 * through to its stage) 0710 with group nogroup; the stage, `nobody`'s under a root pass, is 0700.
 */
async function lockRunFolder(shared: string, stage: string): Promise<void> {
  if (process.getuid?.() === 0) {
    await fs.promises.chown(shared, 0, NOBODY);
    fs.chmodSync(shared, 0o710);
  } else {
    fs.chmodSync(shared, 0o700);
  }
  fs.chmodSync(stage, 0o700);
}

/** How a job that left the queue ended, from accounting; said plainly when accounting is off. */
async function sacctState(jobId: string): Promise<string> {
  const { execa } = await import("execa");
  const acct = await execa("sacct", ["-n", "-X", "-P", "-j", jobId, "-o", "State"], { reject: false, timeout: COMMAND_TIMEOUT_MS });
  const state = String(acct.stdout ?? "")
    .trim()
    .split("\n")[0];
  if (acct.exitCode === 0 && state) return `state ${state}`;
  return "state unknown: Slurm accounting is off";
}

/**
 * The supervisor the nodes run: dist/supervise.mjs (self-contained) copied once under the shared
 * folder, named by its hash; from the sources (tests without a build), the app folder's own scripts.
 */
async function clusterSupervisor(root: string): Promise<string[]> {
  const bundle = path.join(APP_DIR, "dist", "supervise.mjs");
  const data = await ifExists(fs.promises.readFile(bundle));
  if (!data) return supervisorCommand().args;
  const target = path.join(root, "bin", `supervise-${createHash("sha256").update(data).digest("hex").slice(0, 16)}.mjs`);
  if (!(await exists(target))) {
    fs.mkdirSync(path.dirname(target), { recursive: true, mode: 0o755 });
    await writeFileAtomic(target, data);
  }
  return [target];
}

async function tail(file: string): Promise<string> {
  const data = await ifExists(readUntrustedFile(file, 10 * MB)).catch(expected("a result file still being written: read on a later poll"));
  return data ? data.toString("utf8").trim().split("\n").slice(-3).join(" | ").slice(-500) : "";
}

function firstLine(text: unknown): string {
  return (typeof text === "string" ? text : "").trim().split("\n")[0]!.trim();
}

function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}
