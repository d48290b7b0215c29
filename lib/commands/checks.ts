import { getJobChecks } from "../people/api.ts";
import { visible } from "../core/visible.ts";
import type { ChecksReport, JobStatus } from "../core/schemas.ts";
import { cliCommand, type Command, type GlobalArgs } from "./shared.ts";

interface ChecksArgs extends GlobalArgs {
  uid: string;
}

type ChecksData = { uid: string; status: JobStatus } & ChecksReport;

export const checks: Command<ChecksArgs, ChecksData> = {
  command: "checks <uid>",
  describe: "what the disclosure check found in a finished job's output, file by file",
  builder: (y) => y.positional("uid", { type: "string", demandOption: true, describe: "job uid, or the 8 characters listings show (its end)" }),
  run: async (ctx, argv) => {
    const { job, ...report } = await getJobChecks(argv.uid, ctx);
    return { uid: job.uid, status: job.status, ...report };
  },
  render: (report) => {
    const lines = [`Output checks of ${report.uid} (${report.status}), ${report.checked_at}:`];
    if (report.files.length === 0) lines.push("  no output files");
    for (const f of report.files) {
      const shape = f.rows === null ? "" : `, ${f.rows} rows × ${f.columns} columns`;
      lines.push(`  ${visible(f.path)}  (${f.type}, ${f.bytes} bytes${shape})${f.findings.length === 0 ? ": no findings" : ""}`);
      if (f.description) lines.push(`    the requester says: ${visible(f.description)}`);
      if (f.controls.length > 0) lines.push(`    controls applied: ${f.controls.map(visible).join("; ")}`);
      for (const x of f.findings) {
        const where = [x.row === null ? "" : `row ${x.row}`, x.column === null ? "" : `column "${visible(x.column)}"`].filter(Boolean).join(", ");
        const value = x.value === null ? "" : ` = ${visible(x.value)}`;
        lines.push(`    ${x.blocking ? "BLOCKING " : ""}[${x.rule}]${where ? ` ${where}` : ""}${value}: ${visible(x.message)}`);
      }
    }
    lines.push("Findings are advisory unless output_checks.blocking names their rule; they never approve anything.");
    return lines.join("\n");
  },
};

export const checksCommand = cliCommand(checks);
