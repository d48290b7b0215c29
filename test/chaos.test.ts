// Chaos, bounded: many mixed jobs while passes are SIGKILLed at random moments, supervisors are
// SIGKILLed while their jobs run, and once everything dies at the same instant (a reboot). Then
// ordinary passes run until the queue settles, and the invariants are checked: nothing lost, nothing
// run twice or unapproved, the audit chain verifies and agrees with the folders, nothing left behind.
import { execa } from "execa";
import fs from "fs-extra";
import path from "node:path";
import { describe, expect, test } from "vitest";
import { readAudit, verifyAudit } from "../lib/queue/audit.ts";
import { decide } from "../lib/approval/decisions.ts";
import { isRunning } from "../lib/core/lock.ts";
import { JOB_STATUSES, type JobStatus } from "../lib/core/schemas.ts";
import { leftTempFiles, makeWorld, readLog, runScript, SCIENTIST, worldArgs, type World } from "./helpers.ts";

/** A seeded generator, so a failing run can be repeated (the seed is in the test's name). */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

async function statusOf(world: World, uid: string): Promise<JobStatus[]> {
  const found: JobStatus[] = [];
  for (const status of JOB_STATUSES) if (await fs.pathExists(path.join(world.paths.jobs, status, uid))) found.push(status);
  return found;
}

/** Supervisors of the jobs running now: pid and start time, from their records. */
async function supervisors(world: World): Promise<{ pid: number; pid_start: string }[]> {
  const running = path.join(world.paths.jobs, "running");
  const found = [];
  for (const uid of await fs.readdir(running).catch(() => [])) {
    const meta = (await fs.readJson(path.join(running, uid, "metadata.json")).catch(() => ({}))) as { run?: { pid?: number; pid_start?: string } };
    if (meta.run?.pid && meta.run.pid_start) found.push({ pid: meta.run.pid, pid_start: meta.run.pid_start });
  }
  return found;
}

const SEED = Number(process.env.SCQ_CHAOS_SEED ?? 20261128);

