// Signed results: the owner's key, the statement beside each release, and `scq verify` offline,
// through the shipped entry point and in-process for the byte-by-byte tampering sweep.
import { execa } from "execa";
import fs from "fs-extra";
import path from "node:path";
import { beforeAll, describe, expect, test } from "vitest";
import { locateJob } from "../lib/queue/jobs.ts";
import { APP_DIR, datasiteDir, queuePaths } from "../lib/core/paths.ts";
import { IN_TOTO_PAYLOAD_TYPE, signEnvelope } from "../lib/sign/dsse.ts";
import { ownerKey } from "../lib/sign/keys.ts";
import { verifyResult, type Verdict } from "../lib/proof/verify.ts";
import { RESULT_STATEMENT } from "../lib/proof/statement.ts";
import { bwrapReady, makeWorld, OWNER, runScript, SCIENTIST, worldArgs, type World } from "./helpers.ts";

let mode: "bwrap" | "none" = "none";
beforeAll(async () => {
  mode = (await bwrapReady()) ? "bwrap" : "none";
});

const JOB = { "run.sh": 'printf "ward,n\\na,12\\nb,15\\n" > "$OUTPUT_DIR/table.csv"; echo done\n' };

/** scq verify as the requester, through scripts/scq.ts: its exit code and its JSON verdict. */
async function verifyAsRequester(world: World, uid: string): Promise<{ exitCode: number | undefined; verdict: Verdict }> {
  const run = await runScript("scq.ts", ["verify", uid.slice(-8), "--json", ...worldArgs(world, SCIENTIST)]);
  return { exitCode: run.exitCode, verdict: JSON.parse(run.stdout) as Verdict };
}

/** The same check in this process (the sweep below runs it thousands of times). */
async function verifyHere(world: World, uid: string): Promise<Verdict> {
  return verifyResult(await locateJob(world.scientist, uid), world.dataDir, queuePaths(world.dataDir, SCIENTIST, world.owner.config.queue_name));
}

