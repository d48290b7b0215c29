// SyftBox sync realities and the Python syft-code-queue's jobs: folders arriving file by file, half
// written files, conflict copies and temp files, folders vanishing, and jobs written straight into
// jobs/pending/ by Python clients (fixtures written from that client's documented fields).
import fs from "fs-extra";
import path from "node:path";
import { describe, expect, test } from "vitest";
import * as api from "../lib/people/api.ts";
import { decide } from "../lib/approval/decisions.ts";
import { readAudit } from "../lib/queue/audit.ts";
import { MAX_INTAKE_PER_PASS } from "../lib/pass/intake.ts";
import { uuidv7 } from "../lib/core/uid.ts";
import { makeWorld, OWNER, readLog, SCIENTIST, type World } from "./helpers.ts";
import { writePythonJob } from "./python-job.ts";

const inboxDir = (world: World, uid: string) => path.join(world.paths.inbox, SCIENTIST, uid);

describe("sync realities", () => {
  test("a job whose files arrive over several passes is taken in only when complete", async () => {
    const world = await makeWorld();
    const uid = await world.submit({ "run.sh": "bash helper.sh\n", "helper.sh": "echo helped > $OUTPUT_DIR/h.txt\n" });
    const helper = path.join(inboxDir(world, uid), "code", "helper.sh");
    const kept = await fs.readFile(helper);
    await fs.remove(helper); // not synced yet
    expect((await world.pass()).intake.accepted).toEqual([]);
    expect(await fs.pathExists(inboxDir(world, uid))).toBe(true);
    await fs.writeFile(helper, kept.subarray(0, 5)); // half synced
    expect((await world.pass()).intake.accepted).toEqual([]);
    await fs.writeFile(helper, kept);
    expect((await world.pass()).intake.accepted).toEqual([uid]);
    const job = await world.approveAndRun(uid);
    expect(await fs.readFile(path.join(job.dir, "output", "h.txt"), "utf8")).toBe("helped\n");
  });

  test("past intake_grace, a submission still missing files is rejected as incomplete", async () => {
    const world = await makeWorld({ intake_grace: 0 });
    const uid = await world.submit({ "run.sh": "bash helper.sh\n", "helper.sh": "echo hi\n" });
    await fs.remove(path.join(inboxDir(world, uid), "code", "helper.sh"));
    await world.pass();
    expect((await world.job(uid)).meta.error_message).toBe(
      "rejected at intake: code/ does not match the manifest in the submitted marker: files are missing or changed (incomplete sync?); submit again",
    );
  });

  test("a half-written metadata.json is retried next pass, then rejected with a clear reason after intake_grace", async () => {
    const world = await makeWorld({ intake_grace: 3600 });
    const uid = await world.submit("ok");
    const file = path.join(inboxDir(world, uid), "metadata.json");
    const whole = await fs.readFile(file, "utf8");
    await fs.writeFile(file, whole.slice(0, 40));
    expect((await world.pass()).intake).toEqual({ accepted: [], rejected: [], waiting: [] });
    await fs.writeFile(file, whole);
    expect((await world.pass()).intake.accepted).toEqual([uid]);

    const late = await world.submit("ok");
    const lateFile = path.join(inboxDir(world, late), "metadata.json");
    await fs.writeFile(lateFile, (await fs.readFile(lateFile, "utf8")).slice(0, 40));
    // Nothing more arrived for longer than the grace: the folder and everything in it are old.
    const longAgo = new Date(Date.now() - 2 * 3600_000);
    for (const f of [...((await fs.readdir(inboxDir(world, late), { recursive: true })) as string[]), "."]) {
      await fs.utimes(path.join(inboxDir(world, late), f), longAgo, longAgo);
    }
    const summary = await world.pass();
    expect(summary.intake.rejected.map((r) => r.uid)).toEqual([late]);
    expect((await world.job(late)).meta.error_message).toMatch(/^rejected at intake: metadata.json is not valid JSON/);
    expect(world.lines.some((l) => l.includes("still incomplete after intake_grace (metadata.json is missing or half written)"))).toBe(true);
  });

  test("the grace counts from the last file that arrived, not from the marker (which may sync first)", async () => {
    const world = await makeWorld({ intake_grace: 60 });
    const uid = await world.submit({ "run.sh": "bash helper.sh\n", "helper.sh": "echo hi\n" });
    const dir = inboxDir(world, uid);
    const helper = path.join(dir, "code", "helper.sh");
    const kept = await fs.readFile(helper);
    await fs.remove(helper);
    const old = new Date(Date.now() - 3600_000);
    for (const f of ["submitted", "metadata.json", "code/run.sh", "code", "."]) await fs.utimes(path.join(dir, f), old, old);
    await fs.writeFile(path.join(dir, "code", "helper.sh"), kept.subarray(0, 3)); // arriving now
    expect((await world.pass()).intake.rejected).toEqual([]);
    await fs.writeFile(helper, kept);
    expect((await world.pass()).intake.accepted).toEqual([uid]);
  });

  test("a burst is taken in over several passes, at most MAX_INTAKE_PER_PASS a pass, oldest first, said in one line", async () => {
    const world = await makeWorld({ sandbox: { mode: "none" } });
    const total = MAX_INTAKE_PER_PASS + 12;
    const uids: string[] = [];
    for (let i = 0; i < total; i += 1) {
      const uid = uuidv7();
      uids.push(uid);
      const dir = inboxDir(world, uid);
      await fs.outputFile(path.join(dir, "code", "run.sh"), "echo hi\n");
      const at = new Date().toISOString();
      await fs.writeJson(path.join(dir, "metadata.json"), {
        uid,
        name: `burst ${i}`,
        requester_email: SCIENTIST,
        target_email: OWNER,
        created_at: at,
      });
      await fs.writeFile(path.join(dir, "submitted"), "");
    }
    const first = await world.pass();
    expect(first.intake.accepted).toHaveLength(MAX_INTAKE_PER_PASS);
    expect(world.lines.filter((l) => l.includes(`${total} submissions wait; this pass takes the ${MAX_INTAKE_PER_PASS} oldest`))).toHaveLength(1);
    expect(new Set(first.intake.accepted)).toEqual(new Set(uids.slice(0, MAX_INTAKE_PER_PASS)));
    expect((await world.pass()).intake.accepted.sort()).toEqual(uids.slice(MAX_INTAKE_PER_PASS).sort());
  }, 60_000);

  test("what lies in an inbox without being a submission goes once unchanged for a day; newer leftovers wait", async () => {
    const world = await makeWorld();
    const inbox = path.join(world.paths.inbox, SCIENTIST);
    const day = new Date(Date.now() - 25 * 3600_000);
    const stale = [`${uuidv7()}.conflict.20260101000000`, uuidv7(), "notes.txt"];
    await fs.outputFile(path.join(inbox, stale[0]!, "metadata.json"), "{}");
    await fs.outputFile(path.join(inbox, stale[1]!, "code", "run.sh"), "echo never marked\n"); // no submitted marker
    await fs.outputFile(path.join(inbox, stale[2]!), "stray");
    for (const name of stale) {
      const all = [
        name,
        ...((await fs.stat(path.join(inbox, name))).isDirectory()
          ? ((await fs.readdir(path.join(inbox, name), { recursive: true })) as string[]).map((f) => path.join(name, f))
          : []),
      ];
      for (const f of all) await fs.utimes(path.join(inbox, f), day, day);
    }
    const fresh = uuidv7();
    await fs.outputFile(path.join(inbox, fresh, "code", "run.sh"), "echo still arriving\n");
    await world.pass();
    expect((await fs.readdir(inbox)).sort()).toEqual([fresh]);
    expect(world.lines.filter((l) => l.includes("removed: not a submission, unchanged for a day"))).toHaveLength(3);
  });

  test.each(["the whole folder", "its metadata.json"])(
    "a sync deleting %s of a running job: logged, audited, the record restored, the run collected",
    async (what) => {
      const world = await makeWorld({ sandbox: { mode: "none" } });
      const uid = await world.submit({ "run.sh": 'sleep 2\necho done > "$OUTPUT_DIR/out.txt"\n' });
      await world.pass();
      await decide(world.owner, uid, { decision: "approve", reason: "ok" });
      await world.pass();
      const running = path.join(world.paths.jobs, "running", uid);
      expect(await fs.pathExists(running)).toBe(true);
      await fs.remove(what === "the whole folder" ? running : path.join(running, "metadata.json"));
      await world.pass();
      expect(world.lines.some((l) => l.includes("while it ran (by a sync?): its record restored from the run's private copy"))).toBe(true);
      await world.settle();
      const job = await world.job(uid);
      expect(job.status).toBe("completed");
      expect(await fs.readFile(path.join(job.dir, "output", "out.txt"), "utf8")).toBe("done\n");
      const events = (await readAudit(world.paths)).filter((e) => e.uid === uid).map((e) => e.event);
      expect(events).toEqual(expect.arrayContaining(["started", "recovered", "completed"]));
    },
  );

  test("conflict copies and SyftBox temp files are ignored, never run, never break a listing", async () => {
    const world = await makeWorld();
    const uid = await world.submit({ "run.sh": "ls -A > $OUTPUT_DIR/files.txt\n" });
    const code = path.join(inboxDir(world, uid), "code");
    await fs.writeFile(path.join(code, "run.sh.conflict.20261122T101010"), "echo EVIL\n");
    await fs.writeFile(path.join(code, ".run.sh.syft.tmp.8f3a"), "echo EVIL\n");
    // A conflict copy of a whole inbox folder, and of a job folder.
    await fs.copy(inboxDir(world, uid), `${inboxDir(world, uid)}.conflict.20261122T101010`);
    expect((await world.pass()).intake.accepted).toEqual([uid]);
    const pending = await world.job(uid);
    expect((await fs.readdir(path.join(pending.dir, "code"))).sort()).toEqual(["run.sh"]);
    await fs.copy(pending.dir, path.join(world.paths.jobs, "approved", `${uid}.conflict.20261122T101011`));

    const job = await world.approveAndRun(uid);
    expect(await fs.readFile(path.join(job.dir, "output", "files.txt"), "utf8")).toBe("run.sh\n");
    expect((await api.allJobsForMe({}, world.owner)).map((j) => j.uid)).toEqual([uid]);
    expect((await api.status(world.owner)).counts.approved).toBe(0);
    expect(world.lines.join("\n")).not.toMatch(/conflict\.\d+.*(started|unreadable)/);
  });

  test("job folders vanishing under the pass are logged and skipped; the other jobs go on", async () => {
    const world = await makeWorld();
    const codeGone = await world.submit("ok", "code gone");
    const recordGone = await world.submit("ok", "record gone");
    const fine = await world.submit("ok", "fine");
    await world.pass();
    for (const uid of [codeGone, recordGone, fine]) await decide(world.owner, uid, { decision: "approve" });
    // As a sync client deletes a folder: file by file, so the pass meets it half gone.
    await fs.remove(path.join((await world.job(codeGone)).dir, "code"));
    const record = await world.job(recordGone);
    await fs.move(record.dir, path.join(world.paths.jobs, "approved", recordGone));
    await fs.remove(path.join(world.paths.jobs, "approved", recordGone, "metadata.json"));

    const summary = await world.pass();
    expect(summary.started).toEqual([fine]);
    expect((await world.settle()).flatMap((s) => s.ran)).toEqual([{ uid: fine, status: "completed", message: "completed" }]);
    expect(world.lines).toContainEqual(expect.stringMatching(new RegExp(`^decision: ${codeGone.slice(-8)} left for the next pass: .*ENOENT`)));
    expect(world.lines).toContainEqual(expect.stringMatching(new RegExp(`^approved/${recordGone} has unreadable metadata, not run`)));
    expect((await world.job(codeGone)).status).toBe("pending");
  });
});

