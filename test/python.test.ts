// Both ways with the Python syft-code-queue client: what we write in jobs/ parses in its CodeJob
// model and compares with its own naive times; what it writes (naive local times from another zone,
// its own approve moving a folder) is read right and never left stuck.
import fs from "fs-extra";
import path from "node:path";
import { describe, expect, test } from "vitest";
import * as z from "zod";
import { readAudit } from "../lib/queue/audit.ts";
import { decide } from "../lib/approval/decisions.ts";
import { jobDir } from "../lib/core/paths.ts";
import { leftNothing } from "../lib/pass/inputs.ts";
import { makeWorld, runScript, worldArgs, type World } from "./helpers.ts";
import { writePythonJob } from "./python-job.ts";

/**
 * The fields and types of the Python client's CodeJob (pydantic 2), copied from its model: uid a UUID,
 * code_folder a required Path, the datetimes parsed by datetime.fromisoformat, the rest optional with
 * defaults. Python compares the datetimes of different jobs (sorting, expiry), so they must all be of
 * one kind: naive, as the client writes its own.
 */
const NaiveDateTime = z
  .string()
  .regex(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?$/, "a naive ISO date-time, as datetime.fromisoformat reads and Python compares");
const CodeJob = z.object({
  uid: z.uuid(),
  name: z.string(),
  requester_email: z.string(),
  target_email: z.string(),
  code_folder: z.string(),
  description: z.string().nullable().optional(),
  created_at: NaiveDateTime.optional(),
  tags: z.array(z.string()).optional(),
  status: z.enum(["pending", "approved", "running", "completed", "failed", "rejected"]).optional(),
  updated_at: NaiveDateTime.optional(),
  started_at: NaiveDateTime.nullable().optional(),
  completed_at: NaiveDateTime.nullable().optional(),
  output_folder: z.string().nullable().optional(),
  error_message: z.string().nullable().optional(),
  exit_code: z.number().int().nullable().optional(),
  logs: z.string().nullable().optional(),
});

async function everyRecord(world: World): Promise<{ where: string; raw: unknown }[]> {
  const records = [];
  for (const status of ["pending", "approved", "running", "completed", "failed", "rejected"]) {
    const dir = path.join(world.paths.jobs, status);
    for (const uid of (await fs.pathExists(dir)) ? await fs.readdir(dir) : []) {
      records.push({ where: `${status}/${uid}`, raw: (await fs.readJson(path.join(dir, uid, "metadata.json"))) as unknown });
    }
  }
  return records;
}

function pythonJob(world: World, options: { offsetHours: number }): Promise<string> {
  return writePythonJob(world.paths.jobs, options);
}

/** What the Python client does when it changes a job's status: move its folder, rewrite the record with its own model (our fields dropped). */
async function movedByPython(world: World, uid: string, status: "approved" | "rejected", times: Record<string, string>): Promise<void> {
  const from = jobDir(world.paths, "pending", uid);
  const to = jobDir(world.paths, status, uid);
  const record = (await fs.readJson(path.join(from, "metadata.json"))) as Record<string, unknown>;
  await fs.mkdirp(path.dirname(to));
  await fs.move(from, to);
  const python = Object.fromEntries(Object.entries(record).filter(([k]) => Object.keys(CodeJob.shape).includes(k)));
  await fs.writeJson(path.join(to, "metadata.json"), { ...python, status, ...times });
}

describe("what we write, the Python client reads", () => {
  test("every record in jobs/ parses in CodeJob, with naive times it can compare with its own", async () => {
    const world = await makeWorld({ sandbox: { mode: "none" } });
    const done = await world.approveAndRun(await world.submit({ "run.sh": "echo ok\n" }));
    const failed = await world.approveAndRun(await world.submit({ "run.sh": "exit 3\n" }));
    const rejected = await world.submit({ "run.sh": "echo x\n" });
    await world.pass();
    await decide(world.owner, rejected, { decision: "reject", reason: "no" });
    await world.pass();
    const pending = await world.submit({ "run.sh": "echo later\n" });
    await world.pass();
    const records = await everyRecord(world);
    expect(records.map((r) => r.where.split("/")[0]).sort()).toEqual(["completed", "failed", "pending", "rejected"]);
    for (const { where, raw } of records) {
      const parsed = CodeJob.safeParse(raw);
      expect(parsed.success, `${where}: ${JSON.stringify(parsed.error?.issues)}`).toBe(true);
    }
    // Exact times stay ours, beside the shared ones.
    const record = (await fs.readJson(path.join(done.dir, "metadata.json"))) as { completed_at: string; scq_times: { completed_at: string } };
    expect(Date.parse(`${record.completed_at}Z`)).toBe(Date.parse(record.scq_times.completed_at));
    expect([done.status, failed.status, pending.length > 0]).toEqual(["completed", "failed", true]);
  });
});

