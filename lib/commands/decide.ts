// approve and reject: one builder, two commands. Several uids at once, or every pending job matching
// a filter with --all-pending, are decided one by one; the command exits 1 if any could not be.
import { pendingForMe } from "../people/api.ts";
import { decideMany, type Decision } from "../approval/decisions.ts";
import { UsageError } from "../core/errors.ts";
import { cliCommand, datasiteOption, type Command, type GlobalArgs } from "./shared.ts";

interface Args extends GlobalArgs {
  uid: string[];
  reason?: string;
  "all-pending": boolean;
  from?: string;
  search?: string;
  sha?: string;
  "dry-run"?: boolean;
}

interface Outcome {
  /** What was asked for (a uid, or the characters of one). */
  uid: string;
  ok: boolean;
  /** The job decided, in full. */
  job?: string;
  /** A vote (N-of-M approvals, or as another owner's approver), counted by the owner's next pass. */
  vote?: boolean;
  error?: string;
  /** --dry-run: checked, not written. */
  preview?: boolean;
}

/** approve or reject as plain functions (run, render); decideCommand wires one to yargs. */
export function decide(decision: Decision): Command<Args, Outcome[]> {
  const verb = decision === "approve" ? "approve" : "reject";
  return {
    command: `${verb} [uid..]`,
    describe: decision === "approve" ? "approve pending jobs: they run at the next pass" : "reject pending jobs with a reason",
    builder: (y) =>
      datasiteOption(y)
        .positional("uid", {
          type: "string",
          array: true,
          default: [] as string[],
          describe: "job uid(s), or the 8 characters listings show (its end)",
        })
        .option("reason", { alias: "r", type: "string", demandOption: decision === "reject", describe: "why (the requester reads it)" })
        .option("all-pending", { type: "boolean", default: false, describe: `${verb} every pending job (narrow it with --from / --search)` })
        .option("from", { type: "string", describe: "with --all-pending: only jobs from this requester" })
        .option("search", { type: "string", describe: "with --all-pending: only jobs matching this text" })
        .option("sha", { type: "string", describe: "the code sha256 scq review showed you: refuse if the code is not exactly that any more" })
        .option("dry-run", {
          type: "boolean",
          default: false,
          describe: `check and list what would be ${verb === "approve" ? "approved" : "rejected"}; write nothing`,
        })
        .example(`$0 ${verb} 3f2b8c1e -r "${decision === "approve" ? "aggregate counts only" : "reads raw rows"}"`, "")
        .example(`$0 ${verb} --all-pending --from alice@uni.edu -r "batch" --dry-run`, "see which jobs it would take, then run it without --dry-run")
        .example(`$0 ${verb} 3f2b8c1e --datasite owner@uni.edu -r "..."`, "as one of that owner's listed approvers: your vote"),
    run: async (ctx, argv) => {
      if (argv["all-pending"] === argv.uid.length > 0)
        throw new UsageError(`Give job uids or --all-pending, not ${argv.uid.length > 0 ? "both" : "neither"}.`);
      if ((argv.from || argv.search) && !argv["all-pending"]) throw new UsageError("--from and --search go with --all-pending.");
      if (argv.sha !== undefined && argv.uid.length !== 1) throw new UsageError("--sha goes with exactly one job uid: it is that job's code hash.");
      const refs = argv["all-pending"]
        ? (await pendingForMe({ from: argv.from, search: argv.search, limit: Infinity }, ctx)).map((j) => j.uid)
        : argv.uid;
      const preview = argv["dry-run"] === true;
      const outcomes = await decideMany(ctx, refs, { decision, reason: argv.reason, sha: argv.sha, preview });
      return outcomes.map((o) => ({
        uid: o.ref,
        ok: o.ok,
        ...(o.uid ? { job: o.uid } : {}),
        ...(o.vote !== undefined ? { vote: o.vote } : {}),
        ...(o.error ? { error: o.error } : {}),
        ...(preview && o.ok ? { preview: true } : {}),
      }));
    },
    render: (results) => {
      if (results.length === 0) return "No pending jobs matched.";
      const lines = results.map((r) =>
        !r.ok
          ? `error: ${r.error}`
          : r.preview
            ? `Would ${r.vote ? `vote to ${verb}` : verb} ${r.job} (--dry-run: nothing written).`
            : r.vote
              ? `Voted to ${verb} ${r.job}: the owner's next pass counts your vote${decision === "approve" ? "; the job runs once enough approvers agree" : " (one listed approver's reject rejects it)"}.`
              : `${decision === "approve" ? "Approved" : "Rejected"} ${r.job}: the next pass ${decision === "approve" ? "runs it" : "records it"}.`,
      );
      // Several at once: one line that adds them up, so a long batch ends with its outcome.
      if (results.length > 1) {
        const ok = results.filter((r) => r.ok).length;
        const done = results.some((r) => r.preview) ? `would be ${verb}d` : results.some((r) => r.vote) ? `${verb} vote(s) written` : `${verb}d`;
        lines.push(`${ok} of ${results.length} ${done}${ok < results.length ? `; ${results.length - ok} refused (above)` : ""}.`);
      }
      return lines.join("\n");
    },
    failed: (results) => results.some((r) => !r.ok),
  };
}

export const decideCommand = (decision: Decision) => cliCommand(decide(decision));
