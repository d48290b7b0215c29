// npm run bench: what a pass costs as the queue grows. Builds synthetic datasites in a temp folder and
// times real passes and CLI calls as whole processes, several runs each, against a bare start of
// node + tsx measured in the same run. Passes and CLI calls run as run.sh and scripts/scq.sh start
// them: from the bundle in dist/ (built here first by run.sh); the pass from the TypeScript
// sources through tsx is measured too, for comparison.
import { execa } from "execa";
import { randomUUID } from "node:crypto";
import fs from "fs-extra";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { decide } from "../lib/decisions.ts";
import { runPass } from "../lib/pass.ts";
import { APP_DIR, datasiteDir, queuePaths } from "../lib/paths.ts";
import { sandboxProblem } from "../lib/sandbox.ts";
import { AppConfigSchema, type AppConfig } from "../lib/schemas.ts";

const RUNS = Number(process.env.BENCH_RUNS ?? 7);
const OWNER = "owner@bench.local";
const REQUESTER = "scientist@bench.local";
const LOADER = pathToFileURL(path.join(APP_DIR, "node_modules", "tsx", "dist", "loader.mjs")).href;
const RSS = pathToFileURL(path.join(APP_DIR, "bench", "rss.mjs")).href;

interface Stats {
  median: number;
  min: number;
  max: number;
}

function stats(samples: number[]): Stats {
  const sorted = [...samples].sort((a, b) => a - b);
  return { median: sorted[Math.floor(sorted.length / 2)]!, min: sorted[0]!, max: sorted.at(-1)! };
}

const fmt = (s: Stats) => `${s.median.toFixed(0).padStart(6)} ms  (${s.min.toFixed(0)}–${s.max.toFixed(0)})`;

/** A script as the app runs it: its bundle in dist/ (default), or its TypeScript source through tsx. */
function entry(name: string, from: "dist" | "tsx" = "dist"): string[] {
  return from === "dist" ? [path.join(APP_DIR, "dist", `${name}.mjs`)] : ["--import", LOADER, path.join(APP_DIR, "scripts", `${name}.ts`)];
}

async function timeProcess(command: string[], args: string[], runs = RUNS): Promise<{ time: Stats; rssKb: number }> {
  const samples: number[] = [];
  let rssKb = 0;
  for (let i = 0; i < runs; i += 1) {
    const started = performance.now();
    const result = await execa(process.execPath, ["--import", RSS, ...command, ...args], { reject: false, cwd: APP_DIR });
    samples.push(performance.now() - started);
    if (result.exitCode !== 0) throw new Error(`${command.join(" ")} ${args.join(" ")} failed: ${result.stderr}`);
    rssKb = Math.max(rssKb, Number(/BENCH_MAX_RSS_KB=(\d+)/.exec(result.stderr)?.[1] ?? 0));
  }
  return { time: stats(samples), rssKb };
}

async function world(name: string, config: AppConfig) {
  const root = path.join(benchRoot, name);
  const dataDir = path.join(root, "SyftBox");
  for (const email of [OWNER, REQUESTER]) await fs.mkdirp(datasiteDir(dataDir, email));
  const configFile = path.join(root, "config.json");
  await fs.writeJson(configFile, config);
  const paths = queuePaths(dataDir, OWNER, config.queue_name);
  const args = ["--data-dir", dataDir, "--email", OWNER, "--app-config", configFile];
  await runPass({ dataDir, owner: OWNER, config, log: () => {} });
  return { root, dataDir, configFile, paths, args };
}

/** Finished jobs as a long history leaves them: metadata, code, logs, output. */
async function addHistory(paths: ReturnType<typeof queuePaths>, count: number): Promise<void> {
  const at = new Date().toISOString();
  for (let i = 0; i < count; i += 1) {
    const uid = randomUUID();
    const status = i % 10 === 0 ? "failed" : i % 17 === 0 ? "rejected" : "completed";
    const dir = path.join(paths.jobs, status, uid);
    await fs.mkdirp(path.join(dir, "code"));
    await fs.mkdirp(path.join(dir, "logs"));
    await fs.mkdirp(path.join(dir, "output"));
    await fs.writeFile(path.join(dir, "code", "run.sh"), "echo hi\n");
    await fs.writeFile(path.join(dir, "logs", "stdout.txt"), "hi\n");
    await fs.writeFile(path.join(dir, "output", "result.txt"), "42\n");
    await fs.writeJson(path.join(dir, "metadata.json"), {
      uid,
      name: `job ${i}`,
      requester_email: REQUESTER,
      target_email: OWNER,
      status,
      created_at: at,
      updated_at: at,
      started_at: at,
      completed_at: at,
      exit_code: 0,
    });
  }
}

