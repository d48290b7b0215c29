// Runs on mock data: the owner's dry run of a pending job, the published mock folder, and a requester's
// `scq try` against it. The private data must never be seen by either; the limits are the real ones.
import fs from "fs-extra";
import os from "node:os";
import path from "node:path";
import { beforeAll, describe, expect, onTestFinished, test } from "vitest";
import { readAudit } from "../lib/queue/audit.ts";
import { dryRunDir } from "../lib/people/dry-run.ts";
import { mockFolder } from "../lib/pass/mock.ts";
import { ensureStageRoot } from "../lib/run/stage.ts";
import { datasiteDir } from "../lib/core/paths.ts";
import type { SandboxMode } from "../lib/core/schemas.ts";
import { execa } from "execa";
import { bwrapReady, makeWorld, OWNER, runScript, SCIENTIST, sleeperJob, waitUntil, worldArgs, writeFolder, type World } from "./helpers.ts";
import { mayAccess } from "./syftbox-rules.ts";

let mode: SandboxMode = "bwrap";
beforeAll(async () => {
  mode = (await bwrapReady()) ? "bwrap" : "none";
});

/** A folder others may read (jobs run as an unprivileged user when the pass is root), removed after the test. */
async function dataFolder(files: Record<string, string>): Promise<string> {
  const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), "scq-data-"));
  onTestFinished(() => fs.remove(dir));
  await writeFolder(dir, files);
  await fs.chmod(dir, 0o755);
  return dir;
}

/** A world whose owner has a private cohort with a mock twin, and a second data path without one. */
async function mockedWorld(extra: { job_timeout?: number } = {}): Promise<{ world: World; cohort: string; mock: string; other: string }> {
  const cohort = await dataFolder({ "people.csv": "name,age\nREAL-SECRET-PERSON,40\n" });
  const mock = await dataFolder({ "people.csv": "name,age\nMADE-UP-PERSON,30\n" });
  const other = await dataFolder({ "notes.txt": "PRIVATE-NOTES\n" });
  // The real runs here copy rows on purpose, to compare them with the dry run's: advice only, so nothing is held.
  const world = await makeWorld({
    ...extra,
    sandbox: { mode, data_paths: [{ path: cohort, mock, name: "cohort" }, other] },
    output_checks: { blocking: [] },
  });
  return { world, cohort, mock, other };
}

const PEEK = {
  "run.sh": 'ls "$DATA_DIR" > "$OUTPUT_DIR/mounts.txt"\ncat "$DATA_DIR"/cohort/people.csv > "$OUTPUT_DIR/seen.csv"\necho "rows seen"\n',
};

