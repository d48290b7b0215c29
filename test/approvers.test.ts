// N-of-M approvals: listed approvers vote from their own SyftBox account (scq approve|reject
// --datasite <owner>), into the one folder of the owner's queue they may write; the owner's pass counts
// the votes. And every way around it: the requester's own vote, a folder of someone not listed, a vote
// for other code, a damaged vote file.
import fs from "fs-extra";
import path from "node:path";
import { describe, expect, test } from "vitest";
import { getJobLogs, reviewJob } from "../lib/people/api.ts";
import { readAudit } from "../lib/queue/audit.ts";
import { datasiteDir, voteFile } from "../lib/core/paths.ts";
import { makeWorld, OWNER, runScript, SCIENTIST, worldArgs, type World } from "./helpers.ts";
import { mayAccess } from "./syftbox-rules.ts";

const ALICE = "alice@test.local";
const BOB = "bob@test.local";
const CODE = { "run.sh": 'echo "counts by region" > "$OUTPUT_DIR/counts.txt"\n' };

/** A world whose owner asks for 2 approvals out of the owner, Alice and Bob, with their datasites synced. */
async function twoOfThree(approvers = [OWNER, ALICE, BOB]): Promise<World> {
  const world = await makeWorld({ approvals: { required: 2, approvers } });
  for (const email of [ALICE, BOB]) await fs.mkdirp(datasiteDir(world.dataDir, email));
  return world;
}

/** `scq <args>` as `email`, reviewing the owner's queue when it is someone else. */
function scqAs(world: World, email: string, args: string[]) {
  return runScript("scq.ts", [...args, ...worldArgs(world, email), ...(email === OWNER ? [] : ["--datasite", OWNER])]);
}

