import { getJobChecks } from "../people/api.ts";
import { visible } from "../core/visible.ts";
import type { JobView } from "../core/job.ts";
import type { ChecksReport, JobStatus } from "../core/schemas.ts";
import { VOTE_SAID, type ReviewSummary } from "../disclosure/checkers.ts";
import { cliCommand, type Command, type GlobalArgs } from "./shared.ts";

interface ChecksArgs extends GlobalArgs {
  uid: string;
}

/** Where each checked file stands: gone to the requester, held for the owner, or withheld (with why). */
type FileState = { state: "released" } | { state: "held" } | { state: "withheld"; reason: string };

type ChecksData = { uid: string; status: JobStatus; files: (ChecksReport["files"][number] & FileState)[]; review: ReviewSummary | null } & Omit<
  ChecksReport,
  "files"
>;

function stateOf(job: JobView, file: string): FileState {
  if (job.meta.output_review === "pending") return { state: "held" };
  const withheld = job.meta.output_decisions?.withheld.find((w) => w.path === file);
  return withheld ? { state: "withheld", reason: withheld.reason } : { state: "released" };
}

const SAID: Record<FileState["state"], string> = { released: "released to the requester", held: "HELD for your release", withheld: "withheld" };

export const checks: Command<ChecksArgs, ChecksData> = {
  command: "checks <uid>",
  describe: "what the disclosure check found in a finished job's output, file by file",
  builder: (y) => y.positional("uid", { type: "string", demandOption: true, describe: "job uid, or the 8 characters listings show (its end)" }),
  run: async (ctx, argv) => {
    const { job, review, ...report } = await getJobChecks(argv.uid, ctx);
    return { uid: job.uid, status: job.status, ...report, review, files: report.files.map((f) => ({ ...f, ...stateOf(job, f.path) })) };
  },
  render: (report) => {
    const lines = [`Output checks of ${report.uid} (${report.status}), ${report.checked_at}:`];
    const review = report.review;
    if (review)
      lines.push(
        `Output checkers: ${review.reviews_in} of ${review.required} reviews in${review.blind ? " (blind: votes and decisions are shown once they are all in)" : ""}`,
      );
    if (report.files.length === 0) lines.push("  no output files");
    for (const f of report.files) {
      const shape = f.rows === null ? "" : `, ${f.rows} rows × ${f.columns} columns`;
      const where = f.supporting ? "supporting: never released" : f.state === "withheld" ? `withheld: ${visible(f.reason)}` : SAID[f.state];
      lines.push(`  ${visible(f.path)}  (${f.type}, ${f.bytes} bytes${shape}) [${where}]${f.findings.length === 0 ? ": no findings" : ""}`);
      const voted = review?.files.find((r) => r.path === f.path);
      if (voted)
        lines.push(
          voted.decision
            ? `    checkers: ${voted.decision.toUpperCase()} (${(voted.votes ?? []).map((v) => `${v.by}: ${VOTE_SAID[v.vote]}${v.comment ? ` "${visible(v.comment)}"` : ""}`).join("; ")})`
            : `    checkers: ${voted.votes_in} of ${review!.required} votes in`,
        );
      if (f.description) lines.push(`    the requester says: ${visible(f.description)}`);
      if (f.controls.length > 0) lines.push(`    controls applied: ${f.controls.map(visible).join("; ")}`);
      for (const x of f.findings) {
        const where = [x.row === null ? "" : `row ${x.row}`, x.column === null ? "" : `column "${visible(x.column)}"`].filter(Boolean).join(", ");
        const value = x.value === null ? "" : ` = ${visible(x.value)}`;
        lines.push(`    ${x.blocking ? "BLOCKING " : ""}[${x.rule}]${where ? ` ${where}` : ""}${value}: ${visible(x.message)}`);
      }
    }
    if (report.files.some((f) => f.state === "held"))
      lines.push(`Decide file by file: scq release ${report.uid.slice(-8)} [--withhold <file> -r "why"]`);
    lines.push("A finding of a rule in output_checks.blocking holds the output for you; the others are advice. None approves anything.");
    return lines.join("\n");
  },
};

export const checksCommand = cliCommand(checks);
