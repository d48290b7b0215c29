// Both roles through the library API on two datasites in one temp data folder: the requester's view,
// cancel, wait, batch approval, output release, filters; and what the permission files grant.
import { execa } from "execa";
import fs from "fs-extra";
import path from "node:path";
import { describe, expect, test } from "vitest";
import * as api from "../lib/people/api.ts";
import { readAudit } from "../lib/queue/audit.ts";
import { decideMany } from "../lib/approval/decisions.ts";
import { JobNotFoundError, WaitTimeoutError } from "../lib/core/errors.ts";
import { mayAccess } from "./syftbox-rules.ts";
import { datasiteDir } from "../lib/core/paths.ts";
import { makeWorld, OWNER, readLog, runScript, SCIENTIST, sleeperJob, waitUntil, worldArgs } from "./helpers.ts";

describe("data scientist", () => {
  test("mine follows a job from the inbox to completed; logs and output are readable by its requester", async () => {
    const world = await makeWorld();
    const uid = await world.submit("ok", "followed");
    let [view] = await api.myJobs(undefined, world.scientist);
    expect(view).toMatchObject({ uid, owner: OWNER, role: "requester", taken_in: false, status: "pending" });
    await world.pass();
    [view] = await api.myJobs(undefined, world.scientist);
    expect(view).toMatchObject({ uid, taken_in: true, status: "pending" });
    await expect(api.getJobLogs(uid, "stdout", world.scientist)).resolves.toMatchObject({ text: null });
    await api.approve(uid, "ok", world.owner);
    await world.settle();
    expect((await api.getJob(uid.slice(-8), world.scientist)).status).toBe("completed");
    expect((await api.getJobLogs(uid, "stdout", world.scientist)).text).toBe("hello from followed\n");
    const to = path.join(world.root, "results");
    const out = await api.getJobOutput(uid, { to }, world.scientist);
    expect(out.files.map((f) => f.rel).sort()).toEqual(["answer.txt", "sub/nested.txt"]);
    expect(await fs.readFile(path.join(to, "answer.txt"), "utf8")).toBe("42\n");
    await expect(api.getJobOutput(uid, { to }, world.scientist)).rejects.toThrow(/is not empty/);
    expect(await api.myJobs("completed", world.scientist)).toHaveLength(1);
    expect(await api.myJobs("failed", world.scientist)).toHaveLength(0);
  });

  test("cancel: before intake the job is withdrawn; after intake the pass rejects it and records why", async () => {
    const world = await makeWorld();
    const early = await world.submit("ok", "early");
    expect((await api.cancel(early, "", world.scientist)).outcome).toBe("withdrawn");
    expect(await fs.pathExists(path.join(world.paths.inbox, SCIENTIST, early))).toBe(false);

    const late = await world.submit("ok", "late");
    const ran = await world.submit("ok", "ran");
    await world.pass();
    // Approved but not yet run: the cancel still wins, because the pass applies cancels before decisions.
    await api.approve(late, "", world.owner);
    expect((await api.cancel(late, "wrong dataset", world.scientist)).outcome).toBe("requested");
    const summary = await world.pass();
    expect(summary.cancelled).toEqual([late]);
    expect(summary.ran).toEqual([]);
    const job = await world.job(late);
    expect(job.status).toBe("rejected");
    expect(job.meta.error_message).toBe("cancelled by the requester: wrong dataset");
    expect(await fs.pathExists(path.join(job.dir, "output"))).toBe(false);
    expect((await readAudit(world.paths)).some((e) => e.event === "cancelled" && e.uid === late && e.by === SCIENTIST)).toBe(true);
    // Once a job has finished it can no longer be cancelled, and the owner rejects rather than cancels.
    await api.approve(ran, "", world.owner);
    await world.settle();
    await expect(api.cancel(ran, "", world.scientist)).rejects.toThrow(/has finished already/);
    await expect(api.cancel(late, "", world.owner)).rejects.toThrow(/in your own queue: reject it instead/);
  });

  test("cancel of a running job: its run is stopped, the job fails as cancelled with its partial logs", async () => {
    const world = await makeWorld();
    const sleeper = sleeperJob();
    const uid = await world.submit({ "run.sh": `echo partial\n${sleeper.pattern}\n` });
    await world.pass();
    await api.approve(uid, "", world.owner);
    await world.pass();
    const running = await world.job(uid);
    expect(running.status).toBe("running");
    await waitUntil(async () => (await readLog(running)).includes("partial"), "the job to start");
    expect((await api.cancel(uid.slice(-8), "wrong parameters", world.scientist)).outcome).toBe("requested");
    await world.settle();
    const job = await world.job(uid);
    expect(job.status).toBe("failed");
    expect(job.meta.error_message).toBe(`cancelled by ${SCIENTIST} while it ran: wrong parameters`);
    expect(job.meta.limits_hit).toEqual(["cancelled"]);
    expect(await readLog(job)).toBe("partial\n");
    expect((await execa("pgrep", ["-f", sleeper.pattern], { reject: false })).stdout).toBe("");
    expect((await readAudit(world.paths)).filter((e) => e.uid === uid).map((e) => e.event)).toEqual([
      "submitted",
      "approve-marker",
      "approved",
      "started",
      "cancelled",
    ]);
  });

  test("scq mine --watch prints each change to the requester's jobs as it happens, and stops cleanly on SIGTERM", async () => {
    const world = await makeWorld();
    const uid = await world.submit("ok", "watched");
    const watch = runScript("scq.ts", ["mine", "--watch", "--every", "0.2", ...worldArgs(world, SCIENTIST)]);
    let out = "";
    watch.stdout?.on("data", (chunk: Buffer) => (out += chunk.toString()));
    await waitUntil(() => Promise.resolve(out.includes("watched")), "the first listing");
    await world.pass();
    await waitUntil(() => Promise.resolve(out.includes("→ pending")), "the watcher to see it taken in");
    await api.approve(uid, "fine", world.owner);
    await world.settle();
    await waitUntil(() => Promise.resolve(out.includes("→ completed")), "the watcher to see it complete");
    watch.kill("SIGTERM");
    const done = await watch;
    expect(done.exitCode).toBe(0);
    const changes = out.split("\n").filter((l) => l.includes(" → "));
    // Every change it saw, in order (a poll may fall between two quick ones, like approved and running).
    const seen = changes.map((l) => l.replace(/^\d\d:\d\d:\d\d {2}/, ""));
    expect(seen[0]).toBe(`${uid.slice(-8)}  "watched"  submitted (not yet taken in) → pending`);
    expect(seen.at(-1)).toMatch(new RegExp(`^${uid.slice(-8)}  "watched"  (pending|approved|running) → completed$`));
  });

  test("a cancel request for someone else's job is ignored", async () => {
    const world = await makeWorld();
    const uid = await world.submit("ok");
    await world.pass();
    await fs.outputJson(path.join(world.paths.inbox, "mallory@test.local", "cancel", `${uid}.json`), { uid, at: new Date().toISOString() });
    await world.pass();
    expect((await world.job(uid)).status).toBe("pending");
    expect(world.lines.some((l) => l.includes("only its requester can cancel a job"))).toBe(true);
  });

  test("waitForCompletion reports each state and returns the finished job; it times out on a job nobody approves", async () => {
    const world = await makeWorld();
    const uid = await world.submit("ok");
    const seen: string[] = [];
    const waiting = api.waitForCompletion(
      uid,
      { intervalMs: 50, onChange: (j) => seen.push(`${j.status}${j.taken_in ? "" : " (inbox)"}`) },
      world.scientist,
    );
    await world.pass();
    await api.approve(uid, "", world.owner);
    await world.settle();
    const done = await waiting;
    expect(done.status).toBe("completed");
    expect(seen[0]).toBe("pending (inbox)");
    expect(seen.at(-1)).toBe("completed");
    const stuck = await world.submit("ok");
    await expect(api.waitForCompletion(stuck, { timeoutMs: 300, intervalMs: 50 }, world.scientist)).rejects.toThrow(WaitTimeoutError);
    await expect(api.waitForCompletion("0123abcd", { timeoutMs: 300 }, world.scientist)).rejects.toThrow(JobNotFoundError);
  });

  test("a job in transit (out of the inbox, not yet visible in the queue) does not end a wait", async () => {
    const world = await makeWorld();
    const uid = await world.submit("ok");
    const inbox = path.join(world.paths.inbox, SCIENTIST, uid);
    const aside = path.join(world.root, "in-transit");
    const waiting = api.waitForCompletion(uid, { intervalMs: 50, timeoutMs: 20_000 }, world.scientist);
    await new Promise((r) => setTimeout(r, 150));
    await fs.move(inbox, aside); // as SyftBox shows it: gone from the inbox, nowhere else yet
    await new Promise((r) => setTimeout(r, 300));
    await fs.move(aside, inbox);
    await world.pass();
    await api.approve(uid, "", world.owner);
    await world.settle();
    expect((await waiting).status).toBe("completed");
  });

  test("a job renamed by a pass while it is being listed is listed once, in its new state", async () => {
    const world = await makeWorld();
    const uid = await world.submit("ok");
    await world.pass();
    const job = await world.job(uid);
    // The same job in two status folders is what a listing sees when the rename lands between its reads.
    await fs.copy(job.dir, path.join(world.paths.jobs, "approved", uid));
    expect((await api.myJobs(undefined, world.scientist)).filter((j) => j.uid === uid).map((j) => j.status)).toEqual(["approved"]);
    expect((await api.getJob(uid.slice(-8), world.scientist)).status).toBe("approved");
    expect((await api.getJob(uid.slice(-8), world.owner)).uid).toBe(uid);
  });
});

