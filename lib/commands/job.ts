// Commands about one job: job (its record), logs, output.
import fs from "fs-extra";
import path from "node:path";
import type { CommandModule } from "yargs";
import { ownQueue } from "../context.ts";
import { ScqError } from "../errors.ts";
import { findJob } from "../lifecycle.ts";
import { walkTree } from "../tree.ts";
import { contextFrom, jobJson, print, type GlobalArgs } from "./shared.ts";

interface UidArgs extends GlobalArgs {
  uid: string;
}

const uidPositional = { type: "string", demandOption: true, describe: "job uid or its first 8 characters" } as const;

export const jobCommand: CommandModule<GlobalArgs, UidArgs> = {
  command: "job <uid>",
  describe: "a job's status and details",
  builder: (y) => y.positional("uid", uidPositional) as never,
  handler: async (argv) => {
    const job = await findJob(ownQueue(await contextFrom(argv)), argv.uid);
    const record = jobJson(job);
    print(argv, record, () => Object.entries(record).map(([k, v]) => `${k.padEnd(16)} ${typeof v === "string" ? v : JSON.stringify(v)}`).join("\n"));
  },
};

interface LogsArgs extends UidArgs {
  stderr: boolean;
}

export const logsCommand: CommandModule<GlobalArgs, LogsArgs> = {
  command: "logs <uid>",
  describe: "a job's stdout (or --stderr)",
  builder: (y) => y.positional("uid", uidPositional).option("stderr", { type: "boolean", default: false }) as never,
  handler: async (argv) => {
    const job = await findJob(ownQueue(await contextFrom(argv)), argv.uid);
    const file = path.join(job.dir, "logs", argv.stderr ? "stderr.txt" : "stdout.txt");
    const text = await fs.promises.readFile(file, "utf8").catch(() => null);
    if (text === null && !argv.json) throw new ScqError(`Job ${job.uid} has no logs yet (it is ${job.status}).`);
    if (argv.json) print(argv, { uid: job.uid, status: job.status, stream: argv.stderr ? "stderr" : "stdout", text }, () => "");
    else process.stdout.write(text!);
  },
};

interface OutputArgs extends UidArgs {
  to?: string;
}

export const outputCommand: CommandModule<GlobalArgs, OutputArgs> = {
  command: "output <uid>",
  describe: "list a finished job's output files, or copy them out with --to",
  builder: (y) => y.positional("uid", uidPositional).option("to", { type: "string", describe: "copy the output into this folder" }) as never,
  handler: async (argv) => {
    const job = await findJob(ownQueue(await contextFrom(argv)), argv.uid);
    const dir = path.join(job.dir, "output");
    if (!(await fs.pathExists(dir))) throw new ScqError(`Job ${job.uid} has no output (it is ${job.status}).`);
    const files = (await walkTree(dir)).filter((e) => e.type === "file");
    if (argv.to) await fs.copy(dir, argv.to, { overwrite: false, errorOnExist: true });
    print(argv, { uid: job.uid, dir, files, copied_to: argv.to ?? null }, () =>
      [`Output of ${job.uid} in ${dir}:`, ...files.map((f) => `  ${f.rel}  (${f.size} bytes)`), ...(argv.to ? [`Copied to ${argv.to}`] : [])].join("\n"),
    );
  },
};
