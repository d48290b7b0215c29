// Every piece of data read from disk or from a user is parsed by one of these schemas.
// Field names of job metadata follow the original Python syft-code-queue (snake_case).
import * as z from "zod";

// Parse without generating code at run time: each process parses a handful of small files once, so
// compiling a fast path costs more than it saves (and needs no eval).
z.config({ jitless: true });

export const JOB_STATUSES = ["pending", "approved", "running", "completed", "failed", "rejected"] as const;
export const JobStatus = z.enum(JOB_STATUSES);
export type JobStatus = z.infer<typeof JobStatus>;

const SANDBOX_MODES = ["bwrap", "none"] as const;
export const SandboxMode = z.enum(SANDBOX_MODES);
export type SandboxMode = z.infer<typeof SandboxMode>;

/** Lower-case RFC 4122 uuid, as Python's str(uuid4()) writes it. */
export const UID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const Uid = z.string().regex(UID_PATTERN, "must be a lower-case uuid like 3f2b8c1e-0d4a-4c7b-9e21-5a6f7b8c9d0e");

// Control characters in names end up in terminals and logs: refuse them.
// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/;
const plainText = (max: number) =>
  z
    .string()
    .max(max)
    .refine((s) => !CONTROL_CHARS.test(s), "must not contain control characters");

export const Email = z.email("must be an email address").max(254);
export const Sha256 = z.string().regex(/^[0-9a-f]{64}$/, "must be a sha256 hex digest");
export const Timestamp = z.iso.datetime({ offset: true, message: "must be an ISO 8601 date-time with a zone" });

export const JobName = plainText(200).min(1, "must not be empty");
export const Description = z.string().max(10_000);
export const Tag = plainText(64).min(1);

// ---- app settings (config.json) ----------------------------------------------------------------

const LimitsSchema = z
  .object({
    memory_mb: z.number().int().min(32).default(2048),
    max_processes: z.number().int().min(4).default(128),
    max_file_mb: z.number().int().min(1).default(512),
    max_output_mb: z.number().int().min(1).default(1024),
    max_log_kb: z.number().int().min(4).default(1024),
    max_code_mb: z.number().int().min(1).default(50),
    max_files: z.number().int().min(1).default(10_000),
    /** CPU seconds (RLIMIT_CPU); when absent it is job_timeout times the number of cores. */
    cpu_seconds: z.number().int().min(1).optional(),
  })
  .strict();
export type Limits = z.infer<typeof LimitsSchema>;

/**
 * Where approved jobs run. "local": each under a supervisor process on this machine. "slurm": each as a
 * batch job on a Slurm cluster whose nodes see `shared_dir` at the same path and have bubblewrap.
 */
const ExecutorSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("local") }).strict(),
  z
    .object({
      type: z.literal("slurm"),
      partition: z.string().regex(/^[A-Za-z0-9._-]+$/, "must be a Slurm partition name"),
      account: z
        .string()
        .regex(/^[A-Za-z0-9._-]+$/, "must be a Slurm account name")
        .optional(),
      /** A folder the submitting machine and every compute node see at this same absolute path. */
      shared_dir: z.string().refine((p) => p.startsWith("/"), "must be an absolute path"),
      cpus_per_task: z.number().int().min(1).max(1024).default(1),
      /** Node.js on the compute nodes; by default the one running the pass (the same path must exist there). */
      node: z.string().min(1).optional(),
      /** More sbatch options, e.g. ["--qos=short"]. */
      extra_args: z.array(z.string().regex(/^--?[A-Za-z]/, "must be an sbatch option like --qos=short")).default([]),
      /**
       * Seconds a job may wait in Slurm's queue (a busy cluster, a down or drained node) before the
       * pass cancels it and fails it with Slurm's reason; 0: no bound. Default: one day.
       */
      max_queue_wait: z.number().int().min(0).default(86_400),
    })
    .strict(),
]);
export type ExecutorConfig = z.infer<typeof ExecutorSchema>;

