// Per-test worlds: a temp SyftBox data folder with an owner's and a scientist's datasite, the
// owner's app config, and helpers to submit real job folders and run real passes.
import { execa } from "execa";
import fs from "fs-extra";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { onTestFinished, vi } from "vitest";
import type { Context } from "../lib/core/context.ts";
import { decide } from "../lib/approval/decisions.ts";
import type { Job } from "../lib/core/job.ts";
import { readJob } from "../lib/queue/jobs.ts";
import { runPass, type PassSummary } from "../lib/pass/pass.ts";
import { APP_DIR, datasiteDir, queuePaths, type QueuePaths } from "../lib/core/paths.ts";
import { removeTree } from "../lib/core/remove.ts";
import { sandboxProblem } from "../lib/run/sandbox.ts";
import { AppConfigSchema, JOB_STATUSES, type AppConfig } from "../lib/core/schemas.ts";
import { settingsInForce } from "../lib/core/settings.ts";
import { submitJob } from "../lib/people/api.ts";

// Tests start real processes, sandboxes and browsers: give them time however vitest is started.
vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 });
// A bug caught in a pass's per-job step fails the test instead of being logged as "left for the next pass".
process.env.SCQ_STRICT = "1";

export const OWNER = "owner@test.local";
export const SCIENTIST = "scientist@test.local";
const FIXTURES = path.join(APP_DIR, "test", "fixtures");

type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> : T[K] };

export interface World {
  root: string;
  dataDir: string;
  config: AppConfig;
  configFile: string;
  paths: QueuePaths;
  owner: Context;
  scientist: Context;
  lines: string[];
  pass(): Promise<PassSummary>;
  /**
   * Passes until no job runs and the last pass started none (runs are detached: the pass that starts a
   * job never waits for it), each pass's summary collected. Fails past `timeoutMs`.
   */
  settle(timeoutMs?: number): Promise<PassSummary[]>;
  submit(files: Record<string, string> | string, name?: string): Promise<string>;
  approveAndRun(uid: string): Promise<Job>;
  job(uid: string): Promise<Job>;
}

