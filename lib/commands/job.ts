// Commands about one job, for either side: job (its record), logs, output, wait, cancel, release.
import { setTimeout as sleep } from "node:timers/promises";
import type { CommandModule } from "yargs";
import { cancel, getJob, getJobChecks, getJobLogs, getJobOutput, release, waitForCompletion } from "../people/api.ts";
import { JobStateError, UsageError } from "../core/errors.ts";
import { TERMINAL_STATUSES } from "../queue/lifecycle.ts";
import { LOGS_DIR } from "../core/log-files.ts";
import { visible } from "../core/visible.ts";
import {
  changesLines,
  cliCommand,
  commentLine,
  datasiteOption,
  contextFrom,
  jobJson,
  outputChecksLines,
  paint,
  print,
  stateText,
  type Command,
  type GlobalArgs,
  type JobJson,
} from "./shared.ts";
import type { ChecksReport, LineComment } from "../core/schemas.ts";
import type { TreeEntry } from "../core/tree.ts";
import { expected } from "../core/expected.ts";

interface UidArgs extends GlobalArgs {
  uid: string;
}

const uidPositional = { type: "string", demandOption: true, describe: "job uid, or the 8 characters listings show (its end)" } as const;

export const job: Command<UidArgs, JobJson & { owner: string; state: string }> = {
  command: "job <uid>",
  describe: "a job's status and details (yours to review, or yours submitted)",
  builder: (y) => datasiteOption(y).positional("uid", uidPositional),
  run: async (ctx, argv) => {
    const found = await getJob(argv.uid, ctx);
    return { ...jobJson(found), owner: found.owner, state: stateText(found) };
  },
  render: ({ state, ...record }) =>
    [
      `${record.uid}  ${paint(state, record.status)}`,
      ...Object.entries(record).map(([k, v]) => `  ${k.padEnd(16)} ${typeof v === "string" ? v : JSON.stringify(v)}`),
      ...changesLines(record),
    ].join("\n"),
};

export const jobCommand = cliCommand(job);

interface LogsArgs extends UidArgs {
  stderr: boolean;
  follow: boolean;
}

export const logsCommand: CommandModule<GlobalArgs, LogsArgs> = {
  command: "logs <uid>",
  describe: "what a job printed: stdout, or --stderr; --follow until it ends",
  builder: (y) =>
    y.positional("uid", uidPositional).option("stderr", { type: "boolean", default: false }).option("follow", {
      alias: "f",
      type: "boolean",
      default: false,
      describe: "keep printing as the job writes, until it ends (the owner: a requester reads logs once they are checked)",
    }),
  handler: async (argv) => {
    const ctx = await contextFrom(argv);
    const stream = argv.stderr ? "stderr" : "stdout";
    let told = false;
    const read = async (ref: string): Promise<Awaited<ReturnType<typeof getJobLogs>>> => {
      try {
        return await getJobLogs(ref, stream, ctx);
      } catch (error) {
        // Following as its requester: a running job's logs stay with the owner until it has finished
        // and they have been checked; wait for them rather than fail.
        if (!argv.follow || !(error instanceof JobStateError)) throw error;
        const job = await getJob(ref, ctx);
        if (job.status !== "running") throw error;
        if (!told) process.stderr.write(`${error.message} Waiting...\n`);
        told = true;
        return { job, text: null };
      }
    };
    let { job, text } = await read(argv.uid);
    if (argv.json) {
      print(argv, { uid: job.uid, status: job.status, stream, text }, () => "");
      return;
    }
    if (text === null && !argv.follow) {
      // Kept back by the owner at release: said with their reason, not as "no logs yet".
      const withheld = job.meta.output_decisions?.withheld.find((w) => w.path === `${LOGS_DIR}/${stream}.txt`);
      if (withheld) throw new JobStateError(`Job ${job.uid}: its owner withheld its ${stream}: ${withheld.reason}`, { uid: job.uid });
      throw new JobStateError(`Job ${job.uid} has no logs yet (it is ${stateText(job)}).`);
    }
    let shown = 0;
    for (;;) {
      if (text !== null && text.length > shown) {
        // A job's output is shown, never obeyed: its control characters by name (see `visible`).
        process.stdout.write(visible(text.slice(shown)));
        shown = text.length;
      }
      if (!argv.follow || (TERMINAL_STATUSES as readonly string[]).includes(job.status)) return;
      await sleep(1000);
      ({ job, text } = await read(job.uid));
      // A capped log is rewritten at the end as head + note + tail: start over rather than print garbage.
      if (text !== null && text.length < shown) shown = 0;
    }
  },
};