/** A job as the Python client writes it, as these tests knew it: a fixed time long ago, tags, a run.sh with output. */
function pythonJob(world: World, fields: Record<string, unknown> = {}): Promise<string> {
  return writePythonJob(world.paths.jobs, {
    run: "echo from python > $OUTPUT_DIR/py.txt\necho python log line\n",
    fields: { created_at: "2026-11-20T09:30:00.123456", updated_at: "2026-11-20T09:30:00.123456", tags: ["py"], ...fields },
  });
}

describe("jobs from the Python syft-code-queue client", () => {
  test("refused unless accept_legacy_jobs, with a reason the requester can read", async () => {
    const world = await makeWorld();
    const uid = await pythonJob(world);
    const summary = await world.pass();
    expect(summary.intake.rejected.map((r) => r.uid)).toEqual([uid]);
    const job = await world.job(uid);
    expect(job.status).toBe("rejected");
    expect(job.meta.error_message).toMatch(/are not accepted here; the owner can allow them with "accept_legacy_jobs": true/);
  });

  test("accepted as sender unverified, shown so, run only after approval; the Python client finds status, output and execution.log", async () => {
    const world = await makeWorld({ accept_legacy_jobs: true });
    const uid = await pythonJob(world);
    await world.pass();
    let job = await world.job(uid);
    expect(job.status).toBe("pending");
    expect(job.meta).toMatchObject({ sender: "unverified", created_at: "2026-11-20T09:30:00.123Z", description: "", tags: ["py"] });
    expect(job.meta.code_sha256).toMatch(/^[0-9a-f]{64}$/);
    // Fields of the Python record we do not use are kept.
    expect(job.meta.code_folder).toBe("/home/scientist/analysis");
    expect(world.lines.some((l) => l.includes("sender UNVERIFIED"))).toBe(true);
    const review = await api.reviewJob(uid, world.owner);
    expect(review.job.meta.sender).toBe("unverified");

    // The Python client lets the requester edit metadata.json: a status field approves nothing.
    await fs.writeJson(path.join(job.dir, "metadata.json"), { ...job.meta, status: "approved" });
    expect((await world.pass()).ran).toEqual([]);
    expect((await world.job(uid)).status).toBe("pending");

    job = await world.approveAndRun(uid);
    expect(job.status).toBe("completed");
    expect(await fs.readFile(path.join(job.dir, "output", "py.txt"), "utf8")).toBe("from python\n");
    expect(await fs.readFile(path.join(job.dir, "execution.log"), "utf8")).toBe("python log line\n");
    expect(await readLog(job)).toBe("python log line\n");
    // What the Python client reads: the folder name is the status, metadata parses with its fields.
    const record: unknown = await fs.readJson(path.join(world.paths.jobs, "completed", uid, "metadata.json"));
    expect(record).toMatchObject({ uid, status: "completed", exit_code: 0, requester_email: SCIENTIST });
  });

  test("a Python job with bad fields or no run.sh is rejected at intake", async () => {
    const world = await makeWorld({ accept_legacy_jobs: true });
    const badDate = await pythonJob(world, { created_at: "yesterday" });
    const otherOwner = await pythonJob(world, { target_email: "someone@else.org" });
    await world.pass();
    expect((await world.job(badDate)).meta.error_message).toMatch(/field "created_at": must be an ISO 8601 date-time/);
    expect((await world.job(otherOwner)).meta.error_message).toMatch(/is not this datasite's owner/);
  });
});