/** The rules of the disclosure check (lib/checks/); each can be made blocking by name. */
export const CHECK_RULES = [
  "file-type",
  "file-size",
  "not-checked",
  "small-count",
  "zero-count",
  "unrounded",
  "dominance-p",
  "dominance-nk",
  "row-count",
  "identifier-column",
  "identifier-values",
  "data-rows",
  "differencing",
  "not-synced",
  "ragged-rows",
  "recoverable",
  "narrow-bounds",
  "low-dof",
  "endpoint",
  "bin-edge",
  "rounded-count",
] as const;
export const CheckRule = z.enum(CHECK_RULES);

/** Safe by default: a finding of any of these holds the output until the owner decides (output_checks.blocking). */
export const DEFAULT_BLOCKING = [
  "file-type",
  "not-checked",
  "small-count",
  "dominance-p",
  "dominance-nk",
  "row-count",
  "identifier-column",
  "identifier-values",
  "data-rows",
  "differencing",
  "recoverable",
  "narrow-bounds",
  "low-dof",
  "endpoint",
] as const satisfies readonly (typeof CHECK_RULES)[number][];
export type CheckRule = z.infer<typeof CheckRule>;

const OutputChecksSchema = z
  .object({
    /** Counts below this (and above 0) in a frequency table are flagged. */
    min_count: z.number().int().min(1).default(10),
    /** When set, counts that are not a multiple of it are flagged as unrounded. */
    rounding: z.number().int().min(2).nullable().default(null),
    /** Rounding as a protection: in a table whose every count is a multiple of `rounding`, small counts are advice. */
    rounding_protects: z.boolean().default(false),
    /** A model (a regression, a correlation) with fewer residual degrees of freedom than this is flagged. */
    min_dof: z.number().int().min(1).default(10),
    /** Dominance: the rest of a total after its two largest contributions under p % of the largest, or the top n over k %. */
    dominance: z
      .object({
        p: z.number().min(0).max(100).default(10),
        n: z.number().int().min(1).max(10).default(2),
        k: z.number().min(1).max(100).default(85),
      })
      .strict()
      .prefault({}),
    /** A table with more rows than this looks like row-level data. */
    max_rows: z.number().int().min(1).default(5000),
    /** Output files bigger than this are flagged (and not parsed). */
    max_file_mb: z.number().int().min(1).default(100),
    allowed_types: z
      .array(z.string().regex(/^[a-z0-9]+$/, "must be a file extension without the dot, lower case"))
      .default(["csv", "tsv", "json", "txt", "md", "png", "pdf"]),
    /**
     * Rules whose findings block (reported as such): output with one is held for the owner's decision
     * even under release "auto". By default every rule that flags a disclosure risk, and output that
     * could not be checked; the rest (zero-count, unrounded, file-size, not-synced, ragged-rows) are advisory.
     */
    blocking: z.array(CheckRule).default([...DEFAULT_BLOCKING]),
  })
  .strict();
export type OutputChecks = z.infer<typeof OutputChecksSchema>;

export const NOTIFY_EVENTS = ["submitted", "pending_for_review", "approved", "completed", "failed", "released"] as const;
export const NotifyEvent = z.enum(NOTIFY_EVENTS);
export type NotifyEvent = z.infer<typeof NotifyEvent>;

/** Where notifications go: a webhook (JSON POST) or a local command (the event JSON on its stdin). */
export const NotifyTarget = z.union([
  z
    .object({
      url: z.url({ protocol: /^https?$/, error: "must be an http:// or https:// URL" }),
      events: z.array(NotifyEvent).optional(),
    })
    .strict(),
  z
    .object({
      command: z.array(z.string().min(1)).min(1, 'must name a program, e.g. ["/usr/local/bin/notify-me"]'),
      events: z.array(NotifyEvent).optional(),
    })
    .strict(),
]);
export type NotifyTarget = z.infer<typeof NotifyTarget>;

/**
 * A folder of data jobs may read, mounted read-only at $DATA_DIR/<name>: a path, or {path, mock, name}
 * where `mock` is a folder of made-up data of the same shape (what dry runs and requesters' `scq try`
 * see instead) and `name` the mount's name (default: the path's last part).
 */