interface OutputArgs extends UidArgs {
  to?: string;
}

interface OutputData {
  uid: string;
  dir: string;
  files: TreeEntry[];
  withheld: { path: string; reason: string }[];
  changes_requested: string | null;
  /** With changes requested: the owner's comments on lines of the code. */
  line_comments: LineComment[];
  /** Who decided on the output (released, withheld, asked for changes), when someone did. */
  decided_by: string | null;
  checks: ChecksReport["files"] | null;
  copied_to: string | null;
}

export const output: Command<OutputArgs, OutputData> = {
  command: "output <uid>",
  describe: "list a finished job's output files, or copy them into a new or empty folder with --to",
  builder: (y) => y.positional("uid", uidPositional).option("to", { type: "string", describe: "copy the output into this folder (new or empty)" }),
  run: async (ctx, argv) => {
    const out = await getJobOutput(argv.uid, { to: argv.to }, ctx);
    const checks = await getJobChecks(out.job.uid, ctx).catch(expected("no checks to show (none yet, or not this viewer's)", null));
    const decided = out.job.meta.output_review === "released" ? out.job.meta.output_decisions : null;
    const withheld = decided?.withheld ?? [];
    return {
      uid: out.job.uid,
      dir: out.dir,
      files: out.files,
      withheld,
      changes_requested: decided?.changes_requested ?? null,
      line_comments: decided?.line_comments ?? [],
      decided_by: decided?.by ?? null,
      checks: checks?.files ?? null,
      copied_to: out.copied_to,
    };
  },
  render: (out) =>
    [
      `Output of ${out.uid} in ${out.dir}:`,
      ...out.files.map((f) => `  ${visible(f.rel)}  (${f.size} bytes)`),
      ...(out.changes_requested ? [`Changes requested by ${out.decided_by}: ${visible(out.changes_requested)}`] : []),
      ...out.line_comments.map(commentLine),
      ...out.withheld.map((w) => `  withheld: ${visible(w.path)}: ${visible(w.reason)}`),
      ...(out.checks ? outputChecksLines(out.checks) : []),
      ...(out.copied_to ? [`Copied to ${out.copied_to}`] : []),
    ].join("\n"),
};

export const outputCommand = cliCommand(output);

interface WaitArgs extends UidArgs {
  timeout?: number;
}

export const waitCommand: CommandModule<GlobalArgs, WaitArgs> = {
  command: "wait <uid>",
  describe: "wait until a job has finished: exit 0 if it completed, 1 if it failed or was rejected, 124 on --timeout",
  builder: (y) => y.positional("uid", uidPositional).option("timeout", { type: "number", describe: "give up after this many seconds" }),
  handler: async (argv) => {
    const started = Date.now();
    const job = await waitForCompletion(
      argv.uid,
      {
        ...(argv.timeout === undefined ? {} : { timeoutMs: argv.timeout * 1000 }),
        // Progress goes to stderr, so stdout stays the one result (or JSON document).
        onChange: (j) =>
          process.stderr.write(
            `${new Date().toISOString().slice(11, 19)}  ${j.uid.slice(-8)}  ${stateText(j)}  (${Math.round((Date.now() - started) / 1000)} s)\n`,
          ),
      },
      await contextFrom(argv),
    );
    print(argv, jobJson(job), () => `${job.uid} ${paint(job.status, job.status)}${job.meta.error_message ? `: ${job.meta.error_message}` : ""}`);
    if (job.status !== "completed") process.exitCode = 1;
  },
};

