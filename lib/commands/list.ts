import type { CommandModule } from "yargs";
import { allJobsForMe, myJobs, pendingForMe } from "../api.ts";
import { JOB_STATUSES, type JobStatus } from "../schemas.ts";
import { contextFrom, jobJson, jobRows, print, type GlobalArgs } from "./shared.ts";

interface FilterArgs extends GlobalArgs {
  status?: JobStatus;
  from?: string;
  search?: string;
  limit?: number;
}

const filterOptions = {
  from: { type: "string", describe: "only jobs from this requester" },
  search: { type: "string", describe: "only jobs whose name, description, tags, requester or uid contain this" },
  limit: { type: "number", describe: "at most this many (newest first)" },
} as const;

export const listCommand: CommandModule<GlobalArgs, FilterArgs> = {
  command: "list",
  describe: "jobs in your queue, newest first (as data owner)",
  builder: (y) =>
    y
      .option("status", { choices: JOB_STATUSES, describe: "only jobs in this state" })
      .options(filterOptions)
      .example("$0 list --status failed --from alice@uni.edu", ""),
  handler: async (argv) => {
    const jobs = await allJobsForMe({ status: argv.status, from: argv.from, search: argv.search, limit: argv.limit }, await contextFrom(argv));
    print(argv, jobs.map(jobJson), () => jobRows(jobs));
  },
};

export const pendingCommand: CommandModule<GlobalArgs, FilterArgs> = {
  command: "pending",
  describe: "jobs waiting for your review",
  builder: (y) => y.options(filterOptions),
  handler: async (argv) => {
    const jobs = await pendingForMe({ from: argv.from, search: argv.search, limit: argv.limit }, await contextFrom(argv));
    print(argv, jobs.map(jobJson), () =>
      jobs.length === 0 ? "Nothing to review." : `${jobRows(jobs)}\n\nReview one with: scq review <uid>, then scq approve|reject <uid>`,
    );
  },
};

export const mineCommand: CommandModule<GlobalArgs, FilterArgs> = {
  command: "mine",
  describe: "jobs you submitted, on every datasite you have synced (as data scientist)",
  builder: (y) => y.option("status", { choices: JOB_STATUSES, describe: "only jobs in this state" }),
  handler: async (argv) => {
    const jobs = await myJobs(argv.status, await contextFrom(argv));
    print(
      argv,
      jobs.map((j) => ({ ...jobJson(j), owner: j.owner })),
      () => jobRows(jobs, "to"),
    );
  },
};