export const DataPath = z.union([
  z.string().min(1),
  z
    .object({
      path: z.string().min(1),
      mock: z.string().min(1).optional(),
      name: z
        .string()
        .regex(/^[A-Za-z0-9_-][A-Za-z0-9._-]*$/, "must be a plain folder name (letters, digits, . _ -)")
        .optional(),
    })
    .strict(),
]);
export type DataPath = z.infer<typeof DataPath>;

/**
 * N-of-M approval: a job runs only when `required` distinct listed approvers voted to approve its
 * exact code and none voted to reject. Also what the owner publishes to their approvers (approvals.json).
 */
export const ApprovalsSchema = z
  .object({
    required: z.number().int().min(1),
    approvers: z.array(Email).min(1, "must list at least one approver's email"),
  })
  .strict()
  .refine((a) => new Set(a.approvers).size === a.approvers.length, { message: "must not list an approver twice", path: ["approvers"] })
  .refine((a) => a.required <= a.approvers.length, { message: "cannot be more than the number of approvers", path: ["required"] });
export type Approvals = z.infer<typeof ApprovalsSchema>;

/**
 * Independent output checkers (config output_checkers), as in a TRE's airlock: every file that would
 * leave needs `required` reviews by listed checkers (never its own requester), blind until that many
 * are in; only files they all approved may be released.
 */
export const OutputCheckersSchema = z
  .object({
    required: z.number().int().min(1).max(10).default(2),
    checkers: z.array(Email).min(1, "must list at least one output checker's email"),
  })
  .strict()
  .refine((c) => new Set(c.checkers).size === c.checkers.length, { message: "must not list a checker twice", path: ["checkers"] })
  .refine((c) => c.required <= c.checkers.length, { message: "cannot be more than the number of checkers", path: ["required"] });
export type OutputCheckers = z.infer<typeof OutputCheckersSchema>;

export const AppConfigSchema = z
  .object({
    $comment: z.string().optional(),
    queue_name: z
      .string()
      .regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, "must be lower-case letters, digits, - or _")
      .default("code-queue"),
    max_concurrent_jobs: z.number().int().min(1).max(64).default(2),
    // At most 7 days: longer runs belong on a cluster, and timers in node overflow past 24.8 days.
    job_timeout: z
      .number()
      .int()
      .min(1)
      .max(7 * 86_400)
      .default(600),
    cleanup_completed_after: z
      .number()
      .int()
      .min(60)
      .default(30 * 86_400),
    pending_expire_after: z
      .number()
      .int()
      .min(60)
      .default(14 * 86_400),
    /** How long a submission may stay incomplete (files still syncing, metadata half written) before intake rejects it. */
    intake_grace: z.number().int().min(0).default(600),
    /** Take in jobs that Python syft-code-queue clients write straight into jobs/pending/ (sender unverified). */
    accept_legacy_jobs: z.boolean().default(false),
    interval: z.number().int().min(1).max(86_400).default(10),
    /** "review": a finished job's output and logs wait in an owner-only folder until `scq release`. */
    release: z.enum(["auto", "review"]).default("auto"),
    sandbox: z
      .object({
        mode: SandboxMode.default("bwrap"),
        network: z.boolean().default(false),
        data_paths: z.array(DataPath).default([]),
      })
      .strict()
      .prefault({}),
    limits: LimitsSchema.prefault({}),
    executor: ExecutorSchema.default({ type: "local" }),
    output_checks: OutputChecksSchema.prefault({}),
    notify: z.array(NotifyTarget).default([]),
    /**
     * N-of-M approval: a job runs only when `required` distinct listed approvers voted to approve its
     * exact code and none voted to reject. Absent: the owner's own approve or reject decides.
     */
    approvals: ApprovalsSchema.optional(),
    /** Independent output checkers: finished jobs' output and logs are held until they have reviewed them (lib/disclosure/checkers.ts). */
    output_checkers: OutputCheckersSchema.optional(),
    /**
     * The review page under `run.sh --loop`: with serve, the loop keeps `scq ui` running on 127.0.0.1
     * at the port the SyftBox client assigned the app (SYFTBOX_ASSIGNED_PORT); its URL, with the token,
     * is written to an owner-only file, never to the environment or the log.
     */
    ui: z
      .object({ serve: z.boolean().default(false) })
      .strict()
      .prefault({}),
    // Read by the legacy Python SyftBox client, which schedules `command` every `interval` seconds.
    app: z.object({ run: z.object({ command: z.array(z.string()).min(1), interval: z.number().int().min(1) }) }).optional(),
  })
  .strict();
