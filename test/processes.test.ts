// The app as real processes: run.sh, the pass script, the CLI; locks; kill -9 in the middle of a run.
import { execa } from "execa";
import fs from "fs-extra";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { pathToFileURL } from "node:url";
import { beforeAll, describe, expect, onTestFinished, test } from "vitest";
import { verifyAudit } from "../lib/queue/audit.ts";
import { cancel } from "../lib/people/api.ts";
import type { Job } from "../lib/core/job.ts";
import { decide } from "../lib/approval/decisions.ts";
import { isRunning, processStartTime } from "../lib/core/lock.ts";
import { executorFor } from "../lib/run/which-executor.ts";
import { startDetached } from "../lib/run/detached.ts";
import { APP_DIR } from "../lib/core/paths.ts";
import { appliedLimits } from "../lib/run/limits.ts";
import { bwrapReady, makeWorld, OWNER, readLog, runScript, SCIENTIST, sleeperJob, worldArgs, type World } from "./helpers.ts";

let mode: "bwrap" | "none" = "none";
beforeAll(async () => {
  mode = (await bwrapReady()) ? "bwrap" : "none";
});

async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

async function approved(world: World, files: Record<string, string>): Promise<string> {
  const uid = await world.submit(files);
  await world.pass();
  await decide(world.owner, uid, { decision: "approve" });
  return uid;
}

