// `scq ui`: the review page, served on 127.0.0.1 only. Every request must carry the random token of
// this run: the page in its URL (?token=), the API calls in the X-SCQ-Token header (a header, not a
// cookie, so another site cannot make the browser send it). Requests whose Host or Origin is not this
// server are refused too (DNS rebinding, cross-site requests). Approve and reject go through the same
// library functions as the CLI: markers and audit log alike.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

import fs from "fs-extra";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { z } from "zod";

import { myJobs, pageOfMyQueue, release } from "../people/api.ts";

import { readTable, tableType } from "../disclosure/read-table.ts";
import { ownQueue, reviewedQueue, type Context } from "../core/context.ts";

import { jobHistory } from "../queue/audit.ts";

import { dryRun, lastDryRun, type DryRunRecord } from "../people/dry-run.ts";

import { decide, decideMany } from "../approval/decisions.ts";

import { describeZodIssues, errorMessage, JobNotFoundError, ScqError, NotATableError, HttpError } from "../core/errors.ts";

import { describeRun, describeRunNow } from "../run/executor.ts";

import type { JobView } from "../core/job.ts";
import { locateJob, otherQueues } from "../queue/jobs.ts";

import { queueVersion, statusCounts } from "../queue/listing.ts";

import { readUntrustedFile } from "../core/fsutil.ts";

import { readLog, type Stream } from "../core/log-files.ts";

import { APP_DIR } from "../core/paths.ts";

import { checksOf, outputOf, readLogs } from "../disclosure/results.ts";

import { buildReview, reviewView, type ReviewView } from "../people/review.ts";

import { describeSettings, settingsInForce } from "../core/settings.ts";

import { JOB_STATUSES, JobStatus } from "../core/schemas.ts";

import { walkTree, type TreeEntry } from "../core/tree.ts";

import { visibleDeep } from "../core/visible.ts";

import { expected } from "../core/expected.ts";

export interface UiServer {
  url: string;
  origin: string;
  token: string;
  close(): Promise<void>;
}

const PAGE = path.join(APP_DIR, "lib", "ui", "page.html");

const DecisionBody = z.object({
  reason: z.string().max(2000).default(""),
  /** The code hash the page displayed: the decision is refused if the code is not exactly that any more. */
  code_sha256: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .optional(),
});
const ListQuery = z.object({
  view: z.enum(["owner", "requester"]).default("owner"),
  status: JobStatus.optional(),
  q: z.string().max(200).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(50),
});
const ReleaseBody = z.object({
  /** Output files kept back, each with the reason the requester reads. */
  withhold: z.record(z.string().max(1024), z.string().trim().min(1, "a withheld file needs a reason").max(2000)).default({}),
  exception: z.string().trim().min(1).max(2000).optional(),
  request_changes: z.string().trim().min(1).max(2000).optional(),
});

const BatchBody = z.object({
  action: z.enum(["approve", "reject"]),
  uids: z.array(z.string().min(4).max(64)).min(1).max(500),
  reason: z.string().max(2000).default(""),
});

function summary(job: JobView) {
  return {
    uid: job.uid,
    name: job.meta.name,
    status: job.status,
    role: job.role,
    owner: job.owner,
    requester_email: job.meta.requester_email,
    target_email: job.meta.target_email,
    sender: job.meta.sender,
    tags: job.meta.tags,
    created_at: job.meta.created_at,
    updated_at: job.meta.updated_at,
    taken_in: job.taken_in,
    output_review: job.meta.output_review,
    error_message: job.meta.error_message,
    /** Where a running job runs: "local (supervisor pid 4242 on host)", "Slurm job 17 (partition p)". */
    runs_on: job.status === "running" && job.meta.run ? describeRun(job.meta.run) : null,
    started_at: job.meta.started_at,
  };
}

/** How many output files the page previews, and how big each may be. */
const PREVIEW = { files: 20, bytes: 1024 * 1024, rows: 20 };

/**
 * What the page shows of output files inline: the first rows of a table (parsed here, with the
 * checks' limits, and shown by the page as text), or a small PNG or SVG as a data: URL (an image, so
 * an SVG's scripts never run).
 */
