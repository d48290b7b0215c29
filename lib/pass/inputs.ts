// What a pass takes its work from, and how to tell it changed: the folders whose entries a pass acts
// on, the wake file, the settings and the code. Anything that adds, removes or renames an entry in a
// folder changes its mtime, and everything that brings work does one of those: a submission's files
// and its `submitted` marker, a cancel request, a decision, a vote (on code or on output), a Python client's job in pending/,
// a run ending (its supervisor touches the wake file). The warm loop (loop.ts) watches them (inotify,
// through fs.watch) with a cheap poll of their mtimes behind the watch, for file systems whose events
// never arrive (network mounts, FUSE) and the moment between a folder appearing and its watch being
// armed; a lone run compares their mtimes with the last pass's (idle.ts).
import fs from "node:fs";
import path from "node:path";
import { expected } from "../core/expected.ts";
import { listDirs } from "../core/fsutil.ts";
import { isSyftBoxControlFile } from "../core/tree.ts";
import { localSettingsFile, type Context } from "../core/context.ts";
import { APP_DIR, CANCEL_FOLDER, type QueuePaths } from "../core/paths.ts";
import { inputTimes } from "./idle.ts";
import { unsentMessages } from "./notify.ts";
import type { PassSummary } from "./pass.ts";
import { JOB_STATUSES } from "../core/schemas.ts";

/**
 * Folders watched at most: a burst of submissions beyond this is still seen through its parent
 * folders and the interval, without running into the system's limit on inotify watches.
 */
const MAX_WATCHED = 1000;

/** Folder names in `folder` (none when it is missing), hidden ones aside. Synchronous, as is all the looking here: a few stats, each cheaper than a hop to the thread pool. */
function foldersIn(folder: string): string[] {
  try {
    return fs
      .readdirSync(folder, { withFileTypes: true })
      .filter((e) => e.isDirectory() && !e.name.startsWith("."))
      .map((e) => e.name);
  } catch {
    return []; // missing, or removed while read: nothing in it to watch
  }
}

/**
 * The folders a pass acts on the entries of: every status folder (pending/ for jobs Python clients
 * write straight into it, the others for jobs another program moved, or a sync brought back, which
 * the pass records and indexes), and every folder of a submission still in the inbox, whose files a
 * sync brings in any order.
 */
function inputFolders(paths: QueuePaths): string[] {
  const folders = [paths.inbox, paths.decisions, paths.outputVotes, ...JOB_STATUSES.map((status) => path.join(paths.jobs, status))];
  const below = (folder: string): void => {
    if (folders.length >= MAX_WATCHED) return;
    folders.push(folder);
    for (const name of foldersIn(folder)) below(path.join(folder, name));
  };
  for (const email of foldersIn(paths.inbox)) below(path.join(paths.inbox, email));
  for (const voter of foldersIn(paths.decisions)) folders.push(path.join(paths.decisions, voter));
  for (const checker of foldersIn(paths.outputVotes)) folders.push(path.join(paths.outputVotes, checker));
  return folders.slice(0, MAX_WATCHED);
}

/** The settings files a pass reads (an edit of one is a change: the next pass says which settings are in force), with `more` (the client config). */
export function settingsFiles(ctx: Context, more: readonly string[] = []): string[] {
  const file = ctx.settings?.looked_at;
  return [...(file ? [file, localSettingsFile(file)] : []), ...more];
}

/** Everything whose mtime tells of new work: the input folders, the wake file, the settings files and the bundle's build stamp (new code). */
export function passInputs(paths: QueuePaths, files: readonly string[]): string[] {
  return inputsOf(paths, inputFolders(paths), files);
}

function inputsOf(paths: QueuePaths, folders: readonly string[], files: readonly string[]): string[] {
  return [...folders, paths.wake, ...files, path.join(APP_DIR, "dist", ".built")];
}

/**
 * Of those, what brings a person's work (a submission, a decision, a vote, a cancel, a Python
 * client's job, a run's end): what the loop's frequent looks compare. The rest (the finished folders,
 * settings, the build) waits for the look at the interval when no event tells of it.
 */
function workOf(paths: QueuePaths, folders: readonly string[]): string[] {
  const finished = new Set(JOB_STATUSES.filter((status) => status !== "pending").map((status) => path.join(paths.jobs, status)));
  return [...folders.filter((folder) => !finished.has(folder)), paths.wake];
}

