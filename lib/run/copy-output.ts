// The copy of what a job wrote in its sandbox back to the owner: regular files only, never a link,
// so a job cannot make the copy read or write outside its own output.
import { isDiskFull } from "../core/disk-space.ts";
import fs from "node:fs";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { expected } from "../core/expected.ts";
import { isSyftBoxControlFile } from "../core/tree.ts";

/**
 * Copy plain files and folders only. Left behind, and named: links and special files, files whose
 * names hold control characters (they would garble every listing of them), SyftBox permission and
 * sync files (in the synced datasite they would grant access, before any review), and folders the job
 * made unreadable.
 */
export async function copyOutput(from: string, to: string): Promise<{ files: number; skipped: string[] }> {
  fs.mkdirSync(to, { recursive: true });
  let files = 0;
  const skipped: string[] = [];
  const visit = async (src: string, dst: string, rel: string): Promise<void> => {
    let names: string[];
    try {
      names = await fs.promises.readdir(src);
    } catch {
      // said in the skipped list the owner and requester see
      skipped.push(`${rel || "."}/ (unreadable folder)`);
      return;
    }
    for (const name of names) {
      const s = path.join(src, name);
      const d = path.join(dst, name);
      const r = rel ? `${rel}/${name}` : name;
      // eslint-disable-next-line no-control-regex
      if (/[\u0000-\u001f\u007f-\u009f]/.test(name)) {
        skipped.push(`${JSON.stringify(r)} (control character in the name)`);
        continue;
      }
      if (isSyftBoxControlFile(name)) {
        skipped.push(`${r} (a SyftBox permission or sync file)`);
        continue;
      }
      const stat = await fs.promises.lstat(s);
      if (stat.isDirectory()) {
        fs.mkdirSync(d, { recursive: true });
        await visit(s, d, r);
      } else if (stat.isFile()) {
        try {
          await copyNoFollow(s, d);
          files += 1;
        } catch (error) {
          if (isDiskFull(error)) throw error; // not this file's fault: the run's output cannot be stored
          skipped.push(`${r} (unreadable)`); // made unreadable, or swapped for a link after the lstat
        }
      } else {
        skipped.push(`${r} (link or special file)`);
      }
    }
  };
  await visit(from, to, "");
  return { files, skipped };
}

/**
 * Copy a file the job wrote without ever following a link: in mode none a process of the job may
 * outlive it and swap the file for a link to a secret between our lstat and our read.
 */
async function copyNoFollow(from: string, to: string): Promise<void> {
  const source = await fs.promises.open(from, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  try {
    if (!(await source.stat()).isFile()) throw new Error(`${from} is not a regular file`);
    await pipeline(source.createReadStream({ autoClose: false }), fs.createWriteStream(to, { flags: "wx" }));
  } finally {
    await source.close().catch(expected("closing a file that was only read"));
  }
}