describe("dry runs on mock data", () => {
  test("a dry run runs under its own supervisor, as a real run does: scq dry-run told to stop stops the job whole and says so", async () => {
    const { world } = await mockedWorld({ job_timeout: 120 });
    const sleeper = sleeperJob();
    const uid = await world.submit(sleeper.files, "sleeper");
    await world.pass();
    const run = runScript("scq.ts", ["dry-run", uid.slice(-8), ...worldArgs(world)]);
    const sleeping = async () => (await execa("pgrep", ["-f", sleeper.pattern], { reject: false })).exitCode === 0;
    await waitUntil(sleeping, "the job's sleep to start");
    // The job's processes descend from a supervisor process (scripts/supervise.ts), not from scq itself.
    const [first] = (await execa("pgrep", ["-f", sleeper.pattern])).stdout.split("\n");
    const ancestors: string[] = [];
    for (let pid = first!.trim(); pid !== "1" && pid !== "0";) {
      const stat = await fs.readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
      if (!stat) break;
      ancestors.push(await fs.readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => ""));
      pid = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]!;
    }
    expect(ancestors.some((cmd) => cmd.includes("supervise"))).toBe(true);
    run.kill("SIGTERM");
    const ended = await run;
    expect(ended.exitCode, ended.stderr).toBe(1);
    expect(ended.stdout).toMatch(/FAILED: stopped on request; the job and all its processes were killed/);
    await waitUntil(async () => !(await sleeping()), "the job's processes to be gone", 15_000);
    expect((await world.job(uid)).status).toBe("pending");
  });

  test("scq dry-run runs a pending job on the mock in the private folder's place; nothing private is mounted; nothing is decided", async () => {
    const { world } = await mockedWorld();
    const uid = await world.submit(PEEK, "peek");
    await world.pass();
    // What a dry run killed long ago left behind goes; what a running one uses stays.
    const dryRoot = await ensureStageRoot(world.paths, "dry-runs");
    onTestFinished(() => fs.remove(dryRoot));
    const left = [path.join(dryRoot, "run-killed"), `${dryRunDir(world.paths, uid)}.new-99999`];
    const young = path.join(dryRoot, "run-running");
    for (const dir of [...left, young]) await fs.mkdirp(dir);
    await fs.chmod(dryRoot, 0o711);
    const longAgo = new Date(Date.now() - 86_400_000);
    for (const dir of left) await fs.utimes(dir, longAgo, longAgo);
    const run = await runScript("scq.ts", ["dry-run", uid.slice(-8), ...worldArgs(world)]);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout).toContain(`Dry run of ${uid} on mock data: $DATA_DIR/cohort = `);
    expect(run.stdout).toContain("succeeded");
    expect(run.stdout).toContain("rows seen");
    expect(run.stdout).toMatch(/seen\.csv {2}\(\d+ bytes\)/);
    const dir = dryRunDir(world.paths, uid);
    // The mock's columns and kinds, its rows drawn afresh (fresh-mock.ts): the same shape, other letters.
    expect(await fs.readFile(path.join(dir, "output", "seen.csv"), "utf8")).toMatch(/^name,age\n[A-Z]{4}-[A-Z]{2}-[A-Z]{6},30\n$/);
    expect((await fs.readFile(path.join(dir, "output", "mounts.txt"), "utf8")).trim()).toBe("cohort");
    expect(await fs.pathExists(path.join(dir, "output-checks.json"))).toBe(true);
    for (const gone of left) expect(await fs.pathExists(gone)).toBe(false);
    expect(await fs.pathExists(young)).toBe(true);
    await fs.remove(young);
    // The job waits, as it did; the dry run is audited.
    const job = await world.job(uid);
    expect(job.status).toBe("pending");
    expect(job.meta.decision).toBeNull();
    expect((await readAudit(world.paths)).find((e) => e.event === "dry-run")).toMatchObject({
      uid,
      by: OWNER,
      detail: { mocks: ["cohort"], failed: false },
    });
    // Its results are the owner's: outside the synced datasite, in the app's private state.
    expect(dir.startsWith(path.join(world.dataDir, "datasites"))).toBe(false);

    // The real run sees the private data.
    const ran = await world.approveAndRun(uid);
    expect(await fs.readFile(path.join(ran.dir, "output", "seen.csv"), "utf8")).toContain("REAL-SECRET-PERSON");
    const again = await runScript("scq.ts", ["dry-run", uid, ...worldArgs(world)]);
    expect(again.exitCode).toBe(1);
    expect(again.stderr).toContain("dry runs are for pending jobs, before you decide");
  });

  test("the same limits hold: a job that runs too long fails its dry run, and scq dry-run exits 1", async () => {
    const { world } = await mockedWorld({ job_timeout: 2 });
    const uid = await world.submit({ "run.sh": "echo begin\nsleep 60\n" });
    await world.pass();
    const started = Date.now();
    const run = await runScript("scq.ts", ["dry-run", uid, ...worldArgs(world)]);
    expect(run.exitCode).toBe(1);
    expect(run.stdout).toContain("FAILED: timed out after 2 seconds (job_timeout)");
    expect(Date.now() - started).toBeLessThan(30_000);
  });
});

