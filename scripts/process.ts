// One pass of the processor; run.sh calls this every few seconds. Exit 0 unless the pass itself
// could not work. It parses its few options with node's own parseArgs rather than yargs: this is
// the hot path, and yargs alone would add a third to its start-up time. For the same reason the pass
// is loaded only once the idle check (lib/pass/idle.ts) has found there may be work.
import { parseArgs } from "node:util";
import { reportError, UsageError } from "../lib/core/errors.ts";
import { defaultClientConfigPath } from "../lib/core/paths.ts";
import { idleRecordFile, inputTimes, keepIdleRecord, stillIdle } from "../lib/pass/idle.ts";

const HELP = `Usage: process [options]

Run one pass of syft-code-queue: lock, recover, take in submissions, log pending jobs, apply
decisions, collect finished runs, start approved jobs (detached: the pass never waits
for a job), clean up, unlock.

Options:
  --config FILE      SyftBox client config (default $SYFTBOX_CLIENT_CONFIG_PATH or ~/.syftbox/config.json)
  --data-dir DIR     SyftBox data folder (overrides the client config)
  --email EMAIL      your datasite email (overrides the client config)
  --app-config FILE  app settings file (default config.json in the app folder)
  --json             print the pass summary as JSON instead of log lines (always a full pass)
  --loop             keep running passes: at once when work arrives, else every \`interval\` seconds
                     (run.sh --loop uses it); exits 75 now and then for run.sh to start it afresh
  --restart-after S  with --loop: exit 75 after S seconds (default 3600)
  -h, --help         show this help
`;

/** --loop's exit code asking run.sh for a fresh loop (EX_TEMPFAIL). */
const RESTART = 75;

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
        loop: { type: "boolean", default: false },
        "restart-after": { type: "string", default: "3600" },
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
    const context = async () =>
      (await import("../lib/core/context.ts")).resolveContext({
        clientConfig: values.config,
        dataDir: values["data-dir"],
        email: values.email,
        appConfig: values["app-config"],
      });
    // The client config is an input too: a change of data folder or email is a change.
    const clientConfig = values["data-dir"] === undefined || values.email === undefined ? [values.config ?? defaultClientConfigPath()] : [];
    if (values.loop) {
      const seconds = Number(values["restart-after"]);
      if (!Number.isFinite(seconds) || seconds <= 0)
        throw new UsageError(`--restart-after needs a number of seconds, not "${values["restart-after"]}"`);
      const stop = new AbortController();
      const onSignal = () => {
        // A second signal, or a pass that does not end, stops at once: a pass can be killed anywhere.
        if (stop.signal.aborted) process.exit(143);
        stop.abort();
        setTimeout(() => process.exit(143), 30_000).unref();
      };
      process.on("SIGTERM", onSignal);
      process.on("SIGINT", onSignal);
      const { warmLoop } = await import("../lib/pass/loop.ts");
      const end = await warmLoop({ context, json: values.json, signal: stop.signal, restartAfterMs: seconds * 1000, watchAlso: clientConfig });
      process.exitCode = end === "restart" ? RESTART : 0;
    } else {
      const record = idleRecordFile(process.argv.slice(2));
      const idleSince = values.json ? undefined : stillIdle(record);
      if (idleSince !== undefined) {
        process.stdout.write(`${new Date().toISOString()} idle: nothing new since the pass at ${new Date(idleSince).toISOString()}\n`);
      } else {
        keepIdleRecord(record, undefined);
        const [{ passFor }, { leftNothing, passInputs, settingsFiles }, { ownQueue }] = await Promise.all([
          import("../lib/pass/pass.ts"),
          import("../lib/pass/inputs.ts"),
          import("../lib/core/context.ts"),
        ]);
        const ctx = await context();
        const paths = ownQueue(ctx);
        const passAt = Date.now();
        const inputs = inputTimes(passInputs(paths, settingsFiles(ctx, clientConfig)));
        const summary = await passFor(ctx, values.json);
        if (values.json) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
        if (await leftNothing(summary, paths)) keepIdleRecord(record, { pass_at: passAt, inputs, look_file: paths.lastLook });
      }
    }
  }
} catch (error) {
  reportError(error);
}
