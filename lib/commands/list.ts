import type { CommandModule } from "yargs";
import { myJobs, pageOfMyQueue, votesAwaited } from "../people/api.ts";
import type { Context } from "../core/context.ts";
import { UsageError } from "../core/errors.ts";
import type { Job, JobView } from "../core/job.ts";
import { ownQueue } from "../core/context.ts";
import { heldOutput } from "../queue/jobs.ts";
import { shortUid } from "../core/log.ts";
import { JOB_STATUSES, type JobStatus } from "../core/schemas.ts";
import { visible } from "../core/visible.ts";
import { cliCommand, contextFrom, datasiteOption, jobJson, jobRows, onDatasite, print, stateText, type Command, type GlobalArgs } from "./shared.ts";

interface FilterArgs extends GlobalArgs {
  status?: JobStatus;
  from?: string;
  search?: string;
  limit: number;
  after?: string;
}

const filterOptions = {
  from: { type: "string", describe: "only jobs from this requester" },
  search: { type: "string", describe: "only jobs whose name, description, tags, requester or uid contain this" },
  limit: { type: "number", default: 50, describe: "at most this many, newest first (0 for all)" },
  after: { type: "string", describe: "the next page: jobs older than this uid (the last one shown)" },
} as const;

/** "Showing 50 of 5000, newest first. Next page: scq list --after <uid>" */
function pageFooter(command: string, shown: number, total: number, next: string | null): string {
  return `Showing ${shown} of ${total}, newest first.${next ? ` Next page: scq ${command} --after ${next}` : ""}`;
}

const limitOf = (argv: { limit: number }) => (argv.limit > 0 ? argv.limit : Infinity);

type Page = Awaited<ReturnType<typeof pageOfMyQueue>>;

export const list: Command<FilterArgs, Page> = {
  command: "list",
  describe: "jobs in your queue, newest first (as data owner)",
  builder: (y) =>
    datasiteOption(y)
      .option("status", { choices: JOB_STATUSES, describe: "only jobs in this state" })
      .options(filterOptions)
      .example("$0 list --status failed --from alice@uni.edu", ""),
  run: (ctx, argv) => pageOfMyQueue({ status: argv.status, from: argv.from, search: argv.search, limit: limitOf(argv), after: argv.after }, ctx),
  render: (page) => `${jobRows(page.jobs)}\n\n${pageFooter("list", page.jobs.length, page.total, page.next)}`,
  json: (page) => page.jobs.map(jobJson),
};

export const listCommand = cliCommand(list);

export const pending: Command<FilterArgs, Page & { held: Job[]; awaiting: { owner: string; uids: string[] }[] }> = {
  command: "pending",
  describe: "jobs waiting for your review",
  builder: (y) => datasiteOption(y).options(filterOptions),
  run: async (ctx, argv) => ({
    ...(await pageOfMyQueue({ status: "pending", from: argv.from, search: argv.search, limit: limitOf(argv), after: argv.after }, ctx)),
    // The owner's other to-do: output that waits for their release (an approver releases nothing).
    held: argv.datasite ? [] : await heldOutput(ownQueue(ctx)),
    // And, as another owner's listed approver, the jobs there that wait for this person's vote.
    awaiting: argv.datasite ? [] : await votesAwaited(ctx),
  }),
  render: (page, argv) => {
    const code =
      page.jobs.length === 0
        ? "No code to review."
        : `${jobRows(page.jobs)}\n\n${pageFooter("pending", page.jobs.length, page.total, page.next)}\nReview one with: scq review <uid>${onDatasite(argv)}, then scq approve|reject <uid>${onDatasite(argv)}`;
    const votes = page.awaiting.map(
      (a) => `As a listed approver of ${a.owner}: ${a.uids.length} job(s) await your vote: scq pending --datasite ${a.owner}`,
    );
    if (page.held.length === 0 && votes.length === 0) return page.jobs.length === 0 ? "Nothing to review." : code;
    const held = page.held.map((j) => `  ${shortUid(j.uid)}  "${j.meta.name}" (${j.status})`);
    return [
      code,
      ...(held.length > 0
        ? [`\nOutput awaiting your release (${page.held.length}): scq checks <uid>, then scq release <uid>\n${held.join("\n")}`]
        : []),
      ...(votes.length > 0 ? ["", ...votes] : []),
    ].join("\n");
  },
  json: (page) => page.jobs.map(jobJson),
};

export const pendingCommand = cliCommand(pending);

interface MineArgs extends FilterArgs {
  watch: boolean;
  every: number;
}

export const mineCommand: CommandModule<GlobalArgs, MineArgs> = {
  command: "mine",
  describe: "jobs you submitted, on every datasite you have synced (as data scientist); --watch follows them",
  builder: (y) =>
    y
      .option("status", { choices: JOB_STATUSES, describe: "only jobs in this state" })
      .options({ limit: filterOptions.limit, after: filterOptions.after })
      .option("watch", { type: "boolean", default: false, describe: "then print each change as it happens, until Ctrl-C" })
      .option("every", { type: "number", default: 2, describe: "with --watch: seconds between looks" }),
  handler: async (argv) => {
    const ctx = await contextFrom(argv);
    // Told to stop from the first listing on (a stop before the watch began is a stop, exit 0, too).
    const stop = { now: false };
    if (argv.watch) {
      const onSignal = () => (stop.now = true);
      process.once("SIGINT", onSignal);
      process.once("SIGTERM", onSignal);
    }
    const jobs = await myJobs(argv.status, ctx, { limit: limitOf(argv), after: argv.after });
    print(
      argv,
      jobs.map((j) => ({ ...jobJson(j), owner: j.owner })),
      () => jobRows(jobs, "to"),
    );
    if (argv.watch) await watchMine(ctx, argv, jobs, stop);
  },
};

/**
 * One line per change to the requester's jobs (a new job, a new state, a decision), printed as the
 * syncs bring it, until SIGINT or SIGTERM (exit 0). With --json, one JSON object per line.
 */
async function watchMine(ctx: Context, argv: MineArgs, first: JobView[], stop: { now: boolean }): Promise<void> {
  if (!Number.isFinite(argv.every) || argv.every <= 0) throw new UsageError("--every needs a positive number of seconds");
  const seen = new Map(first.map((j) => [j.uid, stateText(j)]));
  while (!stop.now) {
    await new Promise((resolve) => setTimeout(resolve, argv.every * 1000));
    if (stop.now) break;
    const now = await myJobs(argv.status, ctx, { limit: limitOf(argv) });
    for (const j of [...now].reverse()) {
      const state = stateText(j);
      const before = seen.get(j.uid);
      if (before === state) continue;
      seen.set(j.uid, state);
      const at = new Date().toISOString().slice(11, 19);
      const why =
        j.status === "rejected" || j.status === "failed"
          ? `: ${j.meta.error_message ?? ""}`
          : j.meta.decision && j.status === "approved"
            ? ` by ${j.meta.decision.by}`
            : "";
      if (argv.json)
        process.stdout.write(`${JSON.stringify({ at: new Date().toISOString(), uid: j.uid, name: j.meta.name, from: before ?? null, to: state })}\n`);
      else process.stdout.write(`${at}  ${shortUid(j.uid)}  "${visible(j.meta.name)}"  ${before ?? "new"} → ${state}${visible(why)}\n`);
    }
  }
}
