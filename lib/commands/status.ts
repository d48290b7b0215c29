import fs from "fs-extra";
import path from "node:path";
import type { CommandModule } from "yargs";
import { ownQueue } from "../context.ts";
import { listDirs } from "../fsutil.ts";
import { listJobs } from "../lifecycle.ts";
import { age } from "../log.ts";
import { JOB_STATUSES } from "../schemas.ts";
import { contextFrom, print, type GlobalArgs } from "./shared.ts";

export const statusCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: "status",
  describe: "how many jobs are in each state, the oldest pending one, and the last pass",
  handler: async (argv) => {
    const ctx = await contextFrom(argv);
    const paths = ownQueue(ctx);
    // Counting folders needs no metadata reads, so this stays fast with a long history.
    const counts = Object.fromEntries(
      await Promise.all(JOB_STATUSES.map(async (s) => [s, (await listDirs(path.join(paths.jobs, s))).length] as const)),
    );
    const { jobs: pending } = await listJobs(paths, ["pending"]);
    const oldest = pending.map((j) => j.meta.created_at).sort()[0] ?? null;
    const lastPass = await fs.readJson(paths.lastPass).catch(() => null);
    print(argv, { queue: paths.root, counts, oldest_pending: oldest, last_pass: lastPass }, () =>
      [
        `Queue of ${ctx.email}: ${paths.root}`,
        ...JOB_STATUSES.map((s) => `  ${s.padEnd(10)} ${counts[s]}`),
        `Oldest pending: ${oldest ? `${age(oldest)} old` : "none"}`,
        `Last pass: ${lastPass?.finished_at ? `${lastPass.finished_at} (${age(lastPass.finished_at)} ago)` : "never"}`,
      ].join("\n"),
    );
  },
};
