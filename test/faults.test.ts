// Crash windows: the pass is killed outright (SIGKILL, through the SCQ_FAULT hook of lib/core/fault.ts) at
// every step boundary of intake, of a change of state and of a job's start, then the next passes run
// as usual. Nothing may be lost: a valid submission is never rejected, an approved job that never ran
// is never failed, each move has exactly one audit line, the chain verifies, no temp file is left.
import { spawn } from "node:child_process";
import fs from "fs-extra";
import path from "node:path";
import { describe, expect, test } from "vitest";
import { readAudit, verifyAudit } from "../lib/queue/audit.ts";
import { decide } from "../lib/approval/decisions.ts";
import { isRunning, processStartTime } from "../lib/core/lock.ts";
import { leftTempFiles, makeWorld, readLog, runScript, SCIENTIST, waitUntil, worldArgs, type World } from "./helpers.ts";

/** The pass as its own process, killed at `point`. */
async function killedPass(world: World, point: string): Promise<void> {
  const pass = await runScript("process.ts", worldArgs(world), { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", SCQ_FAULT: point } });
  expect(pass.signal, `the pass was to be killed at ${point}; it said:\n${pass.stdout}\n${pass.stderr}`).toBe("SIGKILL");
}

/** A job taken in and approved (its approval not applied yet), in a queue without a sandbox. */
async function approvedJob(files: Record<string, string> = { "run.sh": "echo ran\n" }): Promise<{ world: World; uid: string }> {
  const world = await makeWorld({ sandbox: { mode: "none" } });
  const uid = await world.submit(files);
  await world.pass();
  await decide(world.owner, uid, { decision: "approve", reason: "fine" });
  return { world, uid };
}

async function events(world: World, uid: string): Promise<string[]> {
  return (await readAudit(world.paths)).filter((e) => e.uid === uid).map((e) => e.event);
}

async function leftovers(world: World): Promise<string[]> {
  const notes = await fs.promises.readdir(path.join(world.paths.state, "intake")).catch(() => []);
  const frozen = await fs.promises.readdir(world.paths.intake).catch(() => []);
  const journal = await fs.promises.readdir(path.join(world.paths.state, "journal")).catch(() => []);
  return [
    ...notes.map((n) => `intake note ${n}`),
    ...frozen.map((f) => `.intake/${f}`),
    ...journal.map((j) => `journal ${j}`),
    ...(await leftTempFiles(world)),
  ];
}

const INTAKE_POINTS = ["intake:judged", "intake:stripped", "admit:written", "admit:moved"];
const START_POINTS = ["change:journaled", "change:moved", "audit:appended", "change:recorded", "start:launched", "start:recorded"];

describe("a pass killed at any step loses nothing", () => {
  test.each(INTAKE_POINTS)(
    "intake, killed at %s: the valid submission is pending, the invalid one rejected for its own reason, one audit line each",
    async (point) => {
      const world = await makeWorld({ sandbox: { mode: "none" } });
      const valid = await world.submit({ "run.sh": "echo ran\n", "lib/helper.py": "x = 1\n" });
      // Submitted in someone else's name: refused at intake.
      const invalid = await world.submit({ "run.sh": "echo forged\n" });
      const forged = path.join(world.paths.inbox, SCIENTIST, invalid, "metadata.json");
      await fs.writeJson(forged, { ...(await fs.readJson(forged)), requester_email: "someone@else.org" });
      await killedPass(world, point);
      await world.pass();
      const job = await world.job(valid);
      expect(job.status).toBe("pending");
      expect(await fs.readFile(path.join(job.dir, "code", "lib", "helper.py"), "utf8")).toBe("x = 1\n");
      expect(await events(world, valid)).toEqual(["submitted"]);
      const refused = await world.job(invalid);
      expect(refused.status).toBe("rejected");
      expect(refused.meta.error_message).toMatch(/jobs can only be submitted in your own name/);
      expect(await events(world, invalid)).toEqual(["intake-rejected"]);
      expect(await leftovers(world)).toEqual([]);
      expect((await verifyAudit(world.paths)).ok).toBe(true);
    },
  );

  test.each(START_POINTS)("an approved job, the pass killed at %s: it runs exactly once and completes", async (point) => {
    const { world, uid } = await approvedJob({ "run.sh": 'echo ran\necho done > "$OUTPUT_DIR/out.txt"\n' });
    await killedPass(world, point);
    await world.settle();
    const job = await world.job(uid);
    expect(job.status, job.meta.error_message ?? "").toBe("completed");
    expect(await readLog(job)).toBe("ran\n");
    const seen = await events(world, uid);
    expect(seen.filter((e) => e === "approved")).toHaveLength(1);
    expect(seen.filter((e) => e === "completed")).toHaveLength(1);
    expect(seen.filter((e) => e === "failed")).toHaveLength(0);
    expect(await leftovers(world)).toEqual([]);
    expect(await fs.readdir(world.paths.runs).catch(() => [])).toEqual([]);
    expect((await verifyAudit(world.paths)).ok).toBe(true);
  });

  test("killed between an audit line and the record of the log's end: scq audit verify says the log goes on from it, and the next append records the end", async () => {
    const { world, uid } = await approvedJob();
    await killedPass(world, "audit:appended");
    const behind = await runScript("scq.ts", ["audit", "verify", ...worldArgs(world)]);
    expect(behind.exitCode, behind.stderr).toBe(0);
    expect(behind.stdout).toMatch(/audit log intact: \d+ lines, .*goes on from line \d+, where this machine last recorded its end/);
    await world.settle();
    const after = await runScript("scq.ts", ["audit", "verify", ...worldArgs(world)]);
    expect(after.stdout).toMatch(/ends where this machine's last append left it/);
    expect((await events(world, uid)).filter((e) => e === "approved")).toHaveLength(1);
  });

  test("a journal entry cut off as a temp file is not replayed: the job's events are not repeated however many passes follow", async () => {
    const { world, uid } = await approvedJob();
    await world.settle();
    // What a pass killed inside writeJsonAtomic of a journal entry leaves: the whole entry, in its temp file.
    const journal = path.join(world.paths.state, "journal");
    await fs.outputJson(path.join(journal, `.${uid}.json.999999.0a1b2c3d.tmp`), {
      uid,
      from: "running",
      to: "completed",
      at: new Date(Date.now() - 3600_000).toISOString(),
      change: { event: "completed", say: "completed" },
    });
    for (let i = 0; i < 3; i += 1) await world.pass();
    expect((await events(world, uid)).filter((e) => e === "completed")).toHaveLength(1);
    expect(await fs.readdir(journal)).toEqual([]);
  });
});

describe("a supervisor whose pass is gone", () => {
  test("alive long after it should have heard go, never having begun the job: it is stopped and the job runs once, in its turn", async () => {
    const { world, uid } = await approvedJob();
    await killedPass(world, "start:recorded");
    // Its supervisor heard the pipe close and said so; make it one that never heard anything instead:
    // a live process holding the run, recorded as started well past the supervisor's wait for go.
    const [runId] = await fs.readdir(world.paths.runs);
    const runFolder = path.join(world.paths.runs, runId!);
    await waitUntil(() => fs.pathExists(path.join(runFolder, "not-started")), "the supervisor to give up");
    await fs.remove(path.join(runFolder, "not-started"));
    const stuck = spawn("sleep", ["600"], { detached: true, stdio: "ignore" });
    stuck.unref();
    const record = path.join(world.paths.jobs, "running", uid, "metadata.json");
    const meta = (await fs.readJson(record)) as { scq_times: object; run: object };
    const longAgo = new Date(Date.now() - 10 * 60_000).toISOString();
    await fs.writeJson(record, {
      ...meta,
      started_at: longAgo,
      scq_times: { ...meta.scq_times, started_at: longAgo },
      run: { ...meta.run, pid: stuck.pid, pid_start: processStartTime(stuck.pid!) },
    });
    await world.settle();
    const job = await world.job(uid);
    expect(job.status, job.meta.error_message ?? "").toBe("completed");
    expect(await readLog(job)).toBe("ran\n");
    expect(isRunning(stuck.pid!, processStartTime(stuck.pid!) ?? "")).toBe(false);
    const seen = await events(world, uid);
    expect(seen.filter((e) => e === "started")).toHaveLength(2);
    expect(seen.filter((e) => e === "completed")).toHaveLength(1);
    expect(seen.filter((e) => e === "failed")).toHaveLength(0);
  });
});