describe("what the Python client writes, we read", () => {
  test("without accept_legacy_jobs, its job is rejected where it looks: in jobs/rejected/, parsing in CodeJob, with the reason", async () => {
    const world = await makeWorld({ sandbox: { mode: "none" } });
    const uid = await pythonJob(world, { offsetHours: -5 });
    await world.pass();
    const raw: unknown = await fs.readJson(path.join(jobDir(world.paths, "rejected", uid), "metadata.json"));
    const parsed = CodeJob.parse(raw);
    expect(parsed.status).toBe("rejected");
    expect(parsed.error_message).toMatch(/accept_legacy_jobs/);
  });

  test("a job still arriving in pending/ (changed in the last 10 s) waits for a later pass, and the pass that left it says it left work", async () => {
    const world = await makeWorld({ sandbox: { mode: "none" }, accept_legacy_jobs: true });
    const uid = await pythonJob(world, { offsetHours: 0 });
    // Its last file just arrived, as a sync brings a job's files one by one.
    await fs.writeFile(path.join(jobDir(world.paths, "pending", uid), "code", "more.txt"), "x\n");
    const first = await world.pass();
    expect(first.intake.waiting).toEqual([uid]);
    expect(first.intake.accepted).toEqual([]);
    // Not a pass that left nothing: run.sh's idle check must not skip the pass that takes it in.
    expect(await leftNothing(first, world.paths)).toBe(false);
    const old = new Date(Date.now() - 60_000);
    for (const p of ["code/more.txt", "code", "."]) await fs.utimes(path.join(jobDir(world.paths, "pending", uid), p), old, old);
    const second = await world.pass();
    expect(second.intake.accepted).toEqual([uid]);
    expect(second.intake.waiting).toEqual([]);
  });

  test("the permission files its syft-perm writes (beside metadata.json and beside the code) are replaced by the queue's own rules", async () => {
    const world = await makeWorld({ sandbox: { mode: "none" }, accept_legacy_jobs: true });
    const uid = await pythonJob(world, { offsetHours: 0 });
    const dir = jobDir(world.paths, "pending", uid);
    // What set_file_permissions writes: a syft.pub.yaml in the folder of each file it is given.
    const wide = "rules:\n- pattern: metadata.json\n  access:\n    read: ['*']\n    write: ['*']\n    admin: ['scientist@test.local']\n";
    for (const file of [path.join(dir, "syft.pub.yaml"), path.join(dir, "code", "syft.pub.yaml")]) {
      await fs.writeFile(file, wide.replace("metadata.json", path.dirname(file) === dir ? "metadata.json" : "run.sh"));
      const old = new Date(Date.now() - 60_000);
      await fs.utimes(file, old, old);
    }
    await fs.utimes(dir, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
    await fs.utimes(path.join(dir, "code"), new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
    const pass = await world.pass();
    const job = await world.job(uid);
    expect(job.status).toBe("pending");
    expect(pass.intake.accepted).toContain(uid);
    expect(await fs.pathExists(path.join(job.dir, "code", "syft.pub.yaml"))).toBe(false);
    const rules = await fs.readFile(path.join(job.dir, "syft.pub.yaml"), "utf8");
    expect(rules).not.toContain("'*'");
    expect(rules).toContain('read: ["scientist@test.local"]');
    expect(rules).toContain("admin: []");
  });

  test("naive local times from UTC-8 are read in that zone: a new job is not 8 hours old", async () => {
    const world = await makeWorld({ sandbox: { mode: "none" }, accept_legacy_jobs: true });
    const uid = await pythonJob(world, { offsetHours: -8 });
    await world.pass();
    const job = await world.job(uid);
    expect(job.status).toBe("pending");
    expect(job.meta.sender).toBe("unverified");
    expect(Math.abs(Date.now() - Date.parse(job.meta.created_at))).toBeLessThan(5 * 60_000);
    expect(job.meta.time_zone).toEqual({ offset_minutes: -480, source: "file mtime" });
    const shown = await runScript("scq.ts", ["job", uid, "--json", ...worldArgs(world)]);
    expect(shown.exitCode).toBe(0);
  });

  test("the Python client's own approve (folder moved to approved/, our fields gone) is sent back to pending, flagged, with one audit line", async () => {
    const world = await makeWorld({ sandbox: { mode: "none" }, accept_legacy_jobs: true });
    const uid = await pythonJob(world, { offsetHours: 0 });
    await world.pass();
    // What q.approve() does.
    const now = new Date().toISOString().replace("Z", "");
    await movedByPython(world, uid, "approved", { updated_at: now });
    await world.pass();
    const job = await world.job(uid);
    expect(job.status).toBe("pending");
    expect(job.meta.error_message).toMatch(/without a matching approval marker/);
    expect((await readAudit(world.paths)).filter((e) => e.uid === uid).map((e) => e.event)).toEqual(["submitted", "returned"]);
    expect((await runScript("scq.ts", ["job", uid, ...worldArgs(world)])).exitCode).toBe(0);
    expect((await runScript("scq.ts", ["pending", "--json", ...worldArgs(world)])).stdout).toContain(uid);
  });

  test("the Python client's cancel_job (folder moved to rejected/ by the requester's client) is recorded as cancelled and listed", async () => {
    const world = await makeWorld({ sandbox: { mode: "none" }, accept_legacy_jobs: true });
    const uid = await pythonJob(world, { offsetHours: 2 });
    await world.pass();
    // What cancel_job() does, on a clock two hours ahead of UTC.
    const now = new Date(Date.now() + 2 * 3600_000).toISOString().replace("Z", "");
    await movedByPython(world, uid, "rejected", { updated_at: now, completed_at: now });
    await world.pass();
    expect((await readAudit(world.paths)).filter((e) => e.uid === uid).map((e) => e.event)).toEqual(["submitted", "cancelled"]);
    const job = await world.job(uid);
    expect(job.meta.error_message).toMatch(/cancelled outside this app/);
    expect(Math.abs(Date.now() - Date.parse(job.meta.completed_at!))).toBeLessThan(5 * 60_000);
    const listed = await runScript("scq.ts", ["list", "--status", "rejected", "--json", ...worldArgs(world)]);
    expect((JSON.parse(listed.stdout) as { uid: string }[]).map((j) => j.uid)).toContain(uid);
    // Recorded once: later passes leave it be.
    await world.pass();
    expect((await readAudit(world.paths)).filter((e) => e.uid === uid)).toHaveLength(2);
  });

  test("a record in approved/ that cannot be read is not left stuck: back to pending, rejected by the gate with the reason, listed", async () => {
    const world = await makeWorld({ sandbox: { mode: "none" }, accept_legacy_jobs: true });
    const uid = crypto.randomUUID();
    const dir = jobDir(world.paths, "approved", uid);
    await fs.outputFile(path.join(dir, "code", "run.sh"), "echo never\n");
    await fs.writeJson(path.join(dir, "metadata.json"), { uid, status: "approved", name: 42 });
    const old = new Date(Date.now() - 5 * 60_000);
    for (const p of [path.join(dir, "code", "run.sh"), path.join(dir, "code"), path.join(dir, "metadata.json"), dir]) await fs.utimes(p, old, old);
    const pass = await runScript("process.ts", worldArgs(world));
    expect(pass.exitCode).toBe(0);
    const job = await world.job(uid);
    expect(job.status).toBe("rejected");
    expect(job.meta.error_message).toMatch(/metadata\.json field "name"/);
    expect((await readAudit(world.paths)).filter((e) => e.uid === uid).map((e) => e.event)).toEqual(["returned", "intake-rejected"]);
    const shown = await runScript("scq.ts", ["job", uid, ...worldArgs(world)]);
    expect(shown.exitCode).toBe(0);
    expect(shown.stdout).toContain("rejected");
  });
});
