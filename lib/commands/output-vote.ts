// output-vote: as one of a data owner's output checkers, vote on files of a job's held output.
import { UsageError } from "../core/errors.ts";
import type { FileVote, OutputVote } from "../core/schemas.ts";
import { voteOnOutput } from "../people/output-review.ts";
import { cliCommand, datasiteOption, type Command, type GlobalArgs } from "./shared.ts";

interface Args extends GlobalArgs {
  uid: string;
  approve: string[];
  "request-changes": string[];
  undecided: string[];
  comment: string[];
}

const fileList = (describe: string) => ({ type: "string" as const, array: true as const, default: [] as string[], describe });

/** "FILE: text": a comment on one file's vote. */
function fileComment(spec: string): [string, string] {
  const at = spec.indexOf(": ");
  if (at < 1 || !spec.slice(at + 2).trim())
    throw new UsageError(`--comment "${spec}": write it as FILE: text, e.g. --comment "table.csv: counts under 10 in row 3".`);
  return [spec.slice(0, at), spec.slice(at + 2).trim()];
}

export const outputVote: Command<Args, { uid: string; file: string; vote: OutputVote }> = {
  command: "output-vote <uid>",
  describe: "as an output checker: approve files of a job's output, ask for changes, or say you are undecided",
  builder: (y) =>
    datasiteOption(y)
      .positional("uid", { type: "string", demandOption: true, describe: "job uid, or the 8 characters listings show (its end)" })
      .option("approve", fileList("a file (path under output/, or run-logs/stdout.txt) that is safe to release; repeat for more"))
      .option("request-changes", fileList("a file that must not leave as it is; repeat for more"))
      .option("undecided", fileList("a file you cannot decide on; repeat for more"))
      .option("comment", fileList('a comment on one of those files, "FILE: text" (the other checkers read it once the reviews are in)'))
      .example(
        '$0 output-vote 3f2b8c1e --datasite owner@uni.edu --approve table.csv --request-changes raw.csv --comment "raw.csv: row-level data"',
        "",
      ),
  run: async (ctx, argv) => {
    const votes: Record<string, FileVote> = {};
    const comments = new Map(argv.comment.map(fileComment));
    for (const [flag, vote] of [
      ["approve", "approve"],
      ["request-changes", "request_changes"],
      ["undecided", "undecided"],
    ] as const) {
      for (const file of argv[flag]) {
        if (votes[file]) throw new UsageError(`${file} is given two votes: give each file one.`);
        votes[file] = { vote, comment: comments.get(file) ?? "" };
      }
    }
    const stray = [...comments.keys()].filter((f) => !votes[f]);
    if (stray.length > 0) throw new UsageError(`--comment on ${stray.join(", ")}: a comment goes with a vote on that file.`);
    return voteOnOutput(ctx, argv.uid, votes);
  },
  render: (r) =>
    `Voted on ${Object.keys(r.vote.files).length} file(s) of ${r.uid}: the owner's next pass records your votes (scq output-review ${r.uid.slice(-8)} shows them).`,
};

export const outputVoteCommand = cliCommand(outputVote);
