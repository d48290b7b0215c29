// syft-code-queue as a library. See lib/api.ts.
export * from "./api.ts";
export type { Context, ContextOptions } from "./context.ts";
export type { JobView } from "./jobs.ts";
export type { JobMetadata, JobStatus, AppConfig } from "./schemas.ts";
export { JOB_STATUSES } from "./schemas.ts";
export { ScqError, JobNotFoundError, AmbiguousUidError, JobStateError, ConfigError } from "./errors.ts";
export { runPass } from "./pass.ts";
