// output-review: as one of a data owner's output checkers, the jobs whose output waits for your review, or one of them file by file.
import { visible } from "../core/visible.ts";
import { VOTE_SAID } from "../disclosure/checkers.ts";
import type { ReviewView } from "../core/schemas.ts";
import { outputReviewForMe, outputReviewsForMe, type OutputReview } from "../people/output-review.ts";
import { cliCommand, datasiteOption, onDatasite, type Command, type GlobalArgs } from "./shared.ts";

interface Args extends GlobalArgs {
  uid?: string | undefined;
}

type Data = { owner: string; jobs: ReviewView[] } | (OutputReview & { owner: string });

function progress(v: ReviewView): string {
  const voting = v.files.filter((f) => !f.supporting);
  const mine = voting.filter((f) => f.mine).length;
  return `you voted on ${mine} of ${voting.length} file(s); reviews in: ${v.reviews_in} of ${v.required}`;
}

function renderOne(r: OutputReview & { owner: string }, argv: Args): string {
  const v = r.view;
  const lines = [`Output review of ${v.uid} "${visible(v.name)}" from ${v.requester} (${r.owner}'s queue): ${progress(v)}`];
  lines.push(
    v.blind
      ? `  Blind review: the other checkers' votes and each file's decision are shown once ${v.required} reviews are in.`
      : "  The reviews are in: every checker's votes and each file's decision are shown.",
  );
  lines.push(`  The files are in ${r.files}`);
  for (const f of v.files) {
    const checked = r.checks?.files.find((c) => c.path === f.path);
    const findings = f.findings === 0 ? "no findings" : `${f.findings} finding(s)${f.blocking ? `, ${f.blocking} BLOCKING` : ""}`;
    lines.push(`  ${visible(f.path)}  (${findings})${f.supporting ? "  SUPPORTING: explains the others, never released, takes no vote" : ""}`);
    // (A log's description is the checks' own, not the requester's.)
    if (checked?.description && !f.path.startsWith("run-logs/")) lines.push(`    the requester says: ${visible(checked.description)}`);
    for (const x of checked?.findings.slice(0, 5) ?? []) lines.push(`    ${x.blocking ? "BLOCKING " : ""}[${x.rule}] ${visible(x.message)}`);
    if ((checked?.findings.length ?? 0) > 5) lines.push(`    … ${checked!.findings.length - 5} more in ${r.files}/../output-checks.json`);
    if (f.supporting) continue;
    lines.push(`    your vote: ${f.mine ? `${VOTE_SAID[f.mine.vote]}${f.mine.comment ? ` ("${visible(f.mine.comment)}")` : ""}` : "none yet"}`);
    if (f.decision) {
      const votes = (f.votes ?? []).map((x) => `${x.by}: ${VOTE_SAID[x.vote]}${x.comment ? ` ("${visible(x.comment)}")` : ""}`).join("; ");
      lines.push(`    decision: ${f.decision.toUpperCase()} (${votes})`);
    }
  }
  lines.push(`Vote: scq output-vote ${v.uid.slice(-8)}${onDatasite(argv)} --approve FILE --request-changes FILE --comment "FILE: why"`);
  return lines.join("\n");
}

export const outputReview: Command<Args, Data> = {
  command: "output-review [uid]",
  describe: "as an output checker: the jobs whose output awaits your review, or one of them file by file",
  builder: (y) =>
    datasiteOption(y)
      .positional("uid", { type: "string", describe: "job uid, or the 8 characters listings show (its end)" })
      .example("$0 output-review --datasite owner@uni.edu", "the jobs of that owner waiting for your review")
      .example("$0 output-review 3f2b8c1e --datasite owner@uni.edu", "one job: its files, their checks, your votes"),
  run: async (ctx, argv) => {
    const owner = ctx.datasite ?? ctx.email;
    return argv.uid ? { owner, ...(await outputReviewForMe(ctx, argv.uid)) } : { owner, jobs: await outputReviewsForMe(ctx) };
  },
  render: (data, argv) => {
    if (!("jobs" in data)) return renderOne(data, argv);
    if (data.jobs.length === 0) return `No job's output awaits your review in ${data.owner}'s queue.`;
    return [
      `Output awaiting your review in ${data.owner}'s queue:`,
      ...data.jobs.map((v) => `  ${v.uid.slice(-8)}  "${visible(v.name)}" from ${v.requester}: ${progress(v)}`),
      `See one: scq output-review <uid>${onDatasite(argv)}`,
    ].join("\n");
  },
};

export const outputReviewCommand = cliCommand(outputReview);