describe("signed results", () => {
  test("a released result carries the owner's signed statement; scq verify says VERIFIED (key pinned on first use), scq status and scq key show the key", async () => {
    const world = await makeWorld({ sandbox: { mode } });
    const keys = world.paths.publicKeys;
    // Made and published at the first pass, before any result.
    const published = (await fs.readJson(keys)) as { owner: string; keys: { key_id: string }[] };
    expect(published.owner).toBe(OWNER);
    expect(published.keys).toHaveLength(1);
    const uid = await world.submit(JOB);
    const job = await world.approveAndRun(uid);
    expect(job.status).toBe("completed");
    expect(await fs.pathExists(path.join(job.dir, RESULT_STATEMENT))).toBe(true);

    const { exitCode, verdict } = await verifyAsRequester(world, uid);
    expect(exitCode).toBe(0);
    expect(verdict.ok).toBe(true);
    expect(verdict.checks.map((c) => [c.what, c.ok])).toEqual([
      ["key", true],
      ["signature", true],
      ["job", true],
      ["files", true],
      ["code", true],
    ]);
    expect(verdict.checks[0]!.detail).toMatch(/pinned now, on first use/);
    expect(verdict.subjects).toEqual(
      expect.arrayContaining(["manifest-sha512.txt", "output-checks.json", "output/table.csv", "ro-crate-metadata.json", "run-logs/stdout.txt"]),
    );
    // The Five Safes RO-Crate beside it says the same for a TRE's tools, and its SHA-512 manifest checks with sha512sum.
    const crate = (await fs.readJson(path.join(job.dir, "ro-crate-metadata.json"))) as { "@graph": Record<string, unknown>[] };
    const entity = (id: string) => crate["@graph"].find((e) => e["@id"] === id);
    expect(entity("./")).toMatchObject({ "@type": "Dataset", conformsTo: { "@id": "https://w3id.org/5s-crate/0.5-DRAFT" } });
    expect(entity("#run")).toMatchObject({
      "@type": "CreateAction",
      agent: { "@id": `mailto:${SCIENTIST}` },
      result: [{ "@id": "output/table.csv" }],
    });
    expect(entity("#signoff")).toMatchObject({ additionalType: { "@id": "https://w3id.org/shp#SignOff" }, agent: { "@id": `mailto:${OWNER}` } });
    expect(entity("#disclosure")).toMatchObject({ additionalType: { "@id": "https://w3id.org/shp#DisclosureCheck" } });
    const sums = await execa("sha512sum", ["-c", "manifest-sha512.txt"], { cwd: job.dir, reject: false });
    expect(sums.exitCode).toBe(0);
    expect(sums.stdout).toContain("output/table.csv: OK");
    expect(sums.stdout).toContain("ro-crate-metadata.json: OK");
    expect(verdict.predicate).toMatchObject({
      job: { uid, requester: SCIENTIST, owner: OWNER },
      code_sha256: job.meta.code_sha256,
      approval: { decision: { by: OWNER } },
      run: { status: "completed", exit_code: 0, sandbox: mode },
      release: { by: "auto", withheld: [] },
    });
    // The second time, the pin is what is trusted.
    expect((await verifyAsRequester(world, uid)).verdict.checks[0]!.detail).toMatch(/pinned 20/);

    const fingerprint = published.keys[0]!.key_id.slice(7, 23).match(/.{4}/g)!.join(" ");
    const status = await runScript("scq.ts", ["status", ...worldArgs(world)]);
    expect(status.stdout).toContain(`Signing key: ${fingerprint} (published in ${keys})`);
    const show = await runScript("scq.ts", ["key", "show", ...worldArgs(world)]);
    expect(show.exitCode).toBe(0);
    expect(show.stdout).toContain(`Signing key: ${fingerprint}`);

    // The README's recipe for checking it by hand (jq, openssl, sha256sum), as written there, in a copy
    // of the job's folder with the owner's keys.json beside it; then once more with one byte changed.
    const readme = await fs.readFile(path.join(APP_DIR, "README.md"), "utf8");
    const recipe = /To check one by hand with standard tools:\n\n```sh\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(recipe).toBeDefined();
    const copy = path.join(world.root, "by-hand");
    await fs.copy(job.dir, copy);
    await fs.copy(keys, path.join(copy, "keys.json"));
    const byHand = await execa("bash", ["-euo", "pipefail", "-c", recipe!], { cwd: copy, reject: false });
    expect(byHand.stdout).toContain("Signature Verified Successfully");
    expect(byHand.stdout).toContain("output/table.csv: OK");
    expect(byHand.exitCode).toBe(0);
    await fs.writeFile(path.join(copy, "output", "table.csv"), "ward,n\na,13\nb,15\n");
    const changed = await execa("bash", ["-euo", "pipefail", "-c", recipe!], { cwd: copy, reject: false });
    expect(changed.stdout).toContain("output/table.csv: FAILED");
    expect(changed.exitCode).not.toBe(0);
  });

  test("one changed byte anywhere fails verification, naming what: every byte of the statement, the published keys and the released files; the code the requester sent; a file added", async () => {
    const world = await makeWorld({ sandbox: { mode } });
    const uid = await world.submit(JOB);
    const job = await world.approveAndRun(uid);
    expect((await verifyHere(world, uid)).ok).toBe(true);
    const mine = queuePaths(world.dataDir, SCIENTIST, world.owner.config.queue_name);
    const parts: [string, string, RegExp][] = [
      [path.join(job.dir, RESULT_STATEMENT), "the statement and its signature", /statement|signature|key|publish/],
      [world.paths.publicKeys, "the published keys", /key/],
      [path.join(job.dir, "output", "table.csv"), "a released file", /output\/table\.csv changed since it was signed/],
      [path.join(job.dir, "run-logs", "stdout.txt"), "a released log", /run-logs\/stdout\.txt changed since it was signed/],
    ];
    let tampered = 0;
    for (const [file, what, says] of parts) {
      const original = await fs.readFile(file);
      for (let i = 0; i < original.length; i += 1) {
        const bytes = Buffer.from(original);
        bytes[i] = bytes[i]! ^ 1; // its lowest bit flipped
        await fs.writeFile(file, bytes);
        const v = await verifyHere(world, uid);
        const failed = v.checks.filter((c) => c.ok === false);
        if (v.ok || !failed.some((c) => says.test(c.detail))) {
          throw new Error(`byte ${i} of ${what} changed, and verification said: ${JSON.stringify(v.checks)}`);
        }
        tampered += 1;
      }
      await fs.writeFile(file, original);
      expect((await verifyHere(world, uid)).ok).toBe(true);
    }
    expect(tampered).toBeGreaterThan(2000);
    // The code the owner signed is not what the requester sent (their record says other code).
    const record = path.join(mine.submitted, `${uid}.json`);
    const sent = (await fs.readJson(record)) as { code_sha256: string };
    await fs.writeJson(record, { ...sent, code_sha256: "0".repeat(64) });
    const code = await verifyAsRequester(world, uid);
    expect(code.exitCode).toBe(1);
    const codeCheck = code.verdict.checks.find((c) => c.what === "code");
    expect(codeCheck?.ok).toBe(false);
    expect(codeCheck?.detail).toMatch(/is not what you submitted/);
    await fs.writeJson(record, sent);
    // A file slipped in beside what was released.
    await fs.writeFile(path.join(job.dir, "output", "extra.csv"), "ward,n\na,3\n");
    const extra = await verifyAsRequester(world, uid);
    expect(extra.exitCode).toBe(1);
    expect(extra.verdict.checks.find((c) => c.what === "files")?.detail).toBe("output/extra.csv is not in the signed statement");
  });

  test("scq key rotate: the old key stays published and endorses the new; a requester who pinned the old one verifies both jobs; keys replaced without a rotation are refused", async () => {
    const world = await makeWorld({ sandbox: { mode }, release: "review" });
    const first = await world.submit(JOB);
    await world.approveAndRun(first);
    // Held for review: the owner releases it, holding the log back, and that release is signed.
    const released = await runScript("scq.ts", [
      "release",
      first,
      "--withhold",
      "run-logs/stdout.txt",
      "--reason",
      "not needed",
      ...worldArgs(world),
    ]);
    expect(released.exitCode).toBe(0);
    const one = await verifyAsRequester(world, first);
    expect(one.verdict.ok).toBe(true);
    expect(one.verdict.predicate?.release).toMatchObject({ by: OWNER, withheld: [{ path: "run-logs/stdout.txt", reason: "not needed" }] });
    expect(one.verdict.subjects).toContain("output/table.csv");
    expect(one.verdict.subjects).not.toContain("run-logs/stdout.txt");

    const before = await fs.readFile(world.paths.publicKeys, "utf8");
    const rotate = await runScript("scq.ts", ["key", "rotate", ...worldArgs(world)]);
    expect(rotate.exitCode).toBe(0);
    expect(rotate.stdout).toMatch(/^New signing key: /);
    const keys = (await fs.readJson(world.paths.publicKeys)) as {
      keys: { key_id: string; valid_until: string | null; endorsement: { by: string } | null }[];
    };
    expect(keys.keys).toHaveLength(2);
    expect(keys.keys[0]!.valid_until).not.toBeNull();
    expect(keys.keys[1]!.endorsement?.by).toBe(keys.keys[0]!.key_id);

    const second = await world.submit(JOB);
    await world.approveAndRun(second);
    expect((await runScript("scq.ts", ["release", second, ...worldArgs(world)])).exitCode).toBe(0);
    const two = await verifyAsRequester(world, second);
    expect(two.verdict.ok).toBe(true);
    expect(two.verdict.checks[0]!.detail).toMatch(/endorsed by a key you pinned/);
    expect((await verifyAsRequester(world, first)).verdict.ok).toBe(true);

    // Someone who can write the owner's datasite swaps in keys of their own: the pins refuse them.
    const pinsBefore = await fs.readFile(queuePaths(world.dataDir, SCIENTIST, world.owner.config.queue_name).pins, "utf8");
    const other = await makeWorld({ sandbox: { mode } });
    const foreign = (await fs.readJson(other.paths.publicKeys)) as { owner: string };
    await fs.writeJson(world.paths.publicKeys, { ...foreign, owner: OWNER });
    const refused = await verifyAsRequester(world, second);
    expect(refused.exitCode).toBe(1);
    expect(refused.verdict.checks.find((c) => c.ok === false)?.detail).toMatch(/is not as its owner signed it|no longer published/);
    expect(await fs.readFile(queuePaths(world.dataDir, SCIENTIST, world.owner.config.queue_name).pins, "utf8")).toBe(pinsBefore);
    await fs.writeFile(world.paths.publicKeys, before);
  });

  test("N of M: each approver signs their vote with their own published key; scq verify checks every vote, and a vote changed after it was signed fails", async () => {
    const alice = "alice@test.local";
    const bob = "bob@test.local";
    const world = await makeWorld({ sandbox: { mode }, approvals: { required: 2, approvers: [alice, bob] } });
    for (const email of [alice, bob]) await fs.mkdirp(datasiteDir(world.dataDir, email));
    const uid = await world.submit(JOB);
    await world.pass();
    for (const email of [alice, bob]) {
      const voted = await runScript("scq.ts", ["approve", uid.slice(-8), "-r", "aggregates only", ...worldArgs(world, email), "--datasite", OWNER]);
      expect(voted.exitCode, voted.stderr).toBe(0);
      // Their own key, made at their first vote and published in their own datasite.
      expect(await fs.pathExists(queuePaths(world.dataDir, email, world.owner.config.queue_name).publicKeys)).toBe(true);
    }
    await world.settle();
    const job = await world.job(uid);
    expect(job.status).toBe("completed");
    expect(job.meta.votes.map((v) => [v.by, v.signature?.keyid.startsWith("sha256:")])).toEqual([
      [alice, true],
      [bob, true],
    ]);
    const { exitCode, verdict } = await verifyAsRequester(world, uid);
    expect(exitCode).toBe(0);
    expect(verdict.checks.find((c) => c.what === "votes")).toEqual({ what: "votes", ok: true, detail: "2 of 2 vote(s) signed by their approvers" });
    // The approvers' keys are pinned too.
    const pins = (await fs.readJson(queuePaths(world.dataDir, SCIENTIST, world.owner.config.queue_name).pins)) as Record<string, unknown>;
    expect(Object.keys(pins).sort()).toEqual([alice, bob, OWNER].sort());

    // The owner (who signs the statement) edits a vote's reason after the fact: the approver's signature no longer matches.
    const statementFile = path.join(job.dir, RESULT_STATEMENT);
    const original = await fs.readFile(statementFile, "utf8");
    const key = await ownerKey(world.paths);
    const envelope = JSON.parse(original) as { payload: string };
    const statement = JSON.parse(Buffer.from(envelope.payload, "base64").toString("utf8")) as {
      predicate: { approval: { votes: { reason: string }[] } };
    };
    statement.predicate.approval.votes[0]!.reason = "all rows are fine";
    await fs.writeJson(statementFile, signEnvelope(IN_TOTO_PAYLOAD_TYPE, Buffer.from(JSON.stringify(statement)), key));
    const forged = await verifyAsRequester(world, uid);
    expect(forged.exitCode).toBe(1);
    expect(forged.verdict.checks.find((c) => c.what === "votes")).toMatchObject({
      ok: false,
      detail: `${alice}'s vote does not match its signature: it was changed`,
    });
    await fs.writeFile(statementFile, original);
  });
});
