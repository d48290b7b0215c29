// Every scq command, one file each (the one-job commands share job.ts), in the order `scq --help`
// lists them. Each is loaded only when it runs: `scq verify` should not pay for parsing the page
// server, the submit packer or the pass (a command's start is most of what a person waits for).
// The key is the command's first word; test/unit/commands-index.test.ts holds them to each other.
import type { CommandModule } from "yargs";
import type { GlobalArgs } from "./shared.ts";

// Each command has its own arguments; yargs only needs to know they extend the global ones.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyCommand = CommandModule<GlobalArgs, any>;

export const commands: Record<string, () => Promise<AnyCommand>> = {
  submit: async () => (await import("./submit.ts")).submitCommand,
  "submit-script": async () => (await import("./submit-script.ts")).submitScriptCommand,
  try: async () => (await import("./dry-run.ts")).tryCommand,
  mine: async () => (await import("./list.ts")).mineCommand,
  wait: async () => (await import("./job.ts")).waitCommand,
  cancel: async () => (await import("./job.ts")).cancelCommand,
  pending: async () => (await import("./list.ts")).pendingCommand,
  list: async () => (await import("./list.ts")).listCommand,
  review: async () => (await import("./review.ts")).reviewCommand,
  "dry-run": async () => (await import("./dry-run.ts")).dryRunCommand,
  approve: async () => (await import("./decide.ts")).decideCommand("approve"),
  reject: async () => (await import("./decide.ts")).decideCommand("reject"),
  undo: async () => (await import("./undo.ts")).undoCommand,
  status: async () => (await import("./status.ts")).statusCommand,
  job: async () => (await import("./job.ts")).jobCommand,
  logs: async () => (await import("./job.ts")).logsCommand,
  output: async () => (await import("./job.ts")).outputCommand,
  verify: async () => (await import("./verify.ts")).verifyCommand,
  checks: async () => (await import("./checks.ts")).checksCommand,
  release: async () => (await import("./job.ts")).releaseCommand,
  "output-review": async () => (await import("./output-review.ts")).outputReviewCommand,
  "output-vote": async () => (await import("./output-vote.ts")).outputVoteCommand,
  rules: async () => (await import("./rules.ts")).rulesCommand,
  audit: async () => (await import("./audit.ts")).auditCommand,
  key: async () => (await import("./key.ts")).keyCommand,
  ui: async () => (await import("./ui.ts")).uiCommand,
  process: async () => (await import("./process.ts")).processCommand,
};

/**
 * The commands a command line needs: only the one it names, else all of them (help, a typo that
 * yargs will suggest a command for, options before the command).
 */
export async function commandsFor(args: readonly string[]): Promise<AnyCommand[]> {
  const named = args[0] !== undefined && Object.hasOwn(commands, args[0]) ? commands[args[0]] : undefined;
  return named ? [await named()] : Promise.all(Object.values(commands).map((load) => load()));
}