export type AppConfig = z.infer<typeof AppConfigSchema>;

// ---- SyftBox client config (~/.syftbox/config.json) ---------------------------------------------

export const ClientConfigSchema = z.looseObject({
  email: Email,
  data_dir: z.string().min(1),
});

// ---- what a requester writes into the owner's inbox ---------------------------------------------

export const SubmissionSchema = z.object({
  uid: Uid,
  name: JobName,
  requester_email: Email,
  target_email: Email,
  description: Description.default(""),
  tags: z.array(Tag).max(32).default([]),
  created_at: Timestamp,
  /** An earlier job of the same requester that this one revises (its owner asked for changes). */
  revises: Uid.nullable().default(null),
});
export type Submission = z.infer<typeof SubmissionSchema>;

/** The `submitted` marker, written last. Its manifest lets intake wait until every file has arrived. */
export const SubmittedMarkerSchema = z.looseObject({
  at: Timestamp.optional(),
  code_sha256: Sha256.optional(),
  files: z.number().int().min(0).optional(),
});

// ---- the job record: jobs/<status>/<uid>/metadata.json ------------------------------------------

/** A signature by a published key (lib/sign/): the key's id and the signature, base64. */
export const SignatureSchema = z.object({
  keyid: z.string().regex(/^sha256:[0-9a-f]{64}$/, "must be sha256:<64 hex digits>"),
  sig: z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, "must be base64"),
});
export type Signature = z.infer<typeof SignatureSchema>;

const DecisionSchema = z.object({ by: z.string(), reason: z.string(), at: Timestamp });

/** One approver's vote on a job, as the pass found it in decisions/<approver>/<uid>.json. */
export const VoteSchema = z.object({
  by: Email,
  decision: z.enum(["approve", "reject"]),
  reason: z.string(),
  at: Timestamp,
  code_sha256: Sha256,
  /** The approver's signature over the vote, as it came (votes from before signing have none). */
  signature: SignatureSchema.optional(),
});
export type Vote = z.infer<typeof VoteSchema>;

export const AppliedLimitsSchema = LimitsSchema.extend({ timeout_s: z.number(), cpu_seconds: z.number() });
export type AppliedLimits = z.infer<typeof AppliedLimitsSchema>;

export const RunRefSchema = z.discriminatedUnion("executor", [
  z.object({
    executor: z.literal("local"),
    /** Names the run's private folder (state/runs/<run_id>) and its stage. */
    run_id: z.string().regex(/^run-[A-Za-z0-9]+$/),
    pid: z.number().int().positive(),
    /** Kernel start time of the supervisor, so a reused pid is never taken for it. */
    pid_start: z.string(),
    host: z.string(),
  }),
  z.object({
    executor: z.literal("slurm"),
    run_id: z.string().regex(/^run-[A-Za-z0-9]+$/),
    job_id: z.string().regex(/^[0-9]+$/),
    partition: z.string(),
  }),
]);
export type RunRef = z.infer<typeof RunRefSchema>;

/** A record's time in memory: always with its zone (job-record.ts turns the naive times on disk into these). */
const RecordTime = Timestamp;

/** An owner's comment on one line of a job's code, for its requester (with "request changes"). */
export const LineCommentSchema = z.object({
  file: z.string().min(1).max(1024),
  line: z.number().int().positive(),
  text: z.string().trim().min(1).max(2000),
});
export type LineComment = z.infer<typeof LineCommentSchema>;

