// ./run.sh --demo [folder]: the whole product on a local demo datasite, no SyftBox needed.
// Two datasites (a data owner and a data scientist) in one SyftBox data folder; the scientist
// submits examples/hello-job, the owner approves it, a pass runs it in the sandbox, and the
// output is printed with the commands to explore further.
import fs from "fs-extra";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { decide } from "../lib/approval/decisions.ts";
import { ScqError } from "../lib/core/errors.ts";
import { writeJsonAtomic } from "../lib/core/fsutil.ts";
import { findJob } from "../lib/queue/jobs.ts";
import { consoleLog } from "../lib/core/log.ts";
import { runPass } from "../lib/pass/pass.ts";
import { settingsInForce } from "../lib/core/settings.ts";
import { APP_DIR, datasiteDir, queuePaths } from "../lib/core/paths.ts";
import { sandboxProblem } from "../lib/run/sandbox.ts";
import { AppConfigSchema, type AppConfig } from "../lib/core/schemas.ts";
import { submitJob } from "../lib/people/api.ts";
import { expected } from "../lib/core/expected.ts";

const OWNER = "owner@demo.local";
const SCIENTIST = "scientist@demo.local";
const MARKER = ".scq-demo";

const workspace = path.resolve(process.argv[2] ?? path.join(APP_DIR, "demo-workspace"));
const step = (text: string) => process.stdout.write(`\n=== ${text}\n`);

try {
  await main();
} catch (error) {
  process.stderr.write(`demo failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = error instanceof ScqError ? error.exitCode : 70;
}

async function main(): Promise<void> {
  if (await fs.pathExists(workspace)) {
    // Only ever delete a folder this demo made.
    if (!(await fs.pathExists(path.join(workspace, MARKER)))) {
      throw new ScqError(`${workspace} exists and is not a demo workspace; pick another folder: ./run.sh --demo <folder>`);
    }
    await fs.remove(workspace);
  }
  const dataDir = path.join(workspace, "SyftBox");
  const privateData = path.join(workspace, "owner-private-data", "clinic");
  await fs.mkdirp(privateData);
  await fs.writeFile(path.join(workspace, MARKER), "made by ./run.sh --demo; safe to delete\n");
  for (const email of [OWNER, SCIENTIST]) {
    await fs.mkdirp(datasiteDir(dataDir, email));
    await writeJsonAtomic(path.join(workspace, `${email.split("@")[0]}.config.json`), { email, data_dir: dataDir });
  }
  await fs.copy(path.join(APP_DIR, "examples", "data", "patients.csv"), path.join(privateData, "patients.csv"));

  step("Setting up a demo SyftBox workspace");
  const base = AppConfigSchema.parse(await fs.readJson(path.join(APP_DIR, "config.json")));
  const problem = await sandboxProblem("bwrap");
  const mode = problem ? "none" : "bwrap";
  const config: AppConfig = AppConfigSchema.parse({ ...base, sandbox: { ...base.sandbox, mode, data_paths: [privateData] } });
  const configFile = path.join(workspace, "config.json");
  await writeJsonAtomic(configFile, config);
  console.log(`workspace:        ${workspace}`);
  console.log(`data owner:       ${OWNER}  (client config ${path.join(workspace, "owner.config.json")})`);
  console.log(`data scientist:   ${SCIENTIST}  (client config ${path.join(workspace, "scientist.config.json")})`);
  console.log(`private data:     ${privateData} (mounted read-only into jobs as $DATA_DIR/clinic)`);
  if (problem) {
    console.log(`\nNOTE: the bubblewrap sandbox is not usable here (${problem.split(".")[0]}).`);
    console.log(`This demo runs its own example job with sandbox mode "none" (resource limits only). A real datasite should install bubblewrap.`);
  } else {
    console.log(`sandbox:          bwrap (no network, read-only system, only the job's own folders writable)`);
  }

  const owner = { dataDir, email: OWNER, config };
  const scientist = { dataDir, email: SCIENTIST, config };
  const settings = settingsInForce(config, configFile);
  const pass = () => runPass({ dataDir, owner: OWNER, config, settings, log: (line) => consoleLog(`  [pass] ${line}`) });

  step("The owner's app runs its first pass (creates the queue)");
  await pass();

  step(`${SCIENTIST} submits examples/hello-job`);
  const submitted = await submitJob(
    {
      to: OWNER,
      folder: path.join(APP_DIR, "examples", "hello-job"),
      name: "patient summary",
      description: "Counts patients and their mean age; writes only the two numbers.",
      tags: ["demo"],
    },
    scientist,
  );
  console.log(`submitted job ${submitted.uid}`);

  step("A pass takes it in; it waits for the owner's review");
  await pass();

  step(`${OWNER} reviews and approves it`);
  const { marker } = await decide(owner, submitted.uid.slice(-8), { decision: "approve", reason: "aggregates only" });
  console.log(`approval marker written for code sha256 ${marker.code_sha256}`);

  step("A pass starts the approved job in the sandbox; a later pass collects it once it has run");
  // Passes a moment apart, until the run has been collected (run.sh --loop would pass at the run's end).
  const paths = queuePaths(dataDir, OWNER, config.queue_name);
  for (let round = 0; round < 60; round += 1) {
    const summary = await pass();
    if (summary.running === 0 && summary.started.length === 0) break;
    await sleep(250);
  }

  const job = await findJob(paths, submitted.uid);
  step(`Result: job ${job.uid} is ${job.status}`);
  const summary = await fs
    .readFile(path.join(job.dir, "output", "summary.txt"), "utf8")
    .catch(expected("a run that wrote no summary", "(no output)"));
  console.log(`output/summary.txt:\n${summary.trimEnd().replace(/^/gm, "  ")}`);
  console.log(`job folder: ${job.dir}`);
  const scq = `SYFTBOX_CLIENT_CONFIG_PATH=${path.join(workspace, "owner.config.json")} SCQ_APP_CONFIG=${configFile} ./scripts/scq.sh`;
  const theirs = `SYFTBOX_CLIENT_CONFIG_PATH=${path.join(workspace, "scientist.config.json")} SCQ_APP_CONFIG=${configFile} ./scripts/scq.sh`;
  console.log(
    `\nExplore as the data owner:\n  ${scq} list\n  ${scq} review ${job.uid.slice(-8)}\n  ${scq} logs ${job.uid.slice(-8)}\n  ${scq} audit verify`,
  );
  console.log(`\nAnd as the data scientist, check the signed result:\n  ${theirs} verify ${job.uid.slice(-8)}`);
  if (job.status !== "completed") process.exitCode = 1;
}
