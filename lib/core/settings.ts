// The settings in force, said the same way by the pass log, `scq status` and the review page, so an
// owner can always see which file was read and what it switched on.
import * as z from "zod";
import { dataMounts } from "./data-paths.ts";
import { SandboxMode, type AppConfig } from "./schemas.ts";

/** Also read back from last-pass.json, hence a schema. */
export const SettingsSchema = z.object({
  /** The settings file that was read, or null when none exists and the built-in defaults apply. */
  file: z.string().nullable(),
  /** Where a settings file was looked for (the same as `file` when one was read); null when a program passed its settings in. */
  looked_at: z.string().nullable(),
  sandbox: SandboxMode,
  network: z.boolean(),
  release: z.enum(["auto", "review"]),
  job_timeout: z.number(),
  /** "local", or "slurm (partition P, shared_dir D)". */
  executor: z.string(),
  data_paths: z.array(z.string()),
  /** "2 of a@x, b@x, c@x", or null when the owner decides alone. */
  approvals: z.string().nullable().default(null),
  /** "2 of a@x, b@x" (independent reviews of what leaves), or null when the owner releases alone. */
  output_checkers: z.string().nullable().default(null),
});
export type Settings = z.infer<typeof SettingsSchema>;

export function settingsInForce(config: AppConfig, file: string | null = null, lookedAt: string | null = file): Settings {
  return {
    file,
    looked_at: lookedAt,
    sandbox: config.sandbox.mode,
    network: config.sandbox.network,
    release: config.release,
    job_timeout: config.job_timeout,
    executor: config.executor.type === "local" ? "local" : `slurm (partition ${config.executor.partition}, shared_dir ${config.executor.shared_dir})`,
    // Said as "/srv/cohort (mock /srv/mock-cohort)", so the log shows which folder stands in for which.
    approvals: config.approvals ? `${config.approvals.required} of ${config.approvals.approvers.join(", ")}` : null,
    output_checkers: config.output_checkers ? `${config.output_checkers.required} of ${config.output_checkers.checkers.join(", ")}` : null,
    data_paths: dataMounts(config.sandbox.data_paths).map((m) => `${m.source}${m.mock ? ` (mock ${m.mock})` : ""}`),
  };
}

/** "/apps/scq/config.json (sandbox bwrap, release review, job_timeout 600 s, executor local)". */
export function describeSettings(s: Settings): string {
  const source = s.file ?? (s.looked_at === null ? "settings passed in by the program" : `built-in defaults (no settings file at ${s.looked_at})`);
  const data = s.data_paths.length > 0 ? `, data_paths ${s.data_paths.join(", ")}` : "";
  const approvals = s.approvals ? `, approvals ${s.approvals}` : "";
  const checkers = s.output_checkers ? `, output checkers ${s.output_checkers}` : "";
  return `${source} (sandbox ${s.sandbox}${s.network ? " with network" : ""}, release ${s.release}, job_timeout ${s.job_timeout} s, executor ${s.executor}${approvals}${checkers}${data})`;
}
