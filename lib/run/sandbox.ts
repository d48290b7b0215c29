// How a job is started: the command line that puts `bash run.sh` inside the sandbox.
//
// bwrap: a fresh mount namespace with read-only system folders, only the job's own stage folders
// writable, configured data read-only, no network, own pid/ipc/uts/user namespaces, all capabilities
// dropped, killed with its parent. Rlimits are set by prlimit *inside* the new user namespace, so the
// process limit counts only the job's own processes. When the pass runs as root, the sandbox is
// started as `nobody` instead: the kernel never applies a process limit to root.
//
// none: rlimits and the wall-clock timeout only, for machines without bubblewrap. Chosen explicitly
// in config.json, and every such run is logged and recorded as unsandboxed.
import fs from "node:fs";
import path from "node:path";
import type { AppliedLimits, DataPath, SandboxMode } from "../core/schemas.ts";
import { ifExists } from "../core/fsutil.ts";
import { seccompProgram } from "./seccomp.ts";
import { dataMounts } from "../core/data-paths.ts";

export interface Stage {
  root: string;
  /** Writable copy of the job's code; the job's working directory. */
  work: string;
  output: string;
  home: string;
  tmp: string;
  /** passwd/group shown to the job (bwrap), so tools that look up their user work. */
  etc: string;
  /** Links to the data paths (mode none only; bwrap mounts them). */
  data: string;
}

export function stageLayout(root: string): Stage {
  return {
    root,
    work: path.join(root, "work"),
    output: path.join(root, "output"),
    home: path.join(root, "home"),
    tmp: path.join(root, "tmp"),
    etc: path.join(root, "etc"),
    data: path.join(root, "data"),
  };
}

export interface Launch {
  file: string;
  args: string[];
  env: Record<string, string>;
  cwd: string;
  uid?: number;
  gid?: number;
}

export interface LaunchOptions {
  mode: SandboxMode;
  stage: Stage;
  limits: AppliedLimits;
  network: boolean;
  dataPaths: DataPath[];
  job: { uid: string; name: string };
  /** bwrap's fd numbers for the file of its arguments, its info output and the seccomp program (see execute.ts). */
  fds?: { args: number; info: number; seccomp: number | undefined };
  /** This bwrap knows --disable-userns (0.8 and later). */
  disableUserns?: boolean;
}

/** The uid and gid jobs run as under a root pass. */
export const NOBODY = 65534;
/** The uid/gid the job sees inside bwrap. */
const SANDBOX_UID = 1000;
const PATH = "/usr/local/bin:/usr/bin:/bin";
const MB = 1024 * 1024;

export function prlimitArgs(limits: AppliedLimits, withProcessLimit: boolean): string[] {
  return [
    `--as=${limits.memory_mb * MB}`,
    `--fsize=${limits.max_file_mb * MB}`,
    `--cpu=${limits.cpu_seconds}`,
    "--core=0",
    ...(withProcessLimit ? [`--nproc=${limits.max_processes}`] : []),
  ];
}

