// How a supervisor is started to outlive whoever starts it: in a session of its own, through a shell
// that exits at once, so it is nobody's child. The Go SyftBox client stops an app by signalling every
// descendant of run.sh, and under the warm loop (a process that lives on) a supervisor it spawned
// directly would be one of them. Its own words (not the job's) go to supervisor.txt in its folder; the
// shell prints its pid.
import { spawn } from "node:child_process";
import fs from "node:fs";
import type { Socket } from "node:net";
import path from "node:path";
import { processStartTime } from "../core/lock.ts";
import { supervisorCommand } from "./executor.ts";

export interface Detached {
  pid: number;
  /** Its kernel start time: with the pid, it names this process and no later one. */
  start: string;
  /** A spare's lifeline: the starter's end of a socket the spare reads as its stdin. */
  line?: Socket;
}

/**
 * A supervisor for the folder `dir`: of the run there (request.json written), or, `spare`, a spare
 * waiting in it (spares.ts), whose stdin is a socket whose other end the caller keeps.
 */
export async function startDetached(dir: string, { spare = false } = {}): Promise<Detached> {
  const out = await fs.promises.open(path.join(dir, "supervisor.txt"), "a", 0o600);
  const { file, args } = supervisorCommand();
  let said = "";
  let line: Socket | undefined;
  try {
    // A background job's stdin is /dev/null unless redirected: a spare's lifeline (fd 3) becomes its stdin.
    const script = spare ? '"$@" <&3 3<&- >&2 & echo $!' : '"$@" >&2 & echo $!';
    const shell = spawn("/bin/sh", ["-c", script, "sh", file, ...args, ...(spare ? ["--spare"] : []), dir], {
      // A spare lives in its folder: renamed to a run's folder, it finds its request there. A run's
      // supervisor is told its folder and starts from "/": started from the sources (through tsx's
      // loader), one whose working folder was removed while Node still loaded it hung for good.
      cwd: spare ? dir : "/",
      detached: true,
      stdio: spare ? ["ignore", "pipe", out.fd, "pipe"] : ["ignore", "pipe", out.fd],
      env: supervisorEnv(),
    });
    line = spare ? (shell.stdio[3] as Socket) : undefined;
    line?.unref();
    // A spare that ends with a word unread (taken, or killed) resets its end: that is its end, no error of the loop's.
    line?.on("error", () => line?.destroy());
    // Its exit and its pid, not "close": a lifeline stays open as long as the spare lives.
    const printed = new Promise<void>((resolve) => shell.stdout?.on("end", resolve));
    shell.stdout?.on("data", (chunk: Buffer) => (said += chunk.toString()));
    await new Promise<void>((resolve, reject) => {
      shell.once("exit", () => resolve());
      shell.once("error", reject);
    });
    await printed;
  } finally {
    await out.close();
  }
  const pid = Number(said.trim()) || undefined;
  const start = pid === undefined ? undefined : processStartTime(pid);
  if (pid === undefined || start === undefined) {
    line?.destroy();
    throw new Error(`the supervisor ended as it started; see ${path.join(dir, "supervisor.txt")}`);
  }
  return line ? { pid, start, line } : { pid, start };
}

/** The supervisor needs only a PATH (for bwrap and prlimit): nothing else of the owner's environment. */
export function supervisorEnv(): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin", LANG: "C.UTF-8" };
}
