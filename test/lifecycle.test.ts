// End to end over a temp data folder with two datasites: the job lifecycle through real passes.
import { execa } from "execa";
import fs from "fs-extra";
import path from "node:path";
import { beforeAll, describe, expect, test } from "vitest";
import { verifyAudit, readAudit } from "../lib/queue/audit.ts";
import { decide } from "../lib/approval/decisions.ts";
import { AmbiguousUidError, JobNotFoundError, JobStateError, ScqError } from "../lib/core/errors.ts";
import { findJob } from "../lib/queue/jobs.ts";
import { submitJob } from "../lib/people/api.ts";
import { cleanup } from "../lib/pass/cleanup.ts";
import { uuidv7 } from "../lib/core/uid.ts";
import { runDir } from "../lib/run/executor.ts";
import { RESULT_FILE } from "../lib/run/supervisor.ts";
import { bwrapReady, makeWorld, OWNER, readLog, SCIENTIST, sleeperJob, waitUntil, writeFolder } from "./helpers.ts";

let mode: "bwrap" | "none" = "none";
beforeAll(async () => {
  mode = (await bwrapReady()) ? "bwrap" : "none";
});

describe("submit → pending → approve → completed", () => {
  test("a job runs only after approval, and its record, logs and output are right", async () => {
    const world = await makeWorld({ sandbox: { mode } });
    const uid = await world.submit("ok", "ok job");
    const inbox = path.join(world.paths.inbox, SCIENTIST, uid);
    expect(await fs.pathExists(path.join(inbox, "submitted"))).toBe(true);

    const first = await world.pass();
    expect(first.intake.accepted).toEqual([uid]);
    expect(first.pending).toBe(1);
    expect(first.ran).toEqual([]);
    expect(world.lines).toContain(`intake: ${uid.slice(-8)} from ${SCIENTIST} → pending ("ok job")`);
    expect(await fs.pathExists(inbox)).toBe(false);
    let job = await world.job(uid);
    expect(job.status).toBe("pending");
    expect(job.meta.status).toBe("pending");
    expect(job.meta.code_sha256).toMatch(/^[0-9a-f]{64}$/);

    // Another pass without a decision runs nothing.
    expect((await world.pass()).ran).toEqual([]);
    expect((await world.job(uid)).status).toBe("pending");

    const { marker } = await decide(world.owner, uid.slice(-8), { decision: "approve", reason: "looks fine" });
    expect(marker.code_sha256).toBe(job.meta.code_sha256);
    const summary = await world.pass();
    expect(summary.decided).toEqual([{ uid, to: "approved" }]);
    // The pass starts the run and ends; a later pass collects it.
    expect(summary.started).toEqual([uid]);
    expect(summary.ran).toEqual([]);
    const running = await world.job(uid);
    expect(running.status).toBe("running");
    expect(running.meta.run).toMatchObject({ executor: "local", pid: expect.any(Number) as number });
    const later = await world.settle();
    expect(later.flatMap((s) => s.ran)).toEqual([{ uid, status: "completed", message: "completed" }]);

    job = await world.job(uid);
    expect(job.status).toBe("completed");
    expect(job.meta).toMatchObject({
      status: "completed",
      exit_code: 0,
      timed_out: false,
      error_message: null,
      output_folder: "output",
      sandbox: mode,
      requester_email: SCIENTIST,
      target_email: OWNER,
      decision: { by: OWNER, reason: "looks fine" },
    });
    expect(job.meta.limits?.timeout_s).toBe(world.config.job_timeout);
    expect(job.meta.duration_ms).toBeGreaterThanOrEqual(0);
    expect(Date.parse(job.meta.completed_at!)).toBeGreaterThanOrEqual(Date.parse(job.meta.started_at!));
    expect(await readLog(job)).toBe("hello from ok job\n");
    expect(await readLog(job, "stderr")).toBe("an error line\n");
    expect(await fs.readFile(path.join(job.dir, "output", "answer.txt"), "utf8")).toBe("42\n");
    expect(await fs.readFile(path.join(job.dir, "output", "sub", "nested.txt"), "utf8")).toBe("nested\n");
    // The job folder is readable by its requester only.
    expect(await fs.readFile(path.join(job.dir, "syft.pub.yaml"), "utf8")).toContain(`read: ["${SCIENTIST}"]`);

    const events = (await readAudit(world.paths)).filter((e) => e.uid === uid).map((e) => e.event);
    expect(events).toEqual(["submitted", "approve-marker", "approved", "started", "completed"]);
    expect(await verifyAudit(world.paths)).toMatchObject({ ok: true, lines: 5 });
  });

  test("reject: the job never runs and the requester sees the reason", async () => {
    const world = await makeWorld({ sandbox: { mode } });
    const uid = await world.submit("ok");
    await world.pass();
    await expect(decide(world.owner, uid, { decision: "reject" })).rejects.toThrow(/needs a reason/);
    await decide(world.owner, uid, { decision: "reject", reason: "reads raw rows" });
    const summary = await world.pass();
    expect(summary.decided).toEqual([{ uid, to: "rejected" }]);
    const job = await world.job(uid);
    expect(job.status).toBe("rejected");
    expect(job.meta.error_message).toBe(`rejected by ${OWNER}: reads raw rows`);
    expect(await fs.pathExists(path.join(job.dir, "run-logs"))).toBe(false);
  });

  test("a failing job records its exit code and an error message", async () => {
    const world = await makeWorld({ sandbox: { mode } });
    const job = await world.approveAndRun(await world.submit("fail"));
    expect(job.status).toBe("failed");
    expect(job.meta.exit_code).toBe(3);
    expect(job.meta.error_message).toBe("exited with code 3; see run-logs/stderr.txt");
    expect(await readLog(job, "stderr")).toBe("about to fail\n");
  });

  test("a job past job_timeout is killed with all its processes and marked timed_out", async () => {
    const world = await makeWorld({ sandbox: { mode }, job_timeout: 2 });
    const started = Date.now();
    const sleeper = sleeperJob();
    const job = await world.approveAndRun(await world.submit(sleeper.files));
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(job.status).toBe("failed");
    expect(job.meta.timed_out).toBe(true);
    expect(job.meta.error_message).toMatch(/^timed out after 2 seconds/);
    expect(await readLog(job)).toBe("started\n");
    const { stdout } = await execa("pgrep", ["-f", sleeper.pattern], { reject: false });
    expect(stdout).toBe("");
  });

  test("no more than max_concurrent_jobs run at once", async () => {
    const world = await makeWorld({ sandbox: { mode }, max_concurrent_jobs: 2 });
    const uids: string[] = [];
    for (let i = 0; i < 5; i += 1) uids.push(await world.submit({ "run.sh": "sleep 1\n" }, `sleeper ${i}`));
    await world.pass();
    for (const uid of uids) await decide(world.owner, uid, { decision: "approve" });
    const started = Date.now();
    const first = await world.pass();
    expect(first.started).toHaveLength(2);
    expect(first.running).toBe(2);
    await world.settle();
    const spans = await Promise.all(uids.map(async (uid) => (await world.job(uid)).meta));
    expect(spans.every((m) => m.status === "completed")).toBe(true);
    let most = 0;
    for (const s of spans) {
      const t = Date.parse(s.started_at!) + 1;
      const overlapping = spans.filter((o) => Date.parse(o.started_at!) <= t && Date.parse(o.started_at!) + o.duration_ms! > t).length;
      most = Math.max(most, overlapping);
    }
    expect(most).toBe(2);
    // Five one-second jobs two at a time take at least three seconds.
    expect(Date.now() - started).toBeGreaterThanOrEqual(3000);
  });

  test("a run's end frees its slot at once: the pass that finds it ended starts the next job, then collects it", async () => {
    const world = await makeWorld({ sandbox: { mode }, max_concurrent_jobs: 1 });
    const first = await world.submit({ "run.sh": "echo a > $OUTPUT_DIR/a.txt\n" }, "first");
    const second = await world.submit({ "run.sh": "sleep 1\n" }, "second");
    await world.pass();
    for (const uid of [first, second]) await decide(world.owner, uid, { decision: "approve" });
    expect((await world.pass()).started).toEqual([first]);
    const run = (await world.job(first)).meta.run!;
    await waitUntil(() => fs.pathExists(path.join(runDir(world.paths, run.run_id), RESULT_FILE)), "the first run's result");
    const pass = await world.pass();
    expect(pass.started).toEqual([second]);
    expect(pass.ran).toEqual([{ uid: first, status: "completed", message: "completed" }]);
    const [a, b] = [await world.job(first), await world.job(second)];
    // Started before the ended run's output was checked and its job moved: never more than one sandbox at once all the same.
    expect(Date.parse(b.meta.started_at!)).toBeLessThanOrEqual(Date.parse(a.meta.completed_at!));
    expect(world.lines.findIndex((l) => l.includes(`${second.slice(-8)} "second" started`))).toBeLessThan(
      world.lines.findIndex((l) => l.includes(`${first.slice(-8)} completed`)),
    );
    expect(await fs.readFile(path.join(a.dir, "output", "a.txt"), "utf8")).toBe("a\n");
    await world.settle();
    expect((await world.job(second)).status).toBe("completed");
  });
});