describe("chaos", () => {
  test(`mixed jobs under random kills of passes and supervisors and one reboot (seed ${SEED})`, async () => {
    const rand = random(SEED);
    const world = await makeWorld({ sandbox: { mode: "none" }, max_concurrent_jobs: 4 });
    const approved: string[] = [];
    const refused: string[] = [];
    const forged: string[] = [];
    for (let i = 0; i < 24; i += 1) {
      const kind = i % 6;
      const nap = (0.2 + rand() * 0.8).toFixed(2);
      const run = kind === 5 ? `echo ran\nsleep ${nap}\nexit 3\n` : `echo ran\nsleep ${nap}\necho ${i} > "$OUTPUT_DIR/out.txt"\n`;
      const uid = await world.submit({ "run.sh": run }, `job ${i}`);
      if (kind === 4) {
        // Submitted in another's name: intake rejects it.
        const meta = path.join(world.paths.inbox, SCIENTIST, uid, "metadata.json");
        await fs.writeJson(meta, { ...(await fs.readJson(meta)), requester_email: "mallory@example.org" });
        forged.push(uid);
      } else if (kind === 3) refused.push(uid);
      else approved.push(uid);
    }
    const decided = new Set<string>();
    const env = { PATH: process.env.PATH ?? "/usr/bin:/bin" };
    let killedPasses = 0;
    let killedSupervisors = 0;
    let rebooted = false;
    for (let round = 0; round < 40; round += 1) {
      // Decisions arrive as the jobs reach pending/.
      for (const uid of [...approved, ...refused]) {
        if (decided.has(uid) || !(await statusOf(world, uid)).includes("pending")) continue;
        await decide(world.owner, uid, approved.includes(uid) ? { decision: "approve", reason: "ok" } : { decision: "reject", reason: "no" });
        decided.add(uid);
      }
      const pass = runScript("process.ts", worldArgs(world), { env });
      const roll = rand();
      if (roll < 0.45) {
        // Killed at a random moment of its work.
        await new Promise((resolve) => setTimeout(resolve, Math.floor(rand() * 250)));
        pass.kill("SIGKILL");
        killedPasses += 1;
      }
      await pass;
      if (roll > 0.85) {
        const victims = await supervisors(world);
        const victim = victims[Math.floor(rand() * victims.length)];
        if (victim && isRunning(victim.pid, victim.pid_start)) {
          process.kill(victim.pid, "SIGKILL");
          killedSupervisors += 1;
        }
      }
      if (round === 20) {
        // A reboot: every pass and supervisor of this queue dies at once.
        for (const s of await supervisors(world)) if (isRunning(s.pid, s.pid_start)) process.kill(s.pid, "SIGKILL");
        await execa("pkill", ["-KILL", "-f", world.root], { reject: false });
        rebooted = true;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(rebooted).toBe(true);
    // Calm again: ordinary passes until nothing runs or waits to start.
    for (const uid of [...approved, ...refused]) {
      if (!decided.has(uid) && (await statusOf(world, uid)).includes("pending")) {
        await decide(world.owner, uid, approved.includes(uid) ? { decision: "approve", reason: "ok" } : { decision: "reject", reason: "no" });
      }
    }
    for (let settled = false, deadline = Date.now() + 60_000; !settled;) {
      await world.settle();
      const waiting = (await fs.readdir(path.join(world.paths.jobs, "approved")).catch(() => [])).length;
      settled = waiting === 0;
      if (Date.now() > deadline) throw new Error(`${waiting} approved jobs never started`);
    }

    const audit = await readAudit(world.paths);
    const eventsOf = (uid: string) => audit.filter((e) => e.uid === uid).map((e) => e.event);
    // Nothing lost: every job is in exactly one folder, and a final one.
    for (const uid of [...approved, ...refused, ...forged]) {
      const where = await statusOf(world, uid);
      expect(where, `job ${uid}`).toHaveLength(1);
      expect(["completed", "failed", "rejected"], `job ${uid} is ${where[0]}`).toContain(where[0]);
    }
    for (const uid of refused) expect(await statusOf(world, uid)).toEqual(["rejected"]);
    for (const uid of forged) expect((await world.job(uid)).meta.error_message).toMatch(/in your own name/);
    for (const uid of approved) {
      const job = await world.job(uid);
      const events = eventsOf(uid);
      // Never run unapproved; never run twice; no two endings.
      expect(events.indexOf("approved"), `${uid}: ${events.join(" ")}`).toBeGreaterThanOrEqual(0);
      expect(events.indexOf("started"), `${uid}: ${events.join(" ")}`).toBeGreaterThan(events.indexOf("approved"));
      // Each start ends exactly once (completed, failed, or "recovered": a lost run failed, or a start
      // that never began put back in approved/), before any next start; and only one run ever finished.
      const starts = events.flatMap((e, i) => (e === "started" ? [i] : []));
      for (const [n, at] of starts.entries()) {
        const until = starts[n + 1] ?? events.length;
        const endings = events.slice(at + 1, until).filter((e) => e === "completed" || e === "failed" || e === "recovered");
        expect(endings, `${uid}: ${events.join(" ")}`).toHaveLength(1);
      }
      expect(events.filter((e) => e === "completed").length, `${uid}: ${events.join(" ")}`).toBeLessThanOrEqual(1);
      expect((await readLog(job)).split("ran").length - 1, `${uid} ran`).toBeLessThanOrEqual(1);
      // A failure is the job's own (exit 3) or a supervisor this test killed: never an interrupted start.
      if (job.status === "failed") expect(job.meta.error_message ?? "").toMatch(/exited with code 3|without a result|interrupted/);
      // The audit agrees with the folder.
      expect(events.at(-1) === "completed", `${uid}: ${events.join(" ")}`).toBe(job.status === "completed");
    }
    expect((await verifyAudit(world.paths)).ok).toBe(true);
    // Nothing left behind: no run folder, stage, journal entry, intake note or temp file; no process.
    expect(await fs.readdir(world.paths.runs).catch(() => [])).toEqual([]);
    expect(await fs.readdir(path.join(world.paths.state, "journal")).catch(() => [])).toEqual([]);
    expect(await fs.readdir(path.join(world.paths.state, "intake")).catch(() => [])).toEqual([]);
    expect(await leftTempFiles(world)).toEqual([]);
    expect((await execa("pgrep", ["-f", world.root], { reject: false })).stdout).toBe("");
    console.log(
      `chaos (seed ${SEED}): ${killedPasses} passes and ${killedSupervisors} supervisors killed, one reboot; ${approved.length + refused.length + forged.length} jobs, none lost`,
    );
  }, 240_000);
});
