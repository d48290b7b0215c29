// Every scq command, one file each (the one-job commands share job.ts); scripts/scq.ts registers them.
export { auditCommand } from "./audit.ts";
export { checksCommand } from "./checks.ts";
export { decideCommand } from "./decide.ts";
export { dryRunCommand, tryCommand } from "./dry-run.ts";
export { cancelCommand, jobCommand, logsCommand, outputCommand, releaseCommand, waitCommand } from "./job.ts";
export { keyCommand } from "./key.ts";
export { listCommand, mineCommand, pendingCommand } from "./list.ts";
export { processCommand } from "./process.ts";
export { reviewCommand } from "./review.ts";
export { rulesCommand } from "./rules.ts";
export { statusCommand } from "./status.ts";
export { submitCommand } from "./submit.ts";
export { submitScriptCommand } from "./submit-script.ts";
export { uiCommand } from "./ui.ts";
export { undoCommand } from "./undo.ts";
export { verifyCommand } from "./verify.ts";
