// What every command shares: the options that say who and where, and how results are printed.
// With --json a command prints exactly one JSON document on stdout and nothing else.
import type { Argv, CommandModule } from "yargs";
import { resolveContext, type Context } from "../core/context.ts";
import { describeRun } from "../run/executor.ts";
import { age, shortUid } from "../core/log.ts";
import type { Job, JobView } from "../core/job.ts";
import type { ChecksReport, JobMetadata, JobStatus, LineComment } from "../core/schemas.ts";
import { visible, visibleKeepingColour } from "../core/visible.ts";
import type { approvalsOf } from "../approval/votes.ts";

export interface GlobalArgs {
  config?: string | undefined;
  "data-dir"?: string | undefined;
  email?: string | undefined;
  "app-config"?: string | undefined;
  /** Only on the reviewing commands (datasiteOption). */
  datasite?: string | undefined;
  json: boolean;
}

export function globalOptions<T>(yargs: Argv<T>): Argv<T & GlobalArgs> {
  return yargs
    .option("config", {
      type: "string",
      describe: "SyftBox client config (default $SYFTBOX_CLIENT_CONFIG_PATH or ~/.syftbox/config.json)",
      global: true,
    })
    .option("data-dir", { type: "string", describe: "SyftBox data folder (overrides the client config)", global: true })
    .option("email", { type: "string", describe: "your datasite email (overrides the client config)", global: true })
    .option("app-config", { type: "string", describe: "app settings file (default config.json in the app folder)", global: true })
    .option("json", { type: "boolean", default: false, describe: "print one JSON document, for scripts", global: true });
}

export function contextFrom(argv: GlobalArgs): Promise<Context> {
  return resolveContext({
    clientConfig: argv.config,
    dataDir: argv["data-dir"],
    email: argv.email,
    appConfig: argv["app-config"],
    datasite: argv.datasite,
  });
}

/** " --datasite owner@x" when the command reviews another owner's queue: for the hints it prints. */
export function onDatasite(argv: GlobalArgs): string {
  return argv.datasite ? ` --datasite ${argv.datasite}` : "";
}

/** --datasite on the reviewing commands: a listed approver works on another owner's queue. */
export function datasiteOption<T>(yargs: Argv<T>): Argv<T> {
  return yargs.option("datasite", {
    type: "string",
    describe: "review this data owner's queue, as one of their listed approvers (default: your own queue)",
  });
}

/**
 * A command as two plain functions: `run` does the work and returns its data (the --json document),
 * `render` turns that data into text for a person. Tests call both in-process (test/commands.test.ts);
 * `cliCommand` wires them to yargs. Commands that stream as they go (logs --follow, wait, mine --watch,
 * ui, process, dry-run, try) keep a handler of their own.
 */
export interface Command<A extends GlobalArgs, D> {
  command: string;
  describe: string;
  builder?: (y: Argv<GlobalArgs>) => Argv<A>;
  run: (ctx: Context, argv: A) => Promise<D>;
  render: (data: D, argv: A) => string;
  /** The --json document, when it is not the data itself. */
  json?: (data: D) => unknown;
  /** Exit 1 when the data says part of the work was refused (a batch with a refused job, a broken audit chain). */
  failed?: (data: D) => boolean;
}

export function cliCommand<A extends GlobalArgs, D>(c: Command<A, D>): CommandModule<GlobalArgs, A> {
  return {
    command: c.command,
    describe: c.describe,
    ...(c.builder ? { builder: c.builder } : {}),
    handler: async (parsed) => {
      // yargs adds camel-cased twins of the options; the command reads the names it declared.
      const argv = parsed as unknown as A;
      const data = await c.run(await contextFrom(argv), argv);
      print(argv, c.json ? c.json(data) : data, () => c.render(data, argv));
      if (c.failed?.(data)) process.exitCode = 1;
    },
  };
}

/**
 * One result on stdout: a JSON document with --json, else text for a person, in which every control
 * or bidirectional character from a job (code, names, logs, reasons) is shown by name: no terminal
 * escape in a job's files can hide or rewrite what the reader sees.
 */
export function print(argv: GlobalArgs, json: unknown, human: () => string): void {
  process.stdout.write(argv.json ? `${JSON.stringify(json, null, 2)}\n` : `${visibleKeepingColour(human())}\n`);
}

/** Aligned columns; `decorate` may colour a padded cell (colour codes would break the alignment). */
export function table(headers: string[], rows: string[][], decorate?: (row: number, col: number, padded: string) => string): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[], row: number) =>
    cells
      .map((c, col) => (row >= 0 && decorate ? decorate(row, col, c.padEnd(widths[col] ?? 0)) : c.padEnd(widths[col] ?? 0)))
      .join("  ")
      .trimEnd();
  return [line(headers, -1), ...rows.map(line)].join("\n");
}

const COLOURS: Record<string, number> = { pending: 33, approved: 36, running: 34, completed: 32, failed: 31, rejected: 35 };

/** Colour only for a person at a terminal: not in pipes, not with NO_COLOR. */
export function paint(text: string, status: string): string {
  const code = COLOURS[status];
  if (!code || !process.stdout.isTTY || process.env.NO_COLOR) return text;
  return `\u001b[${code}m${text}\u001b[39m`;
}

