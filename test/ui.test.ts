// The review page end to end in headless Chromium (Debian's package, driven by playwright-core):
// listing, search, code review, approving from the page, live updates; and the token and origin rules.
import fs from "fs-extra";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, onTestFinished, test } from "vitest";
import { APP_DIR, datasiteDir } from "../lib/core/paths.ts";
import { startUiServer, type UiServer } from "../lib/ui/server.ts";
import { makeWorld, OWNER, runScript, SCIENTIST, submitRevision, worldArgs, type World } from "./helpers.ts";
import { makeInstall } from "./install.ts";

const CHROMIUM = "/usr/bin/chromium";
const available = await fs.pathExists(CHROMIUM);
if (!available && process.env.CI) throw new Error(`CI must run the browser tests, but ${CHROMIUM} is missing`);
if (!available) console.warn(`NOTICE: skipping the review page tests: ${CHROMIUM} is not installed (apt-get install chromium)`);

let browser: Browser;
beforeAll(async () => {
  if (!available) return;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
});
afterAll(async () => {
  await browser?.close();
});

/** Screenshots go to docs/ (for the README) only when asked: UPDATE_SCREENSHOTS=1 npm test. */
function shot(world: World, name: string): string {
  return path.join(process.env.UPDATE_SCREENSHOTS ? path.join(APP_DIR, "docs") : world.root, name);
}

async function serve(world: World): Promise<UiServer> {
  const server = await startUiServer(world.owner, { port: 0 });
  return server;
}

/** The owner's page with one job opened; the page and its server close when the test ends. */
async function openJob(world: World, uid: string): Promise<Page> {
  const server = await serve(world);
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  onTestFinished(async () => {
    await page.close();
    await server.close();
  });
  await page.goto(server.url);
  await page.click(`tr[data-uid="${uid}"]`);
  return page;
}

