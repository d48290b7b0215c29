// The intake gate and the approval rule against hostile submissions. Inbox folders are written by
// hand here, as an attacker's SyftBox client could write them, bypassing `scq submit`'s own checks.
import { execa } from "execa";
import { randomUUID } from "node:crypto";
import fs from "fs-extra";
import nodeFs from "node:fs";
import path from "node:path";
import { describe, expect, test, vi } from "vitest";
import { appendAudit, verifyAudit } from "../lib/queue/audit.ts";
import { decide } from "../lib/approval/decisions.ts";
import { reviewJob, submitJob } from "../lib/people/api.ts";
import { makeWorld, OWNER, runScript, SCIENTIST, worldArgs, writeFolder, type World } from "./helpers.ts";

interface Crafted {
  uid?: string;
  sender?: string;
  metadata?: Record<string, unknown>;
  files?: Record<string, string>;
  /** Extra preparation of the folder (links, fifos...), after files are written. */
  prepare?: (dir: string) => Promise<void>;
}

async function craft(world: World, c: Crafted = {}): Promise<string> {
  const uid = c.uid ?? randomUUID();
  const sender = c.sender ?? SCIENTIST;
  const dir = path.join(world.paths.inbox, sender, uid);
  await writeFolder(path.join(dir, "code"), c.files ?? { "run.sh": "echo hi\n" });
  await c.prepare?.(dir);
  const metadata = { uid, name: "crafted", requester_email: sender, target_email: OWNER, created_at: new Date().toISOString(), ...c.metadata };
  await fs.writeJson(path.join(dir, "metadata.json"), metadata);
  await fs.writeFile(path.join(dir, "submitted"), "");
  return uid;
}

async function rejectedReason(world: World, uid: string): Promise<string> {
  const summary = await world.pass();
  const entry = summary.intake.rejected.find((r) => r.uid === uid);
  expect(entry, `job ${uid} should be rejected at intake; lines: ${world.lines.join("\n")}`).toBeDefined();
  const job = await world.job(uid);
  expect(job.status).toBe("rejected");
  expect(job.meta.error_message).toBe(`rejected at intake: ${entry!.reason}`);
  // Nothing of the hostile code is kept.
  expect(await fs.pathExists(path.join(job.dir, "code"))).toBe(false);
  return entry!.reason;
}

