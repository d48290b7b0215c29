// Errors are small named classes carrying data (what went wrong as a code, the job, the file), mapped
// to exit codes in one place (reportError, below). Code branches on the class or the code, never on a
// message's text.
// Exit codes: 1 = the user asked for something that cannot be done (unknown job, wrong state, bad
// input); 2 = the command line itself is wrong; 124 = a wait ran out; 75 = try again later (the disk
// is full); 70 = a bug.
import type { z } from "zod";

export interface ErrorData {
  /** The job concerned, when there is one. */
  uid?: string | undefined;
  /** The file concerned, when there is one. */
  path?: string | undefined;
  cause?: unknown;
}

export class ScqError extends Error {
  readonly exitCode: number = 1;
  readonly uid: string | undefined;
  readonly path: string | undefined;
  constructor(message: string, data: ErrorData = {}) {
    super(message, data.cause === undefined ? undefined : { cause: data.cause });
    this.name = new.target.name;
    this.uid = data.uid;
    this.path = data.path;
  }
}

export class UsageError extends ScqError {
  override readonly exitCode = 2;
}

/** A config file (app or SyftBox client) is missing or invalid: the pass must not touch anything. */
export class ConfigError extends ScqError {}

export class JobNotFoundError extends ScqError {}

export class AmbiguousUidError extends ScqError {}

/** The job exists but is not in a state that allows the action (approve a running job, ...). */
export class JobStateError extends ScqError {}

export class WaitTimeoutError extends ScqError {
  override readonly exitCode = 124;
}

/** A file on disk failed to parse or validate. `syntax` is true for JSON that does not parse at all. */
export class InvalidFileError extends ScqError {
  constructor(
    readonly file: string,
    readonly problems: string[],
    readonly syntax: boolean,
    hint = "",
  ) {
    super(`${file}: ${problems.join("; ")}${hint ? `. ${hint}` : ""}`, { path: file });
  }
}

/**
 * An executor would not start a run. `final`: it never will, as asked (Slurm refused the request:
 * more memory than any node has, an unknown partition or account): the job fails with this message.
 * Otherwise it may next time (the controller did not answer): the job stays approved.
 */
export class LaunchRefusedError extends ScqError {
  constructor(
    message: string,
    readonly final: boolean,
  ) {
    super(message);
  }
}

/** No room on a disk the queue needs (ENOSPC, EDQUOT): an operating condition; the next pass goes on. */
export class DiskFullError extends ScqError {
  override readonly exitCode = 75;
}

/** Something that cannot happen unless the code is wrong: always reported with its stack. */
export class BugError extends Error {
  readonly uid: string | undefined;
  constructor(message: string, data: ErrorData = {}) {
    super(`BUG: ${message}`, data.cause === undefined ? undefined : { cause: data.cause });
    this.name = "BugError";
    this.uid = data.uid;
  }
}

/** Anything thrown, as an Error (a non-Error value is wrapped, keeping it as the cause). */
function coerceError(value: unknown): Error {
  return value instanceof Error ? value : new Error(`non-error thrown: ${String(value)}`, { cause: value });
}

const SYNC_RACE_CODES = new Set(["ENOENT", "ENOTEMPTY", "EEXIST", "ENOTDIR"]);
/** No room: not a bug, and the next pass goes on once there is some. */
const NO_ROOM_CODES = new Set(["ENOSPC", "EDQUOT"]);

/**
 * Is this what a sync or another process does to files under us (a folder vanished or moved, a file
 * half written), which the next pass sees settled? Anything else is a bug or a broken machine.
 */
function isExpectedRace(error: unknown): boolean {
  if (error instanceof InvalidFileError) return error.syntax;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === "string" && SYNC_RACE_CODES.has(code);
}

/**
 * The catch of one job's step in a pass: an expected race is said in one line and left for the next
 * pass; anything else is said with its stack and, under the test suite (SCQ_STRICT=1), thrown so a
 * test fails instead of logging a bug as "left for the next pass".
 */
export function reportJobError(log: (line: string) => void, what: string, error: unknown): void {
  const e = coerceError(error);
  if (isExpectedRace(e) || e instanceof ScqError) {
    log(`${what} left for the next pass: ${e.message}`);
    return;
  }
  const errno = e as NodeJS.ErrnoException;
  if (errno.code && NO_ROOM_CODES.has(errno.code)) {
    log(`${what} left for the next pass: disk full at ${errno.path ?? "an unknown path"}`);
    return;
  }
  log(`${what} left for the next pass after an unexpected error (please report it): ${e.stack ?? e.message}`);
  if (process.env.SCQ_STRICT === "1") throw e;
}

/** "field \"limits.memory_mb\": Invalid input: expected number, received string" for each issue. */
export function describeZodIssues(error: z.ZodError): string[] {
  return error.issues.map((issue) => {
    const where = issue.path.length > 0 ? `field "${issue.path.join(".")}"` : "top level";
    return `${where}: ${issue.message}`;
  });
}

export function errorMessage(error: unknown): string {
  return coerceError(error).message;
}

/** One clear line on stderr and the exit code for it; the stack only for what must be a bug. */
export function reportError(error: unknown): void {
  if (error instanceof ScqError) {
    process.stderr.write(`error: ${error.message}\n`);
    process.exitCode = error.exitCode;
    return;
  }
  const e = coerceError(error);
  const denied = permissionDenied(e);
  if (denied) {
    process.stderr.write(`error: ${denied}\n`);
    process.exitCode = 1;
    return;
  }
  process.stderr.write(`unexpected error (please report it): ${e.stack ?? e.message}\n`);
  process.exitCode = 70;
}

/**
 * A file this user may not read or write: most often scq run as another Unix user than the one whose
 * SyftBox folder it is (sudo, a shared machine). Said as what to do, not as a bug.
 */
function permissionDenied(e: Error): string | undefined {
  const errno = e as NodeJS.ErrnoException;
  if (errno.code !== "EACCES" && errno.code !== "EPERM") return undefined;
  const where = errno.path ? ` ${errno.path}` : "";
  const user = process.getuid?.();
  return (
    `permission denied${errno.syscall ? ` (${errno.syscall})` : ""}:${where}. ` +
    `Run scq as the Unix user whose SyftBox folder this is${user === undefined ? "" : ` (you are uid ${user})`}, or give --data-dir and --email of your own.`
  );
}

// Errors that never reach a user as they are: each is caught by the code that knows what to say.

/**
 * Why a tree is refused; shown to the requester. `missingRunSh` marks the one refusal a submitter can
 * fix by other means (scq submit-script), so callers can say so without reading the message.
 */
export class UnsafeTreeError extends Error {
  constructor(
    message: string,
    readonly missingRunSh = false,
  ) {
    super(message);
    this.name = "UnsafeTreeError";
  }
}

/** A file that is not a table the checks can read (a table's name, other content): checked as a plain file. */
export class NotATableError extends Error {}

/** The stage root is not one this user alone may write: nothing is staged there (run/stage.ts). */
export class StageRootError extends Error {}

/** A request the page's server answers with `status` and this message. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}
