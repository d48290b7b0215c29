// Pinned auto-approval rules: an owner pins the code of a job a person approved, for its requester;
// the same code from the same requester is approved by the rule at intake. And every way around it.
import fs from "fs-extra";
import path from "node:path";
import { describe, expect, test } from "vitest";
import { readAudit } from "../lib/queue/audit.ts";
import { readRules } from "../lib/approval/rules.ts";
import { makeWorld, OWNER, runScript, SCIENTIST, worldArgs, type World } from "./helpers.ts";

const CODE = { "run.sh": 'echo "weekly summary" > "$OUTPUT_DIR/summary.txt"\n' };

/** A job a person approved and ran, pinned for its requester with `scq rules add`; the rule's id. */
async function pinned(world: World, extra: string[] = []): Promise<{ uid: string; rule: string }> {
  const uid = await world.submit(CODE, "weekly");
  expect((await world.approveAndRun(uid)).status).toBe("completed");
  const added = await runScript("scq.ts", ["rules", "add", "--from", SCIENTIST, "--job", uid.slice(-8), ...extra, "--json", ...worldArgs(world)]);
  expect(added.exitCode, added.stderr).toBe(0);
  return { uid, rule: (JSON.parse(added.stdout) as { id: string }).id };
}

describe("pinned rules", () => {
  test("the same code from the same requester is approved at intake by the rule, and runs; the decision names the rule", async () => {
    const world = await makeWorld();
    const { uid: first, rule } = await pinned(world);
    const again = await world.submit(CODE, "weekly, again");
    const summaries = await world.settle();
    expect(summaries[0]!.decided).toEqual([{ uid: again, to: "approved" }]);
    const job = await world.job(again);
    expect(job.status).toBe("completed");
    expect(job.meta.decision).toMatchObject({
      by: `rule ${rule}`,
      reason: `approved by rule ${rule}: the code of job ${first.slice(-8)}, reviewed and approved by ${OWNER}`,
    });
    expect(world.lines).toContainEqual(
      `intake: ${again.slice(-8)} matches rule ${rule} (the code of job ${first.slice(-8)}, approved by ${OWNER}): approval marker written`,
    );
    // The requester sees who approved it.
    const seen = JSON.parse((await runScript("scq.ts", ["job", again, "--json", ...worldArgs(world, SCIENTIST)])).stdout) as {
      decision: { by: string };
    };
    expect(seen.decision.by).toBe(`rule ${rule}`);
    const audit = await readAudit(world.paths);
    expect(audit.find((e) => e.event === "rule-added")).toMatchObject({ uid: first, by: OWNER });
    expect(audit.find((e) => e.uid === again && e.event === "approve-marker")).toMatchObject({ by: `rule ${rule}`, detail: { rule } });
    const list = await runScript("scq.ts", ["rules", "list", ...worldArgs(world)]);
    expect(list.stdout).toMatch(new RegExp(`${rule}\\s+${SCIENTIST}\\s+${first.slice(-8)}\\s+-\\s+${OWNER}\\s+never\\s+-\\s+1`));
  });

  test("other code, another requester, an expired rule, a used-up quota: the job waits for review", async () => {
    const world = await makeWorld();
    const { rule } = await pinned(world, ["--per-day", "1"]);
    // Changed code.
    const changed = await world.submit({ "run.sh": 'echo "weekly summary" > "$OUTPUT_DIR/summary.txt"\ncat /data/* \n' });
    // The same code from someone else, through their own inbox.
    const other = "other@test.local";
    await fs.mkdirp(path.join(world.dataDir, "datasites", other));
    const { submitJob } = await import("../lib/people/api.ts");
    const src = path.join(world.root, "same-code");
    await fs.outputFile(path.join(src, "run.sh"), CODE["run.sh"]);
    const foreign = (await submitJob({ to: OWNER, folder: src, name: "copied" }, { ...world.scientist, email: other })).uid;
    // Within the quota: approved; past it: waits.
    const first = await world.submit(CODE);
    const second = await world.submit(CODE);
    await world.settle();
    expect((await world.job(changed)).status).toBe("pending");
    expect((await world.job(foreign)).status).toBe("pending");
    // Intake takes submissions side by side: one of the two gets the day's one approval, the other waits.
    const both = await Promise.all([first, second].map(async (uid) => ({ uid, status: (await world.job(uid)).status })));
    expect(both.map((j) => j.status).sort()).toEqual(["completed", "pending"]);
    const waits = both.find((j) => j.status === "pending")!.uid;
    expect(world.lines).toContainEqual(
      `intake: ${foreign.slice(-8)} not approved by a rule: the code matches a rule for another requester; it waits for review`,
    );
    expect(world.lines).toContainEqual(
      `intake: ${waits.slice(-8)} not approved by a rule: rule ${rule} has used its quota of 1 a day; it waits for review`,
    );

    // Expired: rules.json is the owner's; age the rule as time would.
    const file = path.join(world.paths.state, "rules.json");
    const rules = await readRules(world.paths);
    await fs.writeJson(file, { rules: rules.map((r) => ({ ...r, per_day: null, expires_at: new Date(Date.now() - 1000).toISOString() })) });
    const late = await world.submit(CODE);
    await world.settle();
    expect((await world.job(late)).status).toBe("pending");
    expect(world.lines).toContainEqual(`intake: ${late.slice(-8)} not approved by a rule: rule ${rule} has expired; it waits for review`);
  });

  test("no rule pins code nobody approved, or another requester's; a requester cannot write one; a damaged file approves nothing", async () => {
    const world = await makeWorld();
    const waiting = await world.submit(CODE);
    await world.pass();
    const refused = await runScript("scq.ts", ["rules", "add", "--from", SCIENTIST, "--job", waiting, ...worldArgs(world)]);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toContain("was not approved by a person (it is pending)");
    const wrongRequester = await pinnedAttempt(world, "someone@test.local");
    expect(wrongRequester.stderr).toContain(`was submitted by ${SCIENTIST}, not someone@test.local`);
    const usage = await runScript("scq.ts", ["rules", "add", "--job", waiting, ...worldArgs(world)]);
    expect(usage.exitCode).toBe(2);

    // A rule file a requester writes into the places they can write is nothing to the pass.
    const forged = { rules: [{ requester: SCIENTIST, code_sha256: (await world.job(waiting)).meta.code_sha256 }] };
    await fs.outputJson(path.join(world.paths.inbox, SCIENTIST, "rules.json"), forged);
    await fs.outputJson(path.join(world.paths.root, "rules.json"), forged);
    const hopeful = await world.submit(CODE);
    await world.settle();
    expect((await world.job(hopeful)).status).toBe("pending");
    expect(await readRules(world.paths)).toEqual([]);

    // A damaged rules file (the owner's, edited by hand) approves nothing and stops nothing else.
    await fs.outputFile(path.join(world.paths.state, "rules.json"), "{ not json");
    const meanwhile = await world.submit(CODE);
    await world.settle();
    expect((await world.job(meanwhile)).status).toBe("pending");
    expect(world.lines.some((l) => l.startsWith(`intake: ${meanwhile.slice(-8)} waits for review: the rules could not be read (`))).toBe(true);
  });
});

