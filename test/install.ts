// An installed app, the way a user has one: a copy of the app folder with dist/ built by its own
// run.sh, configured only by editing config.json in that folder, and driven only through what ships:
// run.sh, scripts/scq.sh and `npx tsx scripts/approve.ts|reject.ts`. Nothing here calls lib/.
import { execa, type ResultPromise } from "execa";
import fs from "fs-extra";
import os from "node:os";
import path from "node:path";
import { afterAll, onTestFinished } from "vitest";
import { APP_DIR } from "../lib/core/paths.ts";
import { OWNER, SCIENTIST } from "./helpers.ts";

/** What ships in the app folder (besides node_modules, which is linked, and dist/, which run.sh builds). */
const SHIPPED = ["run.sh", "package.json", "package-lock.json", "tsconfig.json", "config.json", "lib", "scripts", "examples"];

let template: Promise<string> | undefined;
afterAll(async () => {
  if (template) await fs.remove(await template);
});

/** One built copy of the app per test file: later copies keep its timestamps, so run.sh finds dist/ fresh. */
export function buildTemplate(): Promise<string> {
  template ??= (async () => {
    const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), "scq-app-"));
    for (const name of SHIPPED) await fs.promises.cp(path.join(APP_DIR, name), path.join(dir, name), { recursive: true, preserveTimestamps: true });
    await fs.promises.symlink(path.join(APP_DIR, "node_modules"), path.join(dir, "node_modules"));
    const built = await execa("sh", ["run.sh", "--install-only"], { cwd: dir, reject: false });
    if (built.exitCode !== 0 || !(await fs.pathExists(path.join(dir, "dist", ".built")))) {
      throw new Error(`run.sh --install-only did not build dist/: ${built.stderr}`);
    }
    return dir;
  })();
  return template;
}

/** A third SyftBox user, whom an owner may list as an approver. */
export const APPROVER = "approver@test.local";
type Who = "owner" | "scientist" | "approver";

export interface Install {
  root: string;
  /** The app folder (holds run.sh, config.json, dist/). */
  app: string;
  dataDir: string;
  /** A HOME for every command, so nothing of the real one is read. */
  home: string;
  clientConfig: Record<Who, string>;
  queue: string;
  /** Edit config.json in the app folder, as an owner does: keys are merged one level deep. */
  configure(patch: Record<string, unknown>): Promise<void>;
  /** The environment of a person at a shell: PATH, HOME and their SyftBox client config. */
  env(who?: Who): Record<string, string>;
  runSh(args?: string[]): ResultPromise<{ reject: false }>;
  /**
   * `sh run.sh` again and again, as SyftBox calls it, until the last pass started nothing and left
   * nothing running (it says so in last-pass.json); every pass's output joined.
   */
  runShUntilSettled(): Promise<{ exitCode: number; stdout: string; stderr: string }>;
  scq(who: Who, args: string[]): ResultPromise<{ reject: false }>;
  /** `scq <args> --json` that must succeed, parsed. */
  scqJson<T = Record<string, unknown>>(who: Who, args: string[]): Promise<T>;
  /** `npx tsx scripts/<script>.ts`, from the app folder, as the README says. */
  npxTsx(script: "approve" | "reject", args: string[]): ResultPromise<{ reject: false }>;
  writeFolder(files: Record<string, string>): Promise<string>;
}

export async function makeInstall(): Promise<Install> {
  const from = await buildTemplate();
  const root = await fs.promises.mkdtemp(path.join(os.tmpdir(), "scq-install-"));
  // Open to other users: as root, jobs run as `nobody`, who must reach data paths below it.
  await fs.promises.chmod(root, 0o755);
  onTestFinished(async () => {
    await execa("chmod", ["-R", "u+rwx", root], { reject: false });
    await execa("rm", ["-rf", root]);
  });
  const app = path.join(root, "app");
  await fs.promises.cp(from, app, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
  const dataDir = path.join(root, "SyftBox");
  const home = path.join(root, "home");
  const clientConfig = {
    owner: path.join(root, "owner.json"),
    scientist: path.join(root, "scientist.json"),
    approver: path.join(root, "approver.json"),
  };
  for (const [who, email] of [
    ["owner", OWNER],
    ["scientist", SCIENTIST],
    ["approver", APPROVER],
  ] as const) {
    await fs.mkdirp(path.join(dataDir, "datasites", email));
    await fs.writeJson(clientConfig[who], { email, data_dir: dataDir });
  }
  // Where SyftBox keeps it by default: what cron finds, with no variable set.
  await fs.outputJson(path.join(home, ".syftbox", "config.json"), { email: OWNER, data_dir: dataDir });
  const install: Install = {
    root,
    app,
    dataDir,
    home,
    clientConfig,
    queue: path.join(dataDir, "datasites", OWNER, "app_data", "code-queue"),
    async configure(patch) {
      const file = path.join(app, "config.json");
      const config = (await fs.readJson(file)) as Record<string, unknown>;
      for (const [key, value] of Object.entries(patch)) {
        const old = config[key];
        config[key] = isObject(old) && isObject(value) ? { ...old, ...value } : value;
      }
      await fs.writeJson(file, config, { spaces: 2 });
    },
    env: (who = "owner") => ({ PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home, SYFTBOX_CLIENT_CONFIG_PATH: clientConfig[who] }),
    runSh: (args = []) => execa("sh", [path.join(app, "run.sh"), ...args], { cwd: app, env: install.env(), extendEnv: false, reject: false }),
    async runShUntilSettled() {
      const last = path.join(dataDir, ".syft-code-queue", OWNER, "code-queue", "last-pass.json");
      let stdout = "";
      let stderr = "";
      for (const deadline = Date.now() + 50_000; ; await new Promise((resolve) => setTimeout(resolve, 200))) {
        const pass = await install.runSh();
        stdout += `${String(pass.stdout)}\n`;
        stderr += String(pass.stderr);
        if (pass.exitCode !== 0) return { exitCode: pass.exitCode ?? 1, stdout, stderr };
        const summary = (await fs.readJson(last)) as { running: number; started: string[] };
        if (summary.running === 0 && summary.started.length === 0) return { exitCode: 0, stdout, stderr };
        if (Date.now() > deadline) throw new Error(`jobs still running after 50 s of passes:\n${stdout}`);
      }
    },
    scq: (who, args) => execa(path.join(app, "scripts", "scq.sh"), args, { cwd: root, env: install.env(who), extendEnv: false, reject: false }),
    async scqJson(who, args) {
      const result = await install.scq(who, [...args, "--json"]);
      if (result.exitCode !== 0) throw new Error(`scq ${args.join(" ")} exited ${result.exitCode}: ${String(result.stderr)}`);
      return JSON.parse(String(result.stdout)) as never;
    },
    npxTsx: (script, args) =>
      execa("npx", ["tsx", `scripts/${script}.ts`, ...args], { cwd: app, env: install.env("owner"), extendEnv: false, reject: false }),
    async writeFolder(files) {
      const dir = await fs.promises.mkdtemp(path.join(root, "src-"));
      for (const [rel, content] of Object.entries(files)) await fs.outputFile(path.join(dir, rel), content);
      return dir;
    },
  };
  return install;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