describe.skipIf(!available)("review page", () => {
  test("lists jobs, searches, shows the code, approves from the page, and follows the pass without a reload", async () => {
    const world = await makeWorld({ sandbox: { mode: "none" } });
    const first = await world.submit(
      { "run.sh": '# counts rows\nwc -l "$DATA_DIR"/*.csv > "$OUTPUT_DIR/rows.txt" || echo 0 > "$OUTPUT_DIR/rows.txt"\nsleep 3\n' },
      "row count",
    );
    const second = await world.submit({ "run.sh": "curl http://example.org/upload\n" }, "suspicious upload");
    await world.pass();
    const server = await serve(world);
    const page: Page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    try {
      await page.goto(server.url);
      const rows = page.locator("#rows tr");
      await expect.poll(() => rows.count()).toBe(2);
      await expect.poll(() => page.locator('[data-count="pending"]').textContent()).toBe("pending 2");

      await page.fill("#search", "suspicious");
      await expect.poll(() => rows.count()).toBe(1);
      expect(await rows.first().getAttribute("data-uid")).toBe(second);
      await page.fill("#search", SCIENTIST);
      await expect.poll(() => rows.count()).toBe(2);
      await page.fill("#search", "");
      await page.screenshot({ path: shot(world, "ui-table.png") });

      await page.click(`tr[data-uid="${second}"]`);
      await expect.poll(() => page.locator(".findings li").first().textContent()).toContain("network access");
      await page.click(`tr[data-uid="${first}"]`);
      await expect.poll(() => page.locator("pre.code").first().textContent()).toContain('wc -l "$DATA_DIR"/*.csv');
      expect(await page.locator(".hash").textContent()).toBe((await world.job(first)).meta.code_sha256);
      await page.screenshot({ path: shot(world, "ui-detail.png") });

      page.once("dialog", (dialog) => void dialog.accept());
      await page.fill("#reason", "aggregate only");
      await page.click("#approve");
      await expect.poll(() => page.locator("#decide-msg").textContent()).toBe("Approved: it runs at the next pass.");
      const marker: unknown = await fs.readJson(path.join(world.paths.decisions, `${first}.json`));
      expect(marker).toMatchObject({ uid: first, decision: "approve", reason: "aggregate only", by: world.owner.email });

      // A pass starts it: the page shows where it runs, and since when.
      await world.pass();
      await expect.poll(() => page.locator(`tr[data-uid="${first}"] .badge`).textContent(), { timeout: 10_000 }).toBe("running");
      await expect
        .poll(() => page.locator("#detail").textContent(), { timeout: 10_000 })
        .toMatch(/runs onlocal \(supervisor pid \d+ on \S+\), for \d+s/);
      await world.settle();
      // The page notices the change by itself.
      await expect.poll(() => page.locator(`tr[data-uid="${first}"] .badge`).textContent(), { timeout: 10_000 }).toBe("completed");
      await expect.poll(() => page.locator("#detail .badge").first().textContent(), { timeout: 10_000 }).toBe("completed");
    } finally {
      await page.close();
      await server.close();
    }
  });

  test("held output: tables with flagged cells, images, findings; withhold a file and a log with reasons and release the rest from the page", async () => {
    const world = await makeWorld({ release: "review", sandbox: { mode: "none" } });
    // A 1×1 PNG (an SVG is held by the checks by default).
    const png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";
    const uid = await world.submit(
      {
        "run.sh": [
          'printf "ward,count\\nNorth,4\\nEast,25\\n" > "$OUTPUT_DIR/wards.csv"',
          `echo '${png}' | base64 -d > "$OUTPUT_DIR/plot.png"`,
          `echo '{"files": {"wards.csv": {"description": "patients per ward", "controls": ["none"]}}}' > "$OUTPUT_DIR/manifest.json"`,
          'echo "counted 2 wards"',
          "",
        ].join("\n"),
      },
      "ward counts",
    );
    const job = await world.approveAndRun(uid);
    expect(job.meta.output_review).toBe("pending");
    const server = await serve(world);
    const page: Page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    try {
      await page.goto(server.url);
      await page.click(`tr[data-uid="${uid}"]`);
      const wards = page.locator('.outfile[data-file="wards.csv"]');
      await expect.poll(() => wards.locator("td.flagged").textContent()).toBe("4");
      expect(await wards.locator("td.flagged").getAttribute("title")).toBe(
        "small-count: count 4 is below the minimum of 10 (output_checks.min_count)",
      );
      expect(await wards.textContent()).toContain("The requester says: patients per ward");
      expect(await page.locator('.outfile[data-file="plot.png"] img.preview').getAttribute("src")).toMatch(/^data:image\/png;base64,/);
      await page.screenshot({ path: shot(world, "ui-output.png"), fullPage: true });

      // A flagged file starts withheld, its findings as the reason; the owner writes their own.
      expect(await wards.locator("select.choice").inputValue()).toBe("withhold");
      expect(await wards.locator("input.withhold-reason").inputValue()).toBe("held by the output checks: small-count");
      expect(await page.locator('.outfile[data-file="plot.png"] select.choice').inputValue()).toBe("release");
      await wards.locator("select.choice").selectOption("withhold");
      await wards.locator("input.withhold-reason").fill("a ward count under 10");
      // The log is decided on like a file: the owner keeps it back here.
      const log = page.locator('.outfile[data-file="run-logs/stdout.txt"]');
      expect(await log.textContent()).toContain("run-logs/stdout.txt (16 bytes; shown under Logs)");
      await log.locator("select.choice").selectOption("withhold");
      await log.locator("input.withhold-reason").fill("not part of the request");
      // Release asks first, naming what goes and what stays.
      page.once("dialog", (dialog) => {
        expect(dialog.message()).toBe(`Release 2 file(s) to ${SCIENTIST}, withhold 2? Released files cannot be taken back.`);
        void dialog.accept();
      });
      await page.click("#release");
      await expect.poll(() => page.locator("#release-msg, #detail .warn").first().textContent(), { timeout: 10_000 }).toMatch(/Released|Withheld/);
      const done = await world.job(uid);
      expect(done.meta.output_review).toBe("released");
      expect(done.meta.output_decisions).toMatchObject({
        released: ["manifest.json", "plot.png"],
        withheld: [
          { path: "wards.csv", reason: "a ward count under 10" },
          { path: "run-logs/stdout.txt", reason: "not part of the request" },
        ],
      });
      expect(await fs.pathExists(path.join(done.dir, "run-logs", "stdout.txt"))).toBe(false);
      expect(await fs.pathExists(path.join(done.dir, "output", "wards.csv"))).toBe(false);
      expect(await fs.pathExists(path.join(done.dir, "output", "plot.png"))).toBe(true);
      await expect.poll(() => page.locator("#detail").textContent(), { timeout: 10_000 }).toContain("Withheld: wards.csv: a ward count under 10");
    } finally {
      await page.close();
      await server.close();
    }
  });

  test("with output checkers: each file shows its review, only approved files start as released, a supporting file has no choice", async () => {
    const ALICE = "alice@test.local";
    const world = await makeWorld({ sandbox: { mode: "none" }, output_checkers: { required: 1, checkers: [ALICE] } });
    const uid = await world.submit({
      "run.sh": [
        'printf "ward,count\\nNorth,40\\nEast,25\\n" > "$OUTPUT_DIR/wards.csv"',
        'printf "ward,count\\nNorth,4\\n" > "$OUTPUT_DIR/raw.csv"',
        `echo '{"files": {"raw.csv": {"supporting": true}}}' > "$OUTPUT_DIR/manifest.json"`,
        "",
      ].join("\n"),
    });
    await world.approveAndRun(uid);
    // Alice's review, as her client would sync it in.
    const votes = { "wards.csv": { vote: "approve" }, "manifest.json": { vote: "request_changes", comment: "say what raw.csv is" } };
    await fs.outputJson(path.join(world.paths.outputVotes, ALICE, `${uid}.json`), { uid, files: votes, at: new Date().toISOString() });
    await world.pass();
    const page = await openJob(world, uid);
    const wards = page.locator('.outfile[data-file="wards.csv"]');
    await expect.poll(() => wards.locator("p.checkers").textContent()).toBe(`Output checkers: approved (${ALICE}: approve)`);
    expect(await wards.locator("select.choice").inputValue()).toBe("release");
    const manifest = page.locator('.outfile[data-file="manifest.json"]');
    expect(await manifest.locator("p.checkers").textContent()).toBe(
      `Output checkers: changes requested (${ALICE}: request changes ("say what raw.csv is"))`,
    );
    expect(await manifest.locator("select.choice").inputValue()).toBe("withhold");
    expect(await manifest.locator("input.withhold-reason").inputValue()).toContain("not approved by the output checkers (changes requested)");
    const raw = page.locator('.outfile[data-file="raw.csv"]');
    expect(await raw.textContent()).toContain("Supporting file: shown to explain the others; never released.");
    expect(await raw.locator("select.choice").count()).toBe(0);
    page.once("dialog", (dialog) => void dialog.accept());
    await page.click("#release");
    await expect.poll(async () => (await world.job(uid)).meta.output_review, { timeout: 10_000 }).toBe("released");
    expect((await world.job(uid)).meta.output_decisions).toMatchObject({
      released: ["wards.csv"],
      withheld: [
        { path: "manifest.json", reason: expect.stringContaining("not approved by the output checkers") as unknown },
        { path: "raw.csv", reason: "supporting file: shown to the reviewers, never released" },
      ],
    });
  });

  test("an output checker reviews from their own page: the job in their to-do, its files, checks and log, a vote on each file, blind", async () => {
    const ALICE = "alice@test.local";
    const BOB = "bob@test.local";
    const world = await makeWorld({ sandbox: { mode: "none" }, output_checkers: { required: 2, checkers: [ALICE, BOB] } });
    for (const email of [ALICE, BOB]) await fs.mkdirp(datasiteDir(world.dataDir, email));
    const uid = await world.submit({
      "run.sh": [
        'printf "ward,count\\nNorth,4\\nEast,25\\n" > "$OUTPUT_DIR/wards.csv"',
        'printf "ward,count\\nNorth,4\\n" > "$OUTPUT_DIR/raw.csv"',
        `echo '{"files": {"raw.csv": {"supporting": true}}}' > "$OUTPUT_DIR/manifest.json"`,
        'echo "counted 2 wards"',
        "",
      ].join("\n"),
    });
    await world.approveAndRun(uid);
    // Bob has voted already (his client synced it in); Alice opens her own page.
    await fs.outputJson(path.join(world.paths.outputVotes, BOB, `${uid}.json`), {
      uid,
      files: { "wards.csv": { vote: "approve" }, "manifest.json": { vote: "approve" }, "run-logs/stdout.txt": { vote: "approve" } },
      at: new Date().toISOString(),
    });
    await world.pass();
    const server = await startUiServer({ dataDir: world.dataDir, email: ALICE, config: world.config }, { port: 0 });
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    onTestFinished(async () => {
      await page.close();
      await server.close();
    });
    await page.goto(server.url);
    const todo = page.locator(`#todo button[data-todo="${uid}"]`);
    await expect.poll(() => todo.count(), { timeout: 10_000 }).toBe(1);
    expect(await page.locator("#todo").textContent()).toContain(`Output to check (1)`);
    expect(await page.locator("#todo").textContent()).toContain(`on ${OWNER}, from ${SCIENTIST}: you voted on 0 of 3 file(s)`);
    await todo.click();
    // Blind: Bob's votes are not shown; the flagged cell, the supporting file and the log are.
    await expect.poll(() => page.locator("#review-state").textContent()).toContain("Blind review");
    expect(await page.locator("#detail").textContent()).not.toContain(BOB);
    const wards = page.locator('.outfile[data-file="wards.csv"]');
    expect(await wards.locator("td.flagged").textContent()).toBe("4");
    expect(await page.locator('.outfile[data-file="raw.csv"]').textContent()).toContain("Supporting file");
    expect(await page.locator('.outfile[data-file="raw.csv"] select.vote').count()).toBe(0);
    expect(await page.locator('.outfile[data-file="run-logs/stdout.txt"] pre').textContent()).toBe("counted 2 wards\n");
    // No vote chosen: nothing is written.
    await page.click("#send-votes");
    await expect.poll(() => page.locator("#vote-msg").textContent()).toBe("Choose a vote on at least one file.");
    await wards.locator("select.vote").selectOption("request_changes");
    await wards.locator("input.vote-comment").fill("North is under 10");
    await page.locator('.outfile[data-file="manifest.json"] select.vote').selectOption("approve");
    await page.locator('.outfile[data-file="run-logs/stdout.txt"] select.vote').selectOption("undecided");
    await page.click("#send-votes");
    await expect.poll(() => page.locator("#vote-msg").textContent()).toBe(`Your votes on 3 file(s) are written: ${OWNER}'s next pass records them.`);
    expect(await fs.readJson(path.join(world.paths.outputVotes, ALICE, `${uid}.json`))).toMatchObject({
      uid,
      files: {
        "wards.csv": { vote: "request_changes", comment: "North is under 10" },
        "manifest.json": { vote: "approve", comment: "" },
        "run-logs/stdout.txt": { vote: "undecided", comment: "" },
      },
    });
    // The owner's pass records it: the reviews are in, and Alice's page shows everyone's votes and each decision.
    await world.pass();
    await page.reload();
    await expect.poll(() => page.locator("#todo").textContent(), { timeout: 10_000 }).toContain(`on ${OWNER}, from ${SCIENTIST}: reviews in: 2 of 2`);
    await page.click(`#todo button[data-todo="${uid}"]`);
    await expect.poll(() => page.locator("#review-state").textContent()).toContain("The reviews are in");
    expect(await wards.locator("p.checkers").textContent()).toBe(
      `Decision: conflicted (${ALICE}: request changes ("North is under 10"); ${BOB}: approve)`,
    );
    expect(await wards.locator("select.vote").inputValue()).toBe("request_changes");
    // A datasite name is never a path.
    const bad = await fetch(`${new URL(server.url).origin}/api/output-checks/${encodeURIComponent("../../etc")}/${uid.slice(-8)}`, {
      headers: { "x-scq-token": new URL(server.url).searchParams.get("token")! },
    });
    expect(bad.status).toBe(409);
    expect(((await bad.json()) as { error: string }).error).toBe('"../../etc" is not a datasite\'s email address.');
  });

  test("a release refused for what went out since the checks: the page draws the new findings and says why", async () => {
    const world = await makeWorld({ release: "review", sandbox: { mode: "none" } });
    const run = async (csv: string) => world.approveAndRun(await world.submit({ "run.sh": `printf "${csv}" > "$OUTPUT_DIR/wards.csv"\n` }));
    const totals = await run("ward,total\\nNorth,20\\nSouth,55\\n");
    const block = await run("ward,male,female\\nNorth,12,<5\\nSouth,30,25\\n");
    expect((await runScript("scq.ts", ["release", totals.uid, ...worldArgs(world, OWNER)])).exitCode).toBe(0);
    const page = await openJob(world, block.uid);
    const wards = page.locator('.outfile[data-file="wards.csv"]');
    await expect.poll(() => wards.locator("select.choice").inputValue()).toBe("release");
    expect(await wards.locator("td.flagged").count()).toBe(0);
    page.once("dialog", (dialog) => void dialog.accept());
    await page.click("#release");
    await expect
      .poll(() => page.locator("#release-msg").textContent(), { timeout: 10_000 })
      .toContain("checked again against what its requester was given since its run was checked, wards.csv has new blocking findings");
    // Drawn again: the cell flagged, the file now starting as withheld.
    expect(await wards.locator("td.flagged").textContent()).toBe("<5");
    expect(await wards.locator("select.choice").inputValue()).toBe("withhold");
    expect((await world.job(block.uid)).meta.output_review).toBe("pending");
  });

  test("request changes with comments on lines from the page; the requester reads them on theirs; the revision's page shows what changed", async () => {
    const world = await makeWorld({ release: "review", sandbox: { mode: "none" } });
    const first = await world.submit(
      { "run.sh": 'echo "ward,count" > "$OUTPUT_DIR/w.csv"\necho "North,3" >> "$OUTPUT_DIR/w.csv"\necho done\n' },
      "wards",
    );
    await world.approveAndRun(first);
    const server = await serve(world);
    const page: Page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    try {
      await page.goto(server.url);
      await page.click(`tr[data-uid="${first}"]`);
      // A click on a line number of the code picks the line; the comment is added to the request.
      await page.click('button[aria-label="comment on run.sh line 2"]');
      expect(await page.locator("#comment-line").inputValue()).toBe("2");
      expect(await page.evaluate("document.activeElement?.id")).toBe("comment-text");
      await page.fill("#comment-text", "3 is a count under 10: drop it");
      await page.click("#add-comment");
      await expect.poll(() => page.locator("#line-comments li").textContent()).toContain("run.sh:2 3 is a count under 10: drop it");
      await page.fill("#changes", "drop small wards, then resubmit");
      await page.click("#request-changes");
      await expect.poll(() => page.locator("#detail").textContent(), { timeout: 10_000 }).toContain("Changes requested by");
      expect((await world.job(first)).meta.output_decisions).toMatchObject({
        changes_requested: "drop small wards, then resubmit",
        line_comments: [{ file: "run.sh", line: 2, text: "3 is a count under 10: drop it" }],
      });
    } finally {
      await page.close();
      await server.close();
    }

    // The requester's own page shows the comment on the line.
    const theirs = await startUiServer(world.scientist, { port: 0 });
    const mine: Page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    try {
      await mine.goto(theirs.url);
      await mine.click("#tab-requester");
      await mine.click(`tr[data-uid="${first}"]`);
      await expect.poll(() => mine.locator("#detail ul.comments li").first().textContent()).toBe("run.sh:2 3 is a count under 10: drop it");
    } finally {
      await mine.close();
      await theirs.close();
    }

    const revised = await submitRevision(world, { "run.sh": 'echo "ward,count" > "$OUTPUT_DIR/w.csv"\necho done\n' }, first);
    await world.pass();
    const review = await openJob(world, revised);
    const diff = review.locator('[data-diff="run.sh"]');
    await expect.poll(() => diff.locator(".name").textContent()).toBe("run.sh — changed (+0 −1)");
    expect(await diff.locator("pre.diff span").allTextContents()).toEqual([
      "@@ −1,3 +1,2 @@",
      ' echo "ward,count" > "$OUTPUT_DIR/w.csv"',
      '-echo "North,3" >> "$OUTPUT_DIR/w.csv"',
      " echo done",
    ]);
    expect(await review.locator("#detail ul.comments li").textContent()).toBe("run.sh:2 3 is a count under 10: drop it");
  });

  test("an approver votes from their page; the owner's page shows the votes, who is still needed, a dry run on mock data and the job's history", async () => {
    const alice = "alice@test.local";
    // The data paths must be named in the settings the world starts with: made before it.
    const data = await fs.promises.mkdtemp(path.join(os.tmpdir(), "scq-ui-data-"));
    onTestFinished(() => fs.remove(data));
    const mock = path.join(data, "mock");
    const world = await makeWorld({
      sandbox: { mode: "none", data_paths: [{ path: path.join(data, "private"), mock, name: "cohort" }] },
      approvals: { required: 2, approvers: [OWNER, alice] },
      notify: [{ command: ["true"] }],
    });
    await fs.outputFile(path.join(data, "private", "rows.csv"), "name\nREAL\n");
    await fs.outputFile(path.join(mock, "rows.csv"), "name\nMADE-UP\n");
    await fs.mkdirp(path.join(world.dataDir, "datasites", alice));
    const uid = await world.submit({ "run.sh": 'cat "$DATA_DIR"/cohort/rows.csv\ncp "$DATA_DIR"/cohort/rows.csv "$OUTPUT_DIR/"\n' }, "two approvers");
    await world.pass();

    // Alice's page reviews the owner's queue: she sees the code and votes.
    const hers = await startUiServer({ ...world.owner, email: alice, datasite: OWNER }, { port: 0 });
    const page: Page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    try {
      await page.goto(hers.url);
      await expect.poll(() => page.locator("#me").textContent()).toBe(`${alice}, approver for ${OWNER}`);
      // Her to-do list: the jobs awaiting her vote, and no chart of a queue that is not hers.
      await expect.poll(() => page.locator("#todo h3").allTextContents()).toEqual([`Awaiting your vote on ${OWNER}'s datasite (1)`]);
      expect(await page.locator("#queue-chart").isHidden()).toBe(true);
      await page.click(`tr[data-uid="${uid}"]`);
      await expect.poll(() => page.locator("pre.code").first().textContent()).toContain("cat");
      expect(await page.locator("#dry-run").count()).toBe(0); // the owner's, not hers
      await page.fill("#reason", "aggregate only");
      page.once("dialog", (dialog) => void dialog.accept());
      await page.click("#approve");
      await expect.poll(() => page.locator("#decide-msg").textContent()).toBe("Your vote to approve is recorded: the owner's next pass counts it.");
      // From the table, a batch is votes too (her vote on this job, given again, replaces the first).
      await page.check("#all");
      await page.fill("#batch-reason", "aggregate only");
      page.once("dialog", (dialog) => void dialog.accept());
      await page.click("#batch-approve");
      await expect.poll(() => page.locator("#batch-msg").textContent()).toBe("1 approve vote(s) recorded.");
      // Voted (not yet counted by a pass): off her to-do list.
      await page.reload();
      await expect.poll(() => page.locator("#todo").textContent()).toBe("Nothing to do.");
    } finally {
      await page.close();
      await hers.close();
    }
    await world.pass();

    const server = await serve(world);
    const own: Page = await browser.newPage({ viewport: { width: 1400, height: 1400 } });
    try {
      await own.goto(server.url);
      await own.click(`tr[data-uid="${uid}"]`);
      await expect.poll(() => own.locator(".votes li").first().textContent()).toMatch(new RegExp(`^${alice} approved .* ago: aggregate only$`));
      expect(await own.locator("h3", { hasText: "Approvals:" }).textContent()).toBe("Approvals: 1 of 2 required");
      expect(await own.locator("#still-needed").textContent()).toBe(`Still needed: 1 more, from ${OWNER}`);
      await own.click("#dry-run");
      await expect.poll(() => own.locator("#dry-run-result").textContent(), { timeout: 20_000 }).toContain("succeeded");
      expect(await own.locator("#dry-stdout").textContent()).toMatch(/^name\n[A-Z]{4}-[A-Z]{2}\n$/);
      expect(await own.locator("#dry-output li").textContent()).toMatch(/^rows\.csv \(\d+ bytes\)$/);
      expect(await own.locator('#history tr[data-event="vote"] td').nth(2).textContent()).toBe(alice);
      expect(await own.locator('#history tr[data-event="dry-run"]').count()).toBe(1);
      expect(await own.locator('#history tr[data-event="notified"] td').nth(3).textContent()).toMatch(
        /^target: true, event: submitted, attempt: 1, ok: true/,
      );
      await own.screenshot({ path: shot(world, "ui-approvals.png"), fullPage: true });
      expect((await world.job(uid)).status).toBe("pending");
    } finally {
      await own.close();
      await server.close();
    }
  });

  test("batch reject from the table needs a reason and decides every selected job", async () => {
    const world = await makeWorld({ sandbox: { mode: "none" } });
    const uids = [await world.submit("ok", "one"), await world.submit("ok", "two")];
    await world.pass();
    const server = await serve(world);
    const page = await browser.newPage();
    try {
      await page.goto(server.url);
      await expect.poll(() => page.locator("#rows tr").count()).toBe(2);
      await page.check("#all");
      expect(await page.locator("#selected").textContent()).toBe("2 selected");
      await page.click("#batch-reject");
      expect(await page.locator("#batch-msg").textContent()).toBe("A rejection needs a reason.");
      await page.fill("#batch-reason", "wrong dataset");
      page.once("dialog", (dialog) => void dialog.accept());
      await page.click("#batch-reject");
      await expect.poll(() => page.locator("#batch-msg").textContent()).toBe("2 rejected.");
      for (const uid of uids)
        expect(((await fs.readJson(path.join(world.paths.decisions, `${uid}.json`))) as { decision: string }).decision).toBe("reject");
    } finally {
      await page.close();
      await server.close();
    }
  });

  test("hostile job names and code are shown as text, never run as script", async () => {
    const world = await makeWorld({ sandbox: { mode: "none" } });
    await world.submit({ "run.sh": "echo '<img src=x onerror=\"window.pwned=1\">'\n" }, "<script>window.pwned=1</script>");
    await world.pass();
    const server = await serve(world);
    const page = await browser.newPage();
    try {
      await page.goto(server.url);
      await expect.poll(() => page.locator("#rows tr").count()).toBe(1);
      await page.click("#rows tr");
      await expect.poll(() => page.locator("#detail h2").textContent()).toBe("<script>window.pwned=1</script>");
      await expect.poll(() => page.locator("pre.code").first().textContent()).toContain("<img src=x");
      expect(await page.evaluate(() => (globalThis as { pwned?: number }).pwned)).toBeUndefined();
    } finally {
      await page.close();
      await server.close();
    }
  });
});

