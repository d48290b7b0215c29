// Independent output checkers (config output_checkers): listed checkers review a finished job's held
// files from their own account (scq output-review|output-vote --datasite <owner>), blind until enough
// reviews are in; the owner may release only the files they all approved; supporting files are shown
// to them and never released. And the ways around it: the requester's own review, an unlisted folder,
// votes on files not under review, a damaged vote file, another checker's view.
import fs from "fs-extra";
import path from "node:path";
import { describe, expect, test } from "vitest";
import * as api from "../lib/people/api.ts";
import { readAudit } from "../lib/queue/audit.ts";
import { datasiteDir } from "../lib/core/paths.ts";
import { AppConfigSchema, ChecksReportSchema, ReviewViewSchema } from "../lib/core/schemas.ts";
import { makeWorld, OWNER, runScript, SCIENTIST, worldArgs, type World } from "./helpers.ts";
import { mayAccess } from "./syftbox-rules.ts";
import { uuidv7 } from "../lib/core/uid.ts";

const ALICE = "alice@test.local";
const BOB = "bob@test.local";

// A table safe to release, the data behind it (marked supporting: it would fail the checks), and a line of stdout.
const CODE = {
  "run.sh": [
    'printf "region,count\\nnorth,120\\nsouth,95\\n" > "$OUTPUT_DIR/table.csv"',
    'printf "region,count\\nnorth,3\\nsouth,4\\n" > "$OUTPUT_DIR/raw.csv"',
    `printf '{"files":{"table.csv":{"description":"counts by region"},"raw.csv":{"description":"small cells behind it","supporting":true}}}' > "$OUTPUT_DIR/manifest.json"`,
    "echo done",
    "",
  ].join("\n"),
};
const TO_VOTE = ["manifest.json", "run-logs/stdout.txt", "table.csv"];

async function withCheckers(checkers = [ALICE, BOB], required = 2): Promise<World> {
  const world = await makeWorld({ output_checkers: { required, checkers } });
  for (const email of checkers) await fs.mkdirp(datasiteDir(world.dataDir, email));
  return world;
}

/** `scq <args>` as `email`, on the owner's queue. */
function scqAs(world: World, email: string, args: string[]) {
  return runScript("scq.ts", [...args, ...worldArgs(world, email), ...(email === OWNER ? [] : ["--datasite", OWNER])]);
}

async function viewOf(world: World, uid: string, checker: string) {
  return ReviewViewSchema.parse(await fs.readJson(path.join(world.paths.outputReview, uid, "for", `${checker}.json`)));
}