async function addSubmissions(paths: ReturnType<typeof queuePaths>, count: number): Promise<string[]> {
  const uids: string[] = [];
  for (let i = 0; i < count; i += 1) {
    const uid = randomUUID();
    const dir = path.join(paths.inbox, REQUESTER, uid);
    await fs.outputFile(path.join(dir, "code", "run.sh"), 'echo ok > "$OUTPUT_DIR/ok.txt"\n');
    await fs.writeJson(path.join(dir, "metadata.json"), {
      uid,
      name: `submission ${i}`,
      requester_email: REQUESTER,
      target_email: OWNER,
      created_at: new Date().toISOString(),
    });
    await fs.writeFile(path.join(dir, "submitted"), "");
    uids.push(uid);
  }
  return uids;
}

const benchRoot = await fs.promises.mkdtemp(path.join(os.tmpdir(), "scq-bench-"));
// Open to other users like the runner's stage root: as root, the sandbox starts as nobody.
await fs.promises.chmod(benchRoot, 0o711);
const base = AppConfigSchema.parse(await fs.readJson(path.join(APP_DIR, "config.json")));
const rows: string[][] = [];
const row = (what: string, value: string, target = "", verdict = "") => {
  rows.push([what, value, target, verdict]);
  process.stderr.write(`  ${what}: ${value}\n`);
};

