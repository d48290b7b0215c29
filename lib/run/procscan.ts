// What a sandboxed job really uses, read from /proc: every process in the job's pid namespace, the
// memory they hold, and the files they keep open after deleting them. Per-process rlimits miss both:
// many processes each under RLIMIT_AS add up, a memfd holds memory that is in no address space, and a
// file deleted while open fills the disk while no folder walk can see it.
import fs from "node:fs";
import { expected } from "../core/expected.ts";

export interface JobUsage {
  processes: number;
  /** Private and shared anonymous memory of all the job's processes (proportional set size), plus every memfd they hold open. */
  memoryBytes: number;
  /** Files deleted while still open: on the disk, but in no folder. */
  hiddenDiskBytes: number;
}

/** The pid namespace a process lives in ("pid:[4026532]"), or undefined when it is gone or not ours to see. */
export async function pidNamespace(pid: number): Promise<string | undefined> {
  return fs.promises.readlink(`/proc/${pid}/ns/pid`).catch(expected("a process that has exited"));
}

/** Processes and their files come and go while we look: each one gone meanwhile counts as nothing (hence the quiet catches). */
export async function jobUsage(namespace: string): Promise<JobUsage> {
  const usage: JobUsage = { processes: 0, memoryBytes: 0, hiddenDiskBytes: 0 };
  const seen = new Set<string>();
  const pids = (await fs.promises.readdir("/proc")).filter((name) => /^\d+$/.test(name));
  await Promise.all(
    pids.map(async (pid) => {
      if ((await pidNamespace(Number(pid))) !== namespace) return;
      usage.processes += 1;
      // Read first, then add: `total += await x` would read the total before awaiting, and the
      // processes scanned side by side would overwrite each other's share.
      const memory = await anonymousMemory(pid);
      usage.memoryBytes += memory;
      const fds = await fs.promises.readdir(`/proc/${pid}/fd`).catch(expected("a process that has exited", [] as string[]));
      for (const fd of fds) {
        const target = await fs.promises.readlink(`/proc/${pid}/fd/${fd}`).catch(expected("a descriptor closed meanwhile", ""));
        const memfd = target.startsWith("/memfd:");
        if (!memfd && !target.endsWith(" (deleted)")) continue;
        const stat = await fs.promises.stat(`/proc/${pid}/fd/${fd}`).catch(expected("a descriptor closed meanwhile"));
        if (!stat?.isFile()) continue;
        const key = `${stat.dev}:${stat.ino}`;
        if (seen.has(key)) continue;
        seen.add(key);
        // Blocks, not the size: a sparse file costs only what it really holds.
        const bytes = stat.blocks * 512;
        if (memfd) usage.memoryBytes += bytes;
        else usage.hiddenDiskBytes += bytes;
      }
    }),
  );
  return usage;
}

async function anonymousMemory(pid: string): Promise<number> {
  const text = await fs.promises.readFile(`/proc/${pid}/smaps_rollup`, "utf8").catch(expected("a process that has exited", ""));
  let kb = 0;
  for (const match of text.matchAll(/^(Pss_Anon|Pss_Shmem):\s+(\d+) kB$/gm)) kb += Number(match[2]);
  return kb * 1024;
}
