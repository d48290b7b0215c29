// The queue on a real SyftBox network: a SyftBox server and one client per user, files moving only
// through the server, which enforces every syft.pub.yaml. The owner's client runs the app from its
// apps folder exactly as installed (its own run.sh, started by the client, looping); everyone else
// uses scripts/scq.sh, or the Python syft-code-queue client from PyPI. Nothing here touches another
// user's folder: what a user sees is what SyftBox brought them.
import { execa } from "execa";
import fs from "fs-extra";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { waitUntil } from "./helpers.ts";
import { buildTemplate } from "./install.ts";
import { PYTHON, peersMissing, startNetwork, type Network, type Peer } from "./network/syftbox.ts";

const OWNER = "owner@example.org";
const ALICE = "alice@example.org";
const BOB = "bob@example.org";
const CAROL = "carol@example.org";
const QUEUE = "app_data/code-queue";

const missing = peersMissing();
// CI installs the peers (.ci/install-peers): there, their absence is a failure, not a skip.
if (missing && process.env.CI) throw new Error(`the network tests cannot run: ${missing}`);
if (missing) console.warn(`network tests skipped: ${missing}`);

/** What the owner's app printed (the client writes it to <app>/logs/app.log): shown when a wait times out. */
let appLog = "";

/** waitUntil, with the long default wait sync needs, a check that may fail meanwhile, and the app's log when it times out. */
async function until(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  await waitUntil(() => check().catch(() => false), what, timeoutMs).catch(async (error: unknown) => {
    const tail = (await fs.promises.readFile(appLog, "utf8").catch(() => "")).split("\n").slice(-15).join("\n");
    throw new Error(`${error instanceof Error ? error.message : String(error)}; the owner's app log ends:\n${tail}`);
  });
}

