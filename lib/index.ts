// syft-code-queue as a library. See lib/people/api.ts.
export * from "./people/api.ts";
export type { Context, ContextOptions } from "./core/context.ts";
export type { JobView } from "./core/job.ts";
export type { JobMetadata, JobStatus, AppConfig } from "./core/schemas.ts";
export { JOB_STATUSES } from "./core/schemas.ts";
export { ScqError, JobNotFoundError, AmbiguousUidError, JobStateError, ConfigError } from "./core/errors.ts";
export { runPass } from "./pass/pass.ts";