export function launchCommand(options: LaunchOptions): Launch {
  const { stage, limits, job } = options;
  if (options.mode === "none") {
    return {
      file: "prlimit",
      // No --nproc here: outside a user namespace it would count every process of the owner's user.
      args: [...prlimitArgs(limits, false), "--", "bash", "run.sh"],
      cwd: stage.work,
      env: {
        PATH,
        HOME: stage.home,
        LANG: "C.UTF-8",
        TMPDIR: stage.tmp,
        OUTPUT_DIR: stage.output,
        DATA_DIR: stage.data,
        JOB_UID: job.uid,
        JOB_NAME: job.name,
        // As the Python syft-code-queue runner sets them, for run.sh files written for it.
        JOB_ID: job.uid,
        CODE_DIR: stage.work,
      },
    };
  }
  const env: Record<string, string> = {
    PATH,
    HOME: "/home/job",
    LANG: "C.UTF-8",
    TMPDIR: "/tmp",
    OUTPUT_DIR: "/output",
    DATA_DIR: "/data",
    JOB_UID: job.uid,
    JOB_NAME: job.name,
    // As the Python syft-code-queue runner sets them, for run.sh files written for it.
    JOB_ID: job.uid,
    CODE_DIR: "/work",
  };
  const args = [
    "--unshare-all",
    ...(options.network ? ["--share-net"] : []),
    "--unshare-user",
    // No nested user namespace: inside one a job would hold a full capability set again.
    ...(options.disableUserns ? ["--disable-userns"] : []),
    ...(options.fds ? ["--info-fd", String(options.fds.info)] : []),
    ...(options.fds?.seccomp !== undefined ? ["--seccomp", String(options.fds.seccomp)] : []),
    "--uid",
    String(SANDBOX_UID),
    "--gid",
    String(SANDBOX_UID),
    "--die-with-parent",
    "--new-session",
    "--cap-drop",
    "ALL",
    "--hostname",
    "job",
    "--ro-bind",
    "/usr",
    "/usr",
    ...systemDirs(),
    ...["/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives", "/etc/localtime", "/etc/mime.types"].flatMap((p) => [
      "--ro-bind-try",
      p,
      p,
    ]),
    ...(options.network
      ? ["/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/ssl", "/etc/ca-certificates"].flatMap((p) => ["--ro-bind-try", p, p])
      : []),
    "--ro-bind",
    path.join(stage.etc, "passwd"),
    "/etc/passwd",
    "--ro-bind",
    path.join(stage.etc, "group"),
    "/etc/group",
    "--proc",
    "/proc",
    "--dev",
    "/dev",
    "--bind",
    stage.work,
    "/work",
    "--bind",
    stage.output,
    "/output",
    "--bind",
    stage.home,
    "/home/job",
    "--bind",
    stage.tmp,
    "/tmp",
    // POSIX shared memory lives in the stage too, where the watchdog counts it (a tmpfs would be RAM).
    "--bind",
    stage.tmp,
    "/dev/shm",
    "--dir",
    "/data",
    ...dataMounts(options.dataPaths).flatMap((m) => ["--ro-bind", m.source, `/data/${m.target}`]),
    // The root and /dev are bwrap's own tmpfs: read-only, or a job could fill memory through them.
    "--remount-ro",
    "/",
    "--remount-ro",
    "/dev",
    "--chdir",
    "/work",
    "--clearenv",
    ...Object.entries(env).flatMap(([k, v]) => ["--setenv", k, v]),
    "--",
    "/usr/bin/prlimit",
    ...prlimitArgs(limits, true),
    "--",
    "/bin/bash",
    "run.sh",
  ];
  const launch: Launch = { file: "bwrap", args, cwd: stage.root, env: { PATH } };
  if (process.getuid?.() === 0) Object.assign(launch, { uid: NOBODY, gid: NOBODY });
  return launch;
}

function onPath(program: string): boolean {
  return (process.env.PATH ?? "").split(":").some((dir) => {
    try {
      fs.accessSync(path.join(dir || ".", program), fs.constants.X_OK);
      return true;
    } catch {
      // not in this folder of PATH
      return false;
    }
  });
}

/** /bin, /lib, ... are links into /usr on merged-/usr systems and folders elsewhere: mirror what the host has. */
function systemDirs(): string[] {
  const args: string[] = [];
  for (const dir of ["/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32"]) {
    let stat: fs.Stats;
    try {
      stat = fs.lstatSync(dir);
    } catch {
      // not on this system: nothing to mount
      continue;
    }
    if (stat.isSymbolicLink()) args.push("--symlink", fs.readlinkSync(dir), dir);
    else if (stat.isDirectory()) args.push("--ro-bind", dir, dir);
  }
  return args;
}

/** Write the few files the stage needs and, for bwrap as root, hand the stage to `nobody`. */
// A stage's own files and folders are a handful, its code a copy just made: set up in place (see fsutil.ts).
export function prepareStageFiles(mode: SandboxMode, stage: Stage, dataPaths: DataPath[]): void {
  for (const dir of [stage.output, stage.home, stage.tmp, stage.etc, stage.data]) fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(stage.etc, "passwd"), `job:x:${SANDBOX_UID}:${SANDBOX_UID}:job:/home/job:/bin/sh\n`);
  fs.writeFileSync(path.join(stage.etc, "group"), `job:x:${SANDBOX_UID}:\n`);
  if (mode === "none") {
    for (const m of dataMounts(dataPaths)) fs.symlinkSync(m.source, path.join(stage.data, m.target));
  }
  if (mode === "bwrap" && process.getuid?.() === 0) chownTree(stage.root, NOBODY, NOBODY);
}

function chownTree(dir: string, uid: number, gid: number): void {
  fs.lchownSync(dir, uid, gid);
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) chownTree(full, uid, gid);
    else fs.lchownSync(full, uid, gid);
  }
}

let disableUsernsSupport: Promise<boolean> | undefined;

