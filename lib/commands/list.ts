import type { CommandModule } from "yargs";
import { ownQueue } from "../context.ts";
import { listJobs } from "../lifecycle.ts";
import { JOB_STATUSES, type JobStatus } from "../schemas.ts";
import { contextFrom, jobJson, jobRows, print, type GlobalArgs } from "./shared.ts";

interface Args extends GlobalArgs {
  status?: JobStatus;
}

export const listCommand: CommandModule<GlobalArgs, Args> = {
  command: "list",
  describe: "jobs in your queue (as data owner)",
  builder: (y) => y.option("status", { choices: JOB_STATUSES, describe: "only jobs in this state" }) as never,
  handler: async (argv) => {
    const ctx = await contextFrom(argv);
    const { jobs, problems } = await listJobs(ownQueue(ctx), argv.status ? [argv.status] : JOB_STATUSES);
    for (const p of problems) process.stderr.write(`warning: ${p.status}/${p.uid}: ${p.error.message}\n`);
    print(argv, jobs.map(jobJson), () => jobRows(jobs));
  },
};

export const pendingCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: "pending",
  describe: "jobs waiting for your review",
  handler: async (argv) => {
    const ctx = await contextFrom(argv);
    const { jobs } = await listJobs(ownQueue(ctx), ["pending"]);
    print(argv, jobs.map(jobJson), () =>
      jobs.length === 0 ? "Nothing to review." : `${jobRows(jobs)}\n\nReview one with: scq review <uid>, then scq approve|reject <uid>`,
    );
  },
};