describe("decisions", () => {
  test("code changed after approval is refused and never runs", async () => {
    const world = await makeWorld({ sandbox: { mode } });
    const uid = await world.submit({ "run.sh": "echo original > $OUTPUT_DIR/ran.txt\n" });
    await world.pass();
    await decide(world.owner, uid, { decision: "approve" });
    const pending = await world.job(uid);
    await fs.writeFile(path.join(pending.dir, "code", "run.sh"), "echo swapped > $OUTPUT_DIR/ran.txt\n");
    const summary = await world.pass();
    expect(summary.decided).toEqual([{ uid, to: "failed" }]);
    const job = await world.job(uid);
    expect(job.status).toBe("failed");
    expect(job.meta.error_message).toMatch(/^code changed after approval/);
    expect(await fs.pathExists(path.join(job.dir, "output"))).toBe(false);
  });

  test("approve of a job that is not pending, or unknown, or ambiguous is a clear error", async () => {
    const world = await makeWorld({ sandbox: { mode } });
    const uid = await world.approveAndRun(await world.submit("ok")).then((j) => j.uid);
    await expect(decide(world.owner, uid, { decision: "approve" })).rejects.toThrow(JobStateError);
    await expect(decide(world.owner, uid, { decision: "approve" })).rejects.toThrow(/is completed, not pending/);
    await expect(decide(world.owner, "deadbeef", { decision: "approve" })).rejects.toThrow(JobNotFoundError);
    // Two jobs whose uids share a prefix.
    for (const suffix of ["1", "2"]) {
      const dir = path.join(world.paths.jobs, "pending", `abcd000${suffix}-0000-4000-8000-000000000000`);
      await fs.mkdirp(dir);
    }
    await expect(findJob(world.paths, "abcd")).rejects.toThrow(AmbiguousUidError);
    await expect(findJob(world.paths, "abcd")).rejects.toThrow(/matches 2 jobs/);
    // The start of a v7 uid is its submission time: a typo there never approves the job sent last.
    const fresh = await world.submit("ok");
    await world.pass();
    await expect(decide(world.owner, fresh.slice(0, 4), { decision: "approve" })).rejects.toThrow(/only its submission time/);
    await expect(decide(world.owner, fresh.slice(0, 13), { decision: "approve" })).rejects.toThrow(JobNotFoundError);
    expect((await world.job(fresh)).status).toBe("pending");
  });

  test("a second decision on the same job is refused until the pass applies the first", async () => {
    const world = await makeWorld({ sandbox: { mode } });
    const uid = await world.submit("ok");
    await world.pass();
    await decide(world.owner, uid, { decision: "approve" });
    await expect(decide(world.owner, uid, { decision: "reject", reason: "changed my mind" })).rejects.toThrow(/already has a decision/);
  });
});

