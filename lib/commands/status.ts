import { status as queueStatus, type QueueStatus } from "../people/api.ts";
import { age, shortUid } from "../core/log.ts";
import { JOB_STATUSES } from "../core/schemas.ts";
import { describeSettings } from "../core/settings.ts";
import { cliCommand, datasiteOption, paint, type Command, type GlobalArgs } from "./shared.ts";

export const status: Command<GlobalArgs, QueueStatus> = {
  command: "status",
  describe: "how many jobs are in each state, the oldest pending one, output awaiting release, and the last pass",
  builder: (y) => datasiteOption(y),
  run: (ctx) => queueStatus(ctx),
  render: (s) => {
    const pass = s.last_pass;
    return [
      `Queue: ${s.queue}`,
      `Settings: ${describeSettings(s.settings)}`,
      ...(pass?.settings && describeSettings(pass.settings) !== describeSettings(s.settings)
        ? [`  (the last pass read: ${describeSettings(pass.settings)})`]
        : []),
      ...JOB_STATUSES.map((st) => `  ${paint(st.padEnd(10), st)} ${s.counts[st]}`),
      ...s.running.map((r) => `  running ${shortUid(r.uid)} "${r.name}" on ${r.runs_on}, for ${r.started_at ? age(r.started_at) : "?"}`),
      `Oldest pending: ${s.oldest_pending ? `${age(s.oldest_pending)} old` : "none"}`,
      ...(s.held_output.length > 0
        ? [
            `Output awaiting your release: ${s.held_output.length} (scq checks <uid>, then scq release <uid>)`,
            ...s.held_output.map((h) => `  ${shortUid(h.uid)} "${h.name}" (${h.status}), held ${age(h.since)}`),
          ]
        : []),
      `Signing key: ${s.signing_key ? `${s.signing_key.fingerprint} (published in ${s.signing_key.published})` : "none yet (made at the first pass)"}`,
      `Last pass: ${pass?.finished_at ? `${age(pass.finished_at)} ago${pass.sandbox_problem ? `, could not run jobs: ${pass.sandbox_problem}` : ", ok"}` : "never (is run.sh scheduled?)"}` +
        (s.last_look ? `; last looked ${age(s.last_look)} ago, nothing new since` : ""),
    ].join("\n");
  },
};

export const statusCommand = cliCommand(status);