describe("scq try: a requester's run on the mock data an owner publishes", () => {
  test("the pass publishes each mock (never the private data) for everyone to read; scq try runs a folder on it with the owner's limits", async () => {
    const { world, mock } = await mockedWorld();
    await fs.chmod(world.root, 0o755); // the requester's jobs, like the owner's, run as "nobody" under root
    const published = mockFolder(datasiteDir(world.dataDir, OWNER), world.config.queue_name);
    expect(await fs.readFile(path.join(published, "cohort", "people.csv"), "utf8")).toBe("name,age\nMADE-UP-PERSON,30\n");
    expect((await fs.readdir(published)).sort()).toEqual(["cohort", "manifest.json"]);
    const manifest = (await fs.readJson(path.join(published, "manifest.json"))) as { mocks: { name: string }[]; limits: { timeout_s: number } };
    expect(manifest.mocks.map((m) => m.name)).toEqual(["cohort"]);
    expect(manifest.limits.timeout_s).toBe(world.config.job_timeout);
    expect(await mayAccess(datasiteDir(world.dataDir, OWNER), OWNER, path.join(published, "cohort", "people.csv"), "anyone@test.local", "read")).toBe(
      true,
    );

    const folder = await writeFolder(path.join(world.root, "analysis"), PEEK);
    const out = path.join(world.root, "tried");
    const tried = await runScript("scq.ts", ["try", "--folder", folder, "--to", OWNER, "--out", out, ...worldArgs(world, SCIENTIST)]);
    expect(tried.exitCode, tried.stderr).toBe(0);
    expect(tried.stdout).toContain(`Tried ${folder} on the mock data of ${OWNER}: $DATA_DIR/cohort`);
    expect(tried.stdout).toContain(`When it does what you want: scq submit --to ${OWNER} --folder ${folder}`);
    expect(await fs.readFile(path.join(out, "output", "seen.csv"), "utf8")).toMatch(/^name,age\n[A-Z]{4}-[A-Z]{2}-[A-Z]{6},30\n$/);
    expect(await fs.readFile(path.join(out, "run-logs", "stdout.txt"), "utf8")).toBe("rows seen\n");
    // Nothing was submitted.
    expect(await fs.pathExists(path.join(world.paths.inbox, SCIENTIST))).toBe(false);
    const full = await runScript("scq.ts", ["try", "--folder", folder, "--to", OWNER, "--out", out, ...worldArgs(world, SCIENTIST)]);
    expect(full.exitCode).toBe(1);
    expect(full.stderr).toContain("is not empty");

    // A changed mock is published again at the next pass; an unchanged one is not copied again.
    world.lines.length = 0;
    await world.pass();
    expect(world.lines.filter((l) => l.startsWith("mock data:"))).toEqual([]);
    await fs.writeFile(path.join(mock, "people.csv"), "name,age\nANOTHER-MADE-UP,31\n");
    await world.pass();
    expect(world.lines.some((l) => l.startsWith("mock data: published cohort (1 files)"))).toBe(true);
    expect(await fs.readFile(path.join(published, "cohort", "people.csv"), "utf8")).toBe("name,age\nANOTHER-MADE-UP,31\n");
  });

  test("what the owner's side syncs cannot reach into the requester's machine; an owner without mocks says so", async () => {
    const { world } = await mockedWorld();
    const published = mockFolder(datasiteDir(world.dataDir, OWNER), world.config.queue_name);
    const secret = await dataFolder({ id_rsa: "REQUESTER-PRIVATE-KEY\n" });
    await fs.remove(path.join(published, "cohort"));
    await fs.symlink(secret, path.join(published, "cohort"));
    const folder = await writeFolder(path.join(world.root, "analysis"), PEEK);
    const tryOn = (owner: string, as: string, out: string) =>
      runScript("scq.ts", ["try", "--folder", folder, "--to", owner, "--out", path.join(world.root, out), ...worldArgs(world, as)]);
    const linked = await tryOn(OWNER, SCIENTIST, "o1");
    expect(linked.exitCode).toBe(1);
    expect(linked.stderr).toContain(`The mock data "cohort" of ${OWNER} is not a folder`);
    // A manifest naming a folder outside the mock folder is not a manifest.
    const manifestFile = path.join(published, "manifest.json");
    const manifest = (await fs.readJson(manifestFile)) as { mocks: { name: string }[] };
    await fs.writeJson(manifestFile, { ...manifest, mocks: [{ name: "../../../..", files: 1, bytes: 1 }] });
    const escaped = await tryOn(OWNER, SCIENTIST, "o2");
    expect(escaped.exitCode).toBe(1);
    expect(escaped.stderr).toContain('field "mocks.0.name"');

    const none = await tryOn(SCIENTIST, OWNER, "o3");
    expect(none.exitCode).toBe(1);
    expect(none.stderr).toContain(`${SCIENTIST} publishes no mock data`);

    // Mocks taken out of config.json are unpublished at the next pass.
    const { runPass } = await import("../lib/pass/pass.ts");
    const lines: string[] = [];
    await runPass({
      dataDir: world.dataDir,
      owner: OWNER,
      config: { ...world.config, sandbox: { ...world.config.sandbox, data_paths: [] } },
      log: (l) => lines.push(l),
    });
    expect(await fs.pathExists(published)).toBe(false);
    expect(lines.some((l) => l.startsWith("mock data: unpublished"))).toBe(true);
  });
});
