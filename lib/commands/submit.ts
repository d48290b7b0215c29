import { getJob, submitJob } from "../people/api.ts";
import { cliCommand, type Command, type GlobalArgs } from "./shared.ts";

interface Args extends GlobalArgs {
  to: string;
  folder: string;
  name?: string;
  description: string;
  tag: string[];
  revises?: string;
}

/** Names SyftBox never syncs stayed behind: said, so nobody waits for them or wonders why the job cannot see them. */
export function leftOutNote(leftOut: string[]): string {
  const shown = leftOut.slice(0, 10).join(", ") + (leftOut.length > 10 ? `, and ${leftOut.length - 10} more` : "");
  return `Left out (SyftBox never syncs them, so they could never arrive): ${shown}`;
}

export const submit: Command<Args, Awaited<ReturnType<typeof submitJob>> & { name: string; to: string }> = {
  command: "submit",
  describe: "send a folder with a run.sh to a data owner",
  builder: (y) =>
    y
      .option("to", { type: "string", demandOption: true, describe: "the data owner's email" })
      .option("folder", { type: "string", demandOption: true, describe: "folder holding run.sh and your code" })
      .option("name", { type: "string", describe: "a short name for the job (default: the folder name)" })
      .option("description", { type: "string", default: "", describe: "what it does and why, for the reviewer" })
      .option("tag", { type: "string", array: true, default: [] as string[], describe: "a tag (repeatable)" })
      .option("revises", { type: "string", describe: "an earlier job of yours this one revises (its owner asked for changes)" })
      .example("$0 submit --to owner@uni.edu --folder ./analysis --name 'mean age'", ""),
  run: async (ctx, argv) => {
    const name = argv.name ?? argv.folder.replace(/\/+$/, "").split("/").pop() ?? "job";
    const revises = typeof argv.revises === "string" ? (await getJob(argv.revises, ctx)).uid : null;
    const result = await submitJob({ to: argv.to, folder: argv.folder, name, description: argv.description, tags: argv.tag, revises }, ctx);
    return { ...result, name, to: argv.to };
  },
  render: (result) => {
    const lines = [`Submitted ${result.uid} ("${result.name}") to ${result.to}.`, `It runs only after ${result.to} has reviewed and approved it.`];
    if (result.left_out.length > 0) lines.push(leftOutNote(result.left_out));
    return lines.join("\n");
  },
};

export const submitCommand = cliCommand(submit);
