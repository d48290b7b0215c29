// Every state change goes through lifecycle.ts and writes exactly one audit line per folder move:
// each edge of the transition table, recovery of a half-done change, and the correction of a forged
// approved/ folder, on real folders.
import { randomUUID } from "node:crypto";
import fs from "fs-extra";
import path from "node:path";
import { describe, expect, test } from "vitest";
import { readAudit } from "../lib/queue/audit.ts";
import { readJob } from "../lib/queue/jobs.ts";
import { canTransition, TRANSITIONS, transition } from "../lib/queue/lifecycle.ts";
import { jobDir } from "../lib/core/paths.ts";
import { JOB_STATUSES, JobMetadataSchema, type JobStatus } from "../lib/core/schemas.ts";
import { makeWorld, OWNER, SCIENTIST, type World } from "./helpers.ts";

async function plant(world: World, status: JobStatus, metaStatus: JobStatus = status): Promise<string> {
  const uid = randomUUID();
  const dir = jobDir(world.paths, status, uid);
  await fs.outputFile(path.join(dir, "code", "run.sh"), "echo hi\n");
  const at = new Date().toISOString();
  await fs.writeJson(
    path.join(dir, "metadata.json"),
    JobMetadataSchema.parse({
      uid,
      name: "planted",
      requester_email: SCIENTIST,
      target_email: OWNER,
      status: metaStatus,
      created_at: at,
      updated_at: at,
    }),
  );
  return uid;
}

async function linesFor(world: World, uid: string): Promise<string[]> {
  return (await readAudit(world.paths)).filter((e) => e.uid === uid).map((e) => e.event);
}

describe("the transition table", () => {
  const edges = JOB_STATUSES.flatMap((from) => (TRANSITIONS[from] as readonly JobStatus[]).map((to) => [from, to] as const));

  test.each(edges)("%s → %s: the folder moves, the record says so, one audit line", async (from, to) => {
    const world = await makeWorld();
    const uid = await plant(world, from);
    const lines: string[] = [];
    const moved = await transition(
      { paths: world.paths, log: (l) => lines.push(l) },
      await readJob(world.paths, from, uid),
      to,
      {},
      { event: "recovered", say: "moved" },
    );
    expect(moved.status).toBe(to);
    expect(await fs.pathExists(jobDir(world.paths, from, uid))).toBe(false);
    expect((await readJob(world.paths, to, uid)).meta.status).toBe(to);
    expect(await linesFor(world, uid)).toEqual(["recovered"]);
    expect(lines).toEqual([`${uid.slice(-8)} moved`]);
  });

  test("every move that is not in the table is refused as a bug, and nothing is written", async () => {
    const world = await makeWorld();
    for (const from of JOB_STATUSES) {
      for (const to of JOB_STATUSES.filter((t) => !canTransition(from, t))) {
        const uid = await plant(world, from);
        await expect(
          transition({ paths: world.paths, log: () => {} }, await readJob(world.paths, from, uid), to, {}, { event: "recovered", say: "x" }),
        ).rejects.toThrow(/BUG: .* cannot go from/);
        expect(await fs.pathExists(jobDir(world.paths, from, uid))).toBe(true);
        expect(await linesFor(world, uid)).toEqual([]);
      }
    }
  });
});

describe("one audit line per folder move in real passes", () => {
  test("submit → pending → approved → running → completed: one line per move, plus the owner's marker", async () => {
    const world = await makeWorld({ sandbox: { mode: "none" } });
    const job = await world.approveAndRun(await world.submit({ "run.sh": "echo ok\n" }));
    expect(job.status).toBe("completed");
    expect(await linesFor(world, job.uid)).toEqual(["submitted", "approve-marker", "approved", "started", "completed"]);
  });

  test("recovery: a half-done change is finished or undone with one line; a job left running becomes failed with one line", async () => {
    const world = await makeWorld({ sandbox: { mode: "none" } });
    const halfRejected = await plant(world, "pending", "rejected"); // metadata written, folder not moved:
    await fs.outputJson(path.join(world.paths.state, "journal", `${halfRejected}.json`), {
      uid: halfRejected,
      from: "pending",
      to: "rejected",
      at: new Date().toISOString(),
      change: { event: "rejected", say: "rejected" },
    }); // ...and the journal entry a crash leaves
    const halfRunning = await plant(world, "approved", "running"); // undone: it never ran
    const orphan = await plant(world, "running");
    await world.pass();
    expect((await world.job(halfRejected)).status).toBe("rejected");
    expect(await linesFor(world, halfRejected)).toEqual(["recovered"]);
    // Undone to approved, then sent back to pending (no marker): two changes, two lines, one folder move.
    expect((await world.job(halfRunning)).status).toBe("pending");
    expect(await linesFor(world, halfRunning)).toEqual(["recovered", "returned"]);
    expect((await world.job(orphan)).status).toBe("failed");
    expect(await linesFor(world, orphan)).toEqual(["recovered"]);
  });

  test("a folder forged into approved/ goes back to pending with one line and never runs", async () => {
    const world = await makeWorld({ sandbox: { mode: "none" } });
    const forged = await plant(world, "approved");
    await world.pass();
    const job = await world.job(forged);
    expect(job.status).toBe("pending");
    expect(job.meta.error_message).toMatch(/without a matching approval marker/);
    expect(await linesFor(world, forged)).toEqual(["returned"]);
  });
});
