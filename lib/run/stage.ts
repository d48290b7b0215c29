// Staging: every run's code is copied into a fresh folder under one stage root the queue owns, and
// the hash checked against the approval is the hash of that copy, which is what runs.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { StageRootError } from "../core/errors.ts";
import { expected } from "../core/expected.ts";
import { ifExists, writeFileAtomic } from "../core/fsutil.ts";
import type { QueuePaths } from "../core/paths.ts";
import { removeTree } from "../core/remove.ts";
import type { DataPath, SandboxMode } from "../core/schemas.ts";
import { copyTreeHashed } from "../core/tree.ts";
import { prepareStageFiles, stageLayout, type Stage } from "./sandbox.ts";

/**
 * Every stage folder of one queue lives under one root, so a new pass can clear what a dead one left.
 * The root's name is random (mkdtemp) and kept in the private state, so no other local user can make
 * it first, plant a link in it, or stop runs by taking its name. A recorded root that is gone (a
 * reboot cleared the temp folder) or that is not ours (someone who learned the name made it after
 * that) is replaced by a fresh one; a folder that is not ours is never used or removed.
 */
export async function stageRoot(paths: QueuePaths, kind: StageKind = "runs"): Promise<string | undefined> {
  const recorded = await ifExists(fs.promises.readFile(stageRootFile(paths, kind), "utf8"));
  const root = recorded?.trim();
  return root && path.isAbsolute(root) ? root : undefined;
}

type StageKind = "runs" | "dry-runs";

const stageRootFile = (paths: QueuePaths, kind: StageKind) => path.join(paths.state, `stage-root-${kind}`);

/** The recorded stage root if it is there and ours, else undefined: what may be cleared or used. */
export async function ownStageRoot(paths: QueuePaths, kind: StageKind = "runs"): Promise<string | undefined> {
  const recorded = await stageRoot(paths, kind);
  if (!recorded) return undefined;
  return ensureOwnFolder(recorded, "").then(
    () => recorded,
    (error: unknown) => {
      if (error instanceof StageRootError || (error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw error;
    },
  );
}

/** The stage root, ours and usable; a fresh one if the recorded one is gone or not ours. */
export async function ensureStageRoot(paths: QueuePaths, kind: StageKind = "runs"): Promise<string> {
  const own = await ownStageRoot(paths, kind);
  if (own) return own;
  const root = await fs.promises.mkdtemp(path.join(os.tmpdir(), "scq-"));
  fs.chmodSync(root, 0o711);
  fs.mkdirSync(paths.state, { recursive: true });
  await writeFileAtomic(stageRootFile(paths, kind), `${root}\n`);
  return root;
}

/**
 * Check that `root` is ours: a folder (not a link), owned by this process's user and writable by
 * nobody else; made (mode 0711) if `create`. 0711: nobody may list it or add to it; jobs run as
 * `nobody` under a root pass need only to pass through.
 */
export async function ensureOwnFolder(root: string, advice: string, create = false): Promise<string> {
  if (create) {
    await fs.promises.mkdir(root, { mode: 0o711 }).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== "EEXIST") throw error;
    });
  }
  const stat = await fs.promises.lstat(root);
  const uid = process.getuid?.() ?? stat.uid;
  if (!stat.isDirectory() || stat.uid !== uid || (stat.mode & 0o022) !== 0) {
    throw new StageRootError(
      `the stage folder ${root} is not this pass's own (${stat.isDirectory() ? `owner uid ${stat.uid}, mode ${(stat.mode & 0o777).toString(8)}` : "not a folder"}): ` +
        `another user may have made it. ${advice} Approved jobs stay approved.`,
    );
  }
  fs.chmodSync(root, 0o711);
  return root;
}

/**
 * A fresh stage folder for one run under `root`, with a random, neutral name: never reused, and
 * nothing of the job or the datasite in its path (the job can see the path of its mounts). Its name
 * is the run's id. code/ passed the intake gate; copyTreeHashed checks it again and hashes the very
 * bytes it writes, so the hash checked against the approval is the hash of the code that runs.
 */
export async function stageJob(
  root: string,
  /** The code folder: a job's code/, or (scq try) a requester's own folder. */
  code: string,
  mode: SandboxMode,
  dataPaths: DataPath[],
  sub = "",
): Promise<{ runId: string; stage: Stage; codeHash: string }> {
  const dir = fs.mkdtempSync(path.join(root, "run-"));
  const stage = stageLayout(path.join(dir, sub));
  try {
    const codeHash = await copyTreeHashed(code, stage.work);
    prepareStageFiles(mode, stage, dataPaths);
    return { runId: path.basename(dir), stage, codeHash };
  } catch (error) {
    await removeTree(dir).catch(expected("a stage left is swept by recovery"));
    throw error;
  }
}
