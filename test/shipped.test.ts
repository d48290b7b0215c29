// What users run is what these tests check: an installed copy of the app, dist/ built by run.sh,
// configured only by editing its config.json, driven by run.sh (each way SyftBox, cron and people
// call it), scripts/scq.sh and `npx tsx scripts/approve.ts|reject.ts`.
import { execa } from "execa";
import fs from "fs-extra";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { beforeAll, describe, expect, onTestFinished, test } from "vitest";
import { APP_DIR } from "../lib/core/paths.ts";
import { bwrapReady, OWNER, SCIENTIST } from "./helpers.ts";
import { APPROVER, makeInstall, type Install } from "./install.ts";
import { writePythonJob } from "./python-job.ts";

let mode: "bwrap" | "none" = "none";
beforeAll(async () => {
  mode = (await bwrapReady()) ? "bwrap" : "none";
});

/** A fresh install whose owner set the sandbox this machine has, and whose queue exists (one pass ran). */
async function installed(patch: Record<string, unknown> = {}): Promise<Install> {
  const install = await makeInstall();
  await install.configure({ ...patch, sandbox: { mode, ...(patch.sandbox ?? {}) } });
  const first = await install.runSh();
  expect(first.exitCode, String(first.stderr)).toBe(0);
  return install;
}

async function submit(install: Install, files: Record<string, string>, name = "shipped job"): Promise<string> {
  const folder = await install.writeFolder(files);
  const { uid } = await install.scqJson<{ uid: string }>("scientist", ["submit", "--to", OWNER, "--folder", folder, "--name", name]);
  return uid;
}

/** Submit, take in, approve with `scq approve`, run with `sh run.sh` (until a pass collects it); the job record as `scq job --json` prints it. */
async function approveAndRun(install: Install, files: Record<string, string>): Promise<{ uid: string; job: Record<string, unknown>; pass: string }> {
  const uid = await submit(install, files);
  expect((await install.runSh()).exitCode).toBe(0);
  const approved = await install.scq("owner", ["approve", uid, "-r", "fine"]);
  expect(approved.exitCode, String(approved.stderr)).toBe(0);
  const pass = await install.runShUntilSettled();
  expect(pass.exitCode, String(pass.stderr)).toBe(0);
  return { uid, job: await install.scqJson("owner", ["job", uid]), pass: String(pass.stdout) };
}