/** What a person reads as a job's state: the status, plus what it waits for. */
export function stateText(job: Job & Partial<Pick<JobView, "taken_in" | "waiting_decision">>): string {
  if (job.taken_in === false) return "submitted (not yet taken in)";
  const waiting = job.status === "pending" ? job.waiting_decision : undefined;
  if (waiting?.vote) return `pending (your vote to ${waiting.decision} counts at the next pass; scq undo takes it back)`;
  if (waiting)
    return `pending (${waiting.decision === "approve" ? "approved" : "rejected"} by ${waiting.by}, applied at the next pass; scq undo takes it back)`;
  // An approved job the owner's machine cannot start now (the pass wrote why into its record).
  if (job.status === "approved" && job.meta.error_message) return `approved (${job.meta.error_message})`;
  if (job.meta.output_review === "pending") return `${job.status} (awaiting output review)`;
  if (job.meta.output_decisions?.changes_requested) return `${job.status} (changes requested)`;
  if (job.meta.output_decisions?.withheld.length) return `${job.status} (${job.meta.output_decisions.withheld.length} output file(s) withheld)`;
  return job.status;
}

export function jobRows(jobs: (Job & { owner?: string; taken_in?: boolean })[], who: "from" | "to" = "from"): string {
  if (jobs.length === 0) return "No jobs.";
  const sorted = [...jobs].sort((a, b) => b.meta.created_at.localeCompare(a.meta.created_at));
  const sender = (j: Job) => `${j.meta.requester_email}${j.meta.sender === "unverified" ? " (unverified)" : ""}`;
  const rows = sorted.map((j) => [
    shortUid(j.uid),
    stateText(j),
    j.meta.name,
    who === "from" ? sender(j) : (j.owner ?? j.meta.target_email),
    `${age(j.meta.created_at)} ago`,
  ]);
  return table(["UID", "STATUS", "NAME", who === "from" ? "FROM" : "TO", "SUBMITTED"], rows, (row, col, padded) =>
    col === 1 ? paint(padded, sorted[row]!.status) : padded,
  );
}

/** The job record as printed with --json: the metadata.json fields, status from the folder. */
export type JobJson = JobMetadata & { status: JobStatus; taken_in?: boolean; runs_on?: string; running_for?: string };

export function jobJson(job: Job & { owner?: string; taken_in?: boolean }): JobJson {
  return {
    ...job.meta,
    status: job.status,
    ...(job.taken_in === undefined ? {} : { taken_in: job.taken_in }),
    ...(job.status === "running" && job.meta.run
      ? { runs_on: describeRun(job.meta.run), running_for: age(job.meta.started_at ?? job.meta.updated_at) }
      : {}),
  };
}

/** The output checks in brief, file by file ("wards.csv: small-count ×2, zero-count"); `scq checks` has the detail. */
export function outputChecksLines(files: ChecksReport["files"]): string[] {
  const all = files.flatMap((f) => f.findings);
  const blocking = all.filter((f) => f.blocking).length;
  const lines = [
    `Output checks: ${all.length === 0 ? "no findings" : `${all.length} finding(s)${blocking ? `, ${blocking} blocking` : ""}`} in ${files.length} file(s)${all.length ? " (details: scq checks)" : ""}`,
  ];
  for (const f of files) {
    if (f.findings.length === 0) continue;
    const counts = new Map<string, number>();
    for (const x of f.findings) counts.set(x.rule, (counts.get(x.rule) ?? 0) + 1);
    lines.push(`  ${visibleKeepingColour(f.path)}: ${[...counts].map(([rule, n]) => (n > 1 ? `${rule} ×${n}` : rule)).join(", ")}`);
  }
  return lines;
}

/** A comment on a line, as every command shows it: "  run.sh:4  text". */
export const commentLine = (c: LineComment) => `  ${visible(c.file)}:${c.line}  ${visible(c.text)}`;

/** A job returned for changes, as its requester reads it: the owner's comment, their comments on lines, and what to do. */
export function changesLines(record: JobJson): string[] {
  const d = record.output_decisions;
  if (!d?.changes_requested) return [];
  return [
    `Changes requested by ${d.by}: ${visible(d.changes_requested)}`,
    ...d.line_comments.map(commentLine),
    `Change the code and submit it again as a revision: scq submit <folder> --to ${record.target_email} --revises ${record.uid.slice(-8)}`,
  ];
}

/** The votes on a job, and (for its owner) who is still needed. */
export function votesLines(record: JobJson, approvals: Awaited<ReturnType<typeof approvalsOf>>): string[] {
  if (record.votes.length === 0 && !approvals) return [];
  const out = ["", approvals ? `Approvals: ${approvals.approvedBy.length} of ${approvals.required} required` : "Votes recorded by the owner's pass:"];
  for (const v of record.votes) {
    const other = v.code_sha256 !== record.code_sha256 ? "  (for other code: not counted)" : "";
    out.push(`  ${v.by} ${v.decision === "approve" ? "approved" : "rejected"} ${age(v.at)} ago${v.reason ? `: ${v.reason}` : ""}${other}`);
  }
  if (approvals && record.status === "pending") {
    if (approvals.unreachable) {
      out.push(
        `  It can never have ${approvals.required}: too few listed approvers besides its requester. Reject it, or change approvals in config.json.`,
      );
    } else if (approvals.needed > 0) {
      out.push(`  Still needed: ${approvals.needed} more, from ${approvals.waitingFor.join(", ") || "(nobody left to ask)"}`);
    }
  }
  return out;
}
