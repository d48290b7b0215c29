// The commands as plain functions, in-process: run returns the data (the --json document), render the
// text a person reads. The shipped entry point (scripts/scq.sh) is tested in processes.test.ts and
// shipped.test.ts; here each command's own logic is, fast and without a process per call.
import fs from "fs-extra";
import path from "node:path";
import os from "node:os";
import { describe, expect, onTestFinished, test } from "vitest";
import { audit } from "../lib/commands/audit.ts";
import { checks } from "../lib/commands/checks.ts";
import { decide } from "../lib/commands/decide.ts";
import { cancelJob, job, releaseOutput } from "../lib/commands/job.ts";
import { list, pending } from "../lib/commands/list.ts";
import { review } from "../lib/commands/review.ts";
import { status } from "../lib/commands/status.ts";
import { undo } from "../lib/commands/undo.ts";
import { datasiteDir } from "../lib/core/paths.ts";
import { makeWorld, OWNER, SCIENTIST } from "./helpers.ts";

const args = { json: false };

describe("commands, in-process", () => {
  test("pending → review → approve → status → job → checks → release → audit, each as data and as text", async () => {
    const world = await makeWorld({ sandbox: { mode: "none" }, release: "review" });
    const uid = await world.submit({ "run.sh": "#!/bin/sh\necho hello\nprintf 'group,n\\na,3\\n' > \"$OUTPUT_DIR/t.csv\"\n" }, "counts");
    await world.pass();

    const waiting = await pending.run(world.owner, { ...args, limit: 50 });
    expect(waiting.jobs.map((j) => j.uid)).toEqual([uid]);
    expect(pending.render(waiting, { ...args, limit: 50 })).toMatch(/counts/);
    expect(pending.json!(waiting)).toEqual([expect.objectContaining({ uid, status: "pending" })]);

    const shown = await review.run(world.owner, { ...args, uid: uid.slice(-8) });
    expect(shown.texts.map((t) => t.file)).toEqual(["run.sh"]);
    expect(shown.code_sha256).toMatch(/^[0-9a-f]{64}$/);
    const text = review.render(shown, { ...args, uid });
    expect(text).toContain("echo hello");
    expect(text).toContain(`--sha ${shown.code_sha256}`);

    const approve = decide("approve");
    // --dry-run checks it all and writes nothing.
    const preview = await approve.run(world.owner, { ...args, uid: [], reason: "ok", "all-pending": true, "dry-run": true });
    expect(preview).toEqual([expect.objectContaining({ ok: true, job: uid, preview: true })]);
    expect(approve.render(preview, { ...args, uid: [], "all-pending": true })).toMatch(/^Would approve .*nothing written/);
    expect((await world.job(uid)).status).toBe("pending");
    expect(await fs.pathExists(path.join(world.paths.decisions, `${uid}.json`))).toBe(false);
    const outcomes = await approve.run(world.owner, { ...args, uid: [uid], reason: "ok", "all-pending": false, sha: shown.code_sha256 ?? undefined });
    expect(outcomes).toEqual([expect.objectContaining({ ok: true, job: uid })]);
    expect(approve.failed!(outcomes)).toBe(false);
    const again = await approve.run(world.owner, { ...args, uid: [uid], reason: "ok", "all-pending": false });
    expect(approve.failed!(again)).toBe(true);
    expect(approve.render(again, { ...args, uid: [uid], "all-pending": false })).toMatch(/^error: .*already has a decision/);

    await world.settle();
    const s = await status.run(world.owner, args);
    expect(s.counts.completed).toBe(1);
    expect(status.render(s, args)).toMatch(/completed\s+1/);
    // Held output is on the owner's to-do lists: scq status and scq pending.
    expect(s.held_output).toEqual([expect.objectContaining({ uid, name: "counts", status: "completed" })]);
    expect(status.render(s, args)).toMatch(/Output awaiting your release: 1 .*\n {2}\w{8} "counts" \(completed\), held \d+s/);
    const todo = await pending.run(world.owner, { ...args, limit: 50 });
    expect(todo.held.map((j) => j.uid)).toEqual([uid]);
    expect(pending.render(todo, { ...args, limit: 50 })).toBe(
      `No code to review.\n\nOutput awaiting your release (1): scq checks <uid>, then scq release <uid>\n  ${uid.slice(-8)}  "counts" (completed)`,
    );

    const record = await job.run(world.owner, { ...args, uid });
    expect(record).toMatchObject({ uid, status: "completed", owner: OWNER, state: "completed (awaiting output review)" });

    const found = await checks.run(world.owner, { ...args, uid });
    expect(found.files.find((f) => f.path === "t.csv")?.findings.map((f) => f.rule)).toContain("small-count");
    expect(checks.render(found, { ...args, uid })).toMatch(/\[small-count\] row 1, column "n" = 3/);

    const released = await releaseOutput.run(world.owner, {
      ...args,
      uid,
      withhold: ["t.csv"],
      reason: "small counts",
      exception: undefined,
      "request-changes": undefined,
      comment: [],
    });
    expect(released.output_decisions?.withheld).toEqual([{ path: "t.csv", reason: "small counts" }]);
    expect(
      releaseOutput.render(released, {
        ...args,
        uid,
        withhold: [],
        reason: undefined,
        exception: undefined,
        "request-changes": undefined,
        comment: [],
      }),
    ).toMatch(/withheld: t\.csv/);

    expect((await status.run(world.owner, args)).held_output).toEqual([]);
    const events = await audit.run(world.owner, { ...args, job: uid.slice(-8) });
    expect(audit.json!(events)).toEqual(expect.arrayContaining([expect.objectContaining({ event: "released", uid })]));
    const verdict = await audit.run(world.owner, { ...args, action: "verify" });
    expect(audit.failed!(verdict)).toBe(false);
    expect(audit.render(verdict, { ...args, action: "verify" })).toMatch(/^audit log intact/);
  });

  test("a requester's list of their own job, and their cancel, as the requester sees them", async () => {
    const world = await makeWorld({ sandbox: { mode: "none" } });
    const uid = await world.submit({ "run.sh": "#!/bin/sh\necho hi\n" });
    await world.pass();
    const all = await list.run(world.owner, { ...args, limit: 10 });
    expect(all.jobs.map((j) => j.meta.requester_email)).toEqual([SCIENTIST]);
    const cancelled = await cancelJob.run(world.scientist, { ...args, uid, reason: "wrong data" });
    expect(cancelled).toEqual({ uid, owner: OWNER, outcome: "requested" });
    expect(cancelJob.render(cancelled, { ...args, uid, reason: "" })).toMatch(/their next pass rejects it/);
  });

  test("an approver's scq pending, without --datasite, names the owners whose jobs await their vote, until they vote", async () => {
    const approver = "carol@test.local";
    const world = await makeWorld({ sandbox: { mode: "none" }, approvals: { required: 1, approvers: [OWNER, approver] } });
    await fs.mkdirp(datasiteDir(world.dataDir, approver));
    const uid = await world.submit({ "run.sh": "echo hi\n" });
    await world.pass();
    const carol = { dataDir: world.dataDir, email: approver, config: world.config };
    const todo = await pending.run(carol, { ...args, limit: 50 });
    expect(todo.awaiting).toEqual([{ owner: OWNER, uids: [uid] }]);
    expect(pending.render(todo, { ...args, limit: 50 })).toContain(
      `As a listed approver of ${OWNER}: 1 job(s) await your vote: scq pending --datasite ${OWNER}`,
    );
    // Its requester is no approver of their own job: no such line for them.
    expect((await pending.run(world.scientist, { ...args, limit: 50 })).awaiting).toEqual([]);
    const voted = await decide("approve").run(
      { ...carol, datasite: OWNER },
      { ...args, uid: [uid], reason: "ok", "all-pending": false, datasite: OWNER },
    );
    expect(voted).toEqual([expect.objectContaining({ ok: true, vote: true })]);
    expect((await pending.run(carol, { ...args, limit: 50 })).awaiting).toEqual([]);
  });

  test("a decision waits as such until a pass applies it, and scq undo takes it back; after the pass, it cannot", async () => {
    const world = await makeWorld({ sandbox: { mode: "none" } });
    const uid = await world.submit({ "run.sh": "echo hi\n" });
    await world.pass();
    await decide("approve").run(world.owner, { ...args, uid: [uid], reason: "ok", "all-pending": false });
    const listed = await pending.run(world.owner, { ...args, limit: 50 });
    expect(listed.jobs[0]!.waiting_decision).toEqual({ decision: "approve", by: OWNER, vote: false });
    expect(pending.render(listed, { ...args, limit: 50 })).toContain(
      `pending (approved by ${OWNER}, applied at the next pass; scq undo takes it back)`,
    );
    // One job's view says so too.
    expect((await job.run(world.owner, { ...args, uid })).state).toBe(
      `pending (approved by ${OWNER}, applied at the next pass; scq undo takes it back)`,
    );
    const undone = await undo.run(world.owner, { ...args, uid: uid.slice(-8) });
    expect(undone).toEqual({ uid, decision: "approve", by: OWNER, vote: false });
    expect(undo.render(undone, { ...args, uid })).toBe(`Took back the approval of ${uid} by ${OWNER}: it waits for a decision again.`);
    expect((await pending.run(world.owner, { ...args, limit: 50 })).jobs[0]!.waiting_decision).toBeUndefined();
    await world.pass();
    expect((await world.job(uid)).status).toBe("pending");
    expect(audit.json!(await audit.run(world.owner, { ...args, job: uid }))).toContainEqual(
      expect.objectContaining({ event: "decision-withdrawn", uid, by: OWNER }),
    );
    await expect(undo.run(world.owner, { ...args, uid })).rejects.toThrow(/nothing to undo/);
    // Applied by a pass, a decision is history.
    await decide("approve").run(world.owner, { ...args, uid: [uid], reason: "ok", "all-pending": false });
    await world.settle();
    await expect(undo.run(world.owner, { ...args, uid })).rejects.toThrow(/applied its decision already/);
  });

  test("an approved job the owner's machine cannot start says why to its requester, once, until it starts", async () => {
    const data = path.join(os.tmpdir(), `scq-missing-${process.pid}-${Date.now()}`);
    const world = await makeWorld({ sandbox: { mode: "none", data_paths: [data] } });
    const uid = await world.submit({ "run.sh": "echo hi\n" });
    await world.pass();
    await decide("approve").run(world.owner, { ...args, uid: [uid], reason: "ok", "all-pending": false });
    await world.pass();
    const seen = await job.run(world.scientist, { ...args, uid });
    expect(seen.status).toBe("approved");
    expect(seen.state).toMatch(/^approved \(cannot start yet on the owner's machine: .*/);
    expect(seen.state).toContain(data);
    // Said once: a second pass with the same reason writes nothing more.
    await world.pass();
    const waits = (audit.json!(await audit.run(world.owner, { ...args, job: uid })) as { event: string }[]).filter((e) => e.event === "start-waits");
    expect(waits).toHaveLength(1);
    // The folder appears: the job starts, and the reason goes.
    await fs.mkdirp(data);
    onTestFinished(() => fs.remove(data));
    await world.settle();
    const done = await world.job(uid);
    expect(done.status).toBe("completed");
    expect(done.meta.error_message).toBeNull();
  });
});