function settingsLine(install: Install): RegExp {
  return new RegExp(`settings: ${escape(path.join(install.app, "config.json"))} \\(sandbox (bwrap|none), release auto, job_timeout 77 s`);
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

describe("run.sh, called every way it is called, reads config.json in its own folder", () => {
  test("sh, bash, ./run.sh, another working folder, a symlink, the legacy client's and cron's environments", async () => {
    const install = await installed({ job_timeout: 77 });
    const runSh = path.join(install.app, "run.sh");
    const elsewhere = path.join(install.root, "elsewhere");
    await fs.mkdirp(elsewhere);
    const link = path.join(install.root, "bin", "syft-code-queue");
    await fs.mkdirp(path.dirname(link));
    await fs.symlink(runSh, link);
    const legacy = { PATH: process.env.PATH ?? "/usr/bin:/bin", SYFTBOX_CLIENT_CONFIG_PATH: install.clientConfig.owner };
    const cron = { HOME: install.home, LOGNAME: "root", SHELL: "/bin/sh", PATH: "/usr/bin:/bin" };
    const ways: [string, string, string[], string, Record<string, string>][] = [
      ["sh run.sh", "sh", ["run.sh"], install.app, install.env()],
      ["bash run.sh", "bash", ["run.sh"], install.app, install.env()],
      ["./run.sh", "./run.sh", [], install.app, install.env()],
      ["sh /abs/run.sh from another folder", "sh", [runSh], elsewhere, install.env()],
      ["a symlink on PATH", "syft-code-queue", [], elsewhere, { ...install.env(), PATH: `${path.dirname(link)}:${install.env().PATH}` }],
      ["the legacy client (PATH and SYFTBOX_CLIENT_CONFIG_PATH only, no HOME)", "sh", ["run.sh"], install.app, legacy],
      ["cron (HOME, PATH=/usr/bin:/bin, working folder HOME)", "/bin/sh", [runSh], install.home, cron],
    ];
    for (const [way, file, args, cwd, env] of ways) {
      // Each way's run a full pass: without this, a run started the same way as the one before it
      // would stop at the idle check (nothing changed in between).
      await fs.remove(path.join(install.app, ".idle"));
      const result = await execa(file, args, { cwd, env, extendEnv: false, reject: false });
      expect(result.exitCode, `${way}: ${result.stderr}`).toBe(0);
      expect(result.stdout, way).toMatch(settingsLine(install));
    }
  });

  test("the Go client's environment (SYFTBOX_APP_ID, SYFTBOX_APP_DIR): run.sh loops and reads the same file", async () => {
    const install = await installed({ job_timeout: 77, interval: 1 });
    const child = execa("sh", ["run.sh"], {
      cwd: install.app,
      env: { ...install.env(), SYFTBOX_APP_ID: "syft-code-queue", SYFTBOX_APP_DIR: install.app, SYFTBOX_ASSIGNED_PORT: "0" },
      extendEnv: false,
      reject: false,
    });
    let out = "";
    child.stdout?.on("data", (chunk: Buffer) => (out += chunk.toString()));
    const passes = () => (out.match(/settings: /g) ?? []).length;
    const deadline = Date.now() + 20_000;
    while (passes() < 1 && Date.now() < deadline) await sleep(100);
    // Idle, the loop runs no pass at its interval; an edit of config.json brings one, which reads it.
    await sleep(1500);
    const before = passes();
    const config = path.join(install.app, "config.json");
    await fs.writeJson(config, { ...(await fs.readJson(config)), job_timeout: 78 });
    while (passes() === before && Date.now() < deadline) await sleep(100);
    child.kill("SIGTERM");
    const result = await child;
    expect(result.exitCode).toBe(0);
    expect(String(result.stderr)).toMatch(/looping: a pass whenever work arrives, and every 1s at least/);
    const lines = out.split("\n").filter((l) => l.includes("settings: "));
    expect(lines.length).toBeGreaterThan(before);
    expect(lines[0]).toMatch(settingsLine(install));
    expect(lines.at(-1)).toMatch(/job_timeout 78 s/);
    // One warm process ran them all.
    expect(out.match(/loop: a pass at once/g)).toHaveLength(1);
  });

  test("node outside the PATH it is given (the Go client rebuilds PATH): run.sh finds it under ~/.nvm, or says to name it in SYFTBOX_EXTRA_PATH", async () => {
    const install = await installed({ job_timeout: 77 });
    // A PATH with every tool of this machine but Node.js.
    const tools = path.join(install.root, "tools");
    await fs.mkdirp(tools);
    for (const dir of ["/usr/bin", "/bin"]) {
      for (const name of await fs.readdir(dir).catch(() => [])) {
        if (["node", "npm", "npx", "nodejs"].includes(name) || (await fs.pathExists(path.join(tools, name)))) continue;
        await fs.symlink(path.join(dir, name), path.join(tools, name));
      }
    }
    const env = { ...install.env(), PATH: tools };
    if ((await execa("sh", ["-c", "command -v node"], { env, extendEnv: false, reject: false })).exitCode === 0) return; // node lives elsewhere here
    const missing = await execa("sh", ["run.sh"], { cwd: install.app, env, extendEnv: false, reject: false });
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toMatch(/Node\.js is not installed .*SYFTBOX_EXTRA_PATH/);
    const nvm = path.join(install.home, ".nvm", "versions", "node", `v${process.versions.node}`, "bin");
    await fs.mkdirp(nvm);
    await fs.symlink(process.execPath, path.join(nvm, "node"));
    const found = await execa("sh", ["run.sh"], { cwd: install.app, env, extendEnv: false, reject: false });
    expect(found.exitCode, String(found.stderr)).toBe(0);
    expect(found.stdout).toMatch(settingsLine(install));
  });

  test("config.local.json beside config.json wins field by field, and an upgrade that brings a new config.json keeps it", async () => {
    const install = await installed();
    const local = path.join(install.app, "config.local.json");
    await fs.writeJson(local, { job_timeout: 55, limits: { memory_mb: 1024 } });
    const first = await install.runSh();
    expect(first.exitCode, String(first.stderr)).toBe(0);
    const both = `${path.join(install.app, "config.json")} with ${local} over it`;
    expect(first.stdout).toContain(`settings: ${both} (sandbox ${mode}, release auto, job_timeout 55 s`);
    // An upgrade: the shipped config.json comes back as it was released; the owner's own settings stay.
    await fs.copy(path.join(APP_DIR, "config.json"), path.join(install.app, "config.json"));
    const after = await install.runSh();
    expect(after.stdout).toContain(`settings: ${both} (sandbox bwrap, release auto, job_timeout 55 s`);
    expect(await install.scqJson("owner", ["status"])).toMatchObject({ settings: { file: both, job_timeout: 55 } });
    // A bad value in the owner's file stops the pass, naming both files and the field.
    await fs.writeJson(local, { job_timeout: "long" });
    const bad = await install.runSh();
    expect(bad.exitCode).not.toBe(0);
    expect(bad.stderr).toContain(local);
    expect(bad.stderr).toMatch(/field "job_timeout"/);
  });

  test("without config.json the pass says it uses the built-in defaults; a bad one stops it naming the field", async () => {
    const install = await installed();
    const uid = await submit(install, { "run.sh": "echo hi\n" });
    await fs.remove(path.join(install.app, "config.json"));
    const defaults = await install.runSh();
    expect(defaults.exitCode).toBe(0);
    expect(defaults.stdout).toContain(`settings: built-in defaults (no settings file at ${path.join(install.app, "config.json")})`);
    const status = await install.scq("owner", ["status"]);
    expect(status.stdout).toContain("Settings: built-in defaults");

    const second = await submit(install, { "run.sh": "echo hi\n" });
    await fs.writeJson(path.join(install.app, "config.json"), { limits: { memory_mb: "lots" } });
    const bad = await install.runSh();
    expect(bad.exitCode).not.toBe(0);
    expect(bad.stderr).toContain(path.join(install.app, "config.json"));
    expect(bad.stderr).toMatch(/field "limits\.memory_mb"/);
    // Nothing was touched: the new submission is still in the inbox.
    expect(await fs.pathExists(path.join(install.queue, "inbox", SCIENTIST, second))).toBe(true);
    expect(await fs.pathExists(path.join(install.queue, "jobs", "pending", uid))).toBe(true);
  });
});

describe("run.sh installs what a datasite needs, and says how it goes", () => {
  /** A copy of the app with no node_modules, and an npm on the PATH that stands in for the registry: slow, then done or failed. */
  async function bareApp(npm: string): Promise<{ app: string; env: Record<string, string> }> {
    const root = await fs.promises.mkdtemp(path.join(os.tmpdir(), "scq-bare-"));
    onTestFinished(() => fs.remove(root));
    const app = path.join(root, "app");
    for (const name of ["run.sh", "package.json", "package-lock.json", "config.json"]) await fs.copy(path.join(APP_DIR, name), path.join(app, name));
    await fs.outputFile(path.join(root, "bin", "npm"), `#!/bin/sh\necho "npm $*" >&2\n${npm}\n`, { mode: 0o755 });
    return { app, env: { PATH: `${path.join(root, "bin")}:${process.env.PATH}`, HOME: root, SCQ_INSTALL_PROGRESS_S: "1" } };
  }

  test("a first install: runtime dependencies only, progress while npm is silent, how long it took", async () => {
    const { app, env } = await bareApp(
      "mkdir -p node_modules && head -c 2000000 /dev/zero > node_modules/blob && sleep 3 && : > node_modules/.package-lock.json",
    );
    const run = await execa("sh", ["run.sh", "--install-only"], { cwd: app, env, extendEnv: false, reject: false });
    expect(run.exitCode, run.stderr).toBe(0);
    const lines = run.stderr.split("\n");
    expect(lines[0]).toBe("[syft-code-queue] installing runtime dependencies (npm ci --omit=dev: about 25 MB, seconds on a fast link)...");
    expect(lines[1]).toBe("npm ci --omit=dev --no-audit --no-fund --loglevel=error");
    expect(
      lines.filter((l) => /^\[syft-code-queue\] still installing: 2 MB in node_modules after \d s\.\.\.$/.test(l)).length,
    ).toBeGreaterThanOrEqual(2);
    expect(lines).toContainEqual(expect.stringMatching(/^\[syft-code-queue\] dependencies installed \(runtime\) in [34] s$/));
    expect(await fs.readFile(path.join(app, "node_modules", ".scq-install"), "utf8")).toBe("runtime\n");
  });

  test("a failed install exits 1 and says what to check; the next run tries again", async () => {
    const { app, env } = await bareApp("exit 1");
    const run = await execa("sh", ["run.sh", "--install-only"], { cwd: app, env, extendEnv: false, reject: false });
    expect(run.exitCode).toBe(1);
    expect(run.stderr).toContain("[syft-code-queue] npm ci failed: check your network access to the npm registry, then run this again.");
    expect(await fs.pathExists(path.join(app, "node_modules", ".scq-install"))).toBe(false);
  });
});

describe("settings in config.json are applied by the shipped pass", () => {
  test("job_timeout: a job past it is killed and failed", async () => {
    const install = await installed({ job_timeout: 2 });
    const started = Date.now();
    const { job, pass } = await approveAndRun(install, { "run.sh": "sleep 30\necho never\n" });
    expect(job.status).toBe("failed");
    expect(job.timed_out).toBe(true);
    expect(job.error_message).toMatch(/timed out after 2 seconds/);
    expect(pass).toMatch(/job_timeout 2 s/);
    expect(Date.now() - started).toBeLessThan(25_000);
  });

  test("limits: a file over limits.max_file_mb kills the job", async () => {
    const install = await installed({ limits: { max_file_mb: 1 } });
    const { job } = await approveAndRun(install, { "run.sh": 'exec head -c 3000000 /dev/zero > "$OUTPUT_DIR/big"\n' });
    expect(job.status).toBe("failed");
    expect(job.error_message).toMatch(/file size limit of 1 MB/);
    expect((job.limits as { max_file_mb: number }).max_file_mb).toBe(1);
  });

  test("sandbox.data_paths: the folder is mounted read-only at $DATA_DIR/<name>", async () => {
    const install = await installed();
    const data = path.join(install.root, "private", "cohort");
    await fs.outputFile(path.join(data, "patients.csv"), "id,age\n1,40\n2,50\n");
    await execa("chmod", ["-R", "a+rX", path.join(install.root, "private")]);
    await install.configure({ sandbox: { mode, data_paths: [data] } });
    const { uid, job } = await approveAndRun(install, {
      "run.sh":
        'wc -l < "$DATA_DIR/cohort/patients.csv" > "$OUTPUT_DIR/rows.txt"\necho x >> "$DATA_DIR/cohort/patients.csv" && echo WROTE || echo READONLY\n',
    });
    expect(job.status, String(job.error_message)).toBe("completed");
    const out = path.join(install.root, "out");
    expect((await install.scq("scientist", ["output", uid, "--to", out])).exitCode).toBe(0);
    expect((await fs.readFile(path.join(out, "rows.txt"), "utf8")).trim()).toBe("3");
    expect((await install.scq("scientist", ["logs", uid])).stdout).toContain("READONLY");
  });

  test('release "review": output waits for `scq release`; output --to takes a new or empty folder, never a full one', async () => {
    const install = await installed({ release: "review" });
    const { uid, job } = await approveAndRun(install, { "run.sh": 'echo "mean age 45" > "$OUTPUT_DIR/summary.txt"\necho done\n' });
    expect(job.status).toBe("completed");
    expect(job.output_review).toBe("pending");
    const held = await install.scq("scientist", ["output", uid]);
    expect(held.exitCode).toBe(1);
    expect(held.stderr).toMatch(/await the owner's review/);
    expect((await install.scq("scientist", ["logs", uid])).exitCode).toBe(1);
    const owner = await install.scq("owner", ["output", uid]);
    expect(owner.stdout).toContain("summary.txt");
    expect((await install.scq("owner", ["release", uid])).exitCode).toBe(0);

    const empty = path.join(install.root, "empty");
    await fs.mkdirp(empty);
    expect((await install.scq("scientist", ["output", uid, "--to", empty])).exitCode).toBe(0);
    expect(await fs.readFile(path.join(empty, "summary.txt"), "utf8")).toBe("mean age 45\n");
    const fresh = path.join(install.root, "new", "folder");
    expect((await install.scq("scientist", ["output", uid, "--to", fresh])).exitCode).toBe(0);
    expect(await fs.pathExists(path.join(fresh, "summary.txt"))).toBe(true);
    const full = await install.scq("scientist", ["output", uid, "--to", empty]);
    expect(full.exitCode).toBe(1);
    expect(full.stderr).toMatch(/is not empty/);
  });

  test("accept_legacy_jobs: a job a Python client wrote into jobs/pending/ is taken in only when switched on", async () => {
    const install = await installed();
    const pythonJob = () => writePythonJob(path.join(install.queue, "jobs"));
    const refused = await pythonJob();
    expect((await install.runSh()).exitCode).toBe(0);
    const r = await install.scqJson("owner", ["job", refused]);
    expect(r.status).toBe("rejected");
    expect(r.error_message).toMatch(/accept_legacy_jobs/);

    await install.configure({ accept_legacy_jobs: true });
    const accepted = await pythonJob();
    expect((await install.runSh()).exitCode).toBe(0);
    const pending = await install.scqJson<Record<string, unknown>[]>("owner", ["pending"]);
    expect(pending.find((j) => j.uid === accepted)).toMatchObject({ status: "pending", sender: "unverified" });
  });
});

describe("every README command through scripts/scq.sh and the approve/reject scripts", () => {
  test("scq submit leaves out what SyftBox never syncs, says so, and the job is taken in without it", async () => {
    const install = await installed({});
    const folder = await install.writeFolder({
      "run.sh": "ls -A\n",
      "analysis.py": "print(1)\n",
      "__pycache__/analysis.cpython-311.pyc": "x",
      ".venv/lib/site.py": "x",
      "logs/old.txt": "x",
      "debug.log": "x",
      ".git/HEAD": "ref",
    });
    await fs.promises.symlink("/usr/bin/python3", path.join(folder, ".venv", "python"));
    const submitted = await install.scq("scientist", ["submit", "--to", OWNER, "--folder", folder, "--name", "tidy"]);
    expect(submitted.exitCode, String(submitted.stderr)).toBe(0);
    expect(String(submitted.stdout)).toContain(
      "Left out (SyftBox never syncs them, so they could never arrive): .git/, .venv/, __pycache__/, debug.log, logs/",
    );
    const uid = /Submitted ([0-9a-f-]{36})/.exec(String(submitted.stdout))![1]!;
    expect((await install.scq("owner", ["process"])).exitCode).toBe(0);
    const review = await install.scqJson<{ files: { rel: string }[] }>("owner", ["review", uid]);
    expect(review.files.map((f) => f.rel).sort()).toEqual(["analysis.py", "run.sh"]);
  });

  test("a requester and an owner through the whole flow", async () => {
    const install = await installed({ job_timeout: 77 });
    const help = await install.scq("owner", ["--help"]);
    expect(help.exitCode).toBe(0);
    expect(help.stdout).toMatch(/submit-script/);

    const folder = await install.writeFolder({ "run.sh": 'echo "hello from the job"\necho 42 > "$OUTPUT_DIR/answer.txt"\n' });
    const submitted = await install.scq("scientist", [
      "submit",
      "--to",
      OWNER,
      "--folder",
      folder,
      "--name",
      "mean age",
      "--description",
      "aggregates only",
      "--tag",
      "demo",
    ]);
    expect(submitted.exitCode, String(submitted.stderr)).toBe(0);
    const uid = /Submitted ([0-9a-f-]{36})/.exec(String(submitted.stdout))?.[1];
    expect(uid).toBeDefined();
    const script = await install.scqJson<{ uid: string }>("scientist", [
      "submit-script",
      "--to",
      OWNER,
      "--script",
      'echo scripted > "$OUTPUT_DIR/s.txt"',
    ]);
    const py = await install.writeFolder({ "count.py": "print(1)\n" });
    const fromFile = await install.scqJson<{ uid: string }>("scientist", ["submit-script", "--to", OWNER, "--file", path.join(py, "count.py")]);
    const mine = await install.scq("scientist", ["mine"]);
    expect(mine.stdout).toMatch(/submitted \(not yet taken in\)/);

    const pass = await install.scq("owner", ["process"]);
    expect(pass.exitCode).toBe(0);
    expect(pass.stdout).toMatch(settingsLine(install));
    const pending = await install.scq("owner", ["pending"]);
    expect(pending.stdout).toContain("mean age");
    const listed = await install.scqJson<unknown[]>("owner", ["list", "--from", SCIENTIST, "--search", "mean", "--limit", "5"]);
    expect(listed).toHaveLength(1);
    const review = await install.scq("owner", ["review", uid!.slice(-8)]);
    expect(review.stdout).toContain('echo "hello from the job"');
    expect(review.stdout).toMatch(/[0-9a-f]{64}/);

    expect((await install.npxTsx("approve", [uid!, "-r", "aggregates only"])).exitCode).toBe(0);
    const rejected = await install.npxTsx("reject", [fromFile.uid, "-r", "prints raw rows"]);
    expect(rejected.exitCode, String(rejected.stderr)).toBe(0);
    expect((await install.scq("scientist", ["cancel", script.uid, "-r", "not needed"])).exitCode).toBe(0);
    expect((await install.runShUntilSettled()).exitCode).toBe(0);

    expect((await install.scq("scientist", ["wait", uid!, "--timeout", "30"])).exitCode).toBe(0);
    expect((await install.scq("scientist", ["wait", fromFile.uid, "--timeout", "30"])).exitCode).toBe(1);
    expect((await install.scqJson("scientist", ["job", script.uid])).status).toBe("rejected");
    expect((await install.scq("scientist", ["logs", uid!])).stdout).toContain("hello from the job");
    expect((await install.scq("scientist", ["logs", uid!, "--stderr"])).exitCode).toBe(0);
    const out = path.join(install.root, "results");
    expect((await install.scq("scientist", ["output", uid!, "--to", out])).exitCode).toBe(0);
    expect(await fs.readFile(path.join(out, "answer.txt"), "utf8")).toBe("42\n");
    expect((await install.scq("scientist", ["mine", "--status", "completed"])).stdout).toContain("mean age");

    const status = await install.scq("owner", ["status"]);
    expect(status.stdout).toContain(
      `Settings: ${path.join(install.app, "config.json")} (sandbox ${mode}, release auto, job_timeout 77 s, executor local)`,
    );
    expect(status.stdout).toMatch(/completed\s+1/);
    const json = await install.scqJson<{ settings: { file: string } }>("owner", ["status"]);
    expect(json.settings.file).toBe(path.join(install.app, "config.json"));
    expect((await install.scq("owner", ["job", uid!])).stdout).toContain("completed");
    expect((await install.scq("owner", ["audit", "--job", uid!.slice(-8)])).stdout).toMatch(/approved/);
    const verify = await install.scq("owner", ["audit", "verify"]);
    expect(verify.exitCode).toBe(0);
    expect(verify.stdout).toMatch(/intact/);
    // A second batch decision path: every pending job from one requester.
    const more = await submit(install, { "run.sh": "echo again\n" });
    expect((await install.runSh()).exitCode).toBe(0);
    const preview = await install.scq("owner", ["approve", "--all-pending", "--from", SCIENTIST, "-r", "batch", "--dry-run"]);
    expect(preview.stdout).toContain(`Would approve ${more} (--dry-run: nothing written).`);
    expect(await fs.pathExists(path.join(install.queue, "decisions", `${more}.json`))).toBe(false);
    expect((await install.scq("owner", ["approve", "--all-pending", "--from", SCIENTIST, "-r", "batch"])).exitCode).toBe(0);
    expect(await fs.pathExists(path.join(install.queue, "decisions", `${more}.json`))).toBe(true);
    // Taken back before a pass applied it, then decided again.
    expect((await install.scq("owner", ["undo", more.slice(-8)])).stdout).toContain(`Took back the approval of ${more}`);
    expect(await fs.pathExists(path.join(install.queue, "decisions", `${more}.json`))).toBe(false);
    expect((await install.scq("owner", ["approve", more.slice(-8), "-r", "batch"])).exitCode).toBe(0);

    // The README's other ways in: scq.sh linked onto PATH, and npm run from the app folder.
    const bin = path.join(install.root, "bin");
    await fs.mkdirp(bin);
    await fs.symlink(path.join(install.app, "scripts", "scq.sh"), path.join(bin, "scq"));
    const linked = await execa("scq", ["status"], {
      cwd: install.home,
      env: { ...install.env(), PATH: `${bin}:${install.env().PATH}` },
      extendEnv: false,
      reject: false,
    });
    expect(linked.exitCode, String(linked.stderr)).toBe(0);
    expect(linked.stdout).toContain("Settings: ");
    const npm = await execa("npm", ["run", "-s", "scq", "--", "pending", "--json"], {
      cwd: install.app,
      env: install.env(),
      extendEnv: false,
      reject: false,
    });
    expect(npm.exitCode, String(npm.stderr)).toBe(0);
    expect((JSON.parse(String(npm.stdout)) as { uid: string }[]).map((j) => j.uid)).toEqual([more]);
  });

  test("./run.sh --demo builds a demo datasite, runs the example job and prints its output", async () => {
    const install = await makeInstall();
    const workspace = path.join(install.root, "demo");
    const demo = await execa("./run.sh", ["--demo", workspace], { cwd: install.app, env: install.env(), extendEnv: false, reject: false });
    expect(demo.exitCode, String(demo.stderr)).toBe(0);
    expect(demo.stdout).toMatch(/is completed/);
    expect(demo.stdout).toContain("patients: 5");
    expect(demo.stdout).toContain("mean age: 42.4");
    expect(demo.stdout).toMatch(/check the signed result:\n .*scientist\.config\.json .*scq\.sh verify [0-9a-f]{8}/);
  });
});

describe("npm run bench, the README's command for its figures", () => {
  test("one part at small sizes: its rows, each with a figure, and the machine it ran on; exit 0", async () => {
    const bench = await execa("npm", ["run", "-s", "bench"], {
      cwd: APP_DIR,
      env: { BENCH_ONLY: "trivial", BENCH_TRIVIAL_JOBS: "4", BENCH_TRIVIAL_ROUNDS: "2", BENCH_RUNS: "1" },
      reject: false,
    });
    expect(bench.exitCode, String(bench.stderr)).toBe(0);
    const out = String(bench.stdout);
    expect(out).toMatch(/syft-code-queue bench — \d{4}-\d\d-\d\d, \d+ × .+, \d+ GiB, Node v\d+/);
    expect(out).toMatch(
      /trivial jobs, 2 at a time, 2 rounds of 4: per job, queue vs bwrap by hand +│ \d+ ms vs \d+ ms: ×[\d.]+ \(rounds ×[\d.]+, ×[\d.]+\) +│ ≤ 3× +│ (met|MISSED)/,
    );
    expect(out).toMatch(/CPU of the whole machine \(\d+ cores\) per job, queue vs by hand +│ \d+ ms vs \d+ ms/);
    expect(out).toMatch(/CPU of the warm loop alone per job \(all its threads\) +│ \d+ ms of the queue's \d+ ms a job/);
    // Its temp datasites are gone.
    const root = /in (\S+)\n/.exec(String(bench.stderr))?.[1];
    expect(root, String(bench.stderr)).toBeDefined();
    expect(await fs.pathExists(root!)).toBe(false);
  });
});

describe("the output, rules and follow-up commands through scripts/scq.sh", () => {
  test("checks, release file by file (withhold, request changes, exception), submit --revises, rules add|list|remove, mine --watch, cancel of a running job", async () => {
    const install = await installed({ output_checks: { blocking: ["small-count"] } });
    const code = {
      "run.sh": 'printf "ward,count\\nNorth,4\\nEast,25\\n" > "$OUTPUT_DIR/wards.csv"\necho "mean age 41" > "$OUTPUT_DIR/summary.txt"\n',
    };
    const { uid } = await approveAndRun(install, code);
    const short = uid.slice(-8);
    // The blocking finding held the output; the owner reads the checks and releases file by file.
    const checks = await install.scq("owner", ["checks", short]);
    expect(checks.stdout).toContain('    BLOCKING [small-count] row 1, column "count" = 4');
    expect((await install.scq("owner", ["release", short])).exitCode).toBe(1);
    const released = await install.scq("owner", ["release", short, "--withhold", "wards.csv", "-r", "a ward under 10"]);
    expect(released.exitCode, String(released.stderr)).toBe(0);
    expect((await install.scq("scientist", ["output", short])).stdout).toContain("  summary.txt  (12 bytes)\n  withheld: wards.csv: a ward under 10");
    // The release is signed: the scientist checks it offline, and sees what was held back.
    const verified = await install.scq("scientist", ["verify", short]);
    expect(verified.exitCode, String(verified.stderr)).toBe(0);
    expect(verified.stdout).toContain(`${uid} from ${OWNER}: VERIFIED`);
    expect(verified.stdout).toContain("withheld: wards.csv");

    // A rule pins the reviewed code: the same code again runs without a person.
    const added = await install.scqJson<{ id: string }>("owner", ["rules", "add", "--from", SCIENTIST, "--job", short, "--per-day", "3"]);
    expect((await install.scq("owner", ["rules", "list"])).stdout).toContain(added.id);
    const again = await submit(install, code, "same code");
    expect((await install.runShUntilSettled()).exitCode).toBe(0);
    expect(await install.scqJson("scientist", ["job", again])).toMatchObject({ status: "completed", decision: { by: `rule ${added.id}` } });
    expect((await install.scq("owner", ["rules", "remove", added.id])).stdout).toBe(`Removed ${added.id}.`);

    // mine --watch lists, then follows until told to stop.
    const watch = execa(path.join(install.app, "scripts", "scq.sh"), ["mine", "--watch", "--every", "0.5"], {
      cwd: install.root,
      env: install.env("scientist"),
      extendEnv: false,
      reject: false,
    });
    let out = "";
    watch.stdout?.on("data", (chunk: Buffer) => (out += chunk.toString()));
    for (let i = 0; i < 100 && !out.includes("same code"); i += 1) await sleep(100);
    watch.kill("SIGTERM");
    expect((await watch).exitCode).toBe(0);
    expect(out).toContain("same code");

    // Request changes, a revision linked to it, and a release with a written exception.
    const small = await submit(install, { "run.sh": 'printf "ward,count\\nWest,3\\n" > "$OUTPUT_DIR/w.csv"\n' }, "small");
    expect((await install.runSh()).exitCode).toBe(0);
    expect((await install.scq("owner", ["approve", small.slice(-8), "-r", "ok"])).exitCode).toBe(0);
    expect((await install.runShUntilSettled()).exitCode).toBe(0);
    expect(
      (await install.scq("owner", ["release", small.slice(-8), "--request-changes", "round to 5", "--comment", "run.sh:1: 3 is under 10"])).exitCode,
    ).toBe(0);
    expect((await install.scq("scientist", ["job", small.slice(-8)])).stdout).toContain("  run.sh:1  3 is under 10\n");
    const folder = await install.writeFolder({ "run.sh": 'printf "ward,count\\nWest,5\\n" > "$OUTPUT_DIR/w.csv"\n' });
    const { uid: revised } = await install.scqJson<{ uid: string }>("scientist", [
      "submit",
      "--to",
      OWNER,
      "--folder",
      folder,
      "--revises",
      small.slice(-8),
    ]);
    expect((await install.runSh()).exitCode).toBe(0);
    const reread = (await install.scq("owner", ["review", revised.slice(-8)])).stdout;
    expect(reread).toContain(`  revises:     ${small}`);
    expect(reread).toContain('──── run.sh: changed (+1 -1) ────\n@@ -1,1 +1,1 @@\n-printf "ward,count\\nWest,3\\n" > "$OUTPUT_DIR/w.csv"\n');
    expect(reread).toContain("Comments on that revision:\n  run.sh:1  3 is under 10\n");
    expect((await install.scq("owner", ["approve", revised.slice(-8), "-r", "ok"])).exitCode).toBe(0);
    expect((await install.runShUntilSettled()).exitCode).toBe(0);
    const excepted = await install.scq("owner", ["release", revised.slice(-8), "--exception", "5 is the agreed floor here"]);
    expect(excepted.exitCode, String(excepted.stderr)).toBe(0);
    expect(await install.scqJson("scientist", ["job", revised])).toMatchObject({ output_decisions: { exception: "5 is the agreed floor here" } });

    // A running job stopped at its requester's request.
    const long = await submit(install, { "run.sh": "echo started\nsleep 300\n" }, "long");
    expect((await install.runSh()).exitCode).toBe(0);
    expect((await install.scq("owner", ["approve", long.slice(-8), "-r", "ok"])).exitCode).toBe(0);
    expect((await install.runSh()).exitCode).toBe(0);
    expect((await install.scqJson("scientist", ["job", long])).status).toBe("running");
    expect((await install.scq("scientist", ["cancel", long.slice(-8), "-r", "not needed"])).exitCode).toBe(0);
    expect((await install.runShUntilSettled()).exitCode).toBe(0);
    expect(await install.scqJson("scientist", ["job", long])).toMatchObject({
      status: "failed",
      error_message: `cancelled by ${SCIENTIST} while it ran: not needed`,
    });
  });
});

describe("approval workflows through scripts/scq.sh", () => {
  test("scq try on published mock data, scq dry-run, approvers voting with --datasite (pending, review, approve, reject, ui), a parameterised rule", async () => {
    const data = path.join(os.tmpdir(), `scq-shipped-data-${process.pid}-${Date.now()}`);
    onTestFinished(() => fs.remove(data));
    await fs.outputFile(path.join(data, "private", "rows.csv"), "name\nREAL-PERSON\n");
    await fs.outputFile(path.join(data, "mock", "rows.csv"), "name\nMADE-UP\n");
    await execa("chmod", ["-R", "a+rX", data]);
    const install = await installed({
      approvals: { required: 2, approvers: [OWNER, APPROVER] },
      sandbox: { data_paths: [{ path: path.join(data, "private"), mock: path.join(data, "mock"), name: "cohort" }] },
    });
    const code = {
      "run.sh": 'cp "$DATA_DIR/cohort/rows.csv" "$OUTPUT_DIR/"\ncat params.json\n',
      "params.json": '{"year": 2024}\n',
    };
    const folder = await install.writeFolder(code);

    // The requester tries the folder on the published mock data before submitting.
    const tried = await install.scq("scientist", ["try", "--folder", folder, "--to", OWNER, "--out", path.join(install.root, "tried")]);
    expect(tried.exitCode, String(tried.stderr)).toBe(0);
    expect(await fs.readFile(path.join(install.root, "tried", "output", "rows.csv"), "utf8")).toMatch(/^name\n[A-Z]{4}-[A-Z]{2}\n$/);

    const { uid } = await install.scqJson<{ uid: string }>("scientist", ["submit", "--to", OWNER, "--folder", folder, "--name", "yearly"]);
    const short = uid.slice(-8);
    expect((await install.runSh()).exitCode).toBe(0);
    // The owner runs it on the mock data first.
    const dry = await install.scq("owner", ["dry-run", short]);
    expect(dry.exitCode, String(dry.stderr)).toBe(0);
    expect(dry.stdout).toContain("succeeded");
    expect(dry.stdout).toContain('{"year": 2024}');

    // Two votes: the approver's from their own account, the owner's own.
    expect((await install.scq("approver", ["pending", "--datasite", OWNER])).stdout).toContain(short);
    // Without --datasite, the approver's own to-do names the owner whose job awaits their vote.
    expect((await install.scq("approver", ["pending"])).stdout).toContain(
      `As a listed approver of ${OWNER}: 1 job(s) await your vote: scq pending --datasite ${OWNER}`,
    );
    expect(await install.scqJson("approver", ["job", short, "--datasite", OWNER])).toMatchObject({ uid, status: "pending" });
    const review = await install.scq("approver", ["review", short, "--datasite", OWNER]);
    expect(review.stdout).toContain(`scq approve ${short} --sha `);
    expect(review.stdout).toContain(`--datasite ${OWNER} -r "why"`);
    const voted = await install.scq("approver", ["approve", short, "--datasite", OWNER, "-r", "one row, made up"]);
    expect(voted.stdout).toContain(`Voted to approve ${uid}`);
    expect((await install.runSh()).exitCode).toBe(0);
    expect((await install.scq("owner", ["review", short])).stdout).toContain(`Still needed: 1 more, from ${OWNER}`);
    expect((await install.scq("owner", ["approve", short, "-r", "fine"])).stdout).toContain(`Voted to approve ${uid}`);
    expect((await install.runShUntilSettled()).exitCode).toBe(0);
    expect(await install.scqJson("owner", ["job", uid])).toMatchObject({ status: "completed", decision: { by: `${APPROVER}, ${OWNER}` } });

    // The approver's page reviews the owner's queue.
    const child = install.scq("approver", ["ui", "--datasite", OWNER, "--json"]);
    try {
      const line = await new Promise<string>((resolve, reject) => {
        child.stdout?.once("data", (chunk: Buffer) => resolve(chunk.toString()));
        void child.then((r) => reject(new Error(`scq ui exited ${r.exitCode}: ${String(r.stderr)}`)));
      });
      const { url, origin } = JSON.parse(line) as { url: string; origin: string };
      const token = new URL(url).searchParams.get("token")!;
      const listing = (await (await fetch(`${origin}/api/jobs`, { headers: { "x-scq-token": token } })).json()) as {
        me: string;
        reviewing: string;
        jobs: { uid: string; role: string }[];
      };
      expect(listing).toMatchObject({ me: APPROVER, reviewing: OWNER, jobs: [{ uid, role: "approver" }] });
    } finally {
      child.kill("SIGTERM");
      expect((await child).exitCode).toBe(0);
    }

    // One approver's reject, from their own account, rejects a job.
    const doubtful = await submit(install, { "run.sh": 'cat "$DATA_DIR/cohort/rows.csv"\n' }, "prints rows");
    expect((await install.runSh()).exitCode).toBe(0);
    const rejected = await install.scq("approver", ["reject", doubtful.slice(-8), "--datasite", OWNER, "-r", "prints row-level data"]);
    expect(rejected.stdout).toContain(`Voted to reject ${doubtful}`);
    expect((await install.runSh()).exitCode).toBe(0);
    expect(await install.scqJson("scientist", ["job", doubtful])).toMatchObject({
      status: "rejected",
      error_message: `rejected by ${APPROVER}: prints row-level data`,
    });

    // A parameterised rule: the same code with another params.json runs without a vote.
    const schema = path.join(install.root, "params.schema.json");
    await fs.writeJson(schema, { type: "object", properties: { year: { type: "integer" } }, required: ["year"], additionalProperties: false });
    const rule = await install.scqJson<{ id: string }>("owner", ["rules", "add", "--from", SCIENTIST, "--job", short, "--params-schema", schema]);
    const next = await submit(install, { ...code, "params.json": '{"year": 2025}\n' }, "next year");
    expect((await install.runShUntilSettled()).exitCode).toBe(0);
    expect(await install.scqJson("scientist", ["job", next])).toMatchObject({ status: "completed", decision: { by: `rule ${rule.id}` } });
    // Safe by default: the copied rows are a data-rows finding, which holds the output and logs for the owner.
    expect(await install.scqJson("scientist", ["job", next])).toMatchObject({ output_review: "pending" });
    const held = await install.scq("owner", ["checks", next.slice(-8)]);
    expect(held.stdout).toMatch(/rows\.csv .*\[HELD for your release\]/);
    const released = await install.scq("owner", ["release", next.slice(-8), "--withhold", "rows.csv", "-r", "row-level data"]);
    expect(released.exitCode, released.stderr).toBe(0);
    expect((await install.scq("scientist", ["logs", next.slice(-8)])).stdout).toContain('{"year": 2025}');
  });
});

describe("scq starts from V8's code cache beside its bundle", () => {
  test("written by a command's first run, read by the next, grown by a new command, remade when damaged, never needed", async () => {
    const install = await makeInstall();
    const cache = path.join(install.app, "dist", "scq-main.cjs.cache");
    const names = async () => {
      const bytes = await fs.readFile(cache);
      return bytes.subarray(0, bytes.indexOf(10)).toString();
    };
    expect(await fs.pathExists(cache)).toBe(false);
    expect((await install.scq("owner", ["status"])).exitCode).toBe(0);
    expect(await names()).toBe("status");
    const written = await fs.stat(cache);

    // Read, not written again: V8 took the bytes (a rejected cache is written afresh, as below).
    expect((await install.scq("owner", ["status"])).exitCode).toBe(0);
    expect((await fs.stat(cache)).mtimeMs).toBe(written.mtimeMs);

    // A command that had not run adds what it compiled to all the cache held.
    expect((await install.scq("owner", ["pending"])).exitCode).toBe(0);
    expect(await names()).toBe("status pending");
    expect((await fs.stat(cache)).size).toBeGreaterThanOrEqual(written.size);

    // Damaged bytes under a good first line: V8 rejects them, the command runs all the same and writes a fresh cache.
    const damaged = Buffer.concat([Buffer.from("status pending\n"), Buffer.alloc(written.size, 7)]);
    await fs.writeFile(cache, damaged);
    const after = await install.scq("owner", ["pending", "--json"]);
    expect(after.exitCode, String(after.stderr)).toBe(0);
    expect(JSON.parse(String(after.stdout))).toEqual([]);
    expect(await names()).toBe("pending");

    // A cache that cannot be read or written (here a folder in its place): scq works without it and leaves no temporary file.
    await fs.remove(cache);
    await fs.mkdirp(cache);
    expect((await install.scq("owner", ["status"])).exitCode).toBe(0);
    expect((await fs.readdir(path.join(install.app, "dist"))).filter((n) => n.endsWith(".tmp"))).toEqual([]);
  });
});
