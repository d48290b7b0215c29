import type { CommandModule } from "yargs";
import { getJobChecks, reviewJob } from "../people/api.ts";
import { approvalsOf } from "../approval/votes.ts";
import { contextFrom, datasiteOption, jobJson, onDatasite, outputChecksLines, print, votesLines, type GlobalArgs } from "./shared.ts";
import { expected } from "../core/expected.ts";

interface Args extends GlobalArgs {
  uid: string;
}

export const reviewCommand: CommandModule<GlobalArgs, Args> = {
  command: "review <uid>",
  describe: "show a job's record, files, full code, code hash and advisory findings",
  builder: (y) =>
    datasiteOption(y).positional("uid", { type: "string", demandOption: true, describe: "job uid, or the 8 characters listings show (its end)" }),
  handler: async (argv) => {
    const ctx = await contextFrom(argv);
    const r = await reviewJob(argv.uid, ctx);
    const m = r.job.meta;
    // A finished job: what the disclosure check found in its output (as this user may see it).
    const checks = await getJobChecks(r.job.uid, ctx).catch(expected("no checks to show (none yet, or not this viewer's)", null));
    const json = {
      job: jobJson(r.job),
      files: r.files,
      texts: r.texts,
      not_shown: r.notShown,
      not_scanned: r.notScanned,
      code_sha256: r.code_sha256,
      findings: r.findings,
      output_checks: checks ? { checked_at: checks.checked_at, files: checks.files } : null,
      votes: m.votes,
      approvals: approvalsOf(ctx, r.job),
    };
    print(argv, json, () => {
      const out = [
        `Job ${m.uid}  [${r.job.status}]`,
        `  name:        ${m.name}`,
        `  from:        ${m.requester_email}${m.sender === "unverified" ? "  (UNVERIFIED: written straight into jobs/pending/ by a Python client; nothing proves who sent it)" : ""}`,
        `  submitted:   ${m.created_at}`,
        `  description: ${m.description || "(none)"}`,
        `  tags:        ${m.tags.join(", ") || "(none)"}`,
        `  code sha256: ${r.code_sha256}`,
        ...(m.revises ? [`  revises:     ${m.revises} (its owner asked for changes)`] : []),
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
      for (const n of r.notShown) out.push("", `──── ${n.file}: NOT SHOWN (${n.why}) ────`);
      const scanned = r.files.filter((f) => f.type === "file").length - r.notScanned.length;
      const unseen = r.notShown.length > 0 ? `; ${r.notShown.length} file(s) not shown above` : "";
      const unscanned = r.notScanned.length > 0 ? `; NOT scanned: ${r.notScanned.map((n) => n.file).join(", ")}` : "";
      out.push(
        "",
        r.findings.length === 0
          ? `Advisory findings: none in the ${scanned} file(s) scanned${unseen}${unscanned}.`
          : `Advisory findings (${r.findings.length}; they decide nothing, you do)${unseen}${unscanned}:`,
      );
      for (const f of r.findings) out.push(`  ${f.file}:${f.line}  ${f.rule}${f.text ? `: ${f.text}` : ""}`);
      if (checks) out.push("", ...outputChecksLines(checks.files));
      out.push(...votesLines(r.job, json.approvals));
      if (r.job.status === "pending") {
        // --sha binds the approval to the code shown here: if it changes before you approve, approve refuses.
        const on = onDatasite(argv);
        out.push(
          "",
          `Approve: scq approve ${m.uid.slice(-8)} --sha ${r.code_sha256}${on} -r "why"`,
          `Reject:  scq reject ${m.uid.slice(-8)}${on} -r "why"`,
        );
      }
      return out.join("\n");
    });
  },
};
