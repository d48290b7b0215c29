// The digests of released files, each file read once for all of them (SHA-256 for the signed
// statement, SHA-512 for the crate's manifest): whole below a few MB, streamed above, several of
// those at once.
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { forEachLimit } from "../core/concurrency.ts";
import { ifExists } from "../core/fsutil.ts";

export interface Digest {
  sha256: string;
  sha512: string;
  size: number;
}

/** Read whole below this size (one read), streamed above it (a released file may be large). */
const WHOLE_BELOW = 4 * 1024 * 1024;

/** The digests of one file's bytes. */
export function digestOf(bytes: Buffer | string): Digest {
  return {
    sha256: createHash("sha256").update(bytes).digest("hex"),
    sha512: createHash("sha512").update(bytes).digest("hex"),
    size: Buffer.byteLength(bytes),
  };
}

async function digestFile(file: string): Promise<Digest> {
  // Small files read synchronously: four hops to the thread pool (open, stat, read, close) cost more than the read.
  const { size } = fs.statSync(file);
  if (size < WHOLE_BELOW) return digestOf(fs.readFileSync(file));
  const sha256 = createHash("sha256");
  const sha512 = createHash("sha512");
  let read = 0;
  for await (const chunk of fs.createReadStream(file)) {
    sha256.update(chunk as Buffer);
    sha512.update(chunk as Buffer);
    read += (chunk as Buffer).length;
  }
  return { sha256: sha256.digest("hex"), sha512: sha512.digest("hex"), size: read };
}

/** The digests of each of `names` in `dir` (undefined: missing). */
export async function digestFiles(dir: string, names: readonly string[]): Promise<Map<string, Digest | undefined>> {
  const digests = new Map<string, Digest | undefined>();
  await forEachLimit(names, 16, async (name) => {
    digests.set(name, await ifExists(digestFile(path.join(dir, name))));
  });
  return digests;
}
