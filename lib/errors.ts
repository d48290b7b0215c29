// Small named errors, mapped to exit codes in one place (reportError, below).
// 1 = the user asked for something that cannot be done (unknown job, wrong state, bad input);
// 2 = the command line itself is wrong. Anything else is a bug and exits 70.
import type { z } from "zod";

export class ScqError extends Error {
  readonly exitCode: number = 1;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
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

/** A file on disk failed to parse or validate. `syntax` is true for JSON that does not parse at all. */
export class InvalidFileError extends ScqError {
  constructor(
    readonly file: string,
    readonly problems: string[],
    readonly syntax: boolean,
    hint = "",
  ) {
    super(`${file}: ${problems.join("; ")}${hint ? `. ${hint}` : ""}`);
  }
}

/** "field \"limits.memory_mb\": Invalid input: expected number, received string" for each issue. */
export function describeZodIssues(error: z.ZodError): string[] {
  return error.issues.map((issue) => {
    const where = issue.path.length > 0 ? `field "${issue.path.join(".")}"` : "top level";
    return `${where}: ${issue.message}`;
  });
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** One clear line on stderr and the exit code for it; the stack only for what must be a bug. */
export function reportError(error: unknown): void {
  if (error instanceof ScqError) {
    process.stderr.write(`error: ${error.message}\n`);
    process.exitCode = error.exitCode;
    return;
  }
  process.stderr.write(`unexpected error (please report it): ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 70;
}
