// Between passes of `run.sh --loop`: sleep `interval` seconds, but wake at once when a run ends (its
// supervisor touches the wake file), so a finished job is collected and its slot refilled without
// waiting out the interval.
import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import { ifExists, readJsonFile } from "../core/fsutil.ts";
import type { QueuePaths } from "../core/paths.ts";

export async function sleepUntilWoken(paths: QueuePaths, seconds: number): Promise<"woken" | "interval"> {
  await fs.promises.mkdir(paths.state, { recursive: true });
  const stamp = () =>
    fs.promises.stat(paths.wake).then(
      (s) => s.mtimeMs,
      () => 0,
    );
  // A run that ended while the last pass was under way (after it had collected) has woken nobody yet:
  // anything newer than that pass's start counts.
  const lastPass = await ifExists(readJsonFile(paths.lastPass, z.looseObject({ started_at: z.string() })));
  const since = lastPass ? Date.parse(lastPass.started_at) : Date.now();
  if ((await stamp()) > since) return "woken";
  const before = Math.max(await stamp(), since);
  return new Promise((resolve) => {
    let watcher: fs.FSWatcher | undefined;
    const done = (how: "woken" | "interval") => {
      clearTimeout(timer);
      clearInterval(check);
      watcher?.close();
      resolve(how);
    };
    const timer = setTimeout(() => done("interval"), seconds * 1000);
    const look = () => void stamp().then((now) => now > before && done("woken"));
    // The folder is watched; a slow check backs the watch up where events do not arrive (network file systems).
    const check = setInterval(look, 1000);
    try {
      watcher = fs.watch(paths.state, (_event, name) => {
        if (name === path.basename(paths.wake)) look();
      });
    } catch {
      // no watching here: the slow check alone
    }
  });
}
