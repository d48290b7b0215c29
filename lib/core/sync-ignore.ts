// What SyftBox never syncs. Its client carries a fixed ignore list (gitignore syntax) that every
// datasite shares: a file matching it stays on the machine that wrote it. So a submission must not
// count on such files arriving, and nothing a requester or approver must read may carry such a name.
// Each entry of that list, as the client applies it, matches one path component anywhere in a path
// (and everything below a matching folder); the entries ending in "/" match folders only.

/** Folder names whose whole content never syncs. */
const FOLDERS = new Set([".ipynb_checkpoints", "__pycache__", "dist", "venv", ".venv", "logs"]);

/** Names (of a file or a folder) that never sync. */
const NAMES = new Set(["syftignore", ".syftkeep", ".vscode", ".idea", ".git", ".DS_Store", "Thumbds.db", "Icon"]);

/** Name patterns that never sync. */
const PATTERNS: RegExp[] = [/syftrejected/, /syftconflict/, /\.conflict\./, /\.rejected\./, /\.syft\.tmp\./, /\.py[cod]$/, /\.tmp$/, /\.log$/];

/** Whether SyftBox never syncs an entry with this name (a folder: nothing below it either). */
export function neverSyncedName(name: string, isDir: boolean): boolean {
  return NAMES.has(name) || (isDir && FOLDERS.has(name)) || PATTERNS.some((p) => p.test(name));
}

/** Whether SyftBox never syncs the file at this relative path ("/"-separated). */
export function neverSynced(rel: string): boolean {
  const parts = rel.split("/");
  return parts.some((name, i) => neverSyncedName(name, i < parts.length - 1));
}