describe("intake", () => {
  test("an inbox folder without the submitted marker is left alone", async () => {
    const world = await makeWorld({ sandbox: { mode } });
    const uid = await world.submit("ok");
    const inbox = path.join(world.paths.inbox, SCIENTIST, uid);
    await fs.remove(path.join(inbox, "submitted"));
    const summary = await world.pass();
    expect(summary.intake).toEqual({ accepted: [], rejected: [], waiting: [] });
    expect(await fs.pathExists(path.join(inbox, "code", "run.sh"))).toBe(true);
    await fs.writeFile(path.join(inbox, "submitted"), "{}");
    expect((await world.pass()).intake.accepted).toEqual([uid]);
  });

  test("malformed metadata.json is rejected at intake (past intake_grace) with a message; other jobs are unaffected", async () => {
    const world = await makeWorld({ sandbox: { mode }, intake_grace: 0 });
    const bad = await world.submit("ok", "bad one");
    const good = await world.submit("ok", "good one");
    await fs.writeFile(path.join(world.paths.inbox, SCIENTIST, bad, "metadata.json"), '{"uid": "' + bad + '", "name": 42');
    const summary = await world.pass();
    expect(summary.intake.accepted).toEqual([good]);
    expect(summary.intake.rejected.map((r) => r.uid)).toEqual([bad]);
    const job = await world.job(bad);
    expect(job.status).toBe("rejected");
    expect(job.meta.error_message).toMatch(/^rejected at intake: metadata.json is not valid JSON/);
    expect(await fs.pathExists(path.join(job.dir, "code"))).toBe(false);
    expect((await world.job(good)).status).toBe("pending");
  });

  test("a schema violation names the field", async () => {
    const world = await makeWorld({ sandbox: { mode } });
    const uid = await world.submit("ok");
    const file = path.join(world.paths.inbox, SCIENTIST, uid, "metadata.json");
    await fs.writeJson(file, { ...(await fs.readJson(file)), tags: "not-a-list" });
    await world.pass();
    expect((await world.job(uid)).meta.error_message).toMatch(/field "tags": Invalid input: expected array/);
  });

  test("submit refuses a folder without run.sh and names what to do", async () => {
    const world = await makeWorld({ sandbox: { mode } });
    const folder = await writeFolder(path.join(world.root, "norun"), { "main.py": "print(1)\n" });
    await expect(submitJob({ to: OWNER, folder, name: "x" }, world.scientist)).rejects.toThrow(/has no run.sh/);
    await expect(submitJob({ to: "nobody@else.org", folder: path.join(world.root, "norun"), name: "x" }, world.scientist)).rejects.toThrow(ScqError);
  });
});

