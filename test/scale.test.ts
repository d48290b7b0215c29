// Views that read only what they show: paging through a queue by time-ordered uids, the names cache
// in the pass's state (a cache: deleted, corrupted or outrun by a folder moved behind its back, the
// folders still decide), one summary line per pass, and the review page's cheap polling.
import { execa } from "execa";
import fs from "fs-extra";
import { randomUUID } from "node:crypto";
import http from "node:http";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, test } from "vitest";
import * as api from "../lib/people/api.ts";
import { refreshIndex } from "../lib/queue/listing.ts";
import { APP_DIR, jobDir } from "../lib/core/paths.ts";
import { JobMetadataSchema, type JobStatus } from "../lib/core/schemas.ts";
import { uuidv7 } from "../lib/core/uid.ts";
import { startUiServer } from "../lib/ui/server.ts";
import { makeWorld, OWNER, runScript, SCIENTIST, worldArgs, type World } from "./helpers.ts";

/** Jobs written straight into status folders, oldest first, a millisecond apart: listing needs no pass. */
async function history(world: World, count: number, status: JobStatus = "completed"): Promise<string[]> {
  const uids: string[] = [];
  const start = Date.now() - count;
  for (let i = 0; i < count; i += 1) {
    const uid = uuidv7(start + i);
    const at = new Date(start + i).toISOString();
    await fs.outputJson(
      path.join(jobDir(world.paths, status, uid), "metadata.json"),
      JobMetadataSchema.parse({ uid, name: `job ${i}`, requester_email: SCIENTIST, target_email: OWNER, status, created_at: at, updated_at: at }),
    );
    uids.push(uid);
  }
  return uids;
}

describe("paged listings", () => {
  test("list pages newest first with a cursor, without overlap or gaps, and says how to get the next page", async () => {
    const world = await makeWorld();
    const uids = (await history(world, 120)).reverse();
    const first = await api.pageOfMyQueue({}, world.owner);
    expect(first.jobs.map((j) => j.uid)).toEqual(uids.slice(0, 50));
    expect(first.total).toBe(120);
    const second = await api.pageOfMyQueue({ after: first.next! }, world.owner);
    expect(second.jobs.map((j) => j.uid)).toEqual(uids.slice(50, 100));
    const third = await api.pageOfMyQueue({ after: second.next! }, world.owner);
    expect(third.jobs.map((j) => j.uid)).toEqual(uids.slice(100));
    expect(third.next).toBeNull();
    // A filter reads on until the page is full.
    const filtered = await api.pageOfMyQueue({ search: "job 1", limit: 5 }, world.owner);
    expect(filtered.jobs.map((j) => j.meta.name)).toEqual(["job 119", "job 118", "job 117", "job 116", "job 115"]);

    const cli = await runScript("scq.ts", ["list", "--limit", "2", ...worldArgs(world)]);
    expect(cli.stdout).toContain(`Showing 2 of 120, newest first. Next page: scq list --after ${uids[1]}`);
    const next = await runScript("scq.ts", ["list", "--limit", "2", "--after", uids[1]!, "--json", ...worldArgs(world)]);
    expect((JSON.parse(next.stdout) as { uid: string }[]).map((j) => j.uid)).toEqual(uids.slice(2, 4));
  });

  test("status finds the oldest pending job from names alone, and prefix lookup works from either end", async () => {
    const world = await makeWorld();
    const pending = await history(world, 30, "pending");
    const s = await api.status(world.owner);
    expect(s.counts.pending).toBe(30);
    const oldest = await world.job(pending[0]!);
    expect(s.oldest_pending).toBe(oldest.meta.created_at);
    expect((await api.getJob(pending[7]!.slice(-8), world.owner)).uid).toBe(pending[7]);
  });
});

