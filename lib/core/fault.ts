// Fault injection for the crash tests: a named point in a multi-step change where a test may have the
// process killed outright (SIGKILL: no cleanup, no finally), exactly as a crash, an OOM kill or a power
// cut would stop it there. SCQ_FAULT names the point; unset (always, outside tests), it costs one
// comparison. The tests kill the pass at every point in turn and check the next pass loses nothing.
export function faultPoint(name: string): void {
  if (process.env.SCQ_FAULT === name) process.kill(process.pid, "SIGKILL");
}