describe("cleanup and expiry", () => {
  test("cleanup removes old terminal jobs only; pending ones expire after pending_expire_after", async () => {
    const world = await makeWorld({ sandbox: { mode }, cleanup_completed_after: 3600, pending_expire_after: 7200 });
    const oldDone = await world.approveAndRun(await world.submit("ok", "old"));
    const newDone = await world.approveAndRun(await world.submit("ok", "new"));
    const oldPending = await world.submit("ok", "old pending");
    const newPending = await world.submit("ok", "new pending");
    await world.pass();
    // The sweep runs two hours from now: what changed now is two hours old then, except what is touched "then".
    const later = Date.now() + 2 * 3600_000;
    await fs.utimes(path.join(newDone.dir, "metadata.json"), new Date(later), new Date(later));
    const stale = await world.job(oldPending);
    // Records written by hand carry their times as given (no exact copies beside them: scq_times).
    await fs.writeJson(path.join(stale.dir, "metadata.json"), {
      ...stale.meta,
      scq_times: undefined,
      updated_at: new Date(Date.now() - 3600_000).toISOString(),
    });
    const fresh = await world.job(newPending);
    await fs.writeJson(path.join(fresh.dir, "metadata.json"), { ...fresh.meta, scq_times: undefined, updated_at: new Date(later).toISOString() });
    await fs.remove(path.join(world.paths.state, "last-sweep.json"));

    const summary = await cleanup(world.paths, world.config, (line) => world.lines.push(line), later);
    expect(summary.removed).toEqual([oldDone.uid]);
    expect(summary.expired).toEqual([oldPending]);
    await expect(world.job(oldDone.uid)).rejects.toThrow(/in no status folder/);
    expect((await world.job(newDone.uid)).status).toBe("completed");
    expect((await world.job(newPending)).status).toBe("pending");
    const expired = await world.job(oldPending);
    expect(expired.status).toBe("rejected");
    expect(expired.meta.error_message).toMatch(/^expired: not reviewed within/);
    expect(await fs.pathExists(path.join(world.paths.decisions, `${oldDone.uid}.json`))).toBe(false);
    expect(await fs.pathExists(path.join(world.paths.decisions, `${newDone.uid}.json`))).toBe(true);
  });

  test("retention goes by the owner's clock: a job whose uid claims a time 10 years ahead is still cleaned up", async () => {
    const world = await makeWorld({ sandbox: { mode }, cleanup_completed_after: 3600 });
    // A requester's clock 10 years fast: the time in its uid (the first 48 bits) is in the future.
    const ahead = (Date.now() + 10 * 365 * 86_400_000).toString(16).padStart(12, "0");
    const real = uuidv7();
    const uid = `${ahead.slice(0, 8)}-${ahead.slice(8, 12)}${real.slice(13)}`;
    const dir = path.join(world.paths.inbox, SCIENTIST, uid);
    await fs.outputFile(path.join(dir, "code", "run.sh"), "echo hi\n");
    await fs.writeJson(path.join(dir, "metadata.json"), {
      uid,
      name: "fast clock",
      requester_email: SCIENTIST,
      target_email: OWNER,
      created_at: new Date().toISOString(),
    });
    await fs.writeFile(path.join(dir, "submitted"), "");
    await world.pass();
    await decide(world.owner, uid, { decision: "reject", reason: "no" });
    await world.pass();
    expect((await world.job(uid)).status).toBe("rejected");
    await fs.remove(path.join(world.paths.state, "last-sweep.json"));
    const summary = await cleanup(world.paths, world.config, (line) => world.lines.push(line), Date.now() + 2 * 3600_000);
    expect(summary.removed).toEqual([uid]);
  });
});
