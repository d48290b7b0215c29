// approve and reject: one builder, two commands. Several uids at once are decided one by one; the
// command fails (exit 1) if any of them could not be, after trying them all.
import type { CommandModule } from "yargs";
import { decide, type Decision } from "../decisions.ts";
import { errorMessage } from "../errors.ts";
import { contextFrom, print, type GlobalArgs } from "./shared.ts";

interface Args extends GlobalArgs {
  uid: string[];
  reason?: string;
}

export function decideCommand(decision: Decision): CommandModule<GlobalArgs, Args> {
  const verb = decision === "approve" ? "approve" : "reject";
  return {
    command: `${verb} <uid..>`,
    describe: decision === "approve" ? "approve pending jobs: they run at the next pass" : "reject pending jobs with a reason",
    builder: (y) =>
      y
        .positional("uid", { type: "string", array: true, demandOption: true, describe: "job uid(s) or their first 8 characters" })
        .option("reason", { alias: "r", type: "string", demandOption: decision === "reject", describe: "why (the requester reads it)" })
        .example(`$0 ${verb} 3f2b8c1e -r "${decision === "approve" ? "aggregate counts only" : "reads raw rows"}"`, "") as never,
    handler: async (argv) => {
      const ctx = await contextFrom(argv);
      const results: { uid: string; ok: boolean; job?: string; error?: string }[] = [];
      for (const ref of argv.uid) {
        try {
          const { job } = await decide(ctx, ref, { decision, reason: argv.reason });
          results.push({ uid: ref, ok: true, job: job.uid });
        } catch (error) {
          results.push({ uid: ref, ok: false, error: errorMessage(error) });
        }
      }
      const failed = results.filter((r) => !r.ok);
      print(argv, results, () =>
        results
          .map((r) => (r.ok ? `${decision === "approve" ? "Approved" : "Rejected"} ${r.job}: the next pass ${decision === "approve" ? "runs it" : "records it"}.` : `error: ${r.error}`))
          .join("\n"),
      );
      if (failed.length > 0) process.exitCode = 1;
    },
  };
}