describe("N-of-M approvals", () => {
  test("a job runs only once 2 listed approvers approved its exact code; review shows who approved and who is still needed", async () => {
    const world = await twoOfThree();
    const uid = await world.submit(CODE, "regional counts");
    await world.pass();
    const sha = (await world.job(uid)).meta.code_sha256!;

    // The approver sees the owner's pending jobs and reviews the code, from their own account.
    const pending = await scqAs(world, ALICE, ["pending"]);
    expect(pending.exitCode, pending.stderr).toBe(0);
    expect(pending.stdout).toContain(uid.slice(-8));
    expect(pending.stdout).toContain(`scq approve|reject <uid> --datasite ${OWNER}`);

    const owner = await scqAs(world, OWNER, ["approve", uid.slice(-8), "--sha", sha, "-r", "aggregates only"]);
    expect(owner.exitCode, owner.stderr).toBe(0);
    expect(owner.stdout).toContain(`Voted to approve ${uid}`);
    await world.pass();
    let job = await world.job(uid);
    expect(job.status).toBe("pending");
    expect(job.meta.votes).toEqual([expect.objectContaining({ by: OWNER, decision: "approve", code_sha256: sha, reason: "aggregates only" })]);
    const review = await scqAs(world, OWNER, ["review", uid.slice(-8)]);
    expect(review.stdout).toContain("Approvals: 1 of 2 required");
    expect(review.stdout).toMatch(new RegExp(`${OWNER} approved .*: aggregates only`));
    expect(review.stdout).toContain(`Still needed: 1 more, from ${ALICE}, ${BOB}`);
    // A listed approver's review says the same: the owner's pass publishes the approvals to them.
    const hers = await scqAs(world, ALICE, ["review", uid.slice(-8)]);
    expect(hers.stdout).toContain("Approvals: 1 of 2 required");
    expect(hers.stdout).toContain(`Still needed: 1 more, from ${ALICE}, ${BOB}`);

    const alice = await scqAs(world, ALICE, ["approve", uid.slice(-8), "--sha", sha, "-r", "fine by me"]);
    expect(alice.exitCode, alice.stderr).toBe(0);
    expect(await fs.pathExists(voteFile(world.paths, ALICE, uid))).toBe(true);
    const summaries = await world.settle();
    expect(summaries[0]!.decided).toEqual([{ uid, to: "approved" }]);
    job = await world.job(uid);
    expect(job.status).toBe("completed");
    expect(job.meta.decision).toMatchObject({ by: `${OWNER}, ${ALICE}`, reason: `${OWNER}: aggregates only; ${ALICE}: fine by me` });

    const audit = (await readAudit(world.paths)).filter((e) => e.uid === uid);
    expect(audit.filter((e) => e.event === "vote").map((e) => [e.by, e.detail.decision, e.detail.counts])).toEqual([
      [OWNER, "approve", true],
      [ALICE, "approve", true],
    ]);
    expect(audit.find((e) => e.event === "approve-marker")).toMatchObject({
      by: `${OWNER}, ${ALICE}`,
      detail: { votes: [OWNER, ALICE], required: 2 },
    });
    expect(world.lines).toContainEqual(`vote: ${uid.slice(-8)} has 2 of 2 approvals (${OWNER}, ${ALICE}): approval marker written`);
  });

  test("one listed approver's reject rejects the job, with their reason for the requester", async () => {
    const world = await twoOfThree();
    const uid = await world.submit(CODE);
    await world.pass();
    expect((await scqAs(world, OWNER, ["approve", uid, "-r", "ok"])).exitCode).toBe(0);
    const bob = await scqAs(world, BOB, ["reject", uid, "-r", "reads row-level data"]);
    expect(bob.exitCode, bob.stderr).toBe(0);
    expect(bob.stdout).toContain(`Voted to reject ${uid}`);
    await world.pass();
    const job = await world.job(uid);
    expect(job.status).toBe("rejected");
    expect(job.meta.error_message).toBe(`rejected by ${BOB}: reads row-level data`);
    const seen = JSON.parse((await runScript("scq.ts", ["job", uid, "--json", ...worldArgs(world, SCIENTIST)])).stdout) as { error_message: string };
    expect(seen.error_message).toBe(`rejected by ${BOB}: reads row-level data`);
  });

  test("votes that never count: the requester's own, a folder not named for a listed approver, other code, a damaged file", async () => {
    // The requester is also a listed approver: they still never count for their own job.
    const world = await twoOfThree([OWNER, ALICE, SCIENTIST]);
    const uid = await world.submit(CODE);
    await world.pass();
    const sha = (await world.job(uid)).meta.code_sha256!;

    const own = await runScript("scq.ts", ["approve", uid, ...worldArgs(world, SCIENTIST), "--datasite", OWNER]);
    expect(own.exitCode).toBe(1);
    expect(own.stdout).toContain("a requester never counts as an approver of their own job");
    // Written by hand into folders only SyftBox's rules keep them out of.
    const vote = (by: string, extra: object = {}) => ({
      uid,
      decision: "approve",
      reason: "",
      by,
      at: new Date().toISOString(),
      code_sha256: sha,
      ...extra,
    });
    await fs.outputJson(voteFile(world.paths, SCIENTIST, uid), vote(SCIENTIST));
    await fs.outputJson(voteFile(world.paths, BOB, uid), vote(BOB)); // Bob is not listed here
    await fs.outputJson(voteFile(world.paths, "mallory@test.local", uid), vote(OWNER)); // claims to be the owner
    await fs.outputJson(voteFile(world.paths, ALICE, uid), vote(ALICE, { code_sha256: "0".repeat(64) })); // for other code
    await fs.outputFile(voteFile(world.paths, OWNER, uid), "{ half written");
    // A damaged file may be a sync still writing it: left for a minute, then ignored.
    await world.pass();
    expect(await fs.pathExists(voteFile(world.paths, OWNER, uid))).toBe(true);
    const aMinuteAgo = new Date(Date.now() - 61_000);
    await fs.utimes(voteFile(world.paths, OWNER, uid), aMinuteAgo, aMinuteAgo);
    await world.pass();

    let job = await world.job(uid);
    expect(job.status).toBe("pending");
    expect(job.meta.votes).toEqual([expect.objectContaining({ by: ALICE, code_sha256: "0".repeat(64) })]);
    const short = uid.slice(-8);
    expect(world.lines).toContainEqual(`vote: decisions/${SCIENTIST}/${short}… ignored: the requester of a job never counts as one of its approvers`);
    expect(world.lines).toContainEqual(`vote: decisions/${BOB}/${short}… ignored: ${BOB} is not a listed approver (config.json approvals.approvers)`);
    expect(world.lines).toContainEqual(
      `vote: decisions/mallory@test.local/${short}… ignored: mallory@test.local is not a listed approver (config.json approvals.approvers)`,
    );
    expect(world.lines).toContainEqual(`vote: ${short} ${ALICE} votes to approve: NOT counted, the vote is for other code than this job's`);
    expect(world.lines.some((l) => l.startsWith(`vote: decisions/${OWNER}/${short}… ignored: not a valid vote:`))).toBe(true);
    // Said once: the ignored files are gone, and the next pass is quiet about them.
    for (const who of [SCIENTIST, BOB, "mallory@test.local", OWNER]) expect(await fs.pathExists(voteFile(world.paths, who, uid))).toBe(false);
    const ignored = (await readAudit(world.paths)).filter((e) => e.event === "vote-ignored");
    expect(ignored.map((e) => e.detail.folder).sort()).toEqual([
      `decisions/${BOB}`,
      "decisions/mallory@test.local",
      `decisions/${OWNER}`,
      `decisions/${SCIENTIST}`,
    ]);
    world.lines.length = 0;
    await world.pass();
    expect(world.lines.filter((l) => l.startsWith("vote:"))).toEqual([]);

    // Alice votes again on the code she was shown: with the owner's vote, that is 2 of 2 possible.
    expect((await scqAs(world, ALICE, ["approve", uid, "--sha", sha])).exitCode).toBe(0);
    expect((await scqAs(world, OWNER, ["approve", uid, "--sha", sha])).exitCode).toBe(0);
    await world.settle();
    job = await world.job(uid);
    expect(job.status).toBe("completed");
    expect(job.meta.decision?.by).toBe(`${ALICE}, ${OWNER}`);
  });

  test("a counted vote file is removed; an approver may change their vote; fewer required approvals count the votes already in", async () => {
    const world = await twoOfThree();
    const uid = await world.submit(CODE);
    await world.pass();
    expect((await scqAs(world, ALICE, ["approve", uid, "-r", "looks fine"])).exitCode).toBe(0);
    await world.pass();
    // Recorded on the job and in the audit log: the file itself is gone, and the next pass reads nothing.
    expect(await fs.pathExists(voteFile(world.paths, ALICE, uid))).toBe(false);
    expect((await world.job(uid)).meta.votes.map((v) => [v.by, v.decision])).toEqual([[ALICE, "approve"]]);
    world.lines.length = 0;
    await world.pass();
    expect(world.lines.filter((l) => l.startsWith("vote:"))).toEqual([]);

    // Alice changes her mind: her latest vote counts, and it rejects.
    expect((await scqAs(world, ALICE, ["reject", uid, "-r", "on second thought: row-level"])).exitCode).toBe(0);
    await world.pass();
    const rejected = await world.job(uid);
    expect(rejected.status).toBe("rejected");
    expect(rejected.meta.votes.map((v) => [v.by, v.decision])).toEqual([[ALICE, "reject"]]);
    const votes = (await readAudit(world.paths)).filter((e) => e.uid === uid && e.event === "vote");
    expect(votes.map((e) => [e.detail.decision, e.detail.replaces ?? null])).toEqual([
      ["approve", null],
      ["reject", "approve"],
    ]);
    // A vote on a job that no longer waits changes nothing, and is said once.
    await fs.outputJson(voteFile(world.paths, BOB, uid), {
      uid,
      decision: "approve",
      reason: "",
      by: BOB,
      at: new Date().toISOString(),
      code_sha256: rejected.meta.code_sha256,
    });
    await world.pass();
    expect(world.lines).toContainEqual(
      `vote: decisions/${BOB}/${uid.slice(-8)}… ignored: the job is not pending: a vote counts only while a job waits for its decision`,
    );
    expect((await world.job(uid)).status).toBe("rejected");

    // One approval in, two required; the owner lowers it to one: the next pass counts the votes already in.
    const other = await world.submit(CODE);
    await world.pass();
    expect((await scqAs(world, BOB, ["approve", other])).exitCode).toBe(0);
    await world.pass();
    expect((await world.job(other)).status).toBe("pending");
    const { runPass } = await import("../lib/pass/pass.ts");
    const config = { ...world.config, approvals: { required: 1, approvers: [OWNER, ALICE, BOB] } };
    const summary = await runPass({ dataDir: world.dataDir, owner: OWNER, config, log: () => {} });
    expect(summary.decided).toEqual([{ uid: other, to: "approved" }]);
  });

  test("a folder flooded with vote files holds no pass: a bounded number a pass, votes on waiting jobs first", async () => {
    const world = await twoOfThree();
    const uid = await world.submit(CODE);
    await world.pass();
    const folder = path.join(world.paths.decisions, ALICE);
    await fs.mkdirp(folder);
    const junk = { decision: "approve", reason: "", by: ALICE, at: new Date().toISOString(), code_sha256: "0".repeat(64) };
    for (let i = 0; i < 1200; i += 1) {
      const other = `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`;
      await fs.writeJson(path.join(folder, `${other}.json`), { ...junk, uid: other });
    }
    expect((await scqAs(world, ALICE, ["approve", uid, "-r", "real vote"])).exitCode).toBe(0);
    await world.pass();
    expect((await world.job(uid)).meta.votes.map((v) => [v.by, v.reason])).toEqual([[ALICE, "real vote"]]);
    expect(world.lines).toContainEqual(`vote: decisions/${ALICE}/ holds 1201 vote files: 500 are dealt with this pass, the rest by the next ones`);
    expect((await fs.readdir(folder)).length).toBe(701);
    // The junk (499 with the real vote first) is said once a pass, in one line of the log and one of the audit, naming a few of them.
    const why = "the job is not pending: a vote counts only while a job waits for its decision";
    expect(world.lines).toContainEqual(`vote: decisions/${ALICE}/: 499 vote files ignored: ${why}`);
    let ignored = (await readAudit(world.paths)).filter((e) => e.event === "vote-ignored");
    expect(ignored).toEqual([
      expect.objectContaining({ uid: null, detail: expect.objectContaining({ folder: `decisions/${ALICE}`, files: 499 }) as unknown }),
    ]);
    expect((ignored[0]!.detail.uids as string[]).length).toBe(20);
    for (let i = 0; i < 2; i += 1) await world.pass();
    expect(await fs.readdir(folder)).toEqual([]);
    ignored = (await readAudit(world.paths)).filter((e) => e.event === "vote-ignored");
    expect(ignored.map((e) => e.detail.files)).toEqual([499, 500, 201]);
  });

  test("an owner who is not listed cannot approve; a config that asks for more approvers than it lists is refused", async () => {
    const world = await twoOfThree([ALICE, BOB]);
    const uid = await world.submit(CODE);
    await world.pass();
    const refused = await scqAs(world, OWNER, ["approve", uid]);
    expect(refused.exitCode).toBe(1);
    expect(refused.stdout).toContain(`Jobs here need 2 approval(s) from ${ALICE}, ${BOB}, and you (${OWNER}) are not listed`);

    await fs.writeJson(world.configFile, { ...world.config, approvals: { required: 3, approvers: [ALICE, BOB] } });
    const bad = await scqAs(world, OWNER, ["status"]);
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toContain('field "approvals.required": cannot be more than the number of approvers');
  });

  test("SyftBox lets each listed approver write only their own votes, and read only what they review, while it waits", async () => {
    const world = await twoOfThree();
    const uid = await world.submit(CODE);
    await world.pass();
    const site = datasiteDir(world.dataDir, OWNER);
    const can = (file: string, user: string, kind: "read" | "write") => mayAccess(site, OWNER, path.join(world.paths.root, file), user, kind);

    expect(await can(`decisions/${ALICE}/${uid}.json`, ALICE, "write")).toBe(true);
    expect(await can(`decisions/${BOB}/${uid}.json`, ALICE, "write")).toBe(false);
    expect(await can(`decisions/${uid}.json`, ALICE, "write")).toBe(false);
    expect(await can(`decisions/${SCIENTIST}/${uid}.json`, SCIENTIST, "write")).toBe(false);
    expect(await can(`jobs/pending/${uid}/code/run.sh`, ALICE, "read")).toBe(true);
    expect(await can(`jobs/pending/${uid}/metadata.json`, BOB, "read")).toBe(true);
    expect(await can(`jobs/pending/${uid}/code/run.sh`, "other@test.local", "read")).toBe(false);
    expect(await can(`jobs/pending/${uid}/code/run.sh`, ALICE, "write")).toBe(false);
    expect(await can("audit.jsonl", ALICE, "read")).toBe(false);
    // How many approvals a job needs, and from whom: for the approvers, not for everyone.
    expect(await can("approvals.json", ALICE, "read")).toBe(true);
    expect(await can("approvals.json", SCIENTIST, "read")).toBe(false);
    expect(await can("approvals.json", ALICE, "write")).toBe(false);

    // Approvers see the code, never the results.
    expect((await scqAs(world, ALICE, ["approve", uid])).exitCode).toBe(0);
    expect((await scqAs(world, BOB, ["approve", uid])).exitCode).toBe(0);
    await world.settle();
    const done = await world.job(uid);
    expect(done.status).toBe("completed");
    const dir = `jobs/completed/${uid}`;
    expect(await can(`${dir}/output/counts.txt`, SCIENTIST, "read")).toBe(true);
    expect(await can(`${dir}/output/counts.txt`, ALICE, "read")).toBe(false);
    expect(await can(`${dir}/run-logs/stdout.txt`, ALICE, "read")).toBe(false);
    // Once finished, nothing is left to vote on: not even its code and record stay theirs to read.
    expect(await can(`${dir}/code/run.sh`, ALICE, "read")).toBe(false);
    expect(await can(`${dir}/metadata.json`, BOB, "read")).toBe(false);
    expect(await can(`${dir}/metadata.json`, SCIENTIST, "read")).toBe(true);
    const asAlice = { ...world.owner, email: ALICE, datasite: OWNER };
    await expect(getJobLogs(uid, "stdout", asAlice)).rejects.toThrow(
      "an approver reviews its code and record; its logs and output are for its requester and owner",
    );
    expect((await reviewJob(uid, asAlice)).texts.map((t) => t.file)).toEqual(["run.sh"]);

    // Taking an approver off the list takes their access to jobs that wait.
    const later = await world.submit(CODE);
    await world.pass();
    expect(await can(`jobs/pending/${later}/code/run.sh`, BOB, "read")).toBe(true);
    const { runPass } = await import("../lib/pass/pass.ts");
    const config = { ...world.config, approvals: { required: 1, approvers: [OWNER, ALICE] } };
    await runPass({ dataDir: world.dataDir, owner: OWNER, config, log: () => {} });
    expect(await can(`jobs/pending/${later}/code/run.sh`, BOB, "read")).toBe(false);
    expect(await can(`decisions/${BOB}/${later}.json`, BOB, "write")).toBe(false);
    expect(await can(`jobs/pending/${later}/code/run.sh`, ALICE, "read")).toBe(true);
    expect(await fs.readJson(path.join(world.paths.root, "approvals.json"))).toEqual({ required: 1, approvers: [OWNER, ALICE] });
    // No approvals asked for any more: nothing published.
    await runPass({ dataDir: world.dataDir, owner: OWNER, config: { ...world.config, approvals: undefined }, log: () => {} });
    expect(await fs.pathExists(path.join(world.paths.root, "approvals.json"))).toBe(false);
  });
});