interface CancelArgs extends UidArgs {
  reason: string;
}

export const cancelJob: Command<CancelArgs, { uid: string; owner: string; outcome: Awaited<ReturnType<typeof cancel>>["outcome"] }> = {
  command: "cancel <uid>",
  describe: "withdraw a job you submitted, or stop it while it runs",
  builder: (y) => y.positional("uid", uidPositional).option("reason", { alias: "r", type: "string", default: "" }),
  run: async (ctx, argv) => {
    const result = await cancel(argv.uid, argv.reason, ctx);
    return { uid: result.job.uid, owner: result.job.owner, outcome: result.outcome };
  },
  render: (r) =>
    r.outcome === "withdrawn"
      ? `Withdrew ${r.uid}: it had not reached ${r.owner}'s queue yet (if it did meanwhile, their next pass rejects it).`
      : `Asked ${r.owner} to cancel ${r.uid}: their next pass rejects it, or stops it if it is running.`,
};

export const cancelCommand = cliCommand(cancelJob);

interface ReleaseArgs extends UidArgs {
  withhold: string[];
  reason: string | undefined;
  exception: string | undefined;
  "request-changes": string | undefined;
  comment: string[];
}

/** "FILE:LINE: text", as compilers and linters name a place in code. */
function lineComment(spec: string): LineComment {
  const m = /^(.+?):(\d+):\s*(\S.*)$/s.exec(spec);
  if (!m || Number(m[2]) < 1)
    throw new UsageError(`--comment "${spec}": write it as FILE:LINE: text, e.g. --comment "run.sh:4: aggregate before writing".`);
  return { file: m[1]!, line: Number(m[2]), text: m[3]!.trim() };
}

export const releaseOutput: Command<ReleaseArgs, JobJson> = {
  command: "release <uid>",
  describe: "release a finished job's held output and logs to its requester, file by file",
  builder: (y) =>
    y
      .positional("uid", uidPositional)
      .option("withhold", {
        type: "string",
        array: true,
        default: [],
        describe: "an output file (path under output/) or a log (run-logs/stdout.txt, run-logs/stderr.txt) to keep back; repeat for more",
      })
      .option("reason", { alias: "r", type: "string", describe: "why the withheld files are kept back (the requester reads it)" })
      .option("exception", { type: "string", describe: "why files with blocking findings go out anyway" })
      .option("request-changes", { type: "string", describe: "return the job to its requester with this comment: all output and logs withheld" })
      .option("comment", {
        type: "string",
        array: true,
        default: [],
        describe: 'with --request-changes: a comment on a line of the code, "FILE:LINE: text"; repeat for more',
      })
      .check((a) => {
        if (a.withhold.length > 0 && !a.reason?.trim()) throw new UsageError("--withhold needs --reason: the requester reads why.");
        if (a["request-changes"] !== undefined && !a["request-changes"].trim()) throw new UsageError("--request-changes needs a comment.");
        return true;
      }),
  run: async (ctx, argv) => {
    const withhold = Object.fromEntries(argv.withhold.map((f) => [f, argv.reason ?? ""]));
    const lineComments = argv.comment.map(lineComment);
    return jobJson(await release(argv.uid, { withhold, exception: argv.exception, requestChanges: argv["request-changes"], lineComments }, ctx));
  },
  render: (job) => {
    const d = job.output_decisions;
    return d?.changes_requested
      ? `Returned ${job.uid} to ${job.requester_email} with your comment; its output and logs withheld.`
      : `Released to ${job.requester_email}: ${d?.released.length ?? 0} file(s) of ${job.uid}${
          d?.released.some((f) => f.startsWith("run-logs/")) ? ", its logs among them" : ""
        }${d?.withheld.length ? `; withheld: ${d.withheld.map((w) => w.path).join(", ")}` : ""}.`;
  },
};

export const releaseCommand = cliCommand(releaseOutput);