describe("output checkers", () => {
  test("two checkers review blind; a conflicted file cannot be released; supporting files never leave", async () => {
    const world = await withCheckers();
    const job = await world.approveAndRun(await world.submit(CODE, "regional counts"));
    const uid = job.uid;
    // Held under release "auto": the checkers decide before anything leaves.
    expect(job.status).toBe("completed");
    expect(job.meta.output_review).toBe("pending");
    expect(await fs.pathExists(path.join(job.dir, "output"))).toBe(false);
    const published = path.join(world.paths.outputReview, uid);
    expect(await fs.readFile(path.join(published, "files", "output", "table.csv"), "utf8")).toContain("north,120");
    expect(await fs.readFile(path.join(published, "files", "run-logs", "stdout.txt"), "utf8")).toBe("done\n");

    // What SyftBox lets each one read and write.
    const site = datasiteDir(world.dataDir, OWNER);
    const can = (rel: string, user: string, kind: "read" | "write") => mayAccess(site, OWNER, path.join(world.paths.root, rel), user, kind);
    expect(await can(`output-review/${uid}/files/output/table.csv`, ALICE, "read")).toBe(true);
    expect(await can(`output-review/${uid}/output-checks.json`, BOB, "read")).toBe(true);
    expect(await can(`output-review/${uid}/for/${ALICE}.json`, ALICE, "read")).toBe(true);
    expect(await can(`output-review/${uid}/for/${BOB}.json`, ALICE, "read")).toBe(false);
    expect(await can(`output-review/${uid}/files/output/raw.csv`, SCIENTIST, "read")).toBe(false);
    expect(await can(`output-votes/${ALICE}/${uid}.json`, ALICE, "write")).toBe(true);
    expect(await can(`output-votes/${BOB}/${uid}.json`, ALICE, "write")).toBe(false);
    expect(await can(`output-votes/${BOB}/${uid}.json`, ALICE, "read")).toBe(false);
    expect(await can(`staging/${uid}/reviews.json`, ALICE, "read")).toBe(false);

    const list = await scqAs(world, ALICE, ["output-review"]);
    expect(list.exitCode, list.stderr).toBe(0);
    expect(list.stdout).toContain(`${uid.slice(-8)}  "regional counts" from ${SCIENTIST}: you voted on 0 of 3 file(s); reviews in: 0 of 2`);
    const one = await scqAs(world, ALICE, ["output-review", uid.slice(-8)]);
    expect(one.stdout).toContain("Blind review");
    expect(one.stdout).toMatch(/raw\.csv .*SUPPORTING: explains the others, never released/);
    expect(one.stdout).toContain("the requester says: small cells behind it");
    // A supporting file takes no vote.
    const onRaw = await scqAs(world, ALICE, ["output-vote", uid.slice(-8), "--approve", "raw.csv"]);
    expect(onRaw.exitCode).toBe(2);
    expect(onRaw.stderr).toContain("raw.csv is a supporting file");

    const alice = await scqAs(world, ALICE, ["output-vote", uid.slice(-8), ...TO_VOTE.flatMap((f) => ["--approve", f])]);
    expect(alice.exitCode, alice.stderr).toBe(0);
    expect(alice.stdout).toContain(`Voted on 3 file(s) of ${uid}`);
    await world.pass();
    expect(await fs.pathExists(path.join(world.paths.outputVotes, ALICE, `${uid}.json`))).toBe(false);
    // Blind: Alice sees her own votes only; Bob sees nothing of hers; the owner sees a count.
    const hers = await viewOf(world, uid, ALICE);
    expect(hers).toMatchObject({ reviews_in: 1, blind: true });
    expect(hers.files.find((f) => f.path === "table.csv")).toMatchObject({ mine: { vote: "approve" }, decision: null, votes: null });
    expect(JSON.stringify(await viewOf(world, uid, BOB))).not.toContain(ALICE);
    const blindChecks = await scqAs(world, OWNER, ["checks", uid.slice(-8)]);
    expect(blindChecks.stdout).toContain("Output checkers: 1 of 2 reviews in (blind");
    expect(blindChecks.stdout).not.toContain(ALICE);
    await expect(api.release(uid, {}, world.owner)).rejects.toThrow(/table\.csv: 1 of 2 reviews in/);
    // Whatever settings the caller read: the held job itself says whom it waits for.
    const elsewhere = { ...world.owner, config: AppConfigSchema.parse({}) };
    await expect(api.release(uid, {}, elsewhere)).rejects.toThrow(/only files the output checkers approved may be released/);

    const bob = await scqAs(world, BOB, [
      "output-vote",
      uid.slice(-8),
      "--request-changes",
      "table.csv",
      "--comment",
      "table.csv: round to 5 first",
      "--approve",
      "manifest.json",
      "--approve",
      "run-logs/stdout.txt",
    ]);
    expect(bob.exitCode, bob.stderr).toBe(0);
    await world.pass();
    // Both reviews in: each sees the other's votes, and the decisions.
    const seen = (await viewOf(world, uid, ALICE)).files.find((f) => f.path === "table.csv");
    expect(seen).toMatchObject({ decision: "conflicted" });
    expect(seen?.votes).toContainEqual({ by: BOB, vote: "request_changes", comment: "round to 5 first" });
    const aliceSees = await scqAs(world, ALICE, ["output-review", uid.slice(-8)]);
    expect(aliceSees.stdout).toContain(`decision: CONFLICTED (${ALICE}: approve; ${BOB}: request changes ("round to 5 first"))`);
    const checks = await scqAs(world, OWNER, ["checks", uid.slice(-8)]);
    expect(checks.stdout).toContain("Output checkers: 2 of 2 reviews in");
    expect(checks.stdout).toContain(`checkers: CONFLICTED (${ALICE}: approve; ${BOB}: request changes "round to 5 first")`);
    expect(checks.stdout).toMatch(/raw\.csv .*\[supporting: never released\]/);

    await expect(api.release(uid, {}, world.owner)).rejects.toThrow(
      new RegExp(`only files the output checkers approved may be released; table\\.csv: conflicted \\(${ALICE} approve, ${BOB} request changes\\)`),
    );
    const released = await scqAs(world, OWNER, ["release", uid.slice(-8), "--withhold", "table.csv", "-r", "the checkers disagree"]);
    expect(released.exitCode, released.stderr).toBe(0);
    const done = await world.job(uid);
    expect(done.meta.output_decisions?.released.sort()).toEqual(["manifest.json", "run-logs/stdout.txt"]);
    expect(done.meta.output_decisions?.withheld).toEqual([
      { path: "table.csv", reason: "the checkers disagree" },
      { path: "raw.csv", reason: "supporting file: shown to the reviewers, never released" },
    ]);
    expect(await fs.pathExists(path.join(done.dir, "output", "raw.csv"))).toBe(false);
    expect(await fs.pathExists(path.join(done.dir, "output", "table.csv"))).toBe(false);
    expect((await api.getJobOutput(uid, {}, world.scientist)).files.map((f) => f.rel)).toEqual(["manifest.json"]);
    // The checkers' copies are taken back; the votes live on in the owner's audit log.
    expect(await fs.pathExists(published)).toBe(false);
    const audit = await readAudit(world.paths);
    expect(audit.filter((e) => e.uid === uid && e.event === "output-vote").map((e) => e.by)).toEqual([ALICE, BOB]);
    expect(audit.find((e) => e.uid === uid && e.event === "released")?.detail).toMatchObject({
      reviews: { [ALICE]: { files: { "table.csv": { vote: "approve" } } }, [BOB]: { files: { "table.csv": { vote: "request_changes" } } } },
    });
  });

  test("votes that do not count: the requester's, an unlisted folder's, on files not under review, a damaged file; votes written in turn add up", async () => {
    const world = await withCheckers([ALICE, SCIENTIST], 1);
    const uid = (await world.approveAndRun(await world.submit(CODE))).uid;
    const voteFile = (by: string) => path.join(world.paths.outputVotes, by, `${uid}.json`);
    const at = new Date().toISOString();
    const approveAll = { uid, files: Object.fromEntries(TO_VOTE.map((f) => [f, { vote: "approve" }])), at };
    // The requester is listed, and writes a review of their own job; so does someone not listed.
    await fs.outputJson(voteFile(SCIENTIST), approveAll);
    await fs.outputJson(voteFile("mallory@test.local"), approveAll);
    // Alice's first file votes on the supporting file, written by hand past the CLI's own check.
    await fs.outputJson(voteFile(ALICE), { uid, files: { "raw.csv": { vote: "approve" } }, at });
    await world.pass();
    for (const by of [SCIENTIST, "mallory@test.local", ALICE]) expect(await fs.pathExists(voteFile(by))).toBe(false);
    const ignored = (await readAudit(world.paths))
      .filter((e) => e.event === "output-vote-ignored")
      .map((e) => [e.by, e.detail.reason])
      .sort();
    expect(ignored).toEqual([
      [ALICE, expect.stringContaining("it votes on raw.csv, which is not among the files to review")],
      ["mallory@test.local", "mallory@test.local is not a listed output checker (config.json output_checkers.checkers)"],
      [SCIENTIST, "the requester of a job never checks its output"],
    ]);
    expect((await viewOf(world, uid, ALICE)).reviews_in).toBe(0);
    // A flood in one folder: 200 files a pass, said in the pass log; the rest wait for the next.
    for (let i = 0; i < 201; i += 1) await fs.outputJson(path.join(world.paths.outputVotes, "mallory@test.local", `${uuidv7()}.json`), approveAll);
    await world.pass();
    expect(world.lines).toContainEqual(
      expect.stringContaining("output-votes/mallory@test.local/ holds 201 vote files: 200 are dealt with this pass"),
    );
    expect(await fs.readdir(path.join(world.paths.outputVotes, "mallory@test.local"))).toHaveLength(1);
    // The requester gets no view of their own job's review.
    expect(await fs.pathExists(path.join(world.paths.outputReview, uid, "for", `${SCIENTIST}.json`))).toBe(false);

    // A damaged file is left while it may still be syncing, then ignored.
    await fs.outputFile(voteFile(ALICE), "{not json");
    await world.pass();
    expect(await fs.pathExists(voteFile(ALICE))).toBe(true);
    const old = new Date(Date.now() - 120_000);
    await fs.utimes(voteFile(ALICE), old, old);
    await world.pass();
    expect(await fs.pathExists(voteFile(ALICE))).toBe(false);
    expect((await readAudit(world.paths)).filter((e) => e.event === "output-vote-ignored").at(-1)?.detail.reason).toMatch(/^not a valid review/);

    // Hostile files in her folder: a link to a valid-looking review elsewhere is never followed; a
    // folder by a vote's name, and a vote on a path outside the held files, are ignored and removed.
    const elsewhere = path.join(world.root, "elsewhere.json");
    await fs.outputJson(elsewhere, approveAll);
    await fs.ensureSymlink(elsewhere, voteFile(ALICE));
    await fs.utimes(elsewhere, old, old);
    await fs.promises.lutimes(voteFile(ALICE), old, old);
    await world.pass();
    expect(await fs.pathExists(voteFile(ALICE))).toBe(false);
    expect(await fs.pathExists(elsewhere)).toBe(true);
    expect((await readAudit(world.paths)).filter((e) => e.event === "output-vote-ignored").at(-1)?.detail.reason).toMatch(/symbolic link/);
    await fs.mkdirp(path.join(voteFile(ALICE), "inner"));
    const folderAt = new Date(Date.now() - 120_000);
    await fs.utimes(voteFile(ALICE), folderAt, folderAt);
    await world.pass();
    expect(await fs.pathExists(voteFile(ALICE))).toBe(false);
    await fs.outputJson(voteFile(ALICE), { uid, files: { "../../decisions/x.json": { vote: "approve" } }, at });
    await world.pass();
    expect((await readAudit(world.paths)).filter((e) => e.event === "output-vote-ignored").at(-1)?.detail.reason).toContain(
      "it votes on ../../decisions/x.json, which is not among the files to review",
    );
    expect((await viewOf(world, uid, ALICE)).reviews_in).toBe(0);

    // Two votes written before a pass takes either: both count.
    for (const file of ["table.csv", "manifest.json"]) {
      const r = await scqAs(world, ALICE, ["output-vote", uid.slice(-8), "--approve", file]);
      expect(r.exitCode, r.stderr).toBe(0);
    }
    await world.pass();
    await expect(api.release(uid, {}, world.owner)).rejects.toThrow(/run-logs\/stdout\.txt: 0 of 1 reviews in/);
    expect((await scqAs(world, ALICE, ["output-vote", uid.slice(-8), "--approve", "run-logs/stdout.txt"])).exitCode).toBe(0);
    await world.pass();
    const view = await viewOf(world, uid, ALICE);
    expect(view).toMatchObject({ reviews_in: 1, blind: false });
    expect(view.files.filter((f) => !f.supporting).map((f) => f.decision)).toEqual(["approved", "approved", "approved"]);
    const done = await api.release(uid, {}, world.owner);
    expect(done.meta.output_decisions?.released.sort()).toEqual(TO_VOTE);
  });

  test("without checkers, supporting files stay behind when the output goes by itself, and their findings hold nothing back", async () => {
    const world = await makeWorld();
    const job = await world.approveAndRun(await world.submit(CODE));
    expect(job.meta.output_review).toBeNull();
    expect(job.meta.checks?.blocking).toBe(0);
    const report = await api.getJobChecks(job.uid, world.owner);
    // Only what left is reported to the requester; the owner's copy of the checks went with it.
    expect(report.files.map((f) => f.path).sort()).toEqual(TO_VOTE);
    expect((await api.getJobOutput(job.uid, {}, world.scientist)).files.map((f) => f.rel).sort()).toEqual(["manifest.json", "table.csv"]);
    const staged = path.join(world.paths.staging, job.uid);
    expect(await fs.readFile(path.join(staged, "output", "raw.csv"), "utf8")).toContain("north,3");
    // The owner's full report: the supporting file's small counts were found, and blocked nothing.
    const full = ChecksReportSchema.parse(await fs.readJson(path.join(staged, "output-checks.json")));
    const raw = full.files.find((f) => f.path === "raw.csv");
    expect(raw?.supporting).toBe(true);
    expect(raw?.findings.some((x) => x.blocking)).toBe(true);
  });
});
