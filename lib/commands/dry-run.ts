// dry-run (the owner, on a pending job) and try (a requester, on their own folder): a run on mock
// data, printed the same way. Exit 0 when the job succeeded on the mock data, 1 when it failed.
import path from "node:path";
import type { CommandModule } from "yargs";
import { ownQueue } from "../core/context.ts";
import { dryRun, tryOnMock } from "../people/api.ts";
import { dryRunDir } from "../people/dry-run.ts";
import type { RunResult } from "../core/schemas.ts";
import { readLog } from "../core/log-files.ts";
import { walkTree } from "../core/tree.ts";
import { contextFrom, print, type GlobalArgs } from "./shared.ts";
import { expected } from "../core/expected.ts";

/** The end of a log worth printing under the result. */
const TAIL_LINES = 20;

async function resultLines(result: RunResult, dir: string): Promise<string[]> {
  const lines = [`  ${result.failed ? "FAILED" : "succeeded"}: ${result.message}`];
  for (const stream of ["stdout", "stderr"] as const) {
    const text = (await readLog(dir, stream).catch(expected("a dry run without this stream"))) ?? "";
    if (text === "") continue;
    const all = text.replace(/\n$/, "").split("\n");
    lines.push(
      `  ── ${stream}${all.length > TAIL_LINES ? ` (last ${TAIL_LINES} of ${all.length} lines)` : ""} ──`,
      ...all.slice(-TAIL_LINES).map((l) => `  ${l}`),
    );
  }
  const output = (await walkTree(path.join(dir, "output"), { anyName: true }).catch(expected("a dry run without output", []))).filter(
    (e) => e.type === "file",
  );
  lines.push(
    `  output (${output.length} file(s)) in ${path.join(dir, "output")}${output.length > 0 ? ":" : ""}`,
    ...output.map((f) => `    ${f.rel}  (${f.size} bytes)`),
  );
  return lines;
}

interface DryRunArgs extends GlobalArgs {
  uid: string;
}

export const dryRunCommand: CommandModule<GlobalArgs, DryRunArgs> = {
  command: "dry-run <uid>",
  describe: 'run a pending job on the mock data (sandbox.data_paths "mock"), same sandbox and limits, before you decide',
  builder: (y) => y.positional("uid", { type: "string", demandOption: true, describe: "job uid, or the 8 characters listings show (its end)" }),
  handler: async (argv) => {
    const ctx = await contextFrom(argv);
    if (!argv.json) process.stderr.write(`Running ${argv.uid} on mock data (up to ${ctx.config.job_timeout} s)...\n`);
    const record = await dryRun(argv.uid, ctx);
    const dir = dryRunDir(ownQueue(ctx), record.uid);
    const lines = [
      `Dry run of ${record.uid} on ${record.mocks.length > 0 ? `mock data: ${record.mocks.map((m) => `$DATA_DIR/${m.name} = ${m.source}`).join(", ")}` : "no data (no data path has a mock)"}`,
      ...(await resultLines(record.result, dir)),
      "Nothing was decided: approve or reject it as usual (scq approve|reject).",
    ];
    print(argv, { ...record, dir }, () => lines.join("\n"));
    if (record.result.failed) process.exitCode = 1;
  },
};

interface TryArgs extends GlobalArgs {
  folder: string;
  to: string;
  out: string;
}

export const tryCommand: CommandModule<GlobalArgs, TryArgs> = {
  command: "try",
  describe: "run your folder here against the mock data a data owner publishes, in their limits, before you submit",
  builder: (y) =>
    y
      .option("folder", { type: "string", demandOption: true, describe: "the folder you would submit (with its run.sh)" })
      .option("to", { type: "string", demandOption: true, describe: "the data owner's email" })
      .option("out", { type: "string", default: "./scq-try", describe: "where run-logs/ and output/ go (a new or empty folder)" })
      .example("$0 try --folder ./analysis --to owner@uni.edu", ""),
  handler: async (argv) => {
    const ctx = await contextFrom(argv);
    if (!argv.json) process.stderr.write(`Running ${argv.folder} on the mock data of ${argv.to}...\n`);
    const { result, out, mocks } = await tryOnMock({ folder: argv.folder, to: argv.to, out: argv.out }, ctx);
    const lines = [
      `Tried ${argv.folder} on the mock data of ${argv.to}: ${mocks.map((m) => `$DATA_DIR/${m}`).join(", ") || "(none)"}`,
      ...(await resultLines(result, out)),
      `Logs and output are in ${out}. When it does what you want: scq submit --to ${argv.to} --folder ${argv.folder}`,
    ];
    print(argv, { result, out, mocks }, () => lines.join("\n"));
    if (result.failed) process.exitCode = 1;
  },
};
