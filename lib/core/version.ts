// The app's version: the one answer, for `--version` and for what a signed result names.
import fs from "node:fs";
import path from "node:path";
import { APP_DIR } from "./paths.ts";

/** The app's version, from its package.json (read where the app is installed, bundle or not). */
export function appVersion(): string {
  try {
    return (JSON.parse(fs.readFileSync(path.join(APP_DIR, "package.json"), "utf8")) as { version?: string }).version ?? "unknown";
  } catch {
    return "unknown"; // an app folder without its package.json: said as unknown, never a crash
  }
}