describe("histories of uids without a time (Python clients' v4)", () => {
  /** `scq list` in its own process, with the job records it opens counted. */
  async function listCounted(world: World, args: string[]): Promise<{ uids: string[]; reads: number }> {
    const loader = pathToFileURL(path.join(APP_DIR, "node_modules", "tsx", "dist", "loader.mjs")).href;
    const probe = pathToFileURL(path.join(APP_DIR, "test", "probes", "count-record-reads.mjs")).href;
    const run = await execa(
      process.execPath,
      ["--import", loader, "--import", probe, path.join(APP_DIR, "scripts", "scq.ts"), "list", "--json", ...args, ...worldArgs(world)],
      { env: {}, reject: false },
    );
    expect(run.exitCode, run.stderr).toBe(0);
    return { uids: (JSON.parse(run.stdout) as { uid: string }[]).map((j) => j.uid), reads: Number(/record reads: (\d+)/.exec(run.stderr)![1]) };
  }

  test("after a pass, a listing orders v4 and v7 jobs by time reading only the records it shows", async () => {
    const world = await makeWorld();
    // 60 finished jobs, every third one with a random v4 uid, a minute apart.
    // (Ahead of every uid this process made before: uuidv7 never goes back in time within a process.)
    const start = Date.now() + 60_000;
    const uids: string[] = [];
    for (let i = 0; i < 60; i += 1) {
      const uid = i % 3 === 0 ? randomUUID() : uuidv7(start + i * 60_000);
      const at = new Date(start + i * 60_000).toISOString();
      await fs.outputJson(
        path.join(jobDir(world.paths, "completed", uid), "metadata.json"),
        JobMetadataSchema.parse({
          uid,
          name: `job ${i}`,
          requester_email: SCIENTIST,
          target_email: OWNER,
          status: "completed",
          created_at: at,
          updated_at: at,
        }),
      );
      uids.push(uid);
    }
    const newest = [...uids].reverse();
    // Before any pass: every v4 record is read to place it.
    const cold = await listCounted(world, ["--limit", "5"]);
    expect(cold.uids).toEqual(newest.slice(0, 5));
    expect(cold.reads).toBe(5 + 20);
    // The pass keeps their times beside the names: the page reads its 5 records and no more.
    await world.pass();
    const warm = await listCounted(world, ["--limit", "5"]);
    expect(warm.uids).toEqual(newest.slice(0, 5));
    expect(warm.reads).toBe(5);
    const later = await listCounted(world, ["--limit", "10", "--after", newest[29]!]);
    expect(later.uids).toEqual(newest.slice(30, 40));
    expect(later.reads).toBe(10);
    // A v4 job that arrived since the pass is placed by its record, the rest still by the times kept.
    const uid = randomUUID();
    const at = new Date(start + 60 * 60_000).toISOString();
    await fs.outputJson(
      path.join(jobDir(world.paths, "completed", uid), "metadata.json"),
      JobMetadataSchema.parse({
        uid,
        name: "new",
        requester_email: SCIENTIST,
        target_email: OWNER,
        status: "completed",
        created_at: at,
        updated_at: at,
      }),
    );
    const fresh = await listCounted(world, ["--limit", "3"]);
    expect(fresh.uids).toEqual([uid, ...newest.slice(0, 2)]);
    expect(fresh.reads).toBe(1 + 3);
    // That listing wrote the folder's order back: the next one, still before any pass, reads only its page.
    const again = await listCounted(world, ["--limit", "3"]);
    expect(again.uids).toEqual([uid, ...newest.slice(0, 2)]);
    expect(again.reads).toBe(3);
  });

  test("the first pass after the whole history was synced again (every folder new, the cache lost) orders it from one cheap read of each v4 record", async () => {
    const world = await makeWorld();
    // Ahead of every uid this process made before (uuidv7 never goes back in time within a process).
    const start = Date.now() + 3 * 3_600_000;
    const uids: string[] = [];
    for (let i = 0; i < 40; i += 1) {
      const uid = i % 2 === 0 ? randomUUID() : uuidv7(start + i * 60_000);
      const at = new Date(start + i * 60_000).toISOString();
      const status = i % 5 === 0 ? "failed" : "completed";
      const meta = { uid, name: `job ${i}`, requester_email: SCIENTIST, target_email: OWNER, status, created_at: at, updated_at: at };
      await fs.outputJson(path.join(jobDir(world.paths, status, uid), "metadata.json"), JobMetadataSchema.parse(meta));
      uids.push(uid);
    }
    // Three v4 jobs made in the same millisecond, before all the others: ordered among themselves by uid.
    const tied = [randomUUID(), randomUUID(), randomUUID()];
    for (const uid of tied) {
      const at = new Date(start - 60_000).toISOString();
      const meta = { uid, name: "tied", requester_email: SCIENTIST, target_email: OWNER, status: "completed", created_at: at, updated_at: at };
      await fs.outputJson(path.join(jobDir(world.paths, "completed", uid), "metadata.json"), JobMetadataSchema.parse(meta));
    }
    await world.pass();
    // A re-sync: every folder written anew, and the pass's private cache gone with the old machine.
    await fs.remove(path.join(world.paths.state, "index"));
    for (const status of ["completed", "failed"]) {
      const folder = path.join(world.paths.jobs, status);
      await fs.move(folder, `${folder}.old`);
      await fs.move(`${folder}.old`, folder);
    }
    await world.pass();
    for (const status of ["completed", "failed"])
      expect(await fs.pathExists(path.join(world.paths.state, "index", `${status}.order.json`)), status).toBe(true);
    // The order file: every job once, by time, then by uid.
    const order = ((await fs.readJson(path.join(world.paths.state, "index", "completed.order.json"))) as { order: string }).order.split("\n");
    const completed = [...tied.sort(), ...uids.filter((_, i) => i % 5 !== 0)];
    expect(order.map((line) => line.slice(14))).toEqual(completed);
    const page = await listCounted(world, ["--limit", "7"]);
    expect(page.uids).toEqual([...uids].reverse().slice(0, 7));
    expect(page.reads).toBe(7);
    // A cursor from another folder, v7 and v4 (uids 33 and 34), in a listing of failed jobs only (every fifth).
    const failedBefore = (i: number) => [...uids].reverse().filter((_, k) => (39 - k) % 5 === 0 && 39 - k < i);
    for (const k of [6, 5]) {
      const next = await listCounted(world, ["--limit", "7", "--after", page.uids[k]!, "--status", "failed"]);
      expect(next.uids).toEqual(failedBefore(39 - k));
    }
  });
});