try {
  process.stderr.write(`bench: ${RUNS} runs each, in ${benchRoot}\n`);
  await execa("bash", [path.join(APP_DIR, "run.sh"), "--install-only"], { stdio: "inherit" }); // builds dist/
  const bare = await timeProcess(["--import", LOADER, path.join(APP_DIR, "bench", "empty.ts")], []);
  row("bare node + tsx start", fmt(bare.time));
  const bareNode = await timeProcess([path.join(APP_DIR, "bench", "rss.mjs")], []);
  row("bare node start", fmt(bareNode.time));

  let rss10k = 0;
  for (const count of [0, 1000, 10_000]) {
    const w = await world(`idle-${count}`, base);
    await addHistory(w.paths, count);
    await timeProcess(entry("process"), w.args, 1); // warm: the periodic sweep runs here
    const pass = await timeProcess(entry("process"), w.args);
    const ratio = pass.time.median / bare.time.median;
    // The pass's own work: what it takes beyond starting node at all.
    const own = pass.time.median - bareNode.time.median;
    const last = count === 10_000;
    row(
      `idle pass, ${count} finished jobs`,
      `${fmt(pass.time)}  ×${ratio.toFixed(2)} bare tsx`,
      last ? "≤ 1.5× bare tsx" : "",
      last ? (ratio <= 1.5 ? "met" : "MISSED") : "",
    );
    row(`  its own work beyond a bare node start`, `${own.toFixed(0)} ms`, last ? "≤ 100 ms" : "", last ? (own <= 100 ? "met" : "MISSED") : "");
    if (count === 10_000) {
      rss10k = pass.rssKb;
      const fromSources = await timeProcess(entry("process", "tsx"), w.args);
      row("  same, TypeScript sources via tsx", `${fmt(fromSources.time)}  ×${(fromSources.time.median / bare.time.median).toFixed(2)} bare`);
      await addSubmissions(w.paths, 1);
      await timeProcess(entry("process"), w.args, 1);
      const scq = entry("scq");
      const pending = await timeProcess(scq, ["pending", "--json", ...w.args]);
      const pr = pending.time.median / bare.time.median;
      row("scq pending, 10,000 jobs on disk", `${fmt(pending.time)}  ×${pr.toFixed(2)} bare`, "≤ 1.2× bare", pr <= 1.2 ? "met" : "MISSED");
      // Approve a fresh pending job each run (an approved one cannot be approved twice).
      const uids = await addSubmissions(w.paths, RUNS);
      await runPass({ dataDir: w.dataDir, owner: OWNER, config: base, log: () => {} });
      const samples: number[] = [];
      for (const uid of uids) {
        const t = await timeProcess(scq, ["approve", uid.slice(0, 8), "-r", "bench", ...w.args], 1);
        samples.push(t.time.median);
      }
      const approve = stats(samples);
      const ar = approve.median / bare.time.median;
      row("scq approve, 10,000 jobs on disk", `${fmt(approve)}  ×${ar.toFixed(2)} bare`, "≤ 1.2× bare", ar <= 1.2 ? "met" : "MISSED");
    }
  }
  row("peak RSS of the pass, 10,000 jobs", `${(rss10k / 1024).toFixed(0)} MB`, "≤ 150 MB", rss10k / 1024 <= 150 ? "met" : "MISSED");

  const problem = await sandboxProblem("bwrap");
  if (problem) {
    row("intake 1,000 + run 100 in bwrap", "skipped: bubblewrap unusable here");
  } else {
    const config = AppConfigSchema.parse({ ...base, max_concurrent_jobs: 2 });
    const w = await world("busy", config);
    const approved = await addSubmissions(w.paths, 100);
    await runPass({ dataDir: w.dataDir, owner: OWNER, config, log: () => {} });
    for (const uid of approved) await decide({ dataDir: w.dataDir, email: OWNER, config }, uid, { decision: "approve" });
    await addSubmissions(w.paths, 1000);
    const busy = await timeProcess(entry("process"), w.args, 1);
    const done = (await fs.readdir(path.join(w.paths.jobs, "completed"))).length;
    row(
      "pass: intake 1,000 + run 100 (bwrap, 2 at once)",
      `${fmt(busy.time)}  (${done} completed)`,
      "≤ 10 s",
      busy.time.median <= 10_000 && done === 100 ? "met" : "MISSED",
    );

    // Sandbox overhead: the same trivial command with and without the sandbox around it.
    const { launchCommand, prepareStageFiles, stageLayout } = await import("../lib/sandbox.ts");
    const { appliedLimits } = await import("../lib/runner.ts");
    const stage = stageLayout(await fs.promises.mkdtemp(path.join(benchRoot, "stage-")));
    await fs.outputFile(path.join(stage.work, "run.sh"), "true\n");
    await prepareStageFiles("bwrap", stage, []);
    const launch = launchCommand({
      mode: "bwrap",
      stage,
      limits: appliedLimits(base),
      network: false,
      dataPaths: [],
      job: { uid: "bench", name: "bench" },
    });
    const timeIt = async (fn: () => Promise<unknown>) => {
      const samples: number[] = [];
      for (let i = 0; i < 30; i += 1) {
        const t = performance.now();
        await fn();
        samples.push(performance.now() - t);
      }
      return stats(samples);
    };
    const plain = await timeIt(() => execa("sh", ["-c", "true"]));
    const boxed = await timeIt(() =>
      execa(launch.file, launch.args, {
        cwd: launch.cwd,
        env: launch.env,
        extendEnv: false,
        ...(launch.uid === undefined ? {} : { uid: launch.uid, gid: launch.gid }),
      }),
    );
    const overhead = boxed.median - plain.median;
    row(
      "sandbox start, bash run.sh (true)",
      `${fmt(boxed)} vs sh -c true ${fmt(plain)}: +${overhead.toFixed(1)} ms`,
      "≤ 30 ms",
      overhead <= 30 ? "met" : "MISSED",
    );
  }

  const cpu = os.cpus()[0]?.model ?? "unknown cpu";
  console.log(
    `\nsyft-code-queue bench — ${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} × ${cpu}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${RUNS} runs (median, min–max)\n`,
  );
  const widths = [0, 1, 2, 3].map((i) => Math.max(...[["what", "measured", "target", ""], ...rows].map((r) => (r[i] ?? "").length)));
  for (const r of [["what", "measured", "target", ""], ...rows])
    console.log(
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join("  │ ")
        .trimEnd(),
    );
} finally {
  await execa("chmod", ["-R", "u+rwx", benchRoot], { reject: false });
  await fs.remove(benchRoot);
}