describe("data owner", () => {
  test("filters, batch approval of every pending job from one requester, near matches", async () => {
    const world = await makeWorld();
    const a = await world.submit("ok", "alpha analysis");
    const b = await world.submit("ok", "beta analysis");
    await world.pass();
    expect((await api.pendingForMe({ search: "ALPHA" }, world.owner)).map((j) => j.uid)).toEqual([a]);
    expect(await api.allJobsForMe({ limit: 1 }, world.owner)).toHaveLength(1);
    expect(await api.allJobsForMe({ from: "nobody@test.local" }, world.owner)).toHaveLength(0);

    const cli = await runScript("scq.ts", ["approve", "--all-pending", "--from", SCIENTIST, "-r", "batch", "--json", ...worldArgs(world)]);
    expect(cli.exitCode).toBe(0);
    expect((JSON.parse(cli.stdout) as { job: string }[]).map((r) => r.job).sort()).toEqual([a, b].sort());
    await world.settle();
    const [doneA, doneB] = [await world.job(a), await world.job(b)];
    expect([doneA.status, doneB.status]).toEqual(["completed", "completed"]);
    // One moment for the batch, and its jobs started in the order they were sent.
    expect(doneA.meta.decision!.at).toBe(doneB.meta.decision!.at);
    expect(doneA.meta.started_at! <= doneB.meta.started_at!).toBe(true);

    // A job named twice in one batch (by its short form and by its uid) is decided once.
    const c = await world.submit("ok", "gamma");
    await world.pass();
    const twice = await decideMany(world.owner, [c.slice(-8), c], { decision: "approve" });
    expect(twice.map((o) => o.ok)).toEqual([true, false]);
    expect(twice[1]!.error).toMatch(/named more than once/);
    expect((await readAudit(world.paths)).filter((e) => e.uid === c && e.event === "approve-marker")).toHaveLength(1);

    // A typo in the 8 characters listings show.
    const typo = `${a.slice(-8, -1)}${a.at(-1) === "0" ? "1" : "0"}`;
    await expect(api.getJob(typo, world.owner)).rejects.toThrow(JobNotFoundError);
    await expect(api.getJob(typo, world.owner)).rejects.toThrow(`Did you mean ${a.slice(-8)}`);
    await expect(api.getJob("", world.owner)).rejects.toThrow(JobNotFoundError);
  });

  test('release "review": output and logs stay with the owner until released, then reach the requester', async () => {
    const world = await makeWorld({ release: "review" });
    const job = await world.approveAndRun(await world.submit("ok", "sensitive"));
    expect(job.status).toBe("completed");
    expect(job.meta.output_review).toBe("pending");
    expect(await fs.pathExists(path.join(job.dir, "output"))).toBe(false);
    expect(await fs.pathExists(path.join(job.dir, "run-logs"))).toBe(false);
    await expect(api.getJobLogs(job.uid, "stdout", world.scientist)).rejects.toThrow(/await the owner's review/);
    await expect(api.getJobOutput(job.uid, {}, world.scientist)).rejects.toThrow(/await the owner's review/);
    // The owner looks first.
    expect((await api.getJobLogs(job.uid, "stdout", world.owner)).text).toBe("hello from sensitive\n");
    expect((await api.getJobOutput(job.uid, {}, world.owner)).files).toHaveLength(2);
    // Staging is owner-only.
    const staged = path.join(world.paths.staging, job.uid, "output", "answer.txt");
    expect(await mayAccess(datasiteDir(world.dataDir, OWNER), OWNER, staged, SCIENTIST, "read")).toBe(false);

    const released = await api.release(job.uid, {}, world.owner);
    expect(released.meta.output_review).toBe("released");
    expect((await api.getJobLogs(job.uid, "stdout", world.scientist)).text).toBe("hello from sensitive\n");
    expect(await fs.readFile(path.join(job.dir, "output", "answer.txt"), "utf8")).toBe("42\n");
    await expect(api.release(job.uid, {}, world.owner)).rejects.toThrow(/released already/);
    expect((await readAudit(world.paths)).some((e) => e.event === "released" && e.uid === job.uid)).toBe(true);
  });

  test("status counts jobs per state and reports the last pass", async () => {
    const world = await makeWorld();
    await world.submit("ok");
    await world.pass();
    const s = await api.status(world.owner);
    expect(s.counts).toEqual({ pending: 1, approved: 0, running: 0, completed: 0, failed: 0, rejected: 0 });
    const job = await world.job((await api.pendingForMe({}, world.owner))[0]!.uid);
    expect(s.oldest_pending).toBe(job.meta.created_at);
    expect(Date.now() - Date.parse(s.last_pass?.finished_at ?? "")).toBeLessThan(60_000);
    expect(s.settings).toMatchObject({ file: world.configFile, sandbox: world.config.sandbox.mode, job_timeout: world.config.job_timeout });
  });
});

describe("SyftBox permissions written by the pass", () => {
  test("a requester may write only their own inbox, read only their own jobs, never decisions or the audit log", async () => {
    const world = await makeWorld();
    const uid = await world.approveAndRun(await world.submit("ok")).then((j) => j.uid);
    const site = datasiteDir(world.dataDir, OWNER);
    const q = world.paths.root;
    const can = (file: string, user: string, kind: "read" | "write") => mayAccess(site, OWNER, path.join(q, file), user, kind);
    const other = "other@test.local";

    expect(await can(`inbox/${SCIENTIST}/x/metadata.json`, SCIENTIST, "write")).toBe(true);
    expect(await can(`inbox/${SCIENTIST}/x/code/run.sh`, SCIENTIST, "read")).toBe(true);
    expect(await can(`inbox/${other}/x/metadata.json`, SCIENTIST, "write")).toBe(false);
    expect(await can(`decisions/${uid}.json`, SCIENTIST, "write")).toBe(false);
    expect(await can(`decisions/${uid}.json`, SCIENTIST, "read")).toBe(false);
    expect(await can("audit.jsonl", SCIENTIST, "read")).toBe(false);
    expect(await can(`jobs/pending/${uid}/metadata.json`, SCIENTIST, "write")).toBe(false);

    expect(await can(`jobs/completed/${uid}/output/answer.txt`, SCIENTIST, "read")).toBe(true);
    expect(await can(`jobs/completed/${uid}/metadata.json`, SCIENTIST, "write")).toBe(false);
    expect(await can(`jobs/completed/${uid}/output/answer.txt`, other, "read")).toBe(false);
    expect(await can("decisions/anything.json", OWNER, "write")).toBe(true);
  });
});