/** The pass took something in, decided, cancelled, started or collected something. */
export function acted(s: PassSummary): boolean {
  return s.intake.accepted.length + s.intake.rejected.length + s.cancelled.length + s.decided.length + s.started.length + s.ran.length > 0;
}

/**
 * A pass that did nothing and left nothing that time alone moves on: nothing taken in, decided,
 * started or collected, nothing running, no problem waiting to clear, no submission in the inbox or
 * Python client's job in pending/ waiting to be quiet, no notification waiting to be sent again.
 */
export async function leftNothing(s: PassSummary, paths: QueuePaths): Promise<boolean> {
  if (s.skipped || acted(s) || s.intake.waiting.length > 0 || s.running > 0 || s.sandbox_problem || s.disk_full) return false;
  return (await unsentMessages(paths)) === 0 && !(await inboxHoldsWork(paths));
}

/** Submissions (or leftovers) in the inbox: while there are any, a pass may have work that no event announces (a submission waiting for its grace). */
async function inboxHoldsWork(paths: QueuePaths): Promise<boolean> {
  for (const email of await listDirs(paths.inbox)) {
    const entries = await fs.promises
      .readdir(path.join(paths.inbox, email))
      .catch(expected("unreadable, or gone meanwhile: counted as work, so a pass looks", ["?"]));
    if (entries.some((name) => name !== CANCEL_FOLDER && !isSyftBoxControlFile(name) && !name.startsWith("."))) return true;
    const cancels = await fs.promises.readdir(path.join(paths.inbox, email, CANCEL_FOLDER)).catch(expected("no cancel requests from them", []));
    if (cancels.length > 0) return true;
  }
  return false;
}

export interface InputWatch {
  /** The mtimes of every input (folders, the wake file, the settings files): unequal stamps mean something changed in between. */
  stamp(): string;
  /** The mtimes of the inputs that bring a person's work (workOf): the frequent looks' stamp. */
  workStamp(): string;
  /** Watch the folders there are now (after a pass made or removed some). */
  rearm(): void;
  close(): void;
}

/** What an event was of: a run's end (the wake file: a pass has work, and nothing more follows), or any other input. */
export type ChangeKind = "run-end" | "input";

/** Watch the inputs of the queue at `paths`; `files` (the settings files) count in the stamp only. `onChange` is called on every event. */
export function watchInputs(paths: QueuePaths, files: readonly string[], onChange: (kind: ChangeKind) => void): InputWatch {
  const watchers = new Map<string, fs.FSWatcher>();
  /** `wakeName`: in this folder only that file counts, and it tells of a run's end. */
  const watchOne = (folder: string, wakeName?: string) => {
    try {
      const watcher = fs.watch(folder, { persistent: false }, (_event, name) => {
        if (wakeName === undefined) onChange("input");
        else if (name === wakeName) onChange("run-end");
      });
      // A watched folder removed (intake took the submission in) ends its watch; the next rearm forgets it.
      watcher.on("error", () => {
        watcher.close();
        if (watchers.get(folder) === watcher) watchers.delete(folder);
      });
      watchers.set(folder, watcher);
    } catch {
      // Not there (yet), or no watching here: the poll sees it.
    }
  };
  // The private state folder changes on every pass (its lock, its summary): only the wake file counts.
  watchOne(paths.state, path.basename(paths.wake));
  // The inputs as found at the last (re)arming: a poll stats them and walks no folder. Whatever adds a
  // folder to look at (a submission, a sender, a voter) changes the mtime of a folder already here.
  let folders = inputFolders(paths);
  let inputs = inputsOf(paths, folders, files);
  let work = workOf(paths, folders);
  return {
    stamp() {
      return JSON.stringify(inputTimes(inputs));
    },
    workStamp() {
      return JSON.stringify(inputTimes(work));
    },
    rearm() {
      folders = inputFolders(paths);
      inputs = inputsOf(paths, folders, files);
      work = workOf(paths, folders);
      const now = new Set(folders);
      for (const [folder, watcher] of watchers) {
        if (folder !== paths.state && !now.has(folder)) {
          watcher.close();
          watchers.delete(folder);
        }
      }
      for (const folder of now) if (!watchers.has(folder)) watchOne(folder);
      if (!watchers.has(paths.state)) watchOne(paths.state, path.basename(paths.wake));
    },
    close() {
      for (const watcher of watchers.values()) watcher.close();
      watchers.clear();
    },
  };
}