describe("locking", () => {
  test("two passes at once: the second exits 0 quietly and touches nothing", async () => {
    const world = await makeWorld({ sandbox: { mode } });
    const uid = await approved(world, { "run.sh": "echo done\n" });
    // Another live process holds the lock, as a pass in progress does.
    const holder = execa("sleep", ["30"], { reject: false });
    onTestFinished(() => void holder.kill());
    await waitFor("the holder to start", () => Promise.resolve(processStartTime(holder.pid!) !== undefined));
    await fs.writeJson(world.paths.lock, { pid: holder.pid, pid_start: processStartTime(holder.pid!), started_at: new Date().toISOString() });
    const second = await runScript("process.ts", worldArgs(world));
    expect(second.exitCode).toBe(0);
    expect(second.stdout).toMatch(/another pass is running \(pid \d+/);
    // Its decision is still to be applied: nothing was touched.
    expect((await world.job(uid)).status).toBe("pending");
    expect(await fs.pathExists(path.join(world.paths.decisions, `${uid}.json`))).toBe(true);
  });

  test("the lock is held for the pass's own work only, never for a job's run time", async () => {
    const world = await makeWorld({ sandbox: { mode } });
    const uid = await approved(world, { "run.sh": "sleep 4\necho done\n" });
    const started = Date.now();
    const first = await runScript("process.ts", worldArgs(world));
    expect(first.exitCode).toBe(0);
    expect(first.stdout).toMatch(/started in the bwrap sandbox \(local \(supervisor pid \d+/);
    // The pass ended while its job runs on, and the next one is not locked out.
    expect(Date.now() - started).toBeLessThan(4000);
    expect((await world.job(uid)).status).toBe("running");
    const second = await runScript("process.ts", worldArgs(world));
    expect(second.stdout).not.toMatch(/another pass is running/);
    expect((await world.job(uid)).status).toBe("running");
    // Where it runs, and for how long, as the owner and the requester see it.
    const status = await runScript("scq.ts", ["status", ...worldArgs(world)]);
    expect(status.stdout).toMatch(new RegExp(`running ${uid.slice(-8)} "test job" on local \\(supervisor pid \\d+ on \\S+\\), for \\d+s`));
    const job = await runScript("scq.ts", ["job", uid, "--json", ...worldArgs(world, SCIENTIST)]);
    expect(JSON.parse(job.stdout)).toMatchObject({
      status: "running",
      runs_on: expect.stringMatching(/^local \(supervisor pid \d+/) as string,
      running_for: expect.any(String) as string,
    });
    await world.settle();
    const done = await world.job(uid);
    expect(done.status).toBe("completed");
    expect(await readLog(done)).toBe("done\n");
  });

  test("a stale lock from a dead pid is taken over", async () => {
    const world = await makeWorld({ sandbox: { mode } });
    const uid = await approved(world, { "run.sh": "echo ran\n" });
    const child = execa("true");
    const deadPid = child.pid;
    await child;
    await fs.writeJson(world.paths.lock, { pid: deadPid, pid_start: "1", started_at: new Date().toISOString() });
    const summary = await world.pass();
    expect(summary.skipped).toBeUndefined();
    expect(summary.started).toEqual([uid]);
    expect(await fs.pathExists(world.paths.lock)).toBe(false);
    await world.settle();
    expect((await world.job(uid)).status).toBe("completed");
  });

  test("a lock held by a live process is respected", async () => {
    const world = await makeWorld({ sandbox: { mode } });
    await fs.writeJson(world.paths.lock, { pid: process.pid, pid_start: processStartTime(process.pid), started_at: new Date().toISOString() });
    expect((await world.pass()).skipped).toBe("locked");
  });
});

describe("crash safety", () => {
  test("kill -9 of a pass (its whole process group) leaves the running job running; the next pass adopts and collects it", async () => {
    const world = await makeWorld({ sandbox: { mode } });
    const uid = await approved(world, { "run.sh": "echo before\nsleep 3\necho after\necho out > $OUTPUT_DIR/out.txt\n" });
    const loader = pathToFileURL(path.join(APP_DIR, "node_modules", "tsx", "dist", "loader.mjs")).href;
    const pass = execa(process.execPath, ["--import", loader, path.join(APP_DIR, "scripts", "process.ts"), ...worldArgs(world)], {
      detached: true,
      reject: false,
    });
    await waitFor("the job to start", async () =>
      (await fs.readFile(path.join(world.paths.staging, uid, "run-logs", "stdout.txt"), "utf8").catch(() => "")).includes("before"),
    );
    // As a client killing its app would: every process in the pass's group.
    try {
      process.kill(-pass.pid!, "SIGKILL");
    } catch {
      // the pass had ended already: its group is gone, which is the same case
    }
    await pass;
    const { run } = (await world.job(uid)).meta;
    expect(run?.executor).toBe("local");
    expect(run?.executor === "local" && isRunning(run.pid, run.pid_start)).toBe(true);
    await world.settle();
    const job = await world.job(uid);
    expect(job.status).toBe("completed");
    expect(await readLog(job)).toBe("before\nafter\n");
    expect(await fs.readFile(path.join(job.dir, "output", "out.txt"), "utf8")).toBe("out\n");
    expect((await verifyAudit(world.paths)).ok).toBe(true);
  });

  test("a run's supervisor whose folder is removed while it starts ends, never waiting for ever", async () => {
    const world = await makeWorld({ sandbox: { mode } });
    // At several moments of its start (Node loading it, reading its request): each one must end.
    const started = await Promise.all(
      [0, 25, 50, 100, 150, 200, 300, 500].map(async (delay, i) => {
        const dir = path.join(world.paths.runs, `run-gone-${i}`);
        await fs.mkdirp(dir);
        const { pid } = await startDetached(dir);
        await sleep(delay);
        await fs.remove(dir);
        return pid;
      }),
    );
    for (const pid of started) await waitFor(`supervisor ${pid} to end`, () => Promise.resolve(processStartTime(pid) === undefined));
  });

  test("kill -9 of a job's supervisor: its sandbox dies with it, the job fails as interrupted, partial logs kept", async () => {
    const world = await makeWorld({ sandbox: { mode } });
    const sleeper = sleeperJob();
    const uid = await approved(world, { "run.sh": `echo before-the-crash\n${sleeper.pattern}\n` });
    await world.pass();
    await waitFor("the job to start", async () =>
      (await fs.readFile(path.join(world.paths.staging, uid, "run-logs", "stdout.txt"), "utf8").catch(() => "")).includes("before"),
    );
    const { run } = (await world.job(uid)).meta;
    if (run?.executor !== "local") throw new Error("expected a local run");
    process.kill(run.pid, "SIGKILL");
    // Nothing of the job survives its supervisor (bwrap --die-with-parent; mode none: the process group).
    if (mode === "bwrap") {
      await waitFor("the job's processes to die", async () => (await execa("pgrep", ["-f", sleeper.pattern], { reject: false })).stdout === "");
    } else {
      await execa("pkill", ["-f", sleeper.pattern], { reject: false });
    }
    await waitFor("the supervisor to be gone", () => Promise.resolve(!isRunning(run.pid, run.pid_start)));
    await world.settle();
    const job = await world.job(uid);
    expect(job.status).toBe("failed");
    expect(job.meta.error_message).toMatch(/^interrupted: its supervisor ended without a result/);
    expect(await readLog(job)).toContain("before-the-crash");
    expect(world.lines.some((l) => l.includes("→ failed (interrupted"))).toBe(true);
    // Nothing of the run is left outside the job's folder.
    expect(await fs.readdir(world.paths.runs)).toEqual([]);
    expect((await verifyAudit(world.paths)).ok).toBe(true);
  });

  test("a pass that dies between launching a run and recording it: the supervisor runs nothing, the job stays approved and runs later", async () => {
    const world = await makeWorld({ sandbox: { mode } });
    const uid = await approved(world, { "run.sh": "echo ran >> $OUTPUT_DIR/count.txt\n" });
    // In approved/ (with its marker), as a pass leaves it just before starting it.
    const pending = await world.job(uid);
    const dir = path.join(world.paths.jobs, "approved", uid);
    await fs.mkdirp(path.dirname(dir));
    await fs.rename(pending.dir, dir);
    await fs.writeJson(path.join(dir, "metadata.json"), { ...pending.meta, status: "approved" });
    // Stage and launch as a pass does, then stop where a killed pass would: the pipe to the supervisor closes without "go".
    const approvedJob = await world.job(uid);
    const executor = await executorFor(world.config, world.paths);
    const staged = await executor.stage(approvedJob);
    const launched = await executor.launch(staged, {
      uid,
      name: approvedJob.meta.name,
      mode,
      network: false,
      data_paths: [],
      limits: appliedLimits(world.config),
      results: path.join(world.root, "never"),
      output: path.join(world.root, "never", "output"),
    });
    await launched.abort();
    const ref = launched.ref;
    if (ref.executor !== "local") throw new Error("expected a local run");
    await waitFor("the supervisor to give up", () => Promise.resolve(!isRunning(ref.pid, ref.pid_start)));
    expect(await fs.pathExists(path.join(world.paths.runs, ref.run_id, "result.json"))).toBe(false);
    expect(await fs.pathExists(path.join(world.root, "never"))).toBe(false);
    expect((await world.job(uid)).status).toBe("approved");
    // The next pass clears what the dead one left and runs the job once.
    await world.settle();
    const job = await world.job(uid);
    expect(job.status).toBe("completed");
    expect(await fs.readFile(path.join(job.dir, "output", "count.txt"), "utf8")).toBe("ran\n");
    expect(await fs.readdir(world.paths.runs)).toEqual([]);
  });

  test("a transition cut between its two steps is finished or undone by the next pass", async () => {
    const world = await makeWorld({ sandbox: { mode } });
    // pending → rejected, cut after the metadata write: the next pass finishes the move.
    const a = await world.submit({ "run.sh": "true\n" });
    // approved → running, cut after the metadata write: the job never ran, so it stays approved and runs.
    const c = await world.submit({ "run.sh": "echo c > $OUTPUT_DIR/c.txt\n" });
    await world.pass();
    const jobA = await world.job(a);
    // What a crash leaves: the journal entry, and the record already rewritten.
    await fs.outputJson(path.join(world.paths.state, "journal", `${a}.json`), {
      uid: a,
      from: "pending",
      to: "rejected",
      at: new Date().toISOString(),
      change: { event: "rejected", by: OWNER, say: "rejected" },
    });
    await fs.writeJson(path.join(jobA.dir, "metadata.json"), { ...jobA.meta, status: "rejected", error_message: "x" });
    await decide(world.owner, c, { decision: "approve" });
    const jobC = await world.job(c);
    const approvedDir = path.join(world.paths.jobs, "approved", c);
    await fs.mkdirp(path.dirname(approvedDir));
    await fs.rename(jobC.dir, approvedDir);
    await fs.writeJson(path.join(approvedDir, "metadata.json"), { ...jobC.meta, status: "running" });

    await world.settle();
    expect((await world.job(a)).status).toBe("rejected");
    const doneC = await world.job(c);
    expect(doneC.status).toBe("completed");
    expect(await fs.readFile(path.join(doneC.dir, "output", "c.txt"), "utf8")).toBe("c\n");
  });
});

describe("entry points", () => {
  test("run.sh runs one pass and exits 0; a bad config.json exits non-zero naming the field, touching nothing", async () => {
    const world = await makeWorld({ sandbox: { mode } });
    const uid = await world.submit("ok");
    const env = { SCQ_APP_CONFIG: world.configFile, PATH: process.env.PATH ?? "" };
    const bad = path.join(world.root, "bad.json");
    await fs.writeJson(bad, { ...world.config, limits: { ...world.config.limits, memory_mb: "lots" } });
    const refused = await execa("bash", [path.join(APP_DIR, "run.sh"), ...worldArgs(world).slice(0, 4)], {
      env: { ...env, SCQ_APP_CONFIG: bad },
      reject: false,
    });
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toContain(`${bad}: field "limits.memory_mb": Invalid input: expected number, received string`);
    expect(await fs.pathExists(path.join(world.paths.inbox, SCIENTIST, uid))).toBe(true);

    const ok = await execa("bash", [path.join(APP_DIR, "run.sh"), ...worldArgs(world).slice(0, 4)], { env, reject: false });
    expect(ok.exitCode).toBe(0);
    expect(ok.stdout).toContain(`intake: ${uid.slice(-8)} from ${SCIENTIST} → pending`);
    // run.sh ran the pass from the bundle it builds from these sources.
    expect(await fs.pathExists(path.join(APP_DIR, "dist", "process.mjs"))).toBe(true);
    expect(ok.stderr).not.toContain("building dist/ failed");
  });

  test("run.sh on a queue where nothing changed stops at the idle check; a submission, a decision, a re-synced folder, a settings edit, a run or an old pass each bring a full pass", async () => {
    const world = await makeWorld({ sandbox: { mode } });
    const env = { SCQ_APP_CONFIG: world.configFile, PATH: process.env.PATH ?? "" };
    const args = [path.join(APP_DIR, "run.sh"), ...worldArgs(world).slice(0, 4)];
    const records = path.join(APP_DIR, ".idle");
    // The idle records of this world's runs (found by the queue folders they list), removed at the end.
    const ours = async () => {
      const names = await fs.readdir(records).catch(() => []);
      const mine: string[] = [];
      for (const name of names) {
        const text = await fs.readFile(path.join(records, name), "utf8").catch(() => "");
        if (text.includes(world.dataDir)) mine.push(path.join(records, name));
      }
      return mine;
    };
    onTestFinished(async () => {
      for (const file of await ours()) await fs.rm(file, { force: true });
    });
    const run = async () => {
      const done = await execa("bash", args, { env, reject: false });
      expect(done.exitCode, done.stderr).toBe(0);
      return done.stdout;
    };
    const idle = (out: string) => / idle: nothing new since the pass at /.test(out);
    const full = (out: string) => / settings: /.test(out);
    /** Runs until one stops at the idle check; the runs before it were full passes (a pass's own writes can bring one more). */
    const untilIdle = async () => {
      for (let i = 0; i < 3; i++) {
        const out = await run();
        if (idle(out)) return;
        expect(full(out)).toBe(true);
      }
      throw new Error("three runs on an unchanged queue and none stopped at the idle check");
    };

    await untilIdle();
    expect(await ours()).toHaveLength(1);
    // `scq status` tells the owner the queue is looked at although no pass ran.
    const status = await runScript("scq.ts", ["status", ...worldArgs(world)], { env });
    expect(status.stdout).toMatch(/last looked \d+s ago, nothing new since/);

    const uid = await world.submit({ "run.sh": "sleep 2; echo done > $OUTPUT_DIR/done.txt\n" });
    let out = await run();
    expect(idle(out)).toBe(false);
    expect(out).toContain(`intake: ${uid.slice(-8)} from ${SCIENTIST} → pending`);
    await untilIdle();

    await decide(world.owner, uid, { decision: "approve", reason: "read it" });
    expect(idle(await run())).toBe(false);
    expect(["running", "completed"]).toContain((await world.job(uid)).status);
    // While the job runs (two seconds), no run stops at the idle check: its end has to be collected.
    let whileRunning = 0;
    while ((await world.job(uid)).status !== "completed") {
      whileRunning++;
      out = await run();
      expect(idle(out)).toBe(false);
      await sleep(100);
    }
    expect(whileRunning).toBeGreaterThan(2);
    await untilIdle();

    // A finished folder changed behind the pass's back (a sync brought jobs back, another program moved
    // one): a full pass, which records and indexes them.
    await fs.mkdirp(path.join(world.paths.jobs, "completed", ".resync"));
    expect(full(await run())).toBe(true);
    await untilIdle();

    // An edit of config.json (here a later mtime only) is a change: the next pass says which settings are in force.
    const later = new Date(Date.now() + 2000);
    await fs.utimes(world.configFile, later, later);
    expect(full(await run())).toBe(true);
    await untilIdle();

    // A full pass at least every five minutes, for what falls due with time alone.
    const record = (await ours())[0]!;
    const kept = JSON.parse(await fs.readFile(record, "utf8")) as { pass_at: number };
    await fs.writeJson(record, { ...kept, pass_at: Date.now() - 6 * 60_000 });
    expect(full(await run())).toBe(true);
    // A damaged record is no record: a full pass.
    await untilIdle();
    await fs.writeFile(record, "{not json");
    expect(full(await run())).toBe(true);
  });

  test("the pass script: --help exits 0, an unknown option exits 2 with a hint", async () => {
    const help = await runScript("process.ts", ["--help"]);
    expect(help.exitCode).toBe(0);
    expect(help.stdout).toContain("Run one pass of syft-code-queue");
    const bad = await runScript("process.ts", ["--frobnicate"]);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toBe("error: Unknown option '--frobnicate'. Run `process --help` for usage.");
  });

  test("scripts/scq.sh works from any folder, with paths relative to it", async () => {
    const world = await makeWorld({ sandbox: { mode } });
    await fs.copy(path.join(APP_DIR, "test", "fixtures", "ok"), path.join(world.root, "work", "analysis"));
    const result = await execa(
      path.join(APP_DIR, "scripts", "scq.sh"),
      ["submit", "--to", OWNER, "--folder", "analysis", "--json", ...worldArgs(world, SCIENTIST)],
      { cwd: path.join(world.root, "work"), reject: false },
    );
    expect(result.stderr).toBe("");
    expect(JSON.parse(result.stdout)).toMatchObject({ metadata: { name: "analysis", requester_email: SCIENTIST } });
  });

  test("scq --version, a bare scq (help, exit 0), a mistyped command (did you mean, exit 2), and scq run as another Unix user (one line, exit 1)", async () => {
    const scq = path.join(APP_DIR, "scripts", "scq.sh");
    const version = await execa(scq, ["--version"], { reject: false });
    expect(version.stdout.trim()).toBe(((await fs.readJson(path.join(APP_DIR, "package.json"))) as { version: string }).version);
    const bare = await execa(scq, [], { reject: false });
    expect(bare.exitCode).toBe(0);
    expect(bare.stdout).toMatch(/^scq <command> \[options\]/);
    const typo = await execa(scq, ["pendign"], { reject: false });
    expect(typo.exitCode).toBe(2);
    expect(typo.stderr).toMatch(/Did you mean pending\?/);
    // Another user than the datasite's: the owner's decisions folder is not theirs to write.
    if (process.getuid?.() !== 0) return;
    const world = await makeWorld({ sandbox: { mode } });
    const uid = await world.submit("ok");
    await world.pass();
    await fs.chmod(world.root, 0o755);
    await fs.chmod(world.configFile, 0o644);
    const other = await execa(
      "setpriv",
      ["--reuid", "4242", "--regid", "4242", "--clear-groups", scq, "approve", uid, "-r", "x", ...worldArgs(world)],
      {
        cwd: "/",
        reject: false,
      },
    );
    expect(other.exitCode, other.stderr).toBe(1);
    expect(other.stdout + other.stderr).toMatch(/permission denied/);
    expect(other.stderr).toMatch(/Run scq as the Unix user whose SyftBox folder this is \(you are uid 4242\)/);
    expect(other.stderr).not.toMatch(/\n\s+at /);
    expect((await world.job(uid)).status).toBe("pending");
  });

  test("a missing SyftBox client config says where it looked and how to try the demo", async () => {
    const world = await makeWorld({ sandbox: { mode } });
    const missing = path.join(world.root, "nope", "config.json");
    const result = await runScript("process.ts", ["--app-config", world.configFile], { env: { SYFTBOX_CLIENT_CONFIG_PATH: missing } });
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain(`No SyftBox client config at ${missing}`);
    expect(result.stderr).toContain("./run.sh --demo");
  });

  test("scq: submit, pending --json, approve, process, job --json, exit codes", async () => {
    const world = await makeWorld({ sandbox: { mode } });
    const client = path.join(world.root, "scientist.json");
    await fs.writeJson(client, { email: SCIENTIST, data_dir: world.dataDir });
    const folder = path.join(APP_DIR, "test", "fixtures", "ok");
    const submitted = await runScript(
      "scq.ts",
      ["submit", "--to", OWNER, "--folder", folder, "--name", "via cli", "--json", "--app-config", world.configFile],
      {
        env: { SYFTBOX_CLIENT_CONFIG_PATH: client },
      },
    );
    expect(submitted.exitCode).toBe(0);
    const { uid } = JSON.parse(submitted.stdout) as { uid: string };
    await world.pass();

    const pending = await runScript("scq.ts", ["pending", "--json", ...worldArgs(world)]);
    expect(JSON.parse(pending.stdout)).toMatchObject([{ uid, name: "via cli", status: "pending", requester_email: SCIENTIST }]);

    const approve = await runScript("approve.ts", [uid.slice(-8), "-r", "fine", ...worldArgs(world)]);
    expect(approve.exitCode).toBe(0);
    expect(approve.stdout).toContain(`Approved ${uid}`);
    const again = await runScript("approve.ts", [uid.slice(-8), ...worldArgs(world)]);
    expect(again.exitCode).toBe(1);
    expect(again.stderr + again.stdout).toMatch(/already has a decision/);

    const passed = await runScript("scq.ts", ["process", "--json", ...worldArgs(world)]);
    expect(passed.exitCode).toBe(0);
    expect(JSON.parse(passed.stdout)).toMatchObject({ started: [uid], running: 1, ran: [] });
    await waitFor("the run to end", async () => fs.pathExists(path.join(world.paths.runs, (await world.job(uid)).meta.run!.run_id, "result.json")));
    const collected = await runScript("scq.ts", ["process", "--json", ...worldArgs(world)]);
    expect(JSON.parse(collected.stdout)).toMatchObject({ started: [], running: 0, ran: [{ uid, status: "completed", message: "completed" }] });

    const job = await runScript("scq.ts", ["job", uid, "--json", ...worldArgs(world)]);
    expect(JSON.parse(job.stdout)).toMatchObject({ uid, status: "completed", exit_code: 0 });

    const reject = await runScript("reject.ts", [uid, ...worldArgs(world)]);
    expect(reject.exitCode).toBe(2);
    expect(reject.stderr).toMatch(/Missing required argument: reason/);

    const unknown = await runScript("scq.ts", ["job", "ffffffff", ...worldArgs(world)]);
    expect(unknown.exitCode).toBe(1);
    expect(unknown.stderr).toMatch(/^error: No job "ffffffff"/);

    const usage = await runScript("scq.ts", ["frobnicate", ...worldArgs(world)]);
    expect(usage.exitCode).toBe(2);
  });

  test("scq for the data scientist: mine, wait (exit 0 / 1 / 124), logs, output --to, cancel; no colour codes in pipes", async () => {
    const world = await makeWorld({ sandbox: { mode } });
    const me = worldArgs(world, SCIENTIST);
    const good = await world.submit("ok", "good");
    const bad = await world.submit("fail", "bad");
    const mine = await runScript("scq.ts", ["mine", "--json", ...me]);
    expect((JSON.parse(mine.stdout) as { uid: string; taken_in: boolean; owner: string }[]).map((j) => [j.uid, j.taken_in, j.owner]).sort()).toEqual(
      [
        [good, false, OWNER],
        [bad, false, OWNER],
      ].sort(),
    );
    const waitTimeout = await runScript("scq.ts", ["wait", good, "--timeout", "1", ...me]);
    expect(waitTimeout.exitCode).toBe(124);
    expect(waitTimeout.stderr).toMatch(/submitted \(not yet taken in\)/);
    expect(waitTimeout.stderr).toMatch(/is still pending after 1 s/);

    await world.pass();
    await decide(world.owner, good, { decision: "approve" });
    await decide(world.owner, bad, { decision: "approve" });
    await world.settle();
    const waitGood = await runScript("scq.ts", ["wait", good.slice(-8), ...me]);
    expect(waitGood.exitCode).toBe(0);
    expect(waitGood.stdout).toBe(`${good} completed`); // execa strips the final newline
    const waitBad = await runScript("scq.ts", ["wait", bad, ...me]);
    expect(waitBad.exitCode).toBe(1);
    expect(waitBad.stdout).toBe(`${bad} failed: exited with code 3; see run-logs/stderr.txt`);

    const logs = await runScript("scq.ts", ["logs", good, ...me]);
    expect(logs.stdout).toBe("hello from good");
    const to = path.join(world.root, "fetched");
    const output = await runScript("scq.ts", ["output", good, "--to", to, ...me]);
    expect(output.exitCode).toBe(0);
    expect(await fs.readFile(path.join(to, "answer.txt"), "utf8")).toBe("42\n");

    const list = await runScript("scq.ts", ["mine", ...me], { env: { FORCE_COLOR: "1" } });
    expect(list.stdout).not.toContain("\u001b[");
    expect(list.stdout).toMatch(/completed +good +owner@test.local/);

    const tooLate = await runScript("scq.ts", ["cancel", good, ...me]);
    expect(tooLate.exitCode).toBe(1);
    expect(tooLate.stderr).toBe(`error: Job ${good} is completed: it has finished already, so there is nothing to cancel.`);
  });

  test("the example auto-approval bot approves only allow-listed requesters whose code the scan passes", async () => {
    const world = await makeWorld({ sandbox: { mode } });
    const clean = await world.submit({ "run.sh": "echo 1 > $OUTPUT_DIR/n.txt\n" }, "clean");
    const flagged = await world.submit({ "run.sh": "curl http://example.org\n" }, "flagged");
    await world.pass();
    const loader = pathToFileURL(path.join(APP_DIR, "node_modules", "tsx", "dist", "loader.mjs")).href;
    const bot = await execa(
      process.execPath,
      ["--import", loader, path.join(APP_DIR, "examples", "auto_approve_bot.ts"), "--allow", SCIENTIST, ...worldArgs(world)],
      {
        reject: false,
      },
    );
    expect(bot.exitCode).toBe(0);
    expect(bot.stdout).toContain(`${clean.slice(-8)} approved ("clean" from ${SCIENTIST})`);
    expect(bot.stdout).toContain(`${flagged.slice(-8)} left for review: 1 finding(s), e.g. run.sh:1 network access`);
    await world.settle();
    expect((await world.job(clean)).status).toBe("completed");
    expect((await world.job(flagged)).status).toBe("pending");
  });

  /** run.sh --loop on the world, its stdout (the passes' lines) and stderr gathered as they come. */
  function loopOf(world: World, extra: string[] = []) {
    const loop = execa("bash", [path.join(APP_DIR, "run.sh"), "--loop", ...worldArgs(world).slice(0, 4), ...extra], {
      env: { SCQ_APP_CONFIG: world.configFile, PATH: process.env.PATH ?? "" },
      reject: false,
    });
    const seen = { out: "", err: "" };
    loop.stdout?.on("data", (chunk: Buffer) => (seen.out += chunk.toString()));
    loop.stderr?.on("data", (chunk: Buffer) => (seen.err += chunk.toString()));
    onTestFinished(async () => {
      // run.sh stops its warm process on SIGTERM; anything still there after is killed.
      loop.kill("SIGTERM");
      await Promise.race([loop, sleep(10_000)]);
      await execa("pkill", ["-KILL", "-f", world.dataDir], { reject: false });
      await loop;
    });
    return { loop, seen };
  }
  const passesIn = (out: string) => out.split("\n").filter((line) => / settings: /.test(line)).length;

  test("run.sh --loop: one warm process takes a job from submission to its collected result at once, not an interval later", async () => {
    // An interval no test waits out: only the loop's watch on the queue's folders can move the job.
    const world = await makeWorld({ sandbox: { mode }, interval: 3600 });
    const { loop, seen } = loopOf(world);
    await waitFor("the loop's first pass", () => Promise.resolve(passesIn(seen.out) > 0));
    const uid = await world.submit({ "run.sh": "echo 7 > $OUTPUT_DIR/n.txt\n" });
    await waitFor("the submission taken in", () => Promise.resolve(seen.out.includes(`intake: ${uid.slice(-8)}`)));
    await decide(world.owner, uid, { decision: "approve" });
    await waitFor("the approved job run and collected", async () => (await world.job(uid)).status === "completed");
    expect(await fs.readFile(path.join((await world.job(uid)).dir, "output", "n.txt"), "utf8")).toBe("7\n");
    // The listing cache, written at most once a second while pass after pass acts, is current once they
    // are over (the pass its own moves wake writes it), not an interval later.
    await waitFor("the listing cache current", async () => {
      const cached = (await fs.readJson(path.join(world.paths.state, "index", "counts.json")).catch(() => ({}))) as Record<
        string,
        { count: number; mtimeMs: number }
      >;
      const mtime = (await fs.stat(path.join(world.paths.jobs, "completed"))).mtimeMs;
      return cached.completed?.count === 1 && cached.completed.mtimeMs === mtime;
    });
    // All of it in one process: the loop never ended and was never started again.
    expect(seen.err).not.toMatch(/the loop ended/);
    expect(seen.out.match(/loop: a pass at once/g)).toHaveLength(1);
    loop.kill("SIGTERM");
    const done = await loop;
    expect(done.exitCode).toBe(0);
    expect(done.stderr).toMatch(/looping: a pass whenever work arrives, and every 3600s at least/);
  });

  test("run.sh --loop: idle, a wake at the interval looks at the folders' times and runs no pass; a change runs one", async () => {
    const world = await makeWorld({ sandbox: { mode }, interval: 1 });
    const { seen } = loopOf(world);
    await waitFor("the loop's first pass", () => Promise.resolve(passesIn(seen.out) > 0));
    await sleep(4500);
    // Four intervals went by with nothing to do: the first pass, and at most the one its own writes caused.
    expect(passesIn(seen.out)).toBeLessThanOrEqual(2);
    const before = passesIn(seen.out);
    const uid = await world.submit("ok");
    await waitFor("the submission taken in", () => Promise.resolve(seen.out.includes(`intake: ${uid.slice(-8)}`)));
    expect(passesIn(seen.out)).toBeGreaterThan(before);
  });

  test("run.sh --loop keeps a spare supervisor that takes job after job: a cancel stops only its own run, a dead spare is replaced, more wait when more may run, spares retire with their loop", async () => {
    const world = await makeWorld({ sandbox: { mode }, interval: 3600, max_concurrent_jobs: 1 });
    const { seen } = loopOf(world);
    const spares = path.join(world.paths.state, "spares");
    // The spares themselves: Node, not the shells that started them (whose command lines name them for a moment).
    const spareNodes = async () => {
      const found = (await execa("pgrep", ["-f", `supervise.*--spare ${spares}`], { reject: false })).stdout.trim().split("\n").filter(Boolean);
      const nodes = [];
      for (const pid of found) if ((await fs.readFile(`/proc/${pid}/comm`, "utf8").catch(() => "")).trim() === "node") nodes.push(Number(pid));
      return nodes;
    };
    const spare = async () => {
      const nodes = await spareNodes();
      return nodes.length === 1 ? nodes[0] : undefined;
    };
    const run = async (files: Record<string, string>, until: (job: Job) => boolean) => {
      const uid = await world.submit(files);
      await waitFor("the submission taken in", () => Promise.resolve(seen.out.includes(`intake: ${uid.slice(-8)}`)));
      await decide(world.owner, uid, { decision: "approve" });
      await waitFor("the job to move on", async () => until(await world.job(uid)));
      return uid;
    };
    const finished = (job: Job) => job.status === "completed" || job.status === "failed";
    // (One at a time, so one spare: the same process runs job after job.)
    const first = await waitFor("a spare supervisor", spare);
    expect(await fs.readdir(spares)).toHaveLength(1);
    const one = await run({ "run.sh": "echo 7 > $OUTPUT_DIR/n.txt\n" }, finished);
    // The spare ran it: the run's supervisor is the process that was waiting before the approval.
    expect((await world.job(one)).meta.run).toMatchObject({ executor: "local", pid: first });
    expect(await fs.readFile(path.join((await world.job(one)).dir, "output", "n.txt"), "utf8")).toBe("7\n");

    // Back among the spares (in a folder of its own again), it takes the next job, which it stops when cancelled...
    const sleeper = sleeperJob();
    const two = await run(sleeper.files, (job) => job.status === "running");
    expect((await world.job(two)).meta.run).toMatchObject({ pid: first });
    await cancel(two, "wrong data", world.scientist);
    await waitFor("the cancelled job collected", async () => finished(await world.job(two)));
    expect((await world.job(two)).meta).toMatchObject({ limits_hit: ["cancelled"] });
    expect((await execa("pgrep", ["-f", sleeper.pattern], { reject: false })).stdout).toBe("");
    // ... and the stop was for that run alone: the same process runs the next job to its end.
    const three = await run({ "run.sh": "sleep 1; echo 9 > $OUTPUT_DIR/n.txt\n" }, finished);
    expect((await world.job(three)).meta).toMatchObject({ run: { pid: first }, exit_code: 0 });
    expect(await fs.readFile(path.join((await world.job(three)).dir, "output", "n.txt"), "utf8")).toBe("9\n");

    // A spare killed while it waits: the next job starts anyway, and the dead one's folder goes.
    await waitFor("the spare back", async () => (await spare()) === first && (await fs.readdir(spares)).length === 1);
    const [home] = await fs.readdir(spares);
    process.kill(first, "SIGKILL");
    await waitFor("the spare gone", () => Promise.resolve(processStartTime(first) === undefined));
    const four = await run({ "run.sh": "echo 8 > $OUTPUT_DIR/n.txt\n" }, finished);
    expect((await world.job(four)).meta).toMatchObject({ exit_code: 0 });
    expect((await world.job(four)).meta.run).not.toMatchObject({ pid: first });
    await waitFor("the dead spare's folder removed", async () => !(await fs.readdir(spares)).includes(home!));

    // More may run at once (config.json edited, read by the next pass): as many spares while a job
    // runs, and once nothing runs, four of them wait.
    await fs.writeJson(world.configFile, { ...(await fs.readJson(world.configFile)), max_concurrent_jobs: 6 });
    await run({ "run.sh": "sleep 1\n" }, finished);
    await waitFor("four spares", async () => (await fs.readdir(spares)).length === 4);
    await sleep(1000);
    expect(await fs.readdir(spares)).toHaveLength(4);

    // The loop killed with -9: its spares read the end of their lifeline, retire and remove their folders.
    const waiting = await spareNodes();
    expect(waiting).toHaveLength(4);
    const warm = (await execa("pgrep", ["-f", `process.*--loop.*${world.dataDir}`], { reject: false })).stdout.trim().split("\n")[0];
    process.kill(Number(warm), "SIGKILL");
    await waitFor("the spares retired", () => Promise.resolve(waiting.every((pid) => processStartTime(pid) === undefined)));
    expect(await fs.readdir(spares)).toEqual([]);
  });

  test("run.sh --loop: the warm process restarts itself when asked to, and killed with -9 it is started again; no job is lost either way", async () => {
    const world = await makeWorld({ sandbox: { mode }, interval: 1 });
    const { loop, seen } = loopOf(world, ["--restart-after", "1"]);
    await waitFor("two loop processes, one after the other", () => Promise.resolve((seen.out.match(/loop: a pass at once/g) ?? []).length >= 2));
    const uid = await world.submit({ "run.sh": "sleep 2; echo done > $OUTPUT_DIR/done.txt\n" });
    await waitFor("the submission taken in", () => Promise.resolve(seen.out.includes(`intake: ${uid.slice(-8)}`)));
    await decide(world.owner, uid, { decision: "approve" });
    await waitFor("the job running", async () => (await world.job(uid)).status === "running");
    // kill -9 the warm process while its job runs: run.sh says so and starts a new one, which collects the run.
    // (It restarts every second: between two, for a moment, there is none.)
    const warm = await waitFor("the warm process", async () =>
      Number((await execa("pgrep", ["-f", `process.*--loop.*${world.dataDir}`], { reject: false })).stdout.trim().split("\n")[0]),
    );
    process.kill(warm, "SIGKILL");
    await waitFor("run.sh to start the loop again", () =>
      Promise.resolve(/the loop ended with exit code 137; starting it again in 1s/.test(seen.err)),
    );
    await waitFor("the job collected by a later loop", async () => (await world.job(uid)).status === "completed");
    expect(await fs.readFile(path.join((await world.job(uid)).dir, "output", "done.txt"), "utf8")).toBe("done\n");
    loop.kill("SIGTERM");
    expect((await loop).exitCode).toBe(0);
  });

  test("run.sh --loop stopped as the Go SyftBox client stops an app (every descendant of run.sh signalled): a running job is no descendant, runs on, and is collected by the next loop", async () => {
    const world = await makeWorld({ sandbox: { mode }, interval: 1 });
    const first = loopOf(world);
    const uid = await world.submit({ "run.sh": "sleep 3; echo survived > $OUTPUT_DIR/done.txt\n" });
    await waitFor("the submission taken in", () => Promise.resolve(first.seen.out.includes(`intake: ${uid.slice(-8)}`)));
    await decide(world.owner, uid, { decision: "approve" });
    await waitFor("the job running", async () => (await world.job(uid)).status === "running");
    // The tree under run.sh, found by parent pids as the client finds it, each signalled (SIGTERM, then SIGKILL).
    const table: [number, number][] = [];
    for (const name of await fs.readdir("/proc")) {
      const stat = /^\d+$/.test(name) ? await fs.readFile(`/proc/${name}/stat`, "utf8").catch(() => "") : "";
      // Fields after the command name (which may hold spaces): state, then the parent's pid.
      if (stat) table.push([Number(name), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1])]);
    }
    const tree = [first.loop.pid!];
    for (let i = 0; i < tree.length; i++) for (const [pid, ppid] of table) if (ppid === tree[i]) tree.push(pid);
    for (const pid of tree.reverse()) {
      try {
        process.kill(pid, "SIGTERM");
      } catch {
        // gone since the table was read (a shell that starts a spare lives a moment), as the client finds it too
      }
    }
    await sleep(500);
    for (const pid of tree) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // gone already
      }
    }
    await first.loop;
    expect((await world.job(uid)).status).toBe("running");
    const second = loopOf(world);
    await waitFor("the job collected by the next loop", async () => (await world.job(uid)).status === "completed");
    expect(await fs.readFile(path.join((await world.job(uid)).dir, "output", "done.txt"), "utf8")).toBe("survived\n");
    // The pass logs a change after it made it (record, move, audit, log): the line follows the move.
    await waitFor("the next loop's line for the run", () => Promise.resolve(second.seen.out.includes(`run: ${uid.slice(-8)}`)));
  });

  test("scq logs --follow: the owner's prints a running job's output as it comes; the requester's waits until it has finished and been checked", async () => {
    const world = await makeWorld({ sandbox: { mode } });
    const uid = await approved(world, { "run.sh": "echo first\nsleep 4\necho second\n" });
    await world.pass();
    expect((await world.job(uid)).status).toBe("running");
    // Passes go on meanwhile, as under run.sh --loop: one of them collects the run.
    const passes = world.settle();
    const firstSeen: Record<string, number> = {};
    const follow = (who: string) => {
      const child = runScript("scq.ts", ["logs", uid, "--follow", ...worldArgs(world, who)]);
      child.stdout?.on("data", () => (firstSeen[who] ??= Date.now()));
      return child;
    };
    const [owners, requesters] = await Promise.all([follow(OWNER), follow(SCIENTIST)]);
    await passes;
    const finished = Date.parse((await world.job(uid)).meta.completed_at!);
    expect(owners.exitCode).toBe(0);
    expect(owners.stdout).toBe("first\nsecond");
    expect(firstSeen[OWNER]).toBeLessThan(finished - 1000);
    expect(requesters.exitCode).toBe(0);
    expect(requesters.stdout).toBe("first\nsecond");
    expect(requesters.stderr).toContain("is running; its logs and output come once it has finished and they have been checked");
    expect(firstSeen[SCIENTIST]).toBeGreaterThanOrEqual(finished);
  });
});
