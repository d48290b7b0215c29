// The page's API, one entry a route: method, path pattern (its groups are the params), handler. Each
// body and query goes through a zod schema; approve, reject and release go through the same library
// functions as the CLI (markers, votes and audit log alike). Answers are built in views.ts.
import fs from "fs-extra";
import type http from "node:http";
import path from "node:path";
import * as z from "zod";
import type { Context } from "../core/context.ts";
import { describeZodIssues, errorMessage, HttpError } from "../core/errors.ts";
import { FileVoteSchema, JobStatus, LineCommentSchema } from "../core/schemas.ts";
import { visibleDeep } from "../core/visible.ts";
import { decide, decideMany } from "../approval/decisions.ts";
import { getJob, release } from "../people/api.ts";
import { dryRun } from "../people/dry-run.ts";
import { voteOnOutput } from "../people/output-review.ts";
import { locateJob } from "../queue/jobs.ts";
import { jobDetail, jobList, listVersion, outputCheckDetail, outputFiles, overview } from "./views.ts";

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
  line_comments: z.array(LineCommentSchema).max(200).default([]),
});
/** An output checker's votes, file by file (paths as the review lists them). */
const OutputVotesBody = z.object({ files: z.record(z.string().max(1024), FileVoteSchema) });
const BatchBody = z.object({
  action: z.enum(["approve", "reject"]),
  uids: z.array(z.string().min(4).max(64)).min(1).max(500),
  reason: z.string().max(2000).default(""),
});

interface Request {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  url: URL;
  params: string[];
}

export interface Route {
  method: string;
  path: RegExp;
  handle: (r: Request) => Promise<void>;
}

async function readJson(req: http.IncomingMessage): Promise<unknown> {
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
}

function parse<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw new HttpError(400, describeZodIssues(result.error).join("; "));
  return result.data;
}

// Everything shown comes from jobs: every control or bidirectional character in it is sent as a
// visible name, so the page cannot be made to show other code than runs (Trojan Source, escapes).
function send(res: http.ServerResponse, body: unknown, status = 200): void {
  res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store", "x-content-type-options": "nosniff" });
  res.end(JSON.stringify(visibleDeep(body)));
}

/** The routes of one server: `dryRuns` holds the dry runs it started, by uid, while they run (one per job). */
export function apiRoutes(ctx: Context, dryRuns = new Map<string, Promise<unknown>>()): Route[] {
  return [
    {
      method: "GET",
      path: /^\/api\/jobs$/,
      handle: async ({ req, res, url }) => {
        const query = parse(ListQuery, Object.fromEntries(url.searchParams));
        // The page asks every few seconds: when nothing it shows can have changed, it gets a 304.
        const etag = await listVersion(ctx, query);
        if (req.headers["if-none-match"] === etag) {
          res.writeHead(304, { etag, "cache-control": "no-cache" });
          res.end();
          return;
        }
        const list = await jobList(ctx, query);
        res.setHeader("etag", etag);
        send(res, list);
      },
    },
    {
      method: "GET",
      path: /^\/api\/overview$/,
      handle: async ({ res }) => send(res, await overview(ctx)),
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
      handle: async ({ res, params }) => {
        const job = await getJob(params[0]!, ctx);
        send(res, await jobDetail(ctx, job, dryRuns.has(job.uid)));
      },
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
        const job = await release(
          params[0]!,
          { withhold: body.withhold, exception: body.exception, requestChanges: body.request_changes, lineComments: body.line_comments },
          ctx,
        );
        send(res, { ok: true, output_decisions: job.meta.output_decisions });
      },
    },
    {
      method: "GET",
      path: /^\/api\/output-checks\/([^/]+)\/([^/]+)$/,
      handle: async ({ res, params }) => send(res, await outputCheckDetail(ctx, decodeURIComponent(params[0]!), params[1]!)),
    },
    {
      method: "POST",
      path: /^\/api\/output-checks\/([^/]+)\/([^/]+)\/votes$/,
      handle: async ({ req, res, params }) => {
        const body = parse(OutputVotesBody, await readJson(req));
        const { vote } = await voteOnOutput(ctx, params[1]!, body.files, decodeURIComponent(params[0]!));
        send(res, { ok: true, vote });
      },
    },
    {
      method: "GET",
      path: /^\/api\/jobs\/([^/]+)\/output$/,
      handle: async ({ res, url, params }) => {
        const { dir, files } = await outputFiles(ctx, await locateJob(ctx, params[0]!));
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
}
