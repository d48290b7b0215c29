// A real single-node Slurm cluster for the Slurm executor's tests, from Debian's packages (slurm-wlm,
// munge): munged, slurmctld and slurmd on this host, their config and state in a temp folder, on
// ports of their own. proctrack/linuxproc and task/none need no cgroups. As root only (slurmd runs
// jobs as their submitter, which must be able to become `nobody` for the sandbox).
import { execa } from "execa";
import fs from "fs-extra";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

export interface Cluster {
  dir: string;
  partition: string;
  /** Stop the controller (jobs on the node go on), and start it again from its saved state. */
  stopController(): Promise<void>;
  startController(): Promise<void>;
  /** Drain the node (nothing new starts on it; Slurm's reason is `reason`), or bring it back. */
  drain(reason: string): Promise<void>;
  resume(): Promise<void>;
  stop(): Promise<void>;
}

/** Why this machine cannot run the cluster, or undefined. Under CI=true a missing Slurm is an error, not a skip. */
export async function slurmProblem(): Promise<string | undefined> {
  let problem: string | undefined;
  if (process.getuid?.() !== 0) problem = "the Slurm tests start slurmd, which must run as root";
  else if ((await execa("sh", ["-c", "command -v slurmctld && command -v slurmd && command -v munged"], { reject: false })).exitCode !== 0) {
    problem = "Slurm is not installed (apt-get install slurm-wlm munge)";
  }
  if (problem && process.env.CI) throw new Error(`CI must run the Slurm tests, but: ${problem}`);
  if (problem) console.warn(`NOTICE: skipping the Slurm tests: ${problem}`);
  return problem;
}

export async function startCluster(): Promise<Cluster> {
  await startMunge();
  const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), "scq-slurm-"));
  await fs.promises.chmod(dir, 0o755);
  const host = (await execa("hostname", ["-s"])).stdout.trim();
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  // What the node really has, a little under, or slurmd would drain it.
  const memory = Math.floor((os.totalmem() / 1024 / 1024) * 0.9);
  const conf = path.join(dir, "slurm.conf");
  await fs.outputFile(
    conf,
    [
      "ClusterName=scqtest",
      `SlurmctldHost=${host}`,
      "SlurmUser=root",
      "SlurmdUser=root",
      `SlurmctldPort=${port}`,
      `SlurmdPort=${port + 1}`,
      "AuthType=auth/munge",
      `StateSaveLocation=${dir}/state`,
      `SlurmdSpoolDir=${dir}/spool`,
      `SlurmctldPidFile=${dir}/slurmctld.pid`,
      `SlurmdPidFile=${dir}/slurmd.pid`,
      `SlurmctldLogFile=${dir}/slurmctld.log`,
      `SlurmdLogFile=${dir}/slurmd.log`,
      "ProctrackType=proctrack/linuxproc",
      "TaskPlugin=task/none",
      "SelectType=select/cons_tres",
      "SelectTypeParameters=CR_Core_Memory",
      "ReturnToService=2",
      "MpiDefault=none",
      "JobAcctGatherType=jobacct_gather/none",
      "AccountingStorageType=accounting_storage/none",
      "KillWait=5",
      "SlurmctldTimeout=30",
      "MessageTimeout=5",
      `NodeName=${host} CPUs=${os.cpus().length} RealMemory=${memory} State=UNKNOWN`,
      `PartitionName=scq Nodes=${host} Default=YES MaxTime=INFINITE State=UP`,
      "",
    ].join("\n"),
  );
  for (const sub of ["state", "spool"]) await fs.mkdirp(path.join(dir, sub));
  // Every Slurm command this process starts (the passes' sbatch, squeue, scancel) reads this config.
  process.env.SLURM_CONF = conf;
  const env = { ...process.env, SLURM_CONF: conf };
  const daemon = async (name: "slurmctld" | "slurmd") => {
    const started = await execa(name, [], { env, reject: false });
    if (started.exitCode !== 0) throw new Error(`${name} did not start: ${started.stderr}\n${await log(dir, name)}`);
  };
  const pidOf = async (name: string) => Number((await fs.readFile(path.join(dir, `${name}.pid`), "utf8").catch(() => "")).trim()) || undefined;
  const kill = async (name: string) => {
    const pid = await pidOf(name);
    if (!pid) return;
    try {
      process.kill(pid, "SIGTERM");
    } catch {
      return;
    }
    for (let i = 0; i < 100 && (await alive(pid)); i += 1) await sleep(100);
  };
  const waitIdle = async () => {
    for (let i = 0; i < 100; i += 1) {
      const info = await execa("sinfo", ["-h", "-o", "%t"], { env, reject: false });
      if (info.exitCode === 0 && /^(idle|mix|alloc)/.test(info.stdout.trim())) return;
      await sleep(200);
    }
    throw new Error(`the Slurm node did not come up:\n${await log(dir, "slurmctld")}\n${await log(dir, "slurmd")}`);
  };
  await daemon("slurmctld");
  await daemon("slurmd");
  await waitIdle();
  return {
    dir,
    partition: "scq",
    stopController: () => kill("slurmctld"),
    async drain(reason) {
      await execa("scontrol", ["update", `nodename=${host}`, "state=drain", `reason=${reason}`], { env });
    },
    async resume() {
      await execa("scontrol", ["update", `nodename=${host}`, "state=resume"], { env });
      await waitIdle();
    },
    async startController() {
      await daemon("slurmctld");
      await waitIdle();
    },
    async stop() {
      await execa("scancel", ["--me"], { env, reject: false });
      await kill("slurmd");
      await kill("slurmctld");
      delete process.env.SLURM_CONF;
      await fs.remove(dir);
    },
  };
}

async function startMunge(): Promise<void> {
  if ((await execa("sh", ["-c", "munge -n | unmunge"], { reject: false })).exitCode === 0) return;
  for (const dir of ["/run/munge", "/var/log/munge", "/var/lib/munge"]) {
    await fs.mkdirp(dir);
    await execa("chown", ["munge:munge", dir]);
  }
  const started = await execa("runuser", ["-u", "munge", "--", "munged"], { reject: false });
  if (started.exitCode !== 0) throw new Error(`munged did not start: ${started.stderr}`);
}

async function alive(pid: number): Promise<boolean> {
  return fs.pathExists(`/proc/${pid}`);
}

async function log(dir: string, name: string): Promise<string> {
  return (await fs.readFile(path.join(dir, `${name}.log`), "utf8").catch(() => "")).split("\n").slice(-15).join("\n");
}
