import { getJobChecks, reviewJob } from "../people/api.ts";
import { reviewView, type ReviewView } from "../people/review.ts";
import type { Revision } from "../people/revision.ts";
import { expected } from "../core/expected.ts";
import { reviewedQueue } from "../core/context.ts";
import type { ChecksReport, Vote } from "../core/schemas.ts";
import {
  cliCommand,
  commentLine,
  datasiteOption,
  jobJson,
  onDatasite,
  outputChecksLines,
  votesLines,
  type Command,
  type GlobalArgs,
  type JobJson,
} from "./shared.ts";

interface Args extends GlobalArgs {
  uid: string;
}

export interface ReviewData extends ReviewView {
  job: JobJson;
  output_checks: { checked_at: string; files: ChecksReport["files"] } | null;
  votes: Vote[];
}

export const review: Command<Args, ReviewData> = {
  command: "review <uid>",
  describe: "show a job's record, files, full code, code hash and advisory findings",
  builder: (y) =>
    datasiteOption(y).positional("uid", { type: "string", demandOption: true, describe: "job uid, or the 8 characters listings show (its end)" }),
  run: async (ctx, argv) => {
    const r = await reviewJob(argv.uid, ctx);
    // A finished job: what the disclosure check found in its output (as this user may see it).
    const checks = await getJobChecks(r.job.uid, ctx).catch(expected("no checks to show (none yet, or not this viewer's)", null));
    return {
      job: jobJson(r.job),
      ...(await reviewView(ctx, reviewedQueue(ctx), r)),
      output_checks: checks ? { checked_at: checks.checked_at, files: checks.files } : null,
      votes: r.job.meta.votes,
    };
  },
  render: (r, argv) => {
    const m = r.job;
    const out = [
      `Job ${m.uid}  [${m.status}]`,
      `  name:        ${m.name}`,
      `  from:        ${m.requester_email}${m.sender === "unverified" ? "  (UNVERIFIED: written straight into jobs/pending/ by a Python client; nothing proves who sent it)" : ""}`,
      `  submitted:   ${m.created_at}`,
      `  description: ${m.description || "(none)"}`,
      `  tags:        ${m.tags.join(", ") || "(none)"}`,
      `  code sha256: ${r.code_sha256}`,
      ...(m.revises ? [`  revises:     ${m.revises} (its owner asked for changes)`] : []),
      ...revisionLines(r.revision),
      "",
      `Files (${r.files.filter((f) => f.type === "file").length}):`,
      ...r.files.map((f) => `  ${f.type === "dir" ? `${f.rel}/` : `${f.rel}  (${f.size} bytes)`}`),
    ];
    for (const t of r.texts) {
      out.push("", `──── ${t.file} ────`);
      const lines = t.text.split("\n");
      if (lines.at(-1) === "") lines.pop();
      lines.forEach((line, i) => out.push(`${String(i + 1).padStart(4)} │ ${line}`));
    }
    for (const n of r.not_shown) out.push("", `──── ${n.file}: NOT SHOWN (${n.why}) ────`);
    const scanned = r.files.filter((f) => f.type === "file").length - r.not_scanned.length;
    const unseen = r.not_shown.length > 0 ? `; ${r.not_shown.length} file(s) not shown above` : "";
    const unscanned = r.not_scanned.length > 0 ? `; NOT scanned: ${r.not_scanned.map((n) => n.file).join(", ")}` : "";
    out.push(
      "",
      r.findings.length === 0
        ? `Advisory findings: none in the ${scanned} file(s) scanned${unseen}${unscanned}.`
        : `Advisory findings (${r.findings.length}; they decide nothing, you do)${unseen}${unscanned}:`,
    );
    for (const f of r.findings) out.push(`  ${f.file}:${f.line}  ${f.rule}${f.text ? `: ${f.text}` : ""}`);
    if (r.output_checks) out.push("", ...outputChecksLines(r.output_checks.files));
    out.push(...votesLines(r.job, r.approvals));
    if (m.status === "pending") {
      // --sha binds the approval to the code shown here: if it changes before you approve, approve refuses.
      const on = onDatasite(argv);
      out.push(
        "",
        `Approve: scq approve ${m.uid.slice(-8)} --sha ${r.code_sha256}${on} -r "why"`,
        `Reject:  scq reject ${m.uid.slice(-8)}${on} -r "why"`,
      );
    }
    return out.join("\n");
  },
};

/** What changed since the revision the reviewer read, as `diff -u` shows it, with the comments left on that revision. */
function revisionLines(r: Revision | null): string[] {
  if (!r) return [];
  const out = ["", `Changes since ${r.revises} (the revision returned for changes${r.status ? `, ${r.status}` : ""}):`];
  if (r.unavailable) return [...out, `  cannot compare: ${r.unavailable}`];
  if (r.changes.length === 0) out.push("  none: the code is the same");
  for (const c of r.changes) {
    const counts = c.not_compared ? `not compared: ${c.not_compared}` : `+${c.added} -${c.removed}`;
    out.push(`──── ${c.file}: ${c.change} (${counts}) ────`);
    for (const h of c.hunks) {
      out.push(`@@ -${h.old_start},${h.old_lines} +${h.new_start},${h.new_lines} @@`);
      for (const line of h.lines) out.push(`${line.op}${line.text}`);
    }
  }
  if (r.unchanged > 0) out.push(`  (${r.unchanged} file(s) unchanged)`);
  if (r.comments.length > 0) {
    out.push(`Comments on that revision:`);
    out.push(...r.comments.map(commentLine));
  }
  return out;
}

export const reviewCommand = cliCommand(review);
