// The Slurm executor against a real single-node cluster (test/slurm-cluster.ts): jobs go through
// sbatch to a compute node, run there in the same bubblewrap sandbox under the same supervisor, and
// come back through the shared folder.
import { execa } from "execa";
import fs from "fs-extra";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import * as api from "../lib/people/api.ts";
import { readAudit } from "../lib/queue/audit.ts";
import { decide } from "../lib/approval/decisions.ts";
import { bwrapReady, makeWorld, readLog, SCIENTIST, sleeperJob, waitUntil, type World } from "./helpers.ts";
import { slurmProblem, startCluster, type Cluster } from "./slurm-cluster.ts";

const ready = (await slurmProblem()) === undefined && (await bwrapReady());

describe.skipIf(!ready)("the Slurm executor on a real cluster", () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await startCluster();
  }, 120_000);
  afterAll(async () => {
    await cluster?.stop();
  }, 60_000);

  /** A world whose config.json points at the cluster, with a shared folder jobs (as `nobody`) can pass through. */
  async function slurmWorld(overrides: Parameters<typeof makeWorld>[0] = {}): Promise<World> {
    const shared = await fs.promises.mkdtemp(path.join(os.tmpdir(), "scq-shared-"));
    await fs.promises.chmod(shared, 0o755);
    return makeWorld({ ...overrides, executor: { type: "slurm", partition: cluster.partition, shared_dir: shared } });
  }

  async function approved(world: World, files: Record<string, string>): Promise<string> {
    const uid = await world.submit(files);
    await world.pass();
    await decide(world.owner, uid, { decision: "approve" });
    return uid;
  }

  test("submit → approve → sbatch → runs on the node in the sandbox → completed, with its output and logs", async () => {
    const world = await slurmWorld();
    const uid = await approved(world, {
      "run.sh":
        'echo "on $(hostname) as $(id -u)"\necho 42 > "$OUTPUT_DIR/answer.txt"\nif test -e /etc/slurm || test -n "${SLURM_CONF:-}"; then echo leak; fi\n',
    });
    const first = await world.pass();
    expect(first.started).toEqual([uid]);
    const running = await world.job(uid);
    expect(running.status).toBe("running");
    expect(running.meta.run).toMatchObject({ executor: "slurm", job_id: expect.stringMatching(/^\d+$/) as string, partition: "scq" });
    const status = await api.status(world.owner);
    expect(status.running).toEqual([
      {
        uid,
        name: "test job",
        runs_on: `Slurm job ${running.meta.run?.executor === "slurm" ? running.meta.run.job_id : "?"} (partition scq)`,
        started_at: running.meta.started_at,
      },
    ]);
    await world.settle();
    const job = await world.job(uid);
    expect(job.status, job.meta.error_message ?? "").toBe("completed");
    // Inside the sandbox: the job's own uid (1000), no host /etc beyond the minimal one.
    expect(await readLog(job)).toMatch(/^on \S+ as 1000\n/);
    expect(await readLog(job)).not.toContain("leak");
    expect(await fs.readFile(path.join(job.dir, "output", "answer.txt"), "utf8")).toBe("42\n");
    expect(world.lines.some((l) => /started in the bwrap sandbox \(Slurm job \d+ \(partition scq\)\)/.test(l))).toBe(true);
    // Nothing of the run is left in the shared folder or the private one.
    const shared = (world.config.executor as { shared_dir: string }).shared_dir;
    const left = await execa("find", [shared, "-name", "run-*"], { reject: false });
    expect(left.stdout).toBe("");
    expect(await fs.readdir(world.paths.runs)).toEqual([]);
  });

  test("job_timeout: the supervisor on the node kills the job; it fails as timed out", async () => {
    const world = await slurmWorld({ job_timeout: 3 });
    const sleeper = sleeperJob();
    const uid = await approved(world, sleeper.files);
    await world.settle();
    const job = await world.job(uid);
    expect(job.status).toBe("failed");
    expect(job.meta.timed_out).toBe(true);
    expect(job.meta.limits_hit).toContain("timeout");
    expect(job.meta.error_message).toMatch(/^timed out after 3 seconds/);
    expect(await readLog(job)).toBe("started\n");
    expect((await execa("pgrep", ["-f", sleeper.pattern], { reject: false })).stdout).toBe("");
  });

  test("cancel of a running Slurm job: scancel, the job fails as cancelled", async () => {
    const world = await slurmWorld();
    const sleeper = sleeperJob();
    const uid = await approved(world, sleeper.files);
    await world.pass();
    await waitUntil(async () => (await execa("pgrep", ["-f", sleeper.pattern], { reject: false })).stdout !== "", "the job to run on the node");
    expect((await api.cancel(uid, "not needed", world.scientist)).outcome).toBe("requested");
    await world.settle();
    const job = await world.job(uid);
    expect(job.status).toBe("failed");
    expect(job.meta.error_message).toBe(`cancelled by ${SCIENTIST} while it ran: not needed`);
    expect((await execa("pgrep", ["-f", sleeper.pattern], { reject: false })).stdout).toBe("");
    expect((await readAudit(world.paths)).some((e) => e.uid === uid && e.event === "cancelled")).toBe(true);
  });

  test("hostile: another user of the cluster, who reads a running job's folder from squeue, reads nothing of it (request, script, output, scratch, logs)", async () => {
    const world = await slurmWorld();
    const uid = await approved(world, {
      "run.sh": 'echo SECRET-LOG\necho SECRET-OUT > "$OUTPUT_DIR/secret.txt"\necho SECRET-TMP > "$TMPDIR/scratch.txt"\nsleep 600\n',
    });
    await world.pass();
    const run = (await world.job(uid)).meta.run;
    const jobId = run?.executor === "slurm" ? run.job_id : "";
    expect(jobId).toMatch(/^\d+$/);
    // What any user of the cluster may ask: the job's working folder is the run folder.
    const folder = (await execa("squeue", ["-h", "-j", jobId, "-o", "%Z"])).stdout.trim();
    expect(path.basename(folder)).toMatch(/^run-/);
    const targets = {
      folder: folder,
      request: path.join(folder, "request.json"),
      script: path.join(folder, "job.sh"),
      "Slurm's output": path.join(folder, "slurm.txt"),
      stage: path.join(folder, "stage"),
      output: path.join(folder, "stage", "output", "secret.txt"),
      scratch: path.join(folder, "stage", "tmp", "scratch.txt"),
      code: path.join(folder, "stage", "work", "run.sh"),
      results: path.join(folder, "results"),
    };
    // They are all there (this test runs as root): the job has written its output and scratch.
    await waitUntil(async () => fs.pathExists(targets.scratch), "the job to write its scratch file on the node", 30_000);
    for (const [what, file] of Object.entries(targets)) expect(await fs.pathExists(file), what).toBe(true);
    // A user of the cluster (neither root nor nobody) tries to list or read each.
    for (const [what, file] of Object.entries(targets)) {
      const isDir = (await fs.stat(file)).isDirectory();
      const tried = await execa("setpriv", ["--reuid=4242", "--regid=4242", "--clear-groups", "--", isDir ? "ls" : "cat", file], { reject: false });
      expect(tried.exitCode, `${what}: ${tried.stdout}`).not.toBe(0);
      expect(tried.stderr, what).toMatch(/Permission denied/);
      expect(tried.stdout, what).not.toMatch(/SECRET|sleep 600|"uid"/);
    }
    expect((await api.cancel(uid, "done looking", world.scientist)).outcome).toBe("requested");
    await world.settle();
    expect((await world.job(uid)).status).toBe("failed");
  });

  test("slurmctld stopped mid-run: running jobs stay running, approved ones stay approved, and both go on when it returns", async () => {
    const world = await slurmWorld({ max_concurrent_jobs: 1 });
    const first = await approved(world, { "run.sh": "sleep 4\necho first > $OUTPUT_DIR/first.txt\n" });
    await world.pass();
    expect((await world.job(first)).status).toBe("running");
    const second = await approved(world, { "run.sh": "echo second > $OUTPUT_DIR/second.txt\n" });
    await cluster.stopController();
    try {
      // The controller is gone: nothing is lost or failed, and the log says why nothing moves.
      const summary = await world.pass();
      expect(summary.ran).toEqual([]);
      expect((await world.job(first)).status).toBe("running");
      expect((await world.job(second)).status).toBe("approved");
      expect(world.lines).toContainEqual(
        expect.stringMatching(/^run: 1 running job\(s\) left as they are, to be collected later: cannot reach the Slurm controller/),
      );
    } finally {
      await cluster.startController();
    }
    await world.settle();
    for (const [uid, file] of [
      [first, "first.txt"],
      [second, "second.txt"],
    ] as const) {
      const job = await world.job(uid);
      expect(job.status, job.meta.error_message ?? "").toBe("completed");
      expect(await fs.readFile(path.join(job.dir, "output", file), "utf8")).toMatch(/^(first|second)\n$/);
    }
  });

  test("a cluster that cannot be reached leaves approved jobs approved, with a pass-log line saying so", async () => {
    const world = await slurmWorld();
    const uid = await approved(world, { "run.sh": "echo hi\n" });
    await cluster.stopController();
    try {
      const summary = await world.pass();
      expect(summary.sandbox_problem).toMatch(/^cannot reach the Slurm cluster \(sinfo: .*\)\. Approved jobs stay approved/);
      expect((await world.job(uid)).status).toBe("approved");
      expect(world.lines).toContainEqual(expect.stringMatching(/^NOT starting 1 approved job\(s\): cannot reach the Slurm cluster/));
    } finally {
      await cluster.startController();
    }
    await world.settle();
    expect((await world.job(uid)).status).toBe("completed");
  });

  test("a job Slurm refuses (more memory than any node has) fails with Slurm's own words, once, instead of being retried for ever", async () => {
    const world = await slurmWorld({ limits: { memory_mb: 64 * 1024 * 1024 } });
    const uid = await approved(world, { "run.sh": "echo never\n" });
    await world.pass();
    const job = await world.job(uid);
    expect(job.status).toBe("failed");
    expect(job.meta.error_message).toMatch(/^Slurm refused the job: sbatch: error: /);
    expect(world.lines.some((l) => l.includes("please report it"))).toBe(false);
    await world.pass();
    expect((await readAudit(world.paths)).filter((e) => e.uid === uid && e.event === "failed")).toHaveLength(1);
  });

  test("a job waiting on a drained node: status says it is queued in Slurm and why; past executor.max_queue_wait it is cancelled and fails with that reason", async () => {
    const world = await slurmWorld();
    (world.config.executor as { max_queue_wait: number }).max_queue_wait = 3;
    const uid = await approved(world, { "run.sh": "echo never > $OUTPUT_DIR/never.txt\n" });
    await cluster.drain("scq-maintenance");
    try {
      await world.pass();
      let jobId = "";
      await waitUntil(async () => {
        await world.pass();
        const [running] = (await api.status(world.owner)).running;
        jobId = running?.runs_on.match(/^Slurm job (\d+)/)?.[1] ?? "";
        return /, queued in Slurm \(.+\) since /.test(running?.runs_on ?? "");
      }, "status to say the job waits in Slurm's queue");
      expect((await world.job(uid)).status).toBe("running");
      await new Promise((resolve) => setTimeout(resolve, 3500));
      await world.pass();
      const job = await world.job(uid);
      expect(job.status).toBe("failed");
      expect(job.meta.error_message).toMatch(
        /waited in Slurm's queue for \d+s \(.+\), longer than executor\.max_queue_wait \(3 s\), and was cancelled before it began/,
      );
      const left = await execa("squeue", ["-h", "-j", jobId, "-o", "%T"], { reject: false });
      expect(left.stdout.trim()).not.toMatch(/PENDING|RUNNING/);
      expect(await fs.pathExists(path.join(job.dir, "output", "never.txt"))).toBe(false);
    } finally {
      await cluster.resume();
    }
  });
});