describe("review page access rules", () => {
  test("requests without the token, with a wrong one, or from another origin or host are refused", async () => {
    const world = await makeWorld({ sandbox: { mode: "none" } });
    const uid = await world.submit("ok");
    await world.pass();
    const server = await serve(world);
    try {
      const headers = { "x-scq-token": server.token };
      expect((await fetch(`${server.origin}/`)).status).toBe(403);
      expect((await fetch(`${server.origin}/?token=wrong`)).status).toBe(403);
      expect((await fetch(server.url)).status).toBe(200);
      expect((await fetch(`${server.origin}/api/jobs`)).status).toBe(403);
      expect((await fetch(`${server.origin}/api/jobs`, { headers: { "x-scq-token": "x".repeat(server.token.length) } })).status).toBe(403);
      expect((await fetch(`${server.origin}/api/jobs`, { headers })).status).toBe(200);
      const crossSite = await fetch(`${server.origin}/api/jobs/${uid}/approve`, {
        method: "POST",
        headers: { ...headers, origin: "http://evil.example", "content-type": "application/json" },
        body: "{}",
      });
      expect(crossSite.status).toBe(403);
      expect(await fs.pathExists(path.join(world.paths.decisions, `${uid}.json`))).toBe(false);
      // fetch will not send a forged Host; a DNS-rebinding page's requests would carry its own name.
      const rebound = await new Promise<number>((resolve, reject) => {
        http
          .get(`${server.origin}/api/jobs`, { headers: { ...headers, host: "evil.example:80" } }, (res) => resolve(res.statusCode ?? 0))
          .on("error", reject);
      });
      expect(rebound).toBe(403);
      const badBody = await fetch(`${server.origin}/api/jobs/${uid}/approve`, {
        method: "POST",
        headers: { ...headers, "content-type": "application/json" },
        body: '{"reason": 5}',
      });
      expect(badBody.status).toBe(400);
      expect(((await badBody.json()) as { error: string }).error).toMatch(/field "reason"/);
      const traversal = await fetch(`${server.origin}/api/jobs/${uid}/output?file=../metadata.json`, { headers });
      expect(traversal.status).toBe(404);
      const ok = await fetch(`${server.origin}/api/jobs/${uid}/approve`, {
        method: "POST",
        headers: { ...headers, "content-type": "application/json" },
        body: '{"reason": "fine"}',
      });
      expect(ok.status).toBe(200);
      expect(await fs.pathExists(path.join(world.paths.decisions, `${uid}.json`))).toBe(true);
    } finally {
      await server.close();
    }
  });

  test("scq ui serves on 127.0.0.1 at the port SyftBox assigns, prints its URL and stops on SIGTERM", async () => {
    const world = await makeWorld({ sandbox: { mode: "none" } });
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    const child = runScript("scq.ts", ["ui", "--json", ...worldArgs(world)], { env: { SYFTBOX_ASSIGNED_PORT: String(port) } });
    const line = await new Promise<string>((resolve, reject) => {
      child.stdout?.once("data", (chunk: Buffer) => resolve(chunk.toString()));
      void child.then((r) => reject(new Error(`scq ui exited: ${r.stderr}`)));
    });
    const { url, origin } = JSON.parse(line) as { url: string; origin: string };
    expect(origin).toBe(`http://127.0.0.1:${port}`);
    expect((await fetch(url)).status).toBe(200);
    child.kill("SIGTERM");
    expect((await child).exitCode).toBe(0);
  });

  test("scripts/scq.sh ui of an installed app (dist/ bundle) serves the page, lists the queue and shows the settings in force", async () => {
    const install = await makeInstall();
    await install.configure({ sandbox: { mode: "none" }, release: "review", job_timeout: 45 });
    expect((await install.runSh()).exitCode).toBe(0);
    const folder = await install.writeFolder({ "run.sh": "echo hi\n" });
    const { uid } = await install.scqJson<{ uid: string }>("scientist", ["submit", "--to", OWNER, "--folder", folder, "--name", "from the shell"]);
    expect((await install.runSh()).exitCode).toBe(0);
    const child = install.scq("owner", ["ui", "--json"]);
    try {
      const line = await new Promise<string>((resolve, reject) => {
        child.stdout?.once("data", (chunk: Buffer) => resolve(chunk.toString()));
        void child.then((r) => reject(new Error(`scq ui exited ${r.exitCode}: ${String(r.stderr)}`)));
      });
      const { url } = JSON.parse(line) as { url: string };
      const page = await browser.newPage();
      await page.goto(url);
      await expect.poll(() => page.locator(`tr[data-uid="${uid}"]`).count()).toBe(1);
      await expect
        .poll(() => page.locator("#settings").textContent())
        .toBe(`${path.join(install.app, "config.json")} (sandbox none, release review, job_timeout 45 s, executor local)`);
      await page.click(`tr[data-uid="${uid}"]`);
      await expect.poll(() => page.locator("pre.code").first().textContent()).toContain("echo hi");
      await page.close();
    } finally {
      child.kill("SIGTERM");
      expect((await child).exitCode).toBe(0);
    }
  });

  test("the page never has two list requests in flight, even when the server is slow", async () => {
    const world = await makeWorld({ sandbox: { mode: "none" } });
    await world.submit({ "run.sh": "echo hi\n" });
    await world.pass();
    const server = await startUiServer(world.owner, { port: 0 });
    const page = await browser.newPage();
    let inFlight = 0;
    let most = 0;
    let answered = 0;
    try {
      await page.route("**/api/jobs?**", async (route) => {
        inFlight += 1;
        most = Math.max(most, inFlight);
        await new Promise((r) => setTimeout(r, 2500)); // slower than the 2 s poll
        await route.continue();
        inFlight -= 1;
        answered += 1;
      });
      await page.goto(server.url);
      await expect.poll(() => answered, { timeout: 15_000 }).toBeGreaterThanOrEqual(3);
      expect(most).toBe(1);
    } finally {
      await page.close();
      await server.close();
    }
  });
});

