// A full disk is an operating condition: each world here lives on its own small tmpfs (mounted for
// the test, so root only), filled with fallocate. The pass gives back its reserve, says "disk full at
// <folder>", still collects, decides and cleans up, starts nothing new until there is room, and a job
// whose output cannot be stored fails for that reason, its partial copy removed.
import { execa } from "execa";
import fs from "fs-extra";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, onTestFinished, test } from "vitest";
import { decide } from "../lib/approval/decisions.ts";
import { DiskFullError } from "../lib/core/errors.ts";
import { makeWorld, readLog, waitUntil, type World } from "./helpers.ts";

/** Why this machine cannot mount a tmpfs, or undefined. Under CI=true that is an error, not a skip. */
function mountProblem(): string | undefined {
  let problem: string | undefined;
  if (process.getuid?.() !== 0) problem = "mounting a small tmpfs needs root";
  if (problem && process.env.CI) throw new Error(`CI must run the disk-full tests, but: ${problem}`);
  if (problem) console.warn(`NOTICE: skipping the disk-full tests: ${problem}`);
  return problem;
}

const ready = mountProblem() === undefined;
const MB = 1024 * 1024;

describe.skipIf(!ready)("a full disk", () => {
  let mount: string;
  // A disk of its own for each test: what an earlier test's supervisor still removes as it ends
  // would give room back under the next one's full disk.
  beforeEach(async () => {
    mount = await fs.promises.mkdtemp(path.join(os.tmpdir(), "scq-small-disk-"));
    await execa("mount", ["-t", "tmpfs", "-o", "size=64m,mode=0755", "tmpfs", mount]);
  });
  afterEach(async () => {
    await execa("umount", ["-l", mount], { reject: false });
    await fs.remove(mount);
  });

  /** A world (and its stage folders) on the small disk. */
  async function smallWorld(): Promise<World> {
    const before = process.env.TMPDIR;
    process.env.TMPDIR = mount;
    onTestFinished(() => {
      if (before === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = before;
    });
    return makeWorld({ sandbox: { mode: "none" } });
  }

  /** Fill the disk until only `leaveMb` MB are free; returns how to give the room back. */
  async function fill(leaveMb: number): Promise<() => Promise<void>> {
    const stats = await fs.promises.statfs(mount);
    const free = stats.bavail * stats.bsize;
    const filler = path.join(mount, `filler-${Math.random().toString(36).slice(2)}`);
    await execa("fallocate", ["-l", String(Math.max(0, free - leaveMb * MB)), filler]);
    return () => fs.remove(filler);
  }

  test("a pass on a full disk gives back its reserve, collects a finished run, starts nothing new, and says so; with room again it goes on", async () => {
    const world = await smallWorld();
    const reserve = path.join(world.paths.state, "disk-reserve");
    expect((await fs.stat(reserve)).size).toBe(4 * MB);
    const first = await world.submit({ "run.sh": 'echo first\necho 1 > "$OUTPUT_DIR/one.txt"\n' });
    const second = await world.submit({ "run.sh": "echo second\n" });
    await world.pass();
    await decide(world.owner, first, { decision: "approve", reason: "fine" });
    await world.pass(); // starts the first
    const [runId] = await fs.readdir(world.paths.runs);
    await waitUntil(() => fs.pathExists(path.join(world.paths.runs, runId!, "result.json")), "the first job to finish");
    await decide(world.owner, second, { decision: "approve", reason: "fine" });
    const giveBack = await fill(0);
    try {
      const summary = await world.pass();
      expect(summary.disk_full).toMatch(/^disk full at .+ \(\d+\.\d MB free\)$/);
      expect(world.lines).toContainEqual(expect.stringMatching(/^disk full at .*: this pass only collects, cancels, decides and cleans up/));
      const done = await world.job(first);
      expect(done.status).toBe("completed");
      expect(await readLog(done)).toBe("first\n");
      const waiting = await world.job(second);
      expect(waiting.status).toBe("approved");
      expect(summary.started).toEqual([]);
      expect(await fs.pathExists(reserve)).toBe(false);
    } finally {
      await giveBack();
    }
    const summaries = await world.settle();
    expect(summaries[0]!.disk_full).toBeNull();
    expect((await world.job(second)).status).toBe("completed");
    expect((await fs.stat(reserve)).size).toBe(4 * MB);
  });

  test("a run whose output cannot be stored fails with that reason; its partial copy is removed", async () => {
    const world = await smallWorld();
    const uid = await world.submit({ "run.sh": 'sleep 2\nhead -c 8000000 /dev/zero > "$OUTPUT_DIR/big.bin"\necho wrote\n' });
    await world.pass();
    await decide(world.owner, uid, { decision: "approve", reason: "fine" });
    await world.pass(); // started; it writes its output in two seconds
    // Room for the job's own 8 MB in its stage, not for a second copy of them (even with the pass's
    // 4 MB reserve given back).
    const giveBack = await fill(10);
    try {
      // While the supervisor's copy fills the disk, a pass may not even get its lock written: it stops
      // with DiskFullError (exit 75, "try again later"), and the next one goes on.
      for (let tries = 0; ; tries += 1) {
        try {
          await world.settle();
          break;
        } catch (error) {
          if (!(error instanceof DiskFullError) || tries >= 20) throw error;
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
      }
      const job = await world.job(uid);
      expect(job.status).toBe("failed");
      expect(job.meta.error_message).toMatch(/^disk full at .+: its output could not be stored \(the partial copy was removed\)$/);
      expect(await fs.pathExists(path.join(world.paths.staging, uid))).toBe(false);
      expect(await fs.pathExists(path.join(job.dir, "output", "big.bin"))).toBe(false);
      expect(await fs.readdir(world.paths.runs)).toEqual([]);
    } finally {
      await giveBack();
    }
  });

  test("with no reserve and no room at all, the pass stops at its lock with exit 75 and says where the disk is full", async () => {
    const world = await smallWorld();
    await fs.remove(path.join(world.paths.state, "disk-reserve"));
    const giveBack = await fill(0);
    try {
      const { runPass } = await import("../lib/pass/pass.ts");
      const error = await runPass({ dataDir: world.dataDir, owner: world.owner.email, config: world.config, log: () => {} }).then(
        () => undefined,
        (e: unknown) => e as { exitCode?: number; message: string },
      );
      expect(error?.exitCode).toBe(75);
      expect(error?.message).toMatch(/^disk full at .+: free some space there/);
    } finally {
      await giveBack();
    }
    await world.pass();
  });
});