export const JobMetadataSchema = z.looseObject({
  uid: Uid,
  name: JobName,
  requester_email: Email,
  target_email: Email,
  description: z
    .string()
    .max(10_000)
    .nullish()
    .transform((d) => d ?? ""),
  tags: z.array(Tag).default([]),
  status: JobStatus,
  created_at: RecordTime,
  updated_at: RecordTime,
  started_at: RecordTime.nullable().default(null),
  completed_at: RecordTime.nullable().default(null),
  /** The Python client's CodeJob requires it: the job's code folder, relative to the job's folder. */
  code_folder: z.string().default("code"),
  /** How naive times written by a Python client were read: the zone they were written in, and how it was told. */
  time_zone: z
    .object({ offset_minutes: z.number().int(), source: z.enum(["file mtime", "assumed UTC"]) })
    .nullable()
    .default(null),
  exit_code: z.number().int().nullable().default(null),
  error_message: z.string().nullable().default(null),
  output_folder: z.string().nullable().default(null),
  code_sha256: Sha256.nullable().default(null),
  decision: DecisionSchema.nullable().default(null),
  /** With N-of-M approvals: each listed approver's latest vote, as the pass recorded it. */
  votes: z.array(VoteSchema).default([]),
  limits: AppliedLimitsSchema.nullable().default(null),
  sandbox: SandboxMode.nullable().default(null),
  duration_ms: z.number().int().nullable().default(null),
  timed_out: z.boolean().default(false),
  /** With release "review": "pending" while the owner has not released output and logs, then "released". */
  output_review: z.enum(["pending", "released"]).nullable().default(null),
  /** How to find the job's run while it runs: the local supervisor (pid, start time) or the Slurm job. */
  run: RunRefSchema.nullable().default(null),
  /** The owner's per-file decision on held output (`scq release`): what went to the requester, what was kept back and why. */
  output_decisions: z
    .object({
      by: z.string(),
      at: Timestamp,
      released: z.array(z.string()),
      withheld: z.array(z.object({ path: z.string(), reason: z.string() })),
      /** Why files with blocking findings were released anyway. */
      exception: z.string().nullable(),
      /** The job was returned to its requester with this comment: change the code and submit again (scq submit --revises). */
      changes_requested: z.string().nullable(),
      /** With changes requested: what the owner said on lines of the code. */
      line_comments: z.array(LineCommentSchema).default([]),
    })
    .nullable()
    .default(null),
  /** The earlier job this one revises (its owner asked for changes). */
  revises: Uid.nullable().default(null),
  /** What the disclosure check found in the output (details in output-checks.json beside it). */
  checks: z.object({ files: z.number().int(), findings: z.number().int(), blocking: z.number().int() }).nullable().default(null),
  /** The limits a finished run hit ("timeout", "memory", "output", "stdout cap", "stderr cap", "cancelled"). */
  limits_hit: z.array(z.string()).default([]),
  /** "unverified": written straight into jobs/pending/ by a Python syft-code-queue client, so nothing proves who sent it. */
  sender: z.enum(["verified", "unverified"]).default("verified"),
});
export type JobMetadata = z.infer<typeof JobMetadataSchema>;

// ---- a job as the Python syft-code-queue client writes it (pydantic CodeJob) --------------------------

export const LegacyJobSchema = z.looseObject({
  uid: Uid,
  name: JobName,
  requester_email: Email,
  target_email: Email,
  description: z
    .string()
    .max(10_000)
    .nullish()
    .transform((d) => d ?? ""),
  tags: z
    .array(Tag)
    .max(32)
    .nullish()
    .transform((t) => t ?? []),
  // Naive times are read in the zone they were written in before this schema sees them (job-record.ts).
  created_at: Timestamp,
});

// ---- decisions/<uid>.json -------------------------------------------------------------------------

const DECISIONS = ["approve", "reject"] as const;
export const DecisionMarkerSchema = z.object({
  uid: Uid,
  decision: z.enum(DECISIONS),
  reason: z.string().max(2000),
  by: z.string(),
  at: Timestamp,
  code_sha256: Sha256,
  /** An approver's vote: signed with the approver's own key (lib/sign/vote.ts). */
  signature: SignatureSchema.optional(),
});
export type DecisionMarker = z.infer<typeof DecisionMarkerSchema>;

// ---- inbox/<requester>/cancel/<uid>.json: a requester withdraws a job that has not run yet --------

