// Removing a tree someone else wrote (a job's stage, a rejected submission). Node's recursive rm walks
// by full path, so a folder chain deeper than PATH_MAX, or a folder a job made unwritable, stops it.
// GNU chmod and rm walk by directory fd (fts), whatever the depth: they finish what node could not.
import { execFile } from "node:child_process";
import fs from "node:fs";
import { promisify } from "node:util";
import { expected } from "./expected.ts";

const run = promisify(execFile);

/** Remove `dir` and everything in it, whatever its depth and permissions; throws if it is still there. */
export async function removeTree(dir: string): Promise<void> {
  try {
    await fs.promises.rm(dir, { recursive: true, force: true });
    return;
  } catch {
    // fall through to the tools that can
  }
  // --one-file-system: never follow a mount a job could not have made anyway, but be sure.
  await run("chmod", ["-R", "u+rwx", "--", dir], { timeout: 120_000 }).catch(expected("rm reports what it still cannot remove"));
  await run("rm", ["-rf", "--one-file-system", "--", dir], { timeout: 120_000 });
}
