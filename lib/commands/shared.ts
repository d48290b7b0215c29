// What every command shares: the options that say who and where, and how results are printed.
// With --json a command prints exactly one JSON document on stdout and nothing else.
import type { Argv } from "yargs";
import { resolveContext, type Context } from "../context.ts";
import { age, shortUid } from "../log.ts";
import type { Job } from "../lifecycle.ts";

export interface GlobalArgs {
  config?: string | undefined;
  "data-dir"?: string | undefined;
  email?: string | undefined;
  "app-config"?: string | undefined;
  json: boolean;
}

export function globalOptions<T>(yargs: Argv<T>): Argv<T & GlobalArgs> {
  return yargs
    .option("config", { type: "string", describe: "SyftBox client config (default $SYFTBOX_CLIENT_CONFIG_PATH or ~/.syftbox/config.json)", global: true })
    .option("data-dir", { type: "string", describe: "SyftBox data folder (overrides the client config)", global: true })
    .option("email", { type: "string", describe: "your datasite email (overrides the client config)", global: true })
    .option("app-config", { type: "string", describe: "app settings file (default config.json in the app folder)", global: true })
    .option("json", { type: "boolean", default: false, describe: "print one JSON document, for scripts", global: true }) as Argv<T & GlobalArgs>;
}

export function contextFrom(argv: GlobalArgs): Promise<Context> {
  return resolveContext({ clientConfig: argv.config, dataDir: argv["data-dir"], email: argv.email, appConfig: argv["app-config"] });
}

export function print(argv: GlobalArgs, json: unknown, human: () => string): void {
  process.stdout.write(argv.json ? `${JSON.stringify(json, null, 2)}\n` : `${human()}\n`);
}

export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  ").trimEnd();
  return [line(headers), ...rows.map(line)].join("\n");
}

export function jobRows(jobs: Job[]): string {
  if (jobs.length === 0) return "No jobs.";
  const sorted = [...jobs].sort((a, b) => b.meta.created_at.localeCompare(a.meta.created_at));
  return table(
    ["UID", "STATUS", "NAME", "FROM", "AGE"],
    sorted.map((j) => [shortUid(j.uid), j.status, j.meta.name, j.meta.requester_email, age(j.meta.created_at)]),
  );
}

/** The job record as printed with --json: the metadata.json fields, status from the folder. */
export function jobJson(job: Job): Record<string, unknown> {
  return { ...job.meta, status: job.status };
}