describe("intake gate", () => {
  test("a symbolic link in code/ is rejected (also one pointing up with ../)", async () => {
    const world = await makeWorld();
    const a = await craft(world, { prepare: (dir) => fs.symlink("/etc/passwd", path.join(dir, "code", "passwd")) });
    const b = await craft(world, { prepare: (dir) => fs.symlink("../../../../../../", path.join(dir, "code", "up")) });
    expect(await rejectedReason(world, a)).toBe("passwd is a symbolic link; submit plain files only");
    expect((await world.job(b)).meta.error_message).toBe("rejected at intake: up is a symbolic link; submit plain files only");
  });

  test("run.sh itself as a link to a file elsewhere is rejected", async () => {
    const world = await makeWorld();
    const uid = await craft(world, {
      files: { "real.sh": "echo hi\n" },
      prepare: (dir) => fs.symlink("real.sh", path.join(dir, "code", "run.sh")),
    });
    expect(await rejectedReason(world, uid)).toBe("run.sh is a symbolic link; submit plain files only");
  });

  test("a hard link and a fifo are rejected", async () => {
    const world = await makeWorld();
    const outside = path.join(world.root, "outside.txt");
    await fs.writeFile(outside, "owner's file");
    const a = await craft(world, { prepare: (dir) => fs.link(outside, path.join(dir, "code", "linked.txt")) });
    const b = await craft(world, { prepare: (dir) => execa("mkfifo", [path.join(dir, "code", "pipe")]).then(() => undefined) });
    expect(await rejectedReason(world, a)).toBe("linked.txt is a hard link; submit plain files only");
    expect((await world.job(b)).meta.error_message).toBe("rejected at intake: pipe is not a regular file (device, fifo or socket)");
  });

  test("more than limits.max_files files (10,001) is rejected", async () => {
    const world = await makeWorld();
    const uid = await craft(world, {
      prepare: async (dir) => {
        for (let i = 0; i < 10_001; i += 1) await fs.promises.writeFile(path.join(dir, "code", `f${i}.txt`), "");
      },
    });
    expect(await rejectedReason(world, uid)).toBe("more than 10000 files and folders");
  });

  test("more than limits.max_code_mb of code is rejected", async () => {
    const world = await makeWorld({ limits: { max_code_mb: 1 } });
    const uid = await craft(world, { prepare: (dir) => fs.promises.writeFile(path.join(dir, "code", "big.bin"), Buffer.alloc(1024 * 1024 + 1)) });
    expect(await rejectedReason(world, uid)).toBe("more than 1 MB of code");
  });

  test("a forged requester (someone else's email in your inbox) is rejected", async () => {
    const world = await makeWorld();
    const uid = await craft(world, { metadata: { requester_email: "victim@test.local" } });
    expect(await rejectedReason(world, uid)).toMatch(
      /field "requester_email" \(victim@test.local\) is not the sender scientist@test.local: jobs can only be submitted in your own name/,
    );
    // The record names the real sender, whatever was claimed.
    expect((await world.job(uid)).meta.requester_email).toBe(SCIENTIST);
  });

  test("uid mismatch, a path-like uid, a wrong target and control characters are rejected", async () => {
    const world = await makeWorld();
    const mismatch = await craft(world, { metadata: { uid: randomUUID() } });
    const traversal = await craft(world, { metadata: { uid: "../../jobs/approved/x" } });
    const target = await craft(world, { metadata: { target_email: "someone@else.org" } });
    const control = await craft(world, { metadata: { name: "nice\u001b[2Jname" } });
    await world.pass();
    expect((await world.job(mismatch)).meta.error_message).toMatch(/field "uid" \(.*\) does not match the folder name/);
    expect((await world.job(traversal)).meta.error_message).toMatch(/field "uid": must be a lower-case uuid/);
    expect((await world.job(target)).meta.error_message).toMatch(/field "target_email" \(someone@else.org\) is not this datasite's owner/);
    expect((await world.job(control)).meta.error_message).toMatch(/field "name": must not contain control characters/);
  });

  test("a missing run.sh or missing metadata.json is rejected", async () => {
    const world = await makeWorld({ intake_grace: 0 });
    const norun = await craft(world, { files: { "main.py": "print(1)\n" } });
    const nometa = await craft(world, { prepare: async () => {} });
    await fs.remove(path.join(world.paths.inbox, SCIENTIST, nometa, "metadata.json"));
    await world.pass();
    expect((await world.job(norun)).meta.error_message).toMatch(/code\/ has no run.sh/);
    expect((await world.job(nometa)).meta.error_message).toBe("rejected at intake: the submission has no metadata.json");
  });

  test("a uid that already exists is dropped, never overwriting the job", async () => {
    const world = await makeWorld();
    const uid = await craft(world, { files: { "run.sh": "echo original\n" } });
    await world.pass();
    const before = await world.job(uid);
    await craft(world, { uid, files: { "run.sh": "echo replaced\n" } });
    await world.pass();
    const after = await world.job(uid);
    expect(after.status).toBe("pending");
    expect(await fs.readFile(path.join(after.dir, "code", "run.sh"), "utf8")).toBe("echo original\n");
    expect(after.meta.code_sha256).toBe(before.meta.code_sha256);
    expect(world.lines.some((l) => l.includes("dropped: a job with this uid already exists (pending)"))).toBe(true);
    expect(await fs.pathExists(path.join(world.paths.inbox, SCIENTIST, uid))).toBe(false);
  });

  test("a syft.pub.yaml smuggled into the submission does not reach the job folder", async () => {
    const world = await makeWorld();
    const uid = await craft(world, {
      prepare: (dir) => fs.writeFile(path.join(dir, "syft.pub.yaml"), 'rules:\n  - pattern: "**"\n    access: {write: ["*"]}\n'),
    });
    await world.pass();
    const job = await world.job(uid);
    expect(await fs.readFile(path.join(job.dir, "syft.pub.yaml"), "utf8")).toBe(
      `rules:\n  - pattern: "**"\n    access:\n      admin: []\n      read: ["${SCIENTIST}"]\n      write: []\n`,
    );
  });

  test("scq submit refuses links itself, before anything is written", async () => {
    const world = await makeWorld();
    const folder = await writeFolder(path.join(world.root, "linked"), { "run.sh": "cat secret\n" });
    await fs.symlink("/etc/passwd", path.join(folder, "secret"));
    await expect(submitJob({ to: OWNER, folder, name: "x" }, world.scientist)).rejects.toThrow(/secret is a symbolic link/);
    expect(await fs.pathExists(path.join(world.paths.inbox, SCIENTIST))).toBe(false);
  });
});

describe("only a marker approves", () => {
  test("a folder put into approved/ without a marker is never run: back to pending, flagged", async () => {
    const world = await makeWorld();
    const uid = await craft(world, { files: { "run.sh": "echo ran > $OUTPUT_DIR/ran.txt\n" } });
    await world.pass();
    const pending = await world.job(uid);
    const forged = path.join(world.paths.jobs, "approved", uid);
    await fs.mkdirp(path.dirname(forged));
    await fs.rename(pending.dir, forged);
    await fs.writeJson(path.join(forged, "metadata.json"), { ...pending.meta, status: "approved" });
    const summary = await world.pass();
    expect(summary.ran).toEqual([]);
    const job = await world.job(uid);
    expect(job.status).toBe("pending");
    expect(job.meta.error_message).toMatch(/found in approved\/ without a matching approval marker/);
    expect(await fs.pathExists(path.join(job.dir, "output"))).toBe(false);
  });

  test("a status field set to approved (as the Python client lets a requester do) approves nothing", async () => {
    const world = await makeWorld();
    const uid = await craft(world, { files: { "run.sh": "echo ran > $OUTPUT_DIR/ran.txt\n" } });
    await world.pass();
    const job = await world.job(uid);
    await fs.writeJson(path.join(job.dir, "metadata.json"), { ...job.meta, status: "approved" });
    await world.pass();
    expect((await world.job(uid)).status).toBe("pending");
    // The record is set right by the hourly sweep (pending/ is not read every pass; the folder decides).
    await fs.remove(path.join(world.paths.state, "last-sweep.json"));
    await world.pass();
    const after = await world.job(uid);
    expect(after.status).toBe("pending");
    expect(after.meta.status).toBe("pending");
  });

  test("a marker for other code does not approve (code swapped after approval)", async () => {
    const world = await makeWorld();
    const uid = await craft(world, { files: { "run.sh": "echo reviewed\n" } });
    await world.pass();
    await decide(world.owner, uid, { decision: "approve" });
    const job = await world.job(uid);
    await fs.writeFile(path.join(job.dir, "code", "extra.sh"), "curl evil\n");
    await world.pass();
    expect((await world.job(uid)).meta.error_message).toMatch(/^code changed after approval/);
  });
});

describe("review and audit", () => {
  test("review shows all code and advisory findings, deciding nothing", async () => {
    const world = await makeWorld();
    const uid = await craft(world, {
      files: {
        "run.sh": "pip install pandas\npython3 main.py\n",
        "main.py":
          "import os\nprint(open(os.path.expanduser('~/.syftbox/config.json')).read())\nexec(__import__('base64').b64decode('cHJpbnQoMSk='))\n",
      },
    });
    await world.pass();
    const review = await reviewJob(uid.slice(-8), world.owner);
    expect(review.texts.map((t) => t.file)).toEqual(["run.sh", "main.py"]);
    expect(review.code_sha256).toBe(review.job.meta.code_sha256);
    const rules = review.findings.map((f) => `${f.file}:${f.line} ${f.rule}`);
    expect(rules).toContain("run.sh:1 installs packages (fails without network)");
    expect(rules).toContain("main.py:2 reads home, keys or other datasites");
    expect(rules).toContain("main.py:3 runs decoded or generated code");
    expect(review.job.status).toBe("pending");
  });

  test("the audit log is hash-chained: an edited line is found", async () => {
    const world = await makeWorld();
    for (const event of ["approved", "rejected", "completed"] as const) await appendAudit(world.paths, { event, uid: randomUUID(), by: OWNER });
    expect(await verifyAudit(world.paths)).toMatchObject({ ok: true, lines: 3 });
    const lines = (await fs.readFile(world.paths.audit, "utf8")).split("\n");
    lines[1] = lines[1]!.replace('"rejected"', '"approved"');
    await fs.writeFile(world.paths.audit, lines.join("\n"));
    const verdict = await verifyAudit(world.paths);
    expect(verdict).toMatchObject({ ok: false, brokenAt: 3 });
    expect(verdict.reason).toMatch(/prev hash does not match line 2: line 2 or 3 was changed/);
    const said = await runScript("scq.ts", ["audit", "verify", ...worldArgs(world)]);
    expect(said.exitCode).toBe(1);
    expect(said.stdout).toContain("audit log BROKEN at line 3");
    expect(said.stdout).not.toContain("This proves");
    expect(said.stdout).toContain("It cannot prove anything against someone who can also write this app's private state");
  });

  test("concurrent appenders keep the chain intact", async () => {
    const world = await makeWorld();
    await Promise.all(Array.from({ length: 20 }, () => appendAudit(world.paths, { event: "approved", uid: randomUUID() })));
    expect(await verifyAudit(world.paths)).toMatchObject({ ok: true, lines: 20 });
  });

  test("the log's lines reach the disk before the head that names them (a power cut leaves the head behind, never ahead)", async () => {
    const world = await makeWorld();
    const steps: string[] = [];
    const auditFds = new Set<number>();
    const real = { openSync: nodeFs.openSync, fdatasyncSync: nodeFs.fdatasyncSync, renameSync: nodeFs.renameSync };
    const open = vi.spyOn(nodeFs, "openSync").mockImplementation((...args: Parameters<typeof nodeFs.openSync>) => {
      const fd = real.openSync(...args);
      if (args[0] === world.paths.audit) auditFds.add(fd);
      return fd;
    });
    const sync = vi.spyOn(nodeFs, "fdatasyncSync").mockImplementation((fd) => {
      if (auditFds.has(fd)) steps.push("log synced");
      real.fdatasyncSync(fd);
    });
    const rename = vi.spyOn(nodeFs, "renameSync").mockImplementation((from, to) => {
      if (String(to).endsWith("audit-head.json")) steps.push("head written");
      real.renameSync(from, to);
    });
    try {
      await appendAudit(world.paths, { event: "approved", uid: randomUUID(), by: OWNER });
      await appendAudit(world.paths, { event: "rejected", uid: randomUUID(), by: OWNER });
    } finally {
      open.mockRestore();
      sync.mockRestore();
      rename.mockRestore();
    }
    expect(steps).toEqual(["log synced", "head written", "log synced", "head written"]);
    expect(await verifyAudit(world.paths)).toMatchObject({ ok: true, lines: 2 });
  });
});