describe.skipIf(!available)("review page for every person", () => {
  /** The violations axe-core finds on the page as it is now, critical and serious ones, each with where. */
  async function axeViolations(page: Page): Promise<string[]> {
    // Injected past the page's CSP through the browser's devtools (bypassCSP): the page itself allows no other script.
    await page.evaluate(await fs.readFile(path.join(APP_DIR, "node_modules", "axe-core", "axe.min.js"), "utf8"));
    const results = await page.evaluate<{ violations: { id: string; impact: string; nodes: { target: string[] }[] }[] }>(
      "axe.run(document, { resultTypes: ['violations'] })",
    );
    return results.violations
      .filter((v) => v.impact === "critical" || v.impact === "serious")
      .map((v) => `${v.impact} ${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
  }

  async function heldOutputWorld(): Promise<{ world: World; uid: string }> {
    const world = await makeWorld({ release: "review", sandbox: { mode: "none" } });
    const uid = await world.submit(
      {
        "run.sh": 'printf "ward,count\\nNorth,4\\nEast,25\\n" > "$OUTPUT_DIR/wards.csv"\necho done\n',
        "stats.py": "half = n // 2  # integer division\n",
      },
      "ward counts",
    );
    await world.approveAndRun(uid);
    await world.submit({ "run.sh": "echo waiting\n" }, "a pending one");
    await world.pass();
    return { world, uid };
  }

  test("a to-do list for each role, one job's timeline drawn step by step, and the queue over the last days as a chart", async () => {
    const { world, uid } = await heldOutputWorld();
    const server = await serve(world);
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    try {
      await page.goto(server.url);
      // The owner: code to review and output to release, each a button that opens the job.
      const todo = page.locator("#todo");
      await expect.poll(() => todo.locator("h3").allTextContents()).toEqual(["Code to review (1)", "Output to release (1)"]);
      expect(await todo.locator(".todo-group").nth(0).locator("button").textContent()).toBe("a pending one");
      // The key results are signed with, as `scq key show` gives it.
      const { keys } = (await fs.readJson(world.paths.publicKeys)) as { keys: { key_id: string }[] };
      const print = keys[0]!.key_id.slice(7, 23).match(/.{4}/g)!.join(" ");
      expect(await todo.textContent()).toContain(`Released results are signed with key ${print} (requesters check them with scq verify).`);
      await todo.locator(`button[data-todo="${uid}"]`).click();
      await expect.poll(() => page.locator("#detail h2").textContent()).toBe("ward counts");
      // Its way through the queue: every step done, with times, and what comes next, hollow.
      const steps = page.locator("#timeline li b");
      await expect
        .poll(() => steps.allTextContents())
        .toEqual(["submitted", "approved", "started", "ran to the end", "output checked (1 findings)", "output waits for release"]);
      expect(await page.locator("#timeline li.next b").textContent()).toBe("output waits for release");
      expect(await page.locator("#timeline li.done time").count()).toBe(5);
      // The queue chart: one bar a day for 14 days, and one job waiting now.
      expect(await page.locator("svg.chart rect.bar").count()).toBe(14);
      expect(await page.locator("svg.chart").getAttribute("aria-label")).toMatch(
        /^Waiting for a decision over the last 14 days: .*, 1 now \(most 1\)\. Median wait of decided jobs: \d+ min on \d{4}-\d\d-\d\d\.$/,
      );
      await page.screenshot({ path: shot(world, "ui-overview.png") });
    } finally {
      await page.close();
      await server.close();
    }
    // The requester: their jobs, finished and waiting; their own queue has had nothing to chart.
    const theirs = await startUiServer(world.scientist, { port: 0 });
    const mine = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    try {
      await mine.goto(theirs.url);
      await expect.poll(() => mine.locator("#todo h3").allTextContents()).toEqual(["Yours, finished this week (1)"]);
      expect(await mine.locator("#todo").textContent()).toContain("1 job(s) of yours wait or run on other datasites.");
      expect(await mine.locator("#queue-chart").textContent()).toBe("The queue, last 14 daysNo job came or waited in that time.");
      await mine.locator(`#todo button[data-todo="${uid}"]`).click();
      await expect.poll(() => mine.locator("#tab-requester").getAttribute("class")).toBe("on");
      await expect.poll(() => mine.locator("#detail h2").textContent()).toBe("ward counts");
    } finally {
      await mine.close();
      await theirs.close();
    }
  });

  for (const [label, viewport] of [
    ["a 1440 × 900 screen", { width: 1440, height: 900 }],
    ["a 390 × 844 phone", { width: 390, height: 844 }],
  ] as const) {
    test(`on ${label}: no critical or serious axe-core violation, every job reached and opened by keyboard, nothing wider than the screen`, async () => {
      const { world, uid } = await heldOutputWorld();
      const server = await serve(world);
      const context = await browser.newContext({ viewport, bypassCSP: true });
      const page = await context.newPage();
      try {
        await page.goto(server.url);
        await expect.poll(() => page.locator("#rows tr").count()).toBe(2);
        expect(await axeViolations(page)).toEqual([]);
        // Tab from the top reaches the job rows; Enter opens the one with focus.
        const row = page.locator(`tr[data-uid="${uid}"]`);
        let reached = false;
        for (let i = 0; i < 40 && !reached; i++) {
          await page.keyboard.press("Tab");
          reached = (await row.getAttribute("data-uid")) === (await page.evaluate('document.activeElement?.getAttribute("data-uid") ?? ""'));
        }
        expect(reached).toBe(true);
        await page.keyboard.press("Enter");
        await expect.poll(() => page.locator("#detail h2").textContent()).toBe("ward counts");
        await expect.poll(() => page.locator(".outfile select.choice").count()).toBeGreaterThan(0);
        // Python's // is live code, never greyed out as a comment; its # comment is.
        const py = page.locator("#detail .file", { hasText: "stats.py" });
        expect(await py.locator("span.c").allTextContents()).toEqual(["# integer division"]);
        // The opened job is in view, and the page is no wider than the screen.
        expect(await page.evaluate('document.querySelector("#detail").getBoundingClientRect().top < innerHeight')).toBe(true);
        expect(await page.evaluate("document.documentElement.scrollWidth")).toBeLessThanOrEqual(viewport.width);
        expect(await axeViolations(page)).toEqual([]);
        if (viewport.width < 500) await page.screenshot({ path: shot(world, `ui-${viewport.width}.png`), fullPage: true });
      } finally {
        await context.close();
        await server.close();
      }
    });
  }
});
