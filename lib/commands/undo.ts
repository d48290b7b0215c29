import { withdrawDecision } from "../approval/decisions.ts";
import { cliCommand, datasiteOption, type Command, type GlobalArgs } from "./shared.ts";

interface Args extends GlobalArgs {
  uid: string;
}

export const undo: Command<Args, { uid: string; decision: "approve" | "reject"; by: string; vote: boolean }> = {
  command: "undo <uid>",
  describe: "take back a decision (or your vote) on a pending job before the next pass applies it",
  builder: (y) =>
    datasiteOption(y).positional("uid", { type: "string", demandOption: true, describe: "job uid, or the 8 characters listings show (its end)" }),
  run: async (ctx, argv) => {
    const { job, withdrawn } = await withdrawDecision(ctx, argv.uid);
    return { uid: job.uid, ...withdrawn };
  },
  render: (r) =>
    r.vote
      ? `Took back your vote to ${r.decision} ${r.uid}: it waits for your vote again.`
      : `Took back the ${r.decision === "approve" ? "approval" : "rejection"} of ${r.uid} by ${r.by}: it waits for a decision again.`,
};

export const undoCommand = cliCommand(undo);
