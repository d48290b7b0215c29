// Notifications to a webhook receiver on 127.0.0.1 and to a local command: the events arrive, a target
// that fails is retried by later passes, and a target that never answers holds a pass a few seconds at most.
import fs from "fs-extra";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { describe, expect, onTestFinished, test } from "vitest";
import { readAudit } from "../lib/queue/audit.ts";
import { decide } from "../lib/approval/decisions.ts";
import { submitJob } from "../lib/people/api.ts";
import { datasiteDir } from "../lib/core/paths.ts";
import { makeWorld, SCIENTIST, waitUntil, writeFolder } from "./helpers.ts";

interface Receiver {
  url: string;
  got: Record<string, unknown>[];
  /** Answer the next `n` requests with this status instead of 204. */
  failNext(n: number, status?: number): void;
}

async function receiver(options: { hang?: boolean } = {}): Promise<Receiver> {
  const got: Record<string, unknown>[] = [];
  let failing = 0;
  let failStatus = 500;
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      if (options.hang) return; // never answers
      if (failing > 0) {
        failing -= 1;
        res.writeHead(failStatus).end();
        return;
      }
      got.push(JSON.parse(body) as Record<string, unknown>);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  onTestFinished(() => {
    server.closeAllConnections();
    server.close();
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    got,
    failNext(n, status = 500) {
      failing = n;
      failStatus = status;
    },
  };
}

describe("notifications", () => {
  test("a webhook hears submitted, pending_for_review, approved and completed, each once; every attempt is audited", async () => {
    const hook = await receiver();
    const world = await makeWorld({ notify: [{ url: hook.url }] });
    const uid = await world.submit({ "run.sh": "echo hi\n" }, "notified job");
    await world.pass();
    expect(hook.got.map((e) => e.event)).toEqual(["submitted", "pending_for_review"]);
    expect(hook.got[1]).toMatchObject({ event: "pending_for_review", uids: [uid], count: 1, datasite: world.owner.email });
    await decide(world.owner, uid, { decision: "approve", reason: "fine" });
    await world.settle();
    await world.pass();
    expect(hook.got.map((e) => e.event)).toEqual(["submitted", "pending_for_review", "approved", "completed"]);
    expect(hook.got[3]).toMatchObject({ event: "completed", uid, detail: { exit_code: 0 } });
    const attempts = (await readAudit(world.paths)).filter((e) => e.event === "notified");
    expect(attempts).toHaveLength(4);
    expect(attempts.every((e) => e.detail.ok === true && e.detail.target === hook.url)).toBe(true);
  });

  test("a failing webhook is retried by later passes with a growing wait; an event filter is honoured", async () => {
    const hook = await receiver();
    const world = await makeWorld({ notify: [{ url: hook.url, events: ["submitted"] }] });
    await world.pass(); // the cursor starts here: history is not replayed
    hook.failNext(1, 503);
    const uid = await world.submit({ "run.sh": "echo hi\n" });
    await world.pass();
    expect(hook.got).toEqual([]);
    expect(world.lines).toContainEqual(`notify: ${hook.url} did not take submitted (HTTP 503); trying again in 10 s`);
    // Due again: age the message as time would.
    const outbox = path.join(world.paths.state, "outbox");
    for (const name of await fs.readdir(outbox)) {
      const file = path.join(outbox, name);
      await fs.writeJson(file, { ...(await fs.readJson(file)), next_at: 0 });
    }
    await world.pass();
    expect(hook.got).toMatchObject([{ event: "submitted", uid }]);
    expect(await fs.readdir(outbox)).toEqual([]);
    const attempts = (await readAudit(world.paths)).filter((e) => e.event === "notified").map((e) => [e.detail.attempt, e.detail.ok]);
    expect(attempts).toEqual([
      [1, false],
      [2, true],
    ]);
  });

  test("a target that never answers holds a pass a few seconds at most; a command target gets the event on stdin", async () => {
    const dead = await receiver({ hang: true });
    const world = await makeWorld();
    const got = path.join(world.root, "events.jsonl");
    const script = path.join(world.root, "notify.sh");
    await fs.outputFile(script, `#!/bin/sh\ncat >> ${got}\necho >> ${got}\n`, { mode: 0o755 });
    const config = { ...world.config, notify: [{ url: dead.url }, { command: [script], events: ["submitted" as const] }] };
    const { runPass } = await import("../lib/pass/pass.ts");
    const pass = () => runPass({ dataDir: world.dataDir, owner: world.owner.email, config, log: (l) => world.lines.push(l) });
    await pass();
    await world.submit({ "run.sh": "echo hi\n" }, "to the command");
    const started = Date.now();
    await pass();
    expect(Date.now() - started).toBeLessThan(6000);
    await waitUntil(async () => (await fs.readFile(got, "utf8").catch(() => "")).includes("submitted"), "the command's event");
    expect(JSON.parse((await fs.readFile(got, "utf8")).trim().split("\n")[0]!)).toMatchObject({
      event: "submitted",
      detail: { name: "to the command" },
    });
    expect(world.lines.some((l) => l.startsWith(`notify: ${dead.url} did not take`))).toBe(true);
  });

  test("a requester who sends many jobs at once does not put another requester's news behind theirs: requesters take turns", async () => {
    const world = await makeWorld();
    const FLOOD = "aaa-flood@test.local";
    await fs.mkdirp(datasiteDir(world.dataDir, FLOOD));
    const got = path.join(world.root, "events.jsonl");
    const script = path.join(world.root, "notify.sh");
    // A target that takes a while over each message: a pass's sending budget holds a dozen or so.
    await fs.outputFile(script, `#!/bin/sh\ncat >> ${got}\necho >> ${got}\nsleep 0.2\n`, { mode: 0o755 });
    const config = { ...world.config, notify: [{ command: [script], events: ["submitted" as const] }] };
    const { runPass } = await import("../lib/pass/pass.ts");
    const pass = () => runPass({ dataDir: world.dataDir, owner: world.owner.email, config, log: (l) => world.lines.push(l) });
    await pass();
    const folder = await writeFolder(path.join(world.root, "flood"), { "run.sh": "echo hi\n" });
    for (let i = 0; i < 40; i += 1) await submitJob({ to: world.owner.email, folder, name: `flood ${i}` }, { ...world.scientist, email: FLOOD });
    const mine = await world.submit({ "run.sh": "echo hi\n" }, "mine");
    await pass();
    // The audit has the flood first (the order events are queued in)...
    const submitted = (await readAudit(world.paths)).filter((e) => e.event === "submitted").map((e) => e.by);
    expect(submitted.indexOf(SCIENTIST)).toBeGreaterThan(20);
    // ...the pass could not send all 41, and the other requester's came among the first.
    const sent = (await fs.readFile(got, "utf8"))
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { uid: string; by: string });
    expect(sent.length).toBeLessThan(41);
    expect(sent.slice(0, 2).map((e) => e.uid)).toContain(mine);
  });
});
