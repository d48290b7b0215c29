// Preloaded into a CLI process by the tests (node --import): counts the job records it opens (in
// place or through the thread pool), and says how many on stderr as it exits, so a test can hold a
// view to reading only what it shows.
import fs from "node:fs";

let reads = 0;
const isRecord = (file) => String(file).endsWith("metadata.json");
const open = fs.promises.open;
fs.promises.open = function (file, ...rest) {
  if (isRecord(file)) reads += 1;
  return open.call(this, file, ...rest);
};
const openSync = fs.openSync;
fs.openSync = function (file, ...rest) {
  if (isRecord(file)) reads += 1;
  return openSync.call(this, file, ...rest);
};
process.on("exit", () => process.stderr.write(`\nrecord reads: ${reads}\n`));
