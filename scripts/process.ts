// One pass of the processor; run.sh calls this every few seconds. Exit 0 unless the pass itself
// could not work. It parses its few options with node's own parseArgs rather than yargs: this is
// the hot path, and yargs alone would add a third to its start-up time.
import { parseArgs } from "node:util";
import { resolveContext } from "../lib/core/context.ts";
import { reportError, UsageError } from "../lib/core/errors.ts";
import { passFor } from "../lib/pass/pass.ts";
import { queuePaths } from "../lib/core/paths.ts";
import { sleepUntilWoken } from "../lib/run/wake.ts";

const HELP = `Usage: process [options]

Run one pass of syft-code-queue: lock, recover, take in submissions, log pending jobs, apply
decisions, collect finished runs, start approved jobs (detached: the pass never waits
for a job), clean up, unlock.

Options:
  --config FILE      SyftBox client config (default $SYFTBOX_CLIENT_CONFIG_PATH or ~/.syftbox/config.json)
  --data-dir DIR     SyftBox data folder (overrides the client config)
  --email EMAIL      your datasite email (overrides the client config)
  --app-config FILE  app settings file (default config.json in the app folder)
  --json             print the pass summary as JSON instead of log lines
  --sleep SECONDS    no pass: sleep that long, or until a running job ends (run.sh --loop uses it)
  -h, --help         show this help
`;

try {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        config: { type: "string" },
        "data-dir": { type: "string" },
        email: { type: "string" },
        "app-config": { type: "string" },
        json: { type: "boolean", default: false },
        sleep: { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
      strict: true,
    }));
  } catch (error) {
    throw new UsageError(`${(error as Error).message}. Run \`process --help\` for usage.`);
  }
  if (values.help) {
    process.stdout.write(HELP);
  } else {
    const ctx = await resolveContext({
      clientConfig: values.config,
      dataDir: values["data-dir"],
      email: values.email,
      appConfig: values["app-config"],
    });
    if (values.sleep !== undefined) {
      const seconds = Number(values.sleep);
      if (!Number.isFinite(seconds) || seconds < 0) throw new UsageError(`--sleep needs a number of seconds, not "${values.sleep}"`);
      await sleepUntilWoken(queuePaths(ctx.dataDir, ctx.email, ctx.config.queue_name), seconds);
    } else {
      const summary = await passFor(ctx, values.json);
      if (values.json) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    }
  }
} catch (error) {
  reportError(error);
}