/** Does this bwrap know --disable-userns (0.8 and later)? Asked once per process. */
export function bwrapDisablesUserns(): Promise<boolean> {
  disableUsernsSupport ??= import("execa").then(async ({ execa }) => {
    const help = await execa("bwrap", ["--help"], { reject: false });
    return String(help.stdout ?? "").includes("--disable-userns");
  });
  return disableUsernsSupport;
}

/** A sandbox found working is trusted this long in one process (the warm loop): no trial sandbox on the way from a decision to its job. */
const WORKED_FOR_MS = 60_000;
const worked = new Map<string, number>();

/**
 * Can this machine run jobs in `mode`? Undefined when it can; otherwise what is wrong and how to fix it.
 * Tries a real, tiny sandbox with the same seccomp filter and namespace rules jobs get, because bwrap
 * can be installed yet unable to create namespaces.
 */
export async function sandboxProblem(mode: SandboxMode): Promise<string | undefined> {
  const key = `${mode} ${process.env.PATH}`; // the same bwrap
  if (Date.now() - (worked.get(key) ?? -Infinity) < WORKED_FOR_MS) return undefined;
  const problem = await trySandbox(mode);
  if (problem === undefined) worked.set(key, Date.now());
  else worked.delete(key);
  return problem;
}

async function trySandbox(mode: SandboxMode): Promise<string | undefined> {
  const { execa } = await import("execa"); // only passes that have jobs to run get here
  if (mode === "none") {
    const result = await execa("prlimit", ["--core=0", "--", "true"], { reject: false });
    return result.exitCode === 0 ? undefined : `prlimit (util-linux) does not work here: ${String(result.stderr ?? "") || result.message}`;
  }
  if (!onPath("bwrap")) return advice("bubblewrap (bwrap) is not installed");
  const program = seccompProgram();
  if (!program) return advice(`there is no seccomp filter for this architecture (${process.arch}) yet`);
  const result = await execa(
    "bwrap",
    [
      "--unshare-all",
      "--unshare-user",
      ...((await bwrapDisablesUserns()) ? ["--disable-userns"] : []),
      "--seccomp",
      "3",
      "--die-with-parent",
      "--ro-bind",
      "/usr",
      "/usr",
      ...systemDirs(),
      "--proc",
      "/proc",
      "--dev",
      "/dev",
      "/usr/bin/prlimit",
      "--core=0",
      "--",
      "true",
    ],
    {
      reject: false,
      ...(process.getuid?.() === 0 ? { uid: NOBODY, gid: NOBODY } : {}),
      cwd: "/",
      stdio: ["ignore", "pipe", "pipe", new Uint8Array(program)],
    },
  );
  if (result.exitCode === 0) return undefined;
  return advice(`bwrap cannot create its sandbox: ${String(result.stderr ?? "").trim() || result.message}`);
}

/**
 * Are the configured data paths usable by jobs? They must exist; when the pass runs as root, jobs run
 * as `nobody`, so each path and the folders above it must be open to other users.
 */
export async function dataPathsProblem(mode: SandboxMode, dataPaths: DataPath[]): Promise<string | undefined> {
  for (const m of dataMounts(dataPaths)) {
    const stat = await ifExists(fs.promises.stat(m.source));
    if (!stat) return `data path ${m.source} (sandbox.data_paths in config.json) does not exist; fix the path. Approved jobs stay approved.`;
    if (mode !== "bwrap" || process.getuid?.() !== 0) continue;
    const closed: string[] = [];
    if ((stat.mode & 0o004) === 0 || (stat.isDirectory() && (stat.mode & 0o001) === 0)) closed.push(m.source);
    for (let dir = path.dirname(m.source); dir !== path.dirname(dir); dir = path.dirname(dir)) {
      if (((await fs.promises.stat(dir)).mode & 0o001) === 0) closed.push(dir);
    }
    if (closed.length > 0) {
      return (
        `data path ${m.source} is not readable by jobs: they are started by root here, so they run as the unprivileged user "nobody", ` +
        `and ${closed.join(", ")} ${closed.length > 1 ? "are" : "is"} closed to other users. Run SyftBox as a normal user, or open it ` +
        `(chmod o+rX on the folders, chmod -R o+rX on the data). Approved jobs stay approved.`
      );
    }
  }
  return undefined;
}

function advice(why: string): string {
  return (
    `${why}. Approved jobs stay approved and will run once this is fixed: install it (Debian/Ubuntu: sudo apt-get install bubblewrap; ` +
    `it also needs unprivileged user namespaces), or set "sandbox": {"mode": "none"} in config.json to run jobs with resource limits only, unsandboxed.`
  );
}