export async function makeWorld(overrides: DeepPartial<AppConfig> = {}): Promise<World> {
  const root = await fs.promises.mkdtemp(path.join(os.tmpdir(), "scq-test-"));
  onTestFinished(async () => {
    // A run a test left going (runs are detached) would write on into the folder while rm walks it:
    // its supervisor and the job's processes name the folder on their command lines.
    await execa("pkill", ["-KILL", "-f", `${root}/`], { reject: false });
    // removeTree gets through trees deeper than PATH_MAX and folders a job made unwritable (hostile tests make both).
    for (let attempt = 1; ; attempt++) {
      try {
        await removeTree(root);
        break;
      } catch (error) {
        if (attempt === 5) throw error;
        // A killed process may take a moment to stop writing.
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  });
  const dataDir = path.join(root, "SyftBox");
  for (const email of [OWNER, SCIENTIST]) await fs.mkdirp(datasiteDir(dataDir, email));
  // The built-in defaults, not the app folder's config.json: an owner editing theirs never changes what is tested.
  const base = AppConfigSchema.parse({});
  const config = AppConfigSchema.parse({
    ...base,
    ...overrides,
    sandbox: { ...base.sandbox, ...overrides.sandbox },
    limits: { ...base.limits, ...overrides.limits },
  });
  const configFile = path.join(root, "config.json");
  await fs.writeJson(configFile, config);
  const paths = queuePaths(dataDir, OWNER, config.queue_name);
  const lines: string[] = [];
  const world: World = {
    root,
    dataDir,
    config,
    configFile,
    paths,
    owner: { dataDir, email: OWNER, config, settings: settingsInForce(config, configFile) },
    scientist: { dataDir, email: SCIENTIST, config },
    lines,
    pass: () => runPass({ dataDir, owner: OWNER, config, settings: settingsInForce(config, configFile), log: (line) => lines.push(line) }),
    async submit(files, name = "test job") {
      const folder =
        typeof files === "string"
          ? path.join(FIXTURES, files)
          : await writeFolder(path.join(root, `src-${Math.random().toString(36).slice(2)}`), files);
      return (await submitJob({ to: OWNER, folder, name }, world.scientist)).uid;
    },
    async settle(timeoutMs = 50_000) {
      const summaries: PassSummary[] = [];
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const summary = await world.pass();
        summaries.push(summary);
        const running = await fs.readdir(path.join(paths.jobs, "running")).catch(() => []);
        if (running.length === 0 && summary.started.length === 0) return summaries;
        if (Date.now() > deadline) throw new Error(`jobs still running after ${timeoutMs} ms: ${running.join(", ")}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
    async approveAndRun(uid) {
      await world.pass();
      await decide(world.owner, uid, { decision: "approve", reason: "test" });
      await world.settle();
      return world.job(uid);
    },
    async job(uid) {
      // A warm loop may move the job between finding its folder and reading it: then it is looked for again.
      for (let attempt = 0; ; attempt++) {
        for (const status of JOB_STATUSES) {
          if (!(await fs.pathExists(path.join(paths.jobs, status, uid)))) continue;
          try {
            return await readJob(paths, status, uid);
          } catch (error) {
            if (attempt >= 5 || (error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
          }
        }
        if (attempt >= 5) throw new Error(`job ${uid} is in no status folder`);
      }
    },
  };
  // The owner's app has run once: the queue exists, so submissions are accepted.
  await world.pass();
  return world;
}

export async function writeFolder(dir: string, files: Record<string, string>): Promise<string> {
  for (const [rel, content] of Object.entries(files)) {
    await fs.outputFile(path.join(dir, rel), content);
  }
  return dir;
}

/** What a job has printed: while it runs, in the owner-only staging folder (queue/staging/<uid>); then in its folder. */
export async function readLog(job: Job, stream: "stdout" | "stderr" = "stdout"): Promise<string> {
  const dir = job.status === "running" ? path.resolve(job.dir, "..", "..", "..", "staging", job.uid) : job.dir;
  return fs.promises.readFile(path.join(dir, "run-logs", `${stream}.txt`), "utf8").catch(() => "");
}

/** Is the bubblewrap sandbox usable here? In CI it must be: a skip there would hide a broken sandbox. */
export async function bwrapReady(): Promise<boolean> {
  const problem = await sandboxProblem("bwrap");
  if (problem && process.env.CI) throw new Error(`CI must run the sandbox tests, but: ${problem}`);
  if (problem) console.warn(`NOTICE: skipping bubblewrap sandbox tests: ${problem}`);
  return problem === undefined;
}

/** Run one of the app's entry scripts as a real process (node + tsx loader, like run.sh does). */
export function runScript(script: string, args: string[], options: { env?: Record<string, string>; cwd?: string } = {}) {
  const loader = pathToFileURL(path.join(APP_DIR, "node_modules", "tsx", "dist", "loader.mjs")).href;
  return execa(process.execPath, ["--import", loader, path.join(APP_DIR, "scripts", script), ...args], {
    cwd: options.cwd ?? APP_DIR,
    env: options.env ?? {},
    reject: false,
  });
}

export function worldArgs(world: World, email = OWNER): string[] {
  return ["--data-dir", world.dataDir, "--email", email, "--app-config", world.configFile];
}

/** The requester submits `files` as a revision of `revises` with `scq submit --revises`, as they would; its uid. */
export async function submitRevision(world: World, files: Record<string, string>, revises: string): Promise<string> {
  const folder = await writeFolder(path.join(world.root, `revision-${Math.random().toString(36).slice(2)}`), files);
  const args = ["submit", "--to", OWNER, "--folder", folder, "--revises", revises.slice(-8), "--json", ...worldArgs(world, SCIENTIST)];
  const submitted = await runScript("scq.ts", args);
  if (submitted.exitCode !== 0) throw new Error(`scq submit --revises failed: ${submitted.stderr}`);
  return (JSON.parse(submitted.stdout) as { uid: string }).uid;
}

/**
 * A job that sleeps far past any timeout, with children, under a number no other test uses, so
 * `pgrep -f "sleep <n>"` finds only its own processes even with test files running side by side.
 */
export function sleeperJob(): { files: Record<string, string>; pattern: string } {
  const n = 100_000 + Math.floor(Math.random() * 800_000);
  return { files: { "run.sh": `echo started\nsleep ${n} &\nsleep ${n} &\nsleep ${n}\n` }, pattern: `sleep ${n}` };
}

/** Temp files of atomic writes left anywhere in a world's SyftBox folder (datasites and the app's private state). */
export async function leftTempFiles(world: World): Promise<string[]> {
  return (await fs.promises.readdir(world.dataDir, { recursive: true })).filter((f) => f.endsWith(".tmp"));
}

/** Poll `check` every 50 ms until it holds; fails after `timeoutMs`, naming what it waited for. */
export async function waitUntil(check: () => Promise<boolean>, what = "a condition", timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
