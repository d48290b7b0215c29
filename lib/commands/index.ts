// Every scq command, one file each; scripts/scq.ts registers them all.
export { auditCommand } from "./audit.ts";
export { decideCommand } from "./decide.ts";
export { jobCommand, logsCommand, outputCommand } from "./job.ts";
export { listCommand, pendingCommand } from "./list.ts";
export { processCommand } from "./process.ts";
export { reviewCommand } from "./review.ts";
export { statusCommand } from "./status.ts";
export { submitCommand } from "./submit.ts";
export { submitScriptCommand } from "./submit-script.ts";