async function previews(dir: string, files: TreeEntry[]): Promise<Record<string, { columns: string[]; rows: string[][] } | { image: string }>> {
  const out: Record<string, { columns: string[]; rows: string[][] } | { image: string }> = {};
  for (const f of files.filter((e) => e.type === "file" && e.size <= PREVIEW.bytes).slice(0, PREVIEW.files)) {
    const type = path.extname(f.rel).slice(1).toLowerCase();
    const file = path.join(dir, f.rel);
    const format = tableType(f.rel);
    if (format) {
      const table = await readTable(file, format).catch((error: unknown) => {
        if (error instanceof NotATableError) return undefined;
        throw error;
      });
      if (table) out[f.rel] = { columns: table.columns, rows: table.rows.slice(0, PREVIEW.rows) };
    } else if (type === "png" || type === "svg") {
      const data = await readUntrustedFile(file, PREVIEW.bytes).catch(expected("a file that cannot be read has no preview"));
      if (data) out[f.rel] = { image: `data:image/${type === "svg" ? "svg+xml" : "png"};base64,${data.toString("base64")}` };
    }
  }
  return out;
}

export async function startUiServer(ctx: Context, options: { port?: number } = {}): Promise<UiServer> {
  const token = randomBytes(24).toString("base64url");
  const page = await fs.promises.readFile(PAGE, "utf8");
  let origin = "";
  let hosts: string[] = [];

  const tokenOk = (given: string | null | undefined) => {
    const a = Buffer.from(given ?? "");
    const b = Buffer.from(token);
    return a.length === b.length && timingSafeEqual(a, b);
  };

  const readJson = async (req: http.IncomingMessage): Promise<unknown> => {
    if (!(req.headers["content-type"] ?? "").startsWith("application/json")) throw new HttpError(415, "send application/json");
    let size = 0;
    const chunks: Buffer[] = [];
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > 64 * 1024) throw new HttpError(413, "request body too large");
      chunks.push(chunk as Buffer);
    }
    try {
      return JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}");
    } catch {
      // answered as a 400
      throw new HttpError(400, "the body is not valid JSON");
    }
  };

  const parse = <S extends z.ZodType>(schema: S, value: unknown): z.output<S> => {
    const result = schema.safeParse(value);
    if (!result.success) throw new HttpError(400, describeZodIssues(result.error).join("; "));
    return result.data;
  };

  /** Output files as the CLI sees them (outputOf decides where, and hides unreleased output from requesters); none when there are none to see. */
  const outputFiles = (job: JobView) => outputOf(ctx, job).catch(expected("no output to list (held elsewhere, or none yet)", { dir: "", files: [] }));

  /** Everything the page shows of one job, from one lookup. */
  const detail = async (job: JobView) => {
    const logs = {
      stdout: await readLogs(ctx, job, "stdout").catch(expected("logs this viewer may not read, or none yet", null)),
      stderr: await readLogs(ctx, job, "stderr").catch(expected("logs this viewer may not read, or none yet", null)),
    };
    const { dir: outputDir, files: output } = await outputFiles(job);
    const checks =
      output.length > 0 ? await checksOf(ctx, job).catch(expected("no checks report to show (none yet, or not this viewer's)", null)) : null;
    const empty: ReviewView = {
      files: [],
      texts: [],
      not_shown: [],
      not_scanned: [],
      findings: [],
      code_sha256: job.meta.code_sha256,
      approvals: null,
    };
    // Only the owner reviews code: a requester's view of their own job shows its record and results.
    // Approvers review code too (the files their listing as approver lets them read).
    const review = job.role !== "requester" ? reviewView(ctx, await buildReview(job)) : empty;
    const owner = job.role === "owner";
    const dry = owner ? await lastDryRun(ownQueue(ctx), job).catch(expected("no dry run to show")) : undefined;
    const where = owner && job.status === "running" && job.meta.run ? await describeRunNow(ownQueue(ctx), job.meta.run) : undefined;
    return {
      job: { ...summary(job), ...(where ? { runs_on: where } : {}) },
      meta: job.meta,
      ...review,
      logs,
      output,
      checks,
      previews: await previews(outputDir, output),
      // Every rule, vote, dry run and notification of this job, from the owner's audit log.
      history: owner ? await jobHistory(ownQueue(ctx), job.uid) : [],
      dry_run: dry ? await dryRunView(dry) : null,
      dry_run_running: dryRuns.has(job.uid),
      can_dry_run: owner && job.status === "pending",
    };
  };

  /** Dry runs started from the page, by uid, while they run (at most one per job). */
  const dryRuns = new Map<string, Promise<unknown>>();

  const dryRunView = async (d: DryRunRecord & { dir: string }) => {
    const read = async (stream: Stream) => (await readLog(d.dir, stream).catch(expected("a dry run without this stream"))) ?? "";
    const output = (await walkTree(path.join(d.dir, "output"), { anyName: true }).catch(expected("a dry run without output", []))).filter(
      (e) => e.type === "file",
    );
    return {
      ...d,
      dir: undefined,
      logs: { stdout: await read("stdout"), stderr: await read("stderr") },
      output,
      previews: await previews(path.join(d.dir, "output"), output),
    };
  };

  /** My jobs on other datasites (the requester's tab): few, so filtered here. */
  const requesterPage = async (query: z.infer<typeof ListQuery>) => {
    const text = query.q?.toLowerCase();
    const all = await myJobs(query.status, ctx);
    const matching = all.filter((j) => !text || [j.uid, j.meta.name, j.owner, ...j.meta.tags].some((f) => f.toLowerCase().includes(text)));
    return { jobs: matching.slice(0, query.limit), next: matching.length > query.limit ? matching[query.limit - 1]!.uid : null, total: all.length };
  };

  interface Request {
    req: http.IncomingMessage;
    res: http.ServerResponse;
    url: URL;
    params: string[];
  }
  // Everything shown comes from jobs: every control or bidirectional character in it is sent as a
  // visible name, so the page cannot be made to show other code than runs (Trojan Source, escapes).
  const send = (res: http.ServerResponse, body: unknown, status = 200) => {
    res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store", "x-content-type-options": "nosniff" });
    res.end(JSON.stringify(visibleDeep(body)));
  };

  /** The API, one line a route: method, path pattern (its groups are the params), handler. */
  const routes: { method: string; path: RegExp; handle: (r: Request) => Promise<void> }[] = [
    {
      method: "GET",
      path: /^\/api\/jobs$/,
      handle: async ({ req, res, url }) => {
        const query = parse(ListQuery, Object.fromEntries(url.searchParams));
        // The page asks every few seconds: when nothing it shows can have changed, it gets a 304.
        const queues = query.view === "owner" ? [reviewedQueue(ctx)] : await otherQueues(ctx);
        const etag = `"${createHash("sha256")
          .update(JSON.stringify([query, ctx.email, ...(await Promise.all(queues.map((q) => queueVersion(q))))]))
          .digest("hex")
          .slice(0, 32)}"`;
        if (req.headers["if-none-match"] === etag) {
          res.writeHead(304, { etag, "cache-control": "no-cache" });
          res.end();
          return;
        }
        const page =
          query.view === "owner"
            ? await pageOfMyQueue({ status: query.status, search: query.q, limit: query.limit }, ctx)
            : await requesterPage(query);
        const counts =
          query.view === "owner"
            ? await statusCounts(reviewedQueue(ctx))
            : Object.fromEntries(JOB_STATUSES.map((st) => [st, page.jobs.filter((j) => j.status === st).length]));
        res.setHeader("etag", etag);
        send(res, {
          me: ctx.email,
          /** The queue this page reviews: the user's own, or (as a listed approver) another owner's. */
          reviewing: reviewedQueue(ctx).owner,
          settings: describeSettings(ctx.settings ?? settingsInForce(ctx.config)),
          view: query.view,
          jobs: page.jobs.map(summary),
          next: page.next,
          total: page.total,
          counts,
        });
      },
    },
    {
      method: "POST",
      path: /^\/api\/batch$/,
      handle: async ({ req, res }) => {
        const body = parse(BatchBody, await readJson(req));
        const outcomes = await decideMany(ctx, body.uids, { decision: body.action, reason: body.reason });
        send(res, {
          results: outcomes.map((o) => ({ uid: o.ref, ok: o.ok, ...(o.vote ? { vote: true } : {}), ...(o.error ? { error: o.error } : {}) })),
        });
      },
    },
    {
      method: "GET",
      path: /^\/api\/jobs\/([^/]+)$/,
      handle: async ({ res, params }) => send(res, await detail(await locateJob(ctx, params[0]!))),
    },
    {
      method: "POST",
      path: /^\/api\/jobs\/([^/]+)\/(approve|reject)$/,
      handle: async ({ req, res, params }) => {
        const body = parse(DecisionBody, await readJson(req));
        const decision = params[1] === "approve" ? "approve" : "reject";
        const { marker, vote } = await decide(ctx, params[0]!, { decision, reason: body.reason, sha: body.code_sha256 });
        send(res, { ok: true, marker, vote });
      },
    },
    {
      method: "POST",
      path: /^\/api\/jobs\/([^/]+)\/dry-run$/,
      handle: async ({ res, params }) => {
        const job = await locateJob(ctx, params[0]!);
        if (job.role !== "owner") throw new HttpError(403, "only the owner of the queue runs dry runs");
        if (job.status !== "pending") throw new HttpError(409, `the job is ${job.status}: dry runs are for pending jobs`);
        if (dryRuns.has(job.uid)) throw new HttpError(409, "a dry run of this job is already running");
        // It runs on (up to job_timeout); the page asks for the job again to see it end.
        const run = dryRun(ctx, job.uid)
          .catch((error: unknown) => process.stderr.write(`dry run of ${job.uid}: ${errorMessage(error)}\n`))
          .finally(() => dryRuns.delete(job.uid));
        dryRuns.set(job.uid, run);
        send(res, { ok: true, started: true }, 202);
      },
    },
    {
      method: "POST",
      path: /^\/api\/jobs\/([^/]+)\/release$/,
      handle: async ({ req, res, params }) => {
        const body = parse(ReleaseBody, await readJson(req));
        const job = await release(params[0]!, { withhold: body.withhold, exception: body.exception, requestChanges: body.request_changes }, ctx);
        send(res, { ok: true, output_decisions: job.meta.output_decisions });
      },
    },
    {
      method: "GET",
      path: /^\/api\/jobs\/([^/]+)\/output$/,
      handle: async ({ res, url, params }) => {
        const { dir, files } = await outputFiles(await locateJob(ctx, params[0]!));
        const wanted = url.searchParams.get("file") ?? "";
        // Only a file from the listing: no path from the request ever reaches the filesystem as is.
        const entry = files.find((e) => e.rel === wanted);
        if (!entry) throw new HttpError(404, "no such output file");
        res.writeHead(200, {
          "content-type": "application/octet-stream",
          "content-disposition": `attachment; filename="${path.basename(entry.rel).replace(/[^A-Za-z0-9._-]/g, "_")}"`,
          "x-content-type-options": "nosniff",
        });
        fs.createReadStream(path.join(dir, entry.rel)).pipe(res);
      },
    },
  ];

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? "/", origin);
    if (!hosts.includes(req.headers.host ?? "")) throw new HttpError(403, "wrong Host");
    if (req.headers.origin !== undefined && !hosts.some((h) => req.headers.origin === `http://${h}`)) {
      throw new HttpError(403, "cross-origin requests are refused");
    }
    if (req.method === "GET" && url.pathname === "/") {
      if (!tokenOk(url.searchParams.get("token"))) throw new HttpError(403, "open the URL that scq ui printed (it carries the token)");
      const nonce = randomBytes(16).toString("base64");
      res.writeHead(200, {
        "content-type": "text/html; charset=utf-8",
        "content-security-policy": `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
        "referrer-policy": "no-referrer",
        "x-content-type-options": "nosniff",
        "cache-control": "no-store",
      });
      res.end(page.replaceAll("__NONCE__", nonce));
      return;
    }
    if (!url.pathname.startsWith("/api/")) throw new HttpError(404, "not found");
    if (!tokenOk(req.headers["x-scq-token"] as string | undefined)) throw new HttpError(403, "missing or wrong X-SCQ-Token");
    for (const route of routes) {
      const match = route.path.exec(url.pathname);
      if (match && req.method === route.method) return route.handle({ req, res, url, params: match.slice(1).map(decodeURIComponent) });
    }
    throw new HttpError(404, "not found");
  };

  const server = http.createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      const status = error instanceof HttpError ? error.status : error instanceof JobNotFoundError ? 404 : error instanceof ScqError ? 409 : 500;
      if (!res.headersSent) res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: status === 500 ? `internal error: ${errorMessage(error)}` : errorMessage(error) }));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", resolve);
  });
  const port = (server.address() as AddressInfo).port;
  origin = `http://127.0.0.1:${port}`;
  hosts = [`127.0.0.1:${port}`, `localhost:${port}`];
  return {
    url: `${origin}/?token=${token}`,
    origin,
    token,
    // Open keep-alive connections (a page polling) would hold close() open: they are ended too.
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
