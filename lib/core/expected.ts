// Errors the code expects and can live with, each with the reason it may: a reader never has to guess
// why a failure is let go. `.catch(expected("a hint only: the next pass writes it again"))` returns
// undefined (or the fallback given) instead of the error. With SCQ_DEBUG=1 each one is printed on
// stderr with its reason, for an owner chasing a problem. (Lint refuses a bare `.catch(() => …)`.)
import { errorMessage } from "./errors.ts";

export function expected(why: string): (error: unknown) => undefined;
export function expected<T>(why: string, fallback: T): (error: unknown) => T;
export function expected<T>(why: string, fallback?: T): (error: unknown) => T | undefined {
  return (error) => {
    if (process.env.SCQ_DEBUG) process.stderr.write(`scq debug: let go (${why}): ${errorMessage(error)}\n`);
    return fallback;
  };
}