describe("the names cache is only a cache", () => {
  test("deleted, corrupted, or outrun by a folder moved behind its back: listings follow the folders", async () => {
    const world = await makeWorld();
    const uids = await history(world, 10);
    await refreshIndex(world.paths);
    const index = path.join(world.paths.state, "index", "completed.uids.json");
    expect(await fs.pathExists(index)).toBe(true);
    const all = async () => (await api.pageOfMyQueue({ limit: 100 }, world.owner)).jobs.map((j) => `${j.uid}:${j.status}`).sort();
    const expected = uids.map((u) => `${u}:completed`).sort();
    expect(await all()).toEqual(expected);

    await fs.remove(index);
    expect(await all()).toEqual(expected);

    await fs.writeFile(index, "{ not json");
    expect(await all()).toEqual(expected);

    await refreshIndex(world.paths);
    // Moved behind the cache's back: the folder's mtime changes, so its cached names are not used.
    await fs.mkdirp(path.join(world.paths.jobs, "failed"));
    await fs.move(jobDir(world.paths, "completed", uids[0]!), jobDir(world.paths, "failed", uids[0]!));
    const moved = await all();
    expect(moved).toContain(`${uids[0]}:failed`);
    expect(moved).not.toContain(`${uids[0]}:completed`);
    expect((await api.status(world.owner)).counts).toMatchObject({ completed: 9, failed: 1 });
  });
});

describe("the pass log", () => {
  test("one summary line per pass for the jobs waiting, not one per job", async () => {
    const world = await makeWorld({ sandbox: { mode: "none" } });
    for (let i = 0; i < 3; i += 1) await world.submit({ "run.sh": "echo hi\n" });
    await world.pass();
    expect(world.lines.filter((l) => l.startsWith("pending: "))).toEqual([expect.stringMatching(/^pending: 3 \(3 new, oldest \d+s\)/)]);
    world.lines.length = 0;
    await world.pass();
    expect(world.lines.filter((l) => l.startsWith("pending") || l.startsWith("  "))).toEqual([expect.stringMatching(/^pending: 3 \(0 new, oldest/)]);
  });
});

describe("the review page's server", () => {
  test("answers 304 while nothing changed, and a new answer once a job moved", async () => {
    const world = await makeWorld({ sandbox: { mode: "none" } });
    const uids = await history(world, 5, "pending");
    const server = await startUiServer(world.owner, { port: 0 });
    try {
      const get = (etag?: string) =>
        fetch(`${server.origin}/api/jobs`, { headers: { "x-scq-token": server.token, ...(etag ? { "if-none-match": etag } : {}) } });
      const first = await get();
      const etag = first.headers.get("etag")!;
      expect(first.status).toBe(200);
      expect(((await first.json()) as { counts: Record<string, number> }).counts.pending).toBe(5);
      expect((await get(etag)).status).toBe(304);
      await fs.mkdirp(path.join(world.paths.jobs, "rejected"));
      await fs.move(jobDir(world.paths, "pending", uids[0]!), jobDir(world.paths, "rejected", uids[0]!));
      const after = await get(etag);
      expect(after.status).toBe(200);
      expect(((await after.json()) as { counts: Record<string, number> }).counts).toMatchObject({ pending: 4, rejected: 1 });
    } finally {
      await server.close();
    }
  });

  test("scq ui stops within 2 s of SIGTERM, even with a browser's keep-alive connection open", async () => {
    const world = await makeWorld();
    const child = runScript("scq.ts", ["ui", "--json", ...worldArgs(world)]);
    const line = await new Promise<string>((resolve) => child.stdout?.once("data", (chunk: Buffer) => resolve(chunk.toString())));
    const { origin } = JSON.parse(line) as { origin: string };
    const agent = new http.Agent({ keepAlive: true });
    await new Promise<void>((resolve, reject) => http.get(`${origin}/`, { agent }, (res) => res.resume().on("end", resolve)).on("error", reject));
    await sleep(100);
    const stopping = Date.now();
    child.kill("SIGTERM");
    expect((await child).exitCode).toBe(0);
    expect(Date.now() - stopping).toBeLessThan(2000);
    agent.destroy();
  });
});
