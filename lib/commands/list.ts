import type { CommandModule } from "yargs";
import { myJobs, pageOfMyQueue } from "../api.ts";
import { JOB_STATUSES, type JobStatus } from "../schemas.ts";
import { contextFrom, jobJson, jobRows, print, type GlobalArgs } from "./shared.ts";

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

export const listCommand: CommandModule<GlobalArgs, FilterArgs> = {
  command: "list",
  describe: "jobs in your queue, newest first (as data owner)",
  builder: (y) =>
    y
      .option("status", { choices: JOB_STATUSES, describe: "only jobs in this state" })
      .options(filterOptions)
      .example("$0 list --status failed --from alice@uni.edu", ""),
  handler: async (argv) => {
    const page = await pageOfMyQueue(
      { status: argv.status, from: argv.from, search: argv.search, limit: limitOf(argv), after: argv.after },
      await contextFrom(argv),
    );
    print(argv, page.jobs.map(jobJson), () => `${jobRows(page.jobs)}\n\n${pageFooter("list", page.jobs.length, page.total, page.next)}`);
  },
};

export const pendingCommand: CommandModule<GlobalArgs, FilterArgs> = {
  command: "pending",
  describe: "jobs waiting for your review",
  builder: (y) => y.options(filterOptions),
  handler: async (argv) => {
    const page = await pageOfMyQueue(
      { status: "pending", from: argv.from, search: argv.search, limit: limitOf(argv), after: argv.after },
      await contextFrom(argv),
    );
    print(argv, page.jobs.map(jobJson), () =>
      page.jobs.length === 0
        ? "Nothing to review."
        : `${jobRows(page.jobs)}\n\n${pageFooter("pending", page.jobs.length, page.total, page.next)}\nReview one with: scq review <uid>, then scq approve|reject <uid>`,
    );
  },
};

export const mineCommand: CommandModule<GlobalArgs, FilterArgs> = {
  command: "mine",
  describe: "jobs you submitted, on every datasite you have synced (as data scientist)",
  builder: (y) =>
    y
      .option("status", { choices: JOB_STATUSES, describe: "only jobs in this state" })
      .options({ limit: filterOptions.limit, after: filterOptions.after }),
  handler: async (argv) => {
    const jobs = await myJobs(argv.status, await contextFrom(argv), { limit: limitOf(argv), after: argv.after });
    print(
      argv,
      jobs.map((j) => ({ ...jobJson(j), owner: j.owner })),
      () => jobRows(jobs, "to"),
    );
  },
};
