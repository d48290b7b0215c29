// Runs a CommonJS bundle from V8's code cache, kept beside it. Node 20 has no compile cache for
// modules (Node 22's module.enableCompileCache is the same idea), so without one every `scq` parses
// and compiles its bundle again: about 35 ms of a command a person waits for (measured on `scq
// verify`, README Performance). With it V8 reads compiled code instead.
//
// The cache file is a first line naming the commands whose runs it holds, then V8's bytes. A run of
// a command not named there writes the file again, holding what that run compiled as well as all it
// was given, so once each command has run the cache serves them all and nobody writes it. V8 checks
// the bytes against the source, its own version and its flags, and rejects any that do not fit (a
// rebuilt bundle, a new Node): that run compiles as if there were no cache and writes a fresh one.
// The first line is read with a pattern, not a schema: loading zod here would cost what the cache saves.
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import vm from "node:vm";

type Wrapped = (exports: object, require: NodeJS.Require, module: { exports: object }, filename: string, dirname: string) => void;

/** Bounds the first line: a stream of mistyped commands must not keep rewriting the cache. */
const MAX_NAMES = 64;

export function runCached(bundle: string, command: string | undefined): void {
  const cacheFile = `${bundle}.cache`;
  const cached = readCache(cacheFile);
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${fs.readFileSync(bundle, "utf8")}\n})`, {
    filename: bundle,
    cachedData: cached?.data,
  });
  const names = cached && !script.cachedDataRejected ? cached.names : [];
  const name = command !== undefined && /^[a-z][a-z-]*$/.test(command) ? command : "-";
  if (!names.includes(name) && names.length < MAX_NAMES) {
    // At exit, when this run has compiled what it needed; a run killed before that writes nothing.
    process.once("exit", () => writeCache(cacheFile, [...names, name], script));
  }
  const module = { exports: {} };
  (script.runInThisContext() as Wrapped)(module.exports, createRequire(bundle), module, bundle, path.dirname(bundle));
}

function readCache(file: string): { names: string[]; data: Buffer } | undefined {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch {
    return undefined; // none yet (a fresh build): this run writes it
  }
  const end = bytes.indexOf(10);
  const line = end < 0 ? "" : bytes.subarray(0, end).toString("latin1");
  if (!/^[a-z -]*$/.test(line)) return undefined; // not ours: written afresh
  return { names: line.split(" ").filter(Boolean), data: bytes.subarray(end + 1) };
}

function writeCache(file: string, names: string[], script: vm.Script): void {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    fs.writeFileSync(tmp, Buffer.concat([Buffer.from(`${names.join(" ")}\n`), script.createCachedData()]));
    fs.renameSync(tmp, file); // whole or not at all: another scq may be reading it
  } catch {
    // A folder this user may not write (an app installed by another): scq runs, only without the cache.
    fs.rmSync(tmp, { force: true });
  }
}