describe.skipIf(missing !== undefined)("on a real SyftBox network", () => {
  let network: Network;
  let app: string;
  let scqSh: string;
  const peer = (email: string): Peer => network.peers[email]!;
  /** `scripts/scq.sh` as one user at their shell. */
  const scq = (email: string, args: string[]) =>
    execa(scqSh, args, { cwd: peer(email).home, env: peer(email).env(), extendEnv: false, reject: false });
  const scqJson = async <T>(email: string, args: string[]): Promise<T> => {
    const result = await scq(email, [...args, "--json"]);
    if (result.exitCode !== 0) throw new Error(`scq ${args.join(" ")} as ${email} exited ${result.exitCode}: ${result.stderr}`);
    return JSON.parse(result.stdout) as T;
  };
  /** The owner's job folder, wherever its status put it. */
  const ownerJob = async (uid: string): Promise<{ status: string; dir: string } | undefined> => {
    for (const status of ["pending", "approved", "running", "completed", "failed", "rejected"]) {
      const dir = path.join(peer(OWNER).datasite(OWNER), QUEUE, "jobs", status, uid);
      if (await fs.pathExists(path.join(dir, "metadata.json"))) return { status, dir };
    }
    return undefined;
  };
  /** The job's status as this user's scq sees it: "submitted" while their copy is only their inbox's. */
  const statusAs = async (email: string, uid: string) => {
    const job = await scqJson<{ status: string; taken_in?: boolean }>(email, ["job", uid]);
    return job.taken_in === false ? "submitted" : job.status;
  };
  const folder = async (files: Record<string, string>): Promise<string> => {
    const dir = await fs.promises.mkdtemp(path.join(network.root, "src-"));
    for (const [rel, content] of Object.entries(files)) await fs.outputFile(path.join(dir, rel), content);
    return dir;
  };
  const submit = async (email: string, dir: string, name: string) => {
    const result = await scq(email, ["submit", "--to", OWNER, "--folder", dir, "--name", name]);
    expect(result.exitCode, result.stderr).toBe(0);
    return { uid: /Submitted (\S+)/.exec(result.stdout)![1]!, stdout: result.stdout };
  };

  beforeAll(async () => {
    const template = await buildTemplate();
    scqSh = path.join(template, "scripts", "scq.sh");
    network = await startNetwork({ emails: [OWNER, ALICE, BOB, CAROL], runsApps: OWNER });
    // Installed as a user installs it: the app folder in the owner's apps/, configured in its config.json.
    app = path.join(peer(OWNER).dataDir, "apps", "syft-code-queue");
    appLog = path.join(app, "logs", "app.log");
    await fs.promises.cp(template, app, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
    const config = (await fs.readJson(path.join(app, "config.json"))) as Record<string, unknown>;
    await fs.writeJson(path.join(app, "config.json"), {
      ...config,
      interval: 2,
      release: "review",
      accept_legacy_jobs: true,
      approvals: { required: 1, approvers: [OWNER, CAROL] },
      ui: { serve: true },
    });
    // The client finds the app within seconds and starts its run.sh; the first pass publishes queue.json.
    await until("the queue to reach the requesters", async () => fs.pathExists(path.join(peer(ALICE).datasite(OWNER), QUEUE, "queue.json")), 90_000);
  }, 180_000);

  afterAll(async () => {
    await network?.stop();
  }, 60_000);

  let first: string;

  test("submit → pending → approve → run → release: the requester sees status, logs and output, and never what SyftBox does not sync", async () => {
    const dir = await folder({
      "run.sh": 'echo "hello from the job"\necho 42 > "$OUTPUT_DIR/answer.txt"\n',
      "__pycache__/helper.cpython-311.pyc": "compiled",
      ".venv/lib/site.py": "venv",
      "notes.log": "my notes",
    });
    await fs.promises.symlink("/usr/bin/python3", path.join(dir, ".venv", "python"));
    const submitted = await submit(ALICE, dir, "first");
    first = submitted.uid;
    expect(submitted.stdout).toMatch(/Left out \(SyftBox never syncs them.*\): .*\.venv\/.*__pycache__\/.*notes\.log/);

    await until("the job to be pending at the owner's", async () => (await ownerJob(first))?.status === "pending");
    expect(await fs.readdir(path.join((await ownerJob(first))!.dir, "code"))).toEqual(["run.sh"]);
    await until("the requester to see it pending", async () => (await statusAs(ALICE, first)) === "pending");

    expect((await scq(OWNER, ["approve", first])).exitCode).toBe(0);
    await until("the job to finish, its output held", async () => (await ownerJob(first))?.status === "completed", 90_000);
    await until("the requester to see it completed", async () => (await statusAs(ALICE, first)) === "completed");
    const held = await scq(ALICE, ["logs", first]);
    expect(held.exitCode).toBe(1);
    expect(held.stderr).toContain("await the owner's review");

    expect((await scq(OWNER, ["release", first])).exitCode).toBe(0);
    await until("the logs to reach the requester", async () => (await scq(ALICE, ["logs", first])).stdout.includes("hello from the job"));
    const out = path.join(network.root, "alice-output");
    await until("the output to reach the requester", async () => (await scq(ALICE, ["output", first, "--to", out])).exitCode === 0);
    expect(await fs.readFile(path.join(out, "answer.txt"), "utf8")).toBe("42\n");
    // The release is signed, and the owner's public keys reach the requester through the server: she
    // checks the result offline, with her own record of the code she sent.
    let said = "";
    await until("the signed result to verify at the requester's", async () => {
      const v = await scq(ALICE, ["verify", first]);
      said = `${v.stdout}${v.stderr}`;
      return v.exitCode === 0;
    }).catch((error: unknown) => {
      throw new Error(`${String(error)}\nscq verify said: ${said}`);
    });
    expect((await scq(ALICE, ["verify", first])).stdout).toMatch(/VERIFIED[\s\S]*ok {2}code +sha256 [0-9a-f]{16}…, what you submitted/);
  }, 240_000);

  test("an approver may read a finished job's code, record, logs and output no more; the requester's other user sees nothing", async () => {
    // (While it was pending the approver read its code and record: the next test shows it through the network.)
    const job = `${OWNER}/${QUEUE}/jobs/completed/${first}`;
    for (const file of ["metadata.json", "code/run.sh", "run-logs/stdout.txt", "output/answer.txt"]) {
      expect(await network.allowed(CAROL, `${job}/${file}`, "read"), file).toBe(false);
      expect(await network.allowed(ALICE, `${job}/${file}`, "read"), file).toBe(true);
    }
    const carolsCopy = path.join(peer(CAROL).datasite(OWNER), QUEUE, "jobs", "completed", first);
    expect(await fs.pathExists(path.join(carolsCopy, "run-logs"))).toBe(false);
    expect(await fs.pathExists(path.join(carolsCopy, "output"))).toBe(false);
    const bobsQueue = path.join(peer(BOB).datasite(OWNER), QUEUE);
    const bobSees = await fs.promises.readdir(bobsQueue, { recursive: true }).catch(() => []);
    expect(bobSees.filter((f) => String(f).includes(first))).toEqual([]);
  }, 60_000);

  test("an approver's vote arrives and runs the job; output that carries a permission file gains nothing", async () => {
    const dir = await folder({
      "run.sh": [
        'echo "secret" > "$OUTPUT_DIR/data.txt"',
        'printf \'rules:\\n  - pattern: "**"\\n    access:\\n      read: ["*"]\\n\' > "$OUTPUT_DIR/syft.pub.yaml"',
        "",
      ].join("\n"),
    });
    const { uid } = await submit(ALICE, dir, "sly");
    await until("the approver to see it pending", async () =>
      fs.pathExists(path.join(peer(CAROL).datasite(OWNER), QUEUE, "jobs", "pending", uid, "code", "run.sh")),
    );
    // Her review says how many approvals are still needed: the owner's approvals.json reached her client.
    await until("the approvals to reach the approver", async () => fs.pathExists(path.join(peer(CAROL).datasite(OWNER), QUEUE, "approvals.json")));
    const review = await scq(CAROL, ["review", uid, "--datasite", OWNER]);
    expect(review.stdout).toContain("Approvals: 0 of 1 required");
    expect(review.stdout).toContain(`Still needed: 1 more, from ${OWNER}, ${CAROL}`);
    expect(await fs.pathExists(path.join(peer(BOB).datasite(OWNER), QUEUE, "approvals.json"))).toBe(false);
    const vote = await scq(CAROL, ["approve", uid, "--datasite", OWNER]);
    expect(vote.exitCode, vote.stderr).toBe(0);
    await until("the vote to arrive and the job to run", async () => (await ownerJob(uid))?.status === "completed", 90_000);
    expect((await scq(OWNER, ["release", uid])).exitCode).toBe(0);
    const alicesCopy = path.join(peer(ALICE).datasite(OWNER), QUEUE, "jobs", "completed", uid, "output");
    await until("the released output to reach the requester", async () => fs.pathExists(path.join(alicesCopy, "data.txt")));
    expect(await fs.pathExists(path.join(alicesCopy, "syft.pub.yaml"))).toBe(false);
    const rel = `${OWNER}/${QUEUE}/jobs/completed/${uid}/output/data.txt`;
    expect(await network.allowed(BOB, rel, "read")).toBe(false);
    expect(await network.allowed(ALICE, rel, "read")).toBe(true);
    expect(await fs.pathExists(path.join(peer(BOB).datasite(OWNER), QUEUE, "jobs", "completed", uid))).toBe(false);
  }, 180_000);

  test("a requester's cancel arrives and acts", async () => {
    const { uid } = await submit(ALICE, await folder({ "run.sh": "echo never\n" }), "withdrawn");
    await until("the job to be pending at the owner's", async () => (await ownerJob(uid))?.status === "pending");
    const cancelled = await scq(ALICE, ["cancel", uid, "--reason", "wrong data"]);
    expect(cancelled.exitCode, cancelled.stderr).toBe(0);
    await until("the cancel to act at the owner's", async () => (await ownerJob(uid))?.status === "rejected");
    await until("the requester to see it rejected", async () => (await statusAs(ALICE, uid)) === "rejected");
  }, 120_000);

  test("another requester cannot write into someone's inbox: the server refuses it", async () => {
    const forged = path.join(peer(BOB).datasite(OWNER), QUEUE, "inbox", ALICE, "0190f3a0-0000-7000-8000-000000000001");
    await fs.outputFile(path.join(forged, "metadata.json"), "{}");
    expect(await network.allowed(BOB, `${OWNER}/${QUEUE}/inbox/${ALICE}/x/metadata.json`, "write")).toBe(false);
    // Bob's client tries, the server says no, and the client marks his copy rejected.
    await until("Bob's client to mark the write rejected", async () => fs.pathExists(path.join(forged, "metadata.rejected.json")));
    expect(await fs.pathExists(path.join(peer(OWNER).datasite(OWNER), QUEUE, "inbox", ALICE, path.basename(forged)))).toBe(false);
  }, 60_000);

  test("the Python syft-code-queue 0.1.27 client submits through the network and follows its job to the end", async () => {
    // The rule the README tells owners who take Python clients' jobs to write (exactly what that client expects).
    await fs.outputFile(
      path.join(peer(OWNER).datasite(OWNER), QUEUE, "jobs", "pending", "syft.pub.yaml"),
      "rules:\n- pattern: '**'\n  access:\n    read:\n    - '*'\n    write:\n    - '*'\n",
    );
    await until("the rule to reach the server", async () => network.allowed(ALICE, `${OWNER}/${QUEUE}/jobs/pending/x/metadata.json`, "write"));
    const code = await folder({ "run.sh": 'echo "hello from python"\n' });
    const python = (args: string[]) =>
      execa(PYTHON, [path.join(import.meta.dirname, "network", "python_client.py"), ...args], {
        env: peer(ALICE).env(),
        extendEnv: false,
        reject: false,
      });
    const submitted = await python(["submit", OWNER, code, "from python"]);
    expect(submitted.exitCode, submitted.stderr).toBe(0);
    const { uid } = JSON.parse(submitted.stdout) as { uid: string };
    await until(
      "the Python job to be taken in",
      async () => {
        const job = await ownerJob(uid);
        if (job?.status !== "pending") return false;
        return ((await fs.readJson(path.join(job.dir, "metadata.json"))) as { sender?: string }).sender === "unverified";
      },
      90_000,
    );
    expect((await scq(OWNER, ["approve", uid])).exitCode).toBe(0);
    await until("the Python job to run", async () => (await ownerJob(uid))?.status === "completed", 90_000);
    expect((await scq(OWNER, ["release", uid])).exitCode).toBe(0);
    await until(
      "the Python client to see it completed",
      async () => (JSON.parse((await python(["status", uid])).stdout) as { status: string | null }).status === "completed",
      90_000,
    );
    const mine = JSON.parse((await python(["mine"])).stdout) as { uids: string[] };
    expect(mine.uids).toContain(uid);
    expect(mine.uids).toContain(first);
  }, 300_000);

  test("the permissions table, as the server answers it", async () => {
    const STRANGER = "stranger@example.org";
    const users = [OWNER, ALICE, BOB, CAROL, STRANGER];
    const job = `jobs/completed/${first}`;
    // For each file the app writes a rule for: who may read (r) and write (w) it. "*" is everyone.
    const table: [string, Record<string, "" | "r" | "rw">][] = [
      ["queue.json", { [ALICE]: "r", [BOB]: "r", [CAROL]: "r", [STRANGER]: "r" }],
      // How many approvals a job needs, and from whom: for the listed approvers only.
      ["approvals.json", { [CAROL]: "r" }],
      ["syft.pub.yaml", {}],
      [`inbox/${ALICE}/0190f3a0-0000-7000-8000-000000000002/metadata.json`, { [ALICE]: "rw" }],
      [`inbox/${BOB}/0190f3a0-0000-7000-8000-000000000003/code/run.sh`, { [BOB]: "rw" }],
      [`decisions/${first}.json`, {}],
      [`decisions/${CAROL}/${first}.json`, { [CAROL]: "rw" }],
      [`decisions/${ALICE}/${first}.json`, {}],
      ["audit.jsonl", {}],
      // A finished job is its requester's alone: approvers read it while it waits for them, not after.
      [`${job}/metadata.json`, { [ALICE]: "r" }],
      [`${job}/code/run.sh`, { [ALICE]: "r" }],
      [`${job}/run-logs/stdout.txt`, { [ALICE]: "r" }],
      [`${job}/output/answer.txt`, { [ALICE]: "r" }],
      [`${job}/syft.pub.yaml`, { [ALICE]: "r" }],
      [`staging/${first}/output/answer.txt`, {}],
      [`jobs/.intake/${ALICE}/x/metadata.json`, {}],
    ];
    const expected: string[] = [];
    const answered: string[] = [];
    for (const [rel, access] of table) {
      for (const user of users) {
        const want = user === OWNER ? "rw" : (access[user] ?? "");
        const path_ = `${OWNER}/${QUEUE}/${rel}`;
        const got = `${(await network.allowed(user, path_, "read")) ? "r" : ""}${(await network.allowed(user, path_, "write")) ? "w" : ""}`;
        expected.push(`${rel} ${user}: ${want || "-"}`);
        answered.push(`${rel} ${user}: ${got || "-"}`);
      }
      // Nobody but the owner may change who may do what.
      for (const user of [ALICE, BOB, CAROL])
        expect(await network.allowed(user, `${OWNER}/${QUEUE}/${rel}`, "admin"), `${user} admin ${rel}`).toBe(false);
    }
    expect(answered).toEqual(expected);
  }, 60_000);

  test("the Go client's ways: the page on the assigned port, its token in no environment; a run survives the app's stop and restart", async () => {
    // The page: served by the loop on SYFTBOX_ASSIGNED_PORT, its URL (with the token) in an owner-only file.
    const urlFile = path.join(app, ".ui-url");
    await until("the review page's URL", async () => fs.pathExists(urlFile));
    expect((await fs.stat(urlFile)).mode & 0o777).toBe(0o600);
    const url = (await fs.readFile(urlFile, "utf8")).trim();
    expect((await fetch(url)).status).toBe(200);
    expect((await fetch(url.replace(/token=[^&]+/, "token=wrong"))).status).toBe(403);
    const token = new URL(url).searchParams.get("token")!;
    const environments = await Promise.all(
      (await fs.readdir("/proc")).filter((p) => /^\d+$/.test(p)).map((p) => fs.readFile(`/proc/${p}/environ`, "latin1").catch(() => "")),
    );
    expect(environments.filter((env) => env.includes(token))).toEqual([]);

    const { uid } = await submit(ALICE, await folder({ "run.sh": 'sleep 8\necho survived > "$OUTPUT_DIR/done.txt"\n' }), "long");
    await until("the job to be pending at the owner's", async () => (await ownerJob(uid))?.status === "pending");
    expect((await scq(OWNER, ["approve", uid])).exitCode).toBe(0);
    await until("the job to run", async () => (await ownerJob(uid))?.status === "running");
    // Once its supervisor has begun the job (its run folder says started) and the pass that started
    // it has had time to end, the run is no longer in the app's process tree, which stopping the
    // client kills whole. (Stopped in the instant a pass starts a job, a run can be caught in that
    // tree: that case is not claimed here.)
    const runs = path.join(peer(OWNER).dataDir, ".syft-code-queue", OWNER, "code-queue", "runs");
    await until("its supervisor to begin the job", async () => {
      for (const run of await fs.readdir(runs)) if (await fs.pathExists(path.join(runs, run, "started"))) return true;
      return false;
    });
    await new Promise((resolve) => setTimeout(resolve, 2000));
    await peer(OWNER).stop();
    await peer(OWNER).start();
    await until("the job to finish after the restart", async () => (await ownerJob(uid))?.status === "completed", 90_000);
    const job = await scqJson<{ exit_code: number }>(OWNER, ["job", uid]);
    expect(job.exit_code).toBe(0);
    // The client empties <app>/logs/ at each start: the app keeps nothing of its own there.
    expect(await fs.readdir(path.join(app, "logs"))).toEqual(["app.log"]);
  }, 180_000);
  test("output checkers: the held files reach a listed checker only, her vote comes back, and only then may the owner release", async () => {
    // The owner asks for one independent review, by Carol; the loop reads config.json at each pass.
    const configFile = path.join(app, "config.json");
    await fs.writeJson(configFile, { ...(await fs.readJson(configFile)), output_checkers: { required: 1, checkers: [CAROL] } });
    const dir = await folder({
      "run.sh": [
        'printf "region,count\\nnorth,120\\n" > "$OUTPUT_DIR/table.csv"',
        'printf "region,count\\nnorth,3\\n" > "$OUTPUT_DIR/raw.csv"',
        `printf '{"files":{"raw.csv":{"supporting":true}}}' > "$OUTPUT_DIR/manifest.json"`,
        "",
      ].join("\n"),
    });
    const { uid } = await submit(ALICE, dir, "checked");
    await until("the job to be pending at the owner's", async () => (await ownerJob(uid))?.status === "pending");
    expect((await scq(OWNER, ["approve", uid])).exitCode).toBe(0);
    await until("the job to complete", async () => (await ownerJob(uid))?.status === "completed", 90_000);
    const review = path.join(QUEUE, "output-review", uid);
    await until("the held files to reach the checker", async () =>
      fs.pathExists(path.join(peer(CAROL).datasite(OWNER), review, "files", "output", "raw.csv")),
    );
    // SyftBox brings files one by one, in any order: her view follows.
    await until("her view to reach the checker", async () => fs.pathExists(path.join(peer(CAROL).datasite(OWNER), review, "for", `${CAROL}.json`)));
    expect(await network.allowed(ALICE, `${OWNER}/${review}/files/output/table.csv`, "read")).toBe(false);
    expect(await network.allowed(BOB, `${OWNER}/${review}/files/output/table.csv`, "read")).toBe(false);
    expect(await network.allowed(ALICE, `${OWNER}/${QUEUE}/output-votes/${CAROL}/${uid}.json`, "write")).toBe(false);
    expect(await fs.pathExists(path.join(peer(ALICE).datasite(OWNER), review))).toBe(false);
    const refused = await scq(OWNER, ["release", uid]);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toContain("only files the output checkers approved may be released");

    const shown = await scq(CAROL, ["output-review", uid, "--datasite", OWNER]);
    expect(shown.stdout).toMatch(/raw\.csv .*SUPPORTING/);
    const vote = await scq(CAROL, ["output-vote", uid, "--datasite", OWNER, "--approve", "table.csv", "--approve", "manifest.json"]);
    expect(vote.exitCode, vote.stderr).toBe(0);
    await until(
      "her vote to reach the owner and be recorded",
      async () => (await scq(OWNER, ["checks", uid])).stdout.includes("checkers: APPROVED"),
      90_000,
    );
    const released = await scq(OWNER, ["release", uid]);
    expect(released.exitCode, released.stderr).toBe(0);
    const alicesCopy = path.join(peer(ALICE).datasite(OWNER), QUEUE, "jobs", "completed", uid, "output");
    await until("the approved output to reach the requester", async () => fs.pathExists(path.join(alicesCopy, "table.csv")));
    expect(await fs.pathExists(path.join(alicesCopy, "raw.csv"))).toBe(false);
  }, 240_000);
});
