// How an installed scq starts (dist/scq.mjs): the bundle of scripts/scq.ts (dist/scq-main.cjs),
// compiled from V8's code cache beside it. See lib/core/code-cache.ts.
import { fileURLToPath } from "node:url";
import { runCached } from "../lib/core/code-cache.ts";

runCached(fileURLToPath(new URL("scq-main.cjs", import.meta.url)), process.argv[2]);