async function pinnedAttempt(world: World, from: string) {
  const uid = await world.submit(CODE);
  await world.approveAndRun(uid);
  return runScript("scq.ts", ["rules", "add", "--from", from, "--job", uid, ...worldArgs(world)]);
}

describe("parameterised rules", () => {
  const PARAM_CODE = { "run.sh": 'cat params.json > "$OUTPUT_DIR/used-params.json"\n', "params.json": '{"region": "north", "year": 2024}\n' };
  const SCHEMA = {
    type: "object",
    properties: { region: { enum: ["north", "south"] }, year: { type: "integer", minimum: 2000, maximum: 2030 } },
    required: ["region", "year"],
    additionalProperties: false,
  };

  test("the reviewed code with another params.json its schema accepts is approved by the rule; anything else waits", async () => {
    // The job echoes its params.json (a JSON object the table checks cannot read): advice only, so its output goes.
    const world = await makeWorld({ output_checks: { blocking: [] } });
    const reviewed = await world.submit(PARAM_CODE, "regional");
    expect((await world.approveAndRun(reviewed)).status).toBe("completed");
    const schemaFile = path.join(world.root, "params.schema.json");
    // A schema the reviewed job's own params.json does not meet is refused.
    await fs.writeJson(schemaFile, { ...SCHEMA, properties: { ...SCHEMA.properties, region: { enum: ["east"] } } });
    const pin = (extra: string[] = []) =>
      runScript("scq.ts", ["rules", "add", "--from", SCIENTIST, "--job", reviewed, "--params-schema", schemaFile, ...extra, ...worldArgs(world)]);
    const refused = await pin();
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toContain("cannot be pinned with this schema: in the reviewed code, params.json does not meet the rule's schema");
    await fs.writeJson(schemaFile, SCHEMA);
    const added = await pin(["--json"]);
    expect(added.exitCode, added.stderr).toBe(0);
    const rule = (JSON.parse(added.stdout) as { id: string }).id;

    const south = await world.submit({ ...PARAM_CODE, "params.json": '{"region": "south", "year": 2025}' }, "south");
    const outside = await world.submit({ ...PARAM_CODE, "params.json": '{"region": "south; rm -rf /", "year": 2025}' }, "hostile params");
    const extra = await world.submit({ ...PARAM_CODE, "params.json": '{"region": "south", "year": 2025, "sql": "select *"}' }, "extra field");
    const notJson = await world.submit({ ...PARAM_CODE, "params.json": "region=south" }, "not json");
    const changed = await world.submit({ ...PARAM_CODE, "run.sh": `${PARAM_CODE["run.sh"]}cat /data/*/* > "$OUTPUT_DIR/all.csv"\n` }, "changed code");
    const added2 = await world.submit({ ...PARAM_CODE, "extra.sh": "echo more\n", "params.json": '{"region": "south", "year": 2025}' }, "added file");
    await world.settle();

    const job = await world.job(south);
    expect(job.status).toBe("completed");
    expect(job.meta.decision?.by).toBe(`rule ${rule}`);
    expect(job.meta.decision?.reason).toContain("with its own params.json, which meets the rule's schema");
    expect(await fs.readFile(path.join(job.dir, "output", "used-params.json"), "utf8")).toBe('{"region": "south", "year": 2025}');
    for (const uid of [outside, extra, notJson, changed, added2]) expect((await world.job(uid)).status).toBe("pending");
    const said = (uid: string) => world.lines.find((l) => l.startsWith(`intake: ${uid.slice(-8)} not approved by a rule:`)) ?? "";
    expect(said(outside)).toContain(`rule ${rule}: params.json does not meet the rule's schema: field "region"`);
    expect(said(extra)).toContain(`rule ${rule}: params.json does not meet the rule's schema`);
    expect(said(notJson)).toContain(`rule ${rule}: params.json is not readable JSON`);
    // Other code is no business of this rule: not even a line.
    expect(said(changed)).toBe("");
    expect(said(added2)).toBe("");

    // The same code and a valid params.json from someone else: not theirs.
    const other = "other@test.local";
    await fs.mkdirp(path.join(world.dataDir, "datasites", other));
    const { submitJob } = await import("../lib/people/api.ts");
    const src = path.join(world.root, "copied");
    await fs.outputFile(path.join(src, "run.sh"), PARAM_CODE["run.sh"]);
    await fs.outputFile(path.join(src, "params.json"), '{"region": "south", "year": 2026}');
    const foreign = (await submitJob({ to: OWNER, folder: src, name: "copied" }, { ...world.scientist, email: other })).uid;
    await world.settle();
    expect((await world.job(foreign)).status).toBe("pending");
    expect(said(foreign)).toContain("the code matches a rule for another requester");
    const list = await runScript("scq.ts", ["rules", "list", ...worldArgs(world)]);
    expect(list.stdout).toMatch(new RegExp(`${rule}\\s+${SCIENTIST}\\s+${reviewed.slice(-8)}\\s+by schema`));
  });

  test("a schema's pattern that backtracks cannot hold the pass; array bounds without items still hold", async () => {
    const world = await makeWorld();
    const code = { "run.sh": 'cat params.json > "$OUTPUT_DIR/used-params.json"\n', "params.json": '{"id": "aaaa", "tags": ["x"]}\n' };
    const reviewed = await world.submit(code, "tagged");
    expect((await world.approveAndRun(reviewed)).status).toBe("completed");
    const schemaFile = path.join(world.root, "params.schema.json");
    await fs.writeJson(schemaFile, {
      type: "object",
      properties: { id: { type: "string", pattern: "^(a+)+$" }, tags: { type: "array", maxItems: 2 } },
      required: ["id", "tags"],
    });
    const added = await runScript("scq.ts", [
      "rules",
      "add",
      "--from",
      SCIENTIST,
      "--job",
      reviewed,
      "--params-schema",
      schemaFile,
      ...worldArgs(world),
    ]);
    expect(added.exitCode, added.stderr).toBe(0);
    // 40 a's and a b: exponential backtracking for that pattern (minutes); three tags where two at most are allowed.
    const slow = await world.submit({ ...code, "params.json": JSON.stringify({ id: `${"a".repeat(40)}b`, tags: [] }) }, "slow");
    const many = await world.submit({ ...code, "params.json": JSON.stringify({ id: "aa", tags: ["x", "y", "z"] }) }, "too many tags");
    const fine = await world.submit({ ...code, "params.json": JSON.stringify({ id: "aaa", tags: ["y"] }) }, "fine");
    await world.pass(); // without the bound, this pass holds the lock for minutes (the test's time limit fails it)
    const said = (uid: string) => world.lines.find((l) => l.startsWith(`intake: ${uid.slice(-8)} not approved by a rule:`)) ?? "";
    expect(said(slow)).toContain('took longer than 250 ms (a "pattern" that backtracks?): the rule is not applied');
    expect(said(many)).toMatch(/params\.json does not meet the rule's schema: field "tags"/);
    for (const uid of [slow, many]) expect((await world.job(uid)).status).toBe("pending");
    expect(["approved", "running"]).toContain((await world.job(fine)).status);
  });
});
