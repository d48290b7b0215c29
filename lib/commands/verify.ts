import { ownQueue } from "../core/context.ts";
import { visible } from "../core/visible.ts";
import { locateJob } from "../queue/jobs.ts";
import { verifyResult, type Verdict } from "../proof/verify.ts";
import { cliCommand, paint, type Command, type GlobalArgs } from "./shared.ts";

interface Args extends GlobalArgs {
  uid: string;
}

export const verify: Command<Args, Verdict> = {
  command: "verify <uid>",
  describe: "check a finished job's signed result offline: the owner's signature, every released file, and that the code is what you sent",
  builder: (y) => y.positional("uid", { type: "string", demandOption: true, describe: "job uid, or the 8 characters listings show (its end)" }),
  run: async (ctx, argv) => verifyResult(await locateJob(ctx, argv.uid), ctx.dataDir, ownQueue(ctx)),
  render: (v) => {
    const p = v.predicate;
    const mark = (ok: boolean | null) => (ok === true ? "ok " : ok === false ? paint("BAD", "failed") : "-- ");
    return [
      `${v.uid} from ${v.owner}: ${v.ok ? paint("VERIFIED", "completed") : paint("NOT VERIFIED", "failed")}`,
      ...v.checks.map((c) => `  ${mark(c.ok)} ${c.what.padEnd(10)} ${visible(c.detail)}`),
      ...(p
        ? [
            `  what the owner signed:`,
            `    approved: ${p.approval.decision ? `by ${p.approval.decision.by} at ${p.approval.decision.at}` : "no decision recorded"}${
              p.approval.votes.length > 0 ? `; votes: ${p.approval.votes.map((x) => `${x.by} ${x.decision}`).join(", ")}` : ""
            }`,
            `    ran: ${p.run.status}, exit ${p.run.exit_code ?? "none"}, sandbox ${p.run.sandbox ?? "?"}, on ${p.run.executor ? (p.run.executor.type === "local" ? `this machine (${p.run.executor.host ?? "?"})` : `Slurm job ${p.run.executor.job_id ?? "?"}`) : "?"}`,
            `    checks: ${p.checks ? `${p.checks.reduce((n, f) => n + f.findings.length, 0)} finding(s) on ${p.checks.length} file(s)` : "none run"}`,
            `    released by ${p.release.by} at ${p.release.at}${p.release.withheld.length > 0 ? `; withheld: ${p.release.withheld.map((w) => visible(w.path)).join(", ")}` : ""}${
              p.release.exception ? `; exception: ${visible(p.release.exception)}` : ""
            }`,
          ]
        : []),
    ].join("\n");
  },
  failed: (v) => !v.ok,
};

export const verifyCommand = cliCommand(verify);