export const CancelSchema = z.object({ uid: Uid, at: Timestamp, reason: z.string().max(2000).default("") });

// ---- process.lock -----------------------------------------------------------------------------------

export const LockSchema = z.object({
  pid: z.number().int().positive(),
  /** Kernel start time of the pid (clock ticks since boot), so a reused pid is not taken for the holder. */
  pid_start: z.string(),
  started_at: Timestamp,
});

// ---- audit.jsonl -----------------------------------------------------------------------------------

export const AUDIT_EVENTS = [
  "submitted",
  "intake-rejected",
  "approve-marker",
  "reject-marker",
  "approved",
  "rejected",
  "started",
  "completed",
  "failed",
  "expired",
  "cancelled",
  "released",
  "cleaned",
  "recovered",
  "returned",
  "rule-added",
  "rule-removed",
  "notified",
  "vote",
  "vote-ignored",
  "dry-run",
  "decision-withdrawn",
  "start-waits",
  "output-vote",
  "output-vote-ignored",
] as const;
export const AuditEventSchema = z.object({
  at: Timestamp,
  event: z.enum(AUDIT_EVENTS),
  uid: Uid.nullable(),
  by: z.string().nullable(),
  detail: z.record(z.string(), z.unknown()),
  prev: Sha256,
});
export type AuditEvent = z.infer<typeof AuditEventSchema>;

// ---- a run's private files: request.json (the pass → the supervisor), result.json (the supervisor → the pass) ----

export const RunRequestSchema = z.object({
  uid: Uid,
  name: JobName,
  mode: SandboxMode,
  network: z.boolean(),
  data_paths: z.array(DataPath),
  limits: AppliedLimitsSchema,
  /** The stage folder (code copy, output, home, tmp) the sandbox is built from. */
  stage: z.string(),
  /** Where logs/ go while the job runs: the job's own folder, its staging folder, or (Slurm) a folder the pass collects from. */
  results: z.string(),
  /**
   * Where output/ goes once the job has ended: always somewhere only the owner can read (the queue's
   * staging folder, or the Slurm run's folder), so nothing of it is released before it is checked.
   */
  output: z.string(),
  /**
   * How the supervisor learns that the pass recorded the run, before which it must not start the job:
   * "stdin" ("go" on its stdin; end of input means the caller died: a run the caller waits for) or
   * "go-file" (a file `go` beside this one, or `no-go`: local runs and Slurm).
   */
  gate: z.enum(["stdin", "go-file"]),
  /**
   * The process that started a local run, by pid and kernel start time: gone before it said go, it
   * died, and the run never starts. Null on Slurm, whose node cannot see it.
   */
  starter: z.object({ pid: z.number().int(), start: z.string() }).nullable().default(null),
  /** A file the supervisor touches when the run has ended, so a waiting `run.sh --loop` starts the next pass at once. */
  wake: z.string().nullable(),
});
export type RunRequest = z.infer<typeof RunRequestSchema>;

export const RunResultSchema = z.object({
  exitCode: z.number().int().nullable(),
  signal: z.string().nullable(),
  failed: z.boolean(),
  timedOut: z.boolean(),
  /** The job wrote more than limits.max_output_mb or more than limits.max_files files, or nested folders too deep. */
  outputLimitExceeded: z.boolean(),
  /** Which of those, in words (for the message). */
  outputLimitReason: z.string().nullable(),
  /** The job's processes together held more than limits.memory_mb. */
  memoryLimitExceeded: z.boolean(),
  /** It did not end when killed, and the supervisor stopped waiting for it. */
  abandoned: z.boolean(),
  /** Stopped on request (the supervisor got SIGTERM: a cancellation, scancel, a shutdown). */
  stopped: z.boolean(),
  durationMs: z.number().int(),
  stdoutTruncated: z.boolean(),
  stderrTruncated: z.boolean(),
  /** Files copied back into output/, and what was left behind (links, devices). */
  outputFiles: z.number().int(),
  outputSkipped: z.array(z.string()),
  message: z.string(),
});
export type RunResult = z.infer<typeof RunResultSchema>;

