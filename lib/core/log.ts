// The processor writes one readable line per action; SyftBox keeps them in the app's log.
import { visible } from "./visible.ts";

export type Log = (line: string) => void;

/** Lines carry names and reasons from requesters: shown with any control character made visible. */
export const consoleLog: Log = (line) => {
  process.stdout.write(`${new Date().toISOString()} ${visible(line)}\n`);
};

export const silentLog: Log = () => {};

/** The part of a uid people see and type: its last 8 characters (its first ones carry the time, shared by jobs of the same minute). */
export function shortUid(uid: string): string {
  return uid.slice(-8);
}

/** "3m", "2h", "5d": how long ago an ISO time was. */
export function age(iso: string, nowMs = Date.now()): string {
  const seconds = Math.max(0, Math.round((nowMs - Date.parse(iso)) / 1000));
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86_400)}d`;
}

/** The same log with every line starting with `prefix` ("run: ", "decision: "): says which step of the pass speaks. */
export function prefixed(log: Log, prefix: string): Log {
  return (line) => log(`${prefix}${line}`);
}
