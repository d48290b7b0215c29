// Preloaded by the bench into a measured process: prints its peak resident memory when it exits.
// VmHWM, the peak of this process's own memory: getrusage's maxRSS would also count the memory of the
// bench process it was forked from (Linux keeps the larger high-water mark across exec).
import fs from "node:fs";
process.on("exit", () => {
  const hwm = /VmHWM:\s+(\d+)/.exec(fs.readFileSync("/proc/self/status", "utf8"))?.[1];
  process.stderr.write(`\nBENCH_MAX_RSS_KB=${hwm ?? process.resourceUsage().maxRSS}\n`);
});