// ---- output/manifest.json: a requester's notes on each output file, shown beside the findings ----

export const OUTPUT_MANIFEST = "manifest.json";
export const OutputManifestSchema = z
  .object({
    files: z.record(
      z.string().max(1024),
      z
        .object({
          description: z.string().max(2000).optional(),
          /** Disclosure controls applied, e.g. "counts rounded to 5", "cells under 10 suppressed". */
          controls: z.array(z.string().max(500)).max(50).optional(),
          /** Shown to reviewers to explain other files (the data behind a figure, say), never released. */
          supporting: z.boolean().optional(),
        })
        .strict(),
    ),
  })
  .strict();

// ---- output-checks.json: what the disclosure check found in a finished job's output ---------------

const FindingSchema = z.object({
  rule: CheckRule,
  blocking: z.boolean(),
  /** 1-based data row (the header is row 0), when the finding is about one. */
  row: z.number().int().nullable(),
  column: z.string().nullable(),
  /** The value that triggered it, as text (cut to 200 characters). */
  value: z.string().nullable(),
  message: z.string(),
});
export type Finding = z.infer<typeof FindingSchema>;

export const ChecksReportSchema = z.object({
  checked_at: Timestamp,
  settings: OutputChecksSchema,
  files: z.array(
    z.object({
      path: z.string(),
      type: z.string(),
      bytes: z.number().int(),
      rows: z.number().int().nullable(),
      columns: z.number().int().nullable(),
      /** What the requester says the file is, and the controls they applied (from output/manifest.json). */
      description: z.string().nullable(),
      controls: z.array(z.string()),
      /** Marked supporting in output/manifest.json: for reviewers only, never released. */
      supporting: z.boolean().default(false),
      findings: z.array(FindingSchema),
    }),
  ),
});
export type ChecksReport = z.infer<typeof ChecksReportSchema>;

// ---- an output checker's review: output-votes/<checker>/<uid>.json, and what the pass shows them ----

export const OUTPUT_VOTES = ["approve", "request_changes", "undecided"] as const;
export const FileVoteSchema = z
  .object({
    vote: z.enum(OUTPUT_VOTES),
    comment: z.string().max(4000).default(""),
  })
  .strict();
export type FileVote = z.infer<typeof FileVoteSchema>;

/** What a checker writes: votes on some or all of a job's files (later votes on a file replace earlier ones). */
export const OutputVoteSchema = z
  .object({
    uid: Uid,
    files: z
      .record(z.string().min(1).max(1024), FileVoteSchema)
      .refine((f) => Object.keys(f).length > 0, "must vote on at least one file")
      .refine((f) => Object.keys(f).length <= 10_000, "votes on at most 10,000 files at once"),
    at: Timestamp,
  })
  .strict();
export type OutputVote = z.infer<typeof OutputVoteSchema>;

/** The votes recorded so far, per checker (owner-only, beside the held files). */
export const ReviewsSchema = z.record(Email, z.object({ files: z.record(z.string(), FileVoteSchema), at: Timestamp }));
export type Reviews = z.infer<typeof ReviewsSchema>;

export const FILE_DECISIONS = ["incomplete", "approved", "changes requested", "conflicted"] as const;
export type FileDecision = (typeof FILE_DECISIONS)[number];

/** One checker's view of a job under review (output-review/<uid>/for/<checker>.json): others' votes only once the reviews are in. */
export const ReviewViewSchema = z.object({
  uid: Uid,
  name: z.string(),
  requester: Email,
  required: z.number().int(),
  /** How many checkers have voted on every file. */
  reviews_in: z.number().int(),
  /** True until `required` reviews are in: others' votes and the decisions are hidden. */
  blind: z.boolean(),
  files: z.array(
    z.object({
      path: z.string(),
      supporting: z.boolean(),
      findings: z.number().int(),
      blocking: z.number().int(),
      mine: FileVoteSchema.nullable(),
      decision: z.enum(FILE_DECISIONS).nullable(),
      votes: z.array(FileVoteSchema.extend({ by: Email })).nullable(),
    }),
  ),
});
export type ReviewView = z.infer<typeof ReviewViewSchema>;
