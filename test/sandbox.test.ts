// The hostile-job suite: every job here tries to hurt the owner; each test asserts what contained it.
// Runs in the real bubblewrap sandbox (required in CI; skipped with a notice where bwrap is unusable).
import { execa } from "execa";
import fs from "fs-extra";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, test } from "vitest";
import { decide } from "../lib/approval/decisions.ts";
import { runPass } from "../lib/pass/pass.ts";
import { bwrapReady, makeWorld, readLog, sleeperJob } from "./helpers.ts";

const ready = await bwrapReady();

/** Count the machine's processes every 50 ms while `work` runs; return the most seen. */
async function peakProcesses<T>(work: () => Promise<T>): Promise<{ result: T; peak: number; before: number }> {
  const count = async () => (await fs.promises.readdir("/proc")).filter((n) => /^\d+$/.test(n)).length;
  const before = await count();
  let peak = before;
  let done = false;
  const sampler = (async () => {
    while (!done) {
      peak = Math.max(peak, await count());
      await sleep(50);
    }
  })();
  try {
    return { result: await work(), peak, before };
  } finally {
    done = true;
    await sampler;
  }
}

describe.skipIf(!ready)("hostile jobs in the bwrap sandbox", () => {
  test("fork bomb: stopped at limits.max_processes, the machine never sees more", async () => {
    const world = await makeWorld({ job_timeout: 5, limits: { max_processes: 32 } });
    const uid = await world.submit("fork-bomb");
    await world.pass();
    await decide(world.owner, uid, { decision: "approve" });
    const { peak, before } = await peakProcesses(() => world.settle());
    const job = await world.job(uid);
    // The bomb may end by itself once every fork fails, or be killed at the timeout; either way it ended in time.
    expect(job.status === "completed" || job.meta.timed_out).toBe(true);
    expect(job.meta.duration_ms).toBeLessThan(5000 + 3000);
    // bwrap + prlimit + the 32 allowed, plus what other test files started meanwhile; an unbounded
    // bomb reaches thousands within a second.
    expect(peak - before).toBeLessThan(32 + 60);
    expect(await readLog(job, "stderr")).toMatch(/fork: (retry: )?Resource temporarily unavailable/);
  });

  test("memory bomb: stopped by limits.memory_mb, long before the timeout", async () => {
    const world = await makeWorld({ job_timeout: 30, limits: { memory_mb: 128 } });
    const job = await world.approveAndRun(await world.submit("memory-bomb"));
    expect(job.status).toBe("failed");
    expect(job.meta.timed_out).toBe(false);
    expect(job.meta.duration_ms).toBeLessThan(20_000);
    // It failed because memory ran out, not for any other reason (a missing awk would exit 127).
    const stopped = job.meta.error_message ?? "";
    const stderr = await readLog(job, "stderr");
    expect(/memory limit/.test(stopped) || /out of memory|cannot allocate/i.test(stderr), `${stopped} / ${stderr}`).toBe(true);
  });

  test("many small processes, each under limits.memory_mb, together over it: the whole job is killed as over its memory limit", async () => {
    const world = await makeWorld({ job_timeout: 60, limits: { memory_mb: 200 } });
    // Ten processes of about 32 MB each (a 2^25-byte string): every one within the per-process limit, 300 MB together.
    // Their sleeps run under a number no other test uses (test files run side by side), so pgrep finds only these.
    const n = `40.${String(Math.floor(Math.random() * 1e6)).padStart(6, "0")}`;
    const job = await world.approveAndRun(
      await world.submit({
        "run.sh": `for i in $(seq 10); do awk 'BEGIN { s = "x"; for (i = 0; i < 25; i++) s = s s; system("sleep ${n}") }' & done\nwait\n`,
      }),
    );
    expect(job.status).toBe("failed");
    expect(job.meta.error_message).toMatch(/^memory limit: its processes together held more than 200 MB/);
    expect(job.meta.limits_hit).toEqual(["memory"]);
    expect(job.meta.duration_ms).toBeLessThan(30_000);
    expect((await execa("pgrep", ["-f", `sleep ${n}`], { reject: false })).stdout).toBe("");
  });

  test("endless stdout: the log keeps its head and tail within limits.max_log_kb and says what was cut", async () => {
    const world = await makeWorld({ job_timeout: 2, limits: { max_log_kb: 16 } });
    const job = await world.approveAndRun(await world.submit("endless-output"));
    expect(job.meta.timed_out).toBe(true);
    const log = await readLog(job);
    expect(log.startsWith("line 1 of endless output\nline 2 of")).toBe(true);
    expect(log).toMatch(/\[\.\.\. \d+ bytes left out: each log keeps its first and last 8 KB \(limits.max_log_kb\) \.\.\.\]/);
    expect(Buffer.byteLength(log)).toBeLessThanOrEqual(16 * 1024 + 200);
    // The tail is from late in the run, far past what the head holds.
    const numbers = [...log.matchAll(/line (\d+) of/g)].map((m) => Number(m[1]));
    expect(Math.max(...numbers)).toBeGreaterThan(10_000);
  });

  test("sleep past the timeout: the job and every child are killed", async () => {
    const world = await makeWorld({ job_timeout: 1 });
    const sleeper = sleeperJob();
    const job = await world.approveAndRun(await world.submit(sleeper.files));
    expect(job.meta.timed_out).toBe(true);
    expect((await execa("pgrep", ["-f", sleeper.pattern], { reject: false })).stdout).toBe("");
  });

  test("network: a TCP connection to a listener on 127.0.0.1 fails inside the sandbox (and succeeds outside)", async () => {
    let connections = 0;
    const server = net.createServer((socket) => {
      connections += 1;
      socket.end("hello\n");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as net.AddressInfo).port;
    const files = { "run.sh": `if exec 3<>/dev/tcp/127.0.0.1/${port}; then echo CONNECTED; head -n1 <&3; else echo BLOCKED; fi\n` };
    try {
      const world = await makeWorld();
      const job = await world.approveAndRun(await world.submit(files));
      expect(await readLog(job)).toBe("BLOCKED\n");
      expect(connections).toBe(0);
      // Control: the same job unsandboxed does connect, so the assertion above can fail.
      const open = await makeWorld({ sandbox: { mode: "none" } });
      const control = await open.approveAndRun(await open.submit(files));
      expect(await readLog(control)).toBe("CONNECTED\nhello\n");
      expect(connections).toBe(1);
    } finally {
      server.close();
    }
  });

  test("secrets: ~/.syftbox, another datasite and the app folder are invisible to the job", async () => {
    const world = await makeWorld();
    const secretFile = path.join(world.root, "home", ".syftbox", "config.json");
    await fs.outputFile(secretFile, '{"token": "SECRET-SYFTBOX-TOKEN"}');
    const otherSite = path.join(world.dataDir, "datasites", "other@test.local", "private", "records.csv");
    await fs.outputFile(otherSite, "SECRET-OTHER-DATASITE\n");
    const script = [
      `for f in ${secretFile} ${otherSite} $HOME/.syftbox/config.json /root/.syftbox/config.json /root/.ssh/id_rsa ${world.configFile}; do`,
      `  cat "$f" 2>/dev/null && echo "LEAKED $f"`,
      "done",
      `ls ${world.dataDir} 2>/dev/null && echo "LEAKED datasites listing"`,
      "ls /root /home 2>&1",
      "echo checked",
    ].join("\n");
    const job = await world.approveAndRun(await world.submit({ "run.sh": `${script}\n` }));
    const out = await readLog(job);
    expect(out).toContain("checked");
    expect(out).not.toContain("LEAKED");
    expect(out).not.toContain("SECRET");
    // Control: unsandboxed, the same job does read them.
    const open = await makeWorld({ sandbox: { mode: "none" } });
    const control = await open.approveAndRun(await open.submit({ "run.sh": `${script}\n` }));
    expect(await readLog(control)).toContain("SECRET-SYFTBOX-TOKEN");
  });

  test("writes outside output/ fail: system folders, the job's own record, the datasite, the data paths", async () => {
    const dataPath = await fs.promises.mkdtemp(path.join(os.tmpdir(), "scq-data-"));
    await fs.writeFile(path.join(dataPath, "patients.csv"), "id,age\n1,40\n");
    await fs.chmod(dataPath, 0o755); // readable by the unprivileged job user (see the next test)
    const world = await makeWorld({ sandbox: { data_paths: [dataPath] } });
    const name = path.basename(dataPath);
    const targets = [
      "/usr/pwned",
      "/etc/pwned",
      "/pwned",
      "/dev/pwned",
      "/proc/pwned",
      `${world.paths.root}/pwned`,
      `${world.paths.jobs}/pwned`,
      `${dataPath}/pwned`,
      `$DATA_DIR/${name}/pwned`,
      `$DATA_DIR/${name}/patients.csv`,
    ];
    const script = [
      ...targets.map((t) => `echo pwned > "${t}" 2>/dev/null && echo "WROTE ${t}"`),
      `cat "$DATA_DIR/${name}/patients.csv"`,
      `echo ok > "$OUTPUT_DIR/allowed.txt"`,
    ].join("\n");
    const job = await world.approveAndRun(await world.submit({ "run.sh": `${script}\n` }));
    expect(job.status).toBe("completed");
    const out = await readLog(job);
    expect(out).not.toContain("WROTE");
    expect(out).toContain("id,age\n1,40");
    for (const p of [`${world.paths.root}/pwned`, `${world.paths.jobs}/pwned`, `${dataPath}/pwned`]) expect(await fs.pathExists(p)).toBe(false);
    expect(await fs.readFile(path.join(dataPath, "patients.csv"), "utf8")).toBe("id,age\n1,40\n");
    expect(await fs.readFile(path.join(job.dir, "output", "allowed.txt"), "utf8")).toBe("ok\n");
    await fs.remove(dataPath);
  });

  test.runIf(process.getuid?.() === 0)("as root, a data path closed to other users is refused with advice, jobs stay approved", async () => {
    const dataPath = await fs.promises.mkdtemp(path.join(os.tmpdir(), "scq-data-"));
    const world = await makeWorld({ sandbox: { data_paths: [dataPath] } });
    const uid = await world.submit("ok");
    await world.pass();
    await decide(world.owner, uid, { decision: "approve" });
    const summary = await world.pass();
    expect(summary.sandbox_problem).toContain(`data path ${dataPath} is not readable by jobs`);
    expect(summary.sandbox_problem).toContain("chmod o+rX");
    expect((await world.job(uid)).status).toBe("approved");
    await fs.chmod(dataPath, 0o755);
    expect((await world.settle()).flatMap((s) => s.ran)).toMatchObject([{ uid, status: "completed" }]);
    await fs.remove(dataPath);
  });

  test("links and fifos the job leaves in output/ are not copied back", async () => {
    const world = await makeWorld();
    const job = await world.approveAndRun(
      await world.submit({ "run.sh": "ln -s /etc/passwd $OUTPUT_DIR/leak\nmkfifo $OUTPUT_DIR/pipe\necho ok > $OUTPUT_DIR/real.txt\n" }),
    );
    expect(job.status).toBe("completed");
    expect((await fs.readdir(path.join(job.dir, "output"))).sort()).toEqual(["real.txt"]);
    expect(world.lines).toContainEqual(
      expect.stringMatching(/output not copied: (leak \(link or special file\), pipe|pipe \(link or special file\), leak) \(link or special file\)$/),
    );
  });

  test("huge output: past limits.max_output_mb the job is killed and its output discarded", async () => {
    const world = await makeWorld({ job_timeout: 60, limits: { max_output_mb: 20 } });
    const job = await world.approveAndRun(await world.submit("big-output"));
    expect(job.status).toBe("failed");
    expect(job.meta.error_message).toMatch(/^wrote more than 20 MB .* output discarded/);
    expect(await fs.pathExists(path.join(job.dir, "output", "chunk-1.bin"))).toBe(false);
  });

  test("one file past limits.max_file_mb is cut off by the file size limit", async () => {
    // A .bin is a file-type finding, which would hold it: advice only here, where the size limit is the subject.
    const world = await makeWorld({ limits: { max_file_mb: 2 }, output_checks: { blocking: [] } });
    const job = await world.approveAndRun(
      await world.submit({ "run.sh": "set -e\nhead -c 10485760 /dev/zero > $OUTPUT_DIR/big.bin\necho not reached\n" }),
    );
    expect(job.status).toBe("failed");
    expect(job.meta.error_message).toMatch(/SIGXFSZ|exited with code 153/);
    expect((await fs.stat(path.join(job.dir, "output", "big.bin"))).size).toBeLessThanOrEqual(2 * 1024 * 1024);
  });

  test("the environment is scrubbed and the job runs as an unprivileged user", async () => {
    process.env.SCQ_TEST_SECRET = "must-not-leak";
    try {
      const world = await makeWorld();
      const job = await world.approveAndRun(await world.submit("env-dump"));
      const env = await fs.readFile(path.join(job.dir, "output", "env.txt"), "utf8");
      const keys = env
        .trim()
        .split("\n")
        .map((l) => l.split("=")[0]);
      const allowed = [
        "PATH",
        "HOME",
        "LANG",
        "TMPDIR",
        "OUTPUT_DIR",
        "DATA_DIR",
        "JOB_UID",
        "JOB_NAME",
        "JOB_ID",
        "CODE_DIR",
        "PWD",
        "SHLVL",
        "_",
        "OLDPWD",
      ];
      expect(keys.filter((k) => !allowed.includes(k!))).toEqual([]);
      expect(env).toContain(`JOB_UID=${job.uid}`);
      expect(env).toContain(`JOB_ID=${job.uid}`);
      expect(env).toContain("CODE_DIR=/work");
      expect(env).not.toContain("must-not-leak");
      expect(await fs.readFile(path.join(job.dir, "output", "uid.txt"), "utf8")).toBe("1000\n");
      expect(await fs.readFile(path.join(job.dir, "output", "pwd.txt"), "utf8")).toBe("/work\n");
    } finally {
      delete process.env.SCQ_TEST_SECRET;
    }
  });
});

describe("sandbox availability", () => {
  test("mode bwrap without bubblewrap: jobs stay approved and the pass says how to fix it", async () => {
    const world = await makeWorld();
    const uid = await world.submit("ok");
    await world.pass();
    await decide(world.owner, uid, { decision: "approve" });
    const bin = path.join(world.root, "bin-without-bwrap");
    await fs.mkdirp(bin);
    await fs.symlink("/usr/bin/prlimit", path.join(bin, "prlimit"));
    const savedPath = process.env.PATH;
    process.env.PATH = bin;
    let summary;
    try {
      summary = await runPass({ dataDir: world.dataDir, owner: world.owner.email, config: world.config, log: (l) => world.lines.push(l) });
    } finally {
      process.env.PATH = savedPath;
    }
    expect(summary.sandbox_problem).toMatch(/bubblewrap \(bwrap\) is not installed.*apt-get install bubblewrap.*"mode": "none"/);
    expect(summary.ran).toEqual([]);
    expect((await world.job(uid)).status).toBe("approved");
    expect(world.lines.some((l) => l.startsWith("NOT starting 1 approved job(s)"))).toBe(true);
    // Its requester reads why in the job's record, not a bare "approved".
    expect((await world.job(uid)).meta.error_message).toMatch(/^cannot start yet on the owner's machine: bubblewrap \(bwrap\) is not installed/);
    // Once it is fixed, the job runs.
    expect((await world.settle()).flatMap((s) => s.ran)).toMatchObject(ready ? [{ uid, status: "completed" }] : []);
  });

  test("mode none is logged as unsandboxed and recorded in the job", async () => {
    const world = await makeWorld({ sandbox: { mode: "none" } });
    const job = await world.approveAndRun(await world.submit("ok"));
    expect(job.meta.sandbox).toBe("none");
    expect(world.lines.some((l) => l.includes("UNSANDBOXED"))).toBe(true);
  });
});
