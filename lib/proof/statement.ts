// A signed statement per release: an in-toto Statement (v1) in a DSSE envelope, signed with the
// owner's key (keys.ts), written beside the released files in the job's folder, where SyftBox carries
// it to the requester. Its subjects are the released files with their SHA-256; its predicate says
// what produced them: the code's hash, how the code was approved, where and under which limits it ran,
// how it ended, the disclosure checks and their findings, the owner's release decision, the app's
// version and the head of the audit log at the release. `scq verify` (verify.ts) checks it offline.
import fs from "node:fs";
import path from "node:path";
import * as z from "zod";
import { ifExists, writeJsonAtomic } from "../core/fsutil.ts";
import type { Job } from "../core/job.ts";
import { SignatureSchema } from "../core/schemas.ts";
import { EXECUTION_LOG, LOGS_DIR } from "../core/log-files.ts";
import { CHECKS_FILE, type QueuePaths } from "../core/paths.ts";
import { walkTree } from "../core/tree.ts";
import { appVersion } from "../core/version.ts";
import { readHead } from "../queue/audit.ts";
import type { ReleaseFacts } from "../disclosure/release.ts";
import { readChecksReport } from "../disclosure/results.ts";
import { IN_TOTO_PAYLOAD_TYPE, signEnvelope } from "../sign/dsse.ts";
import { CRATE_FILE, MANIFEST_FILE, writeCrate } from "./crate.ts";
import { digestFiles, type Digest } from "./digest.ts";
import { ownerKey } from "../sign/keys.ts";

/** The statement's file in the job's folder. */
export const RESULT_STATEMENT = "result.dsse.json";
export const PREDICATE_TYPE = "urn:syft-code-queue:result:v1";

const Sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, "must be 64 hex digits");

export const ResultPredicateSchema = z.object({
  job: z.object({ uid: z.string(), name: z.string(), requester: z.string(), owner: z.string() }),
  code_sha256: Sha256Hex.nullable(),
  approval: z.object({
    /** A person's decision (or a rule's, named in `by`), as the record holds it. */
    decision: z.object({ by: z.string(), reason: z.string(), at: z.string() }).nullable(),
    /** With N-of-M approvals: each approver's vote. */
    votes: z.array(
      z.object({
        by: z.string(),
        decision: z.string(),
        reason: z.string(),
        at: z.string(),
        code_sha256: z.string(),
        /** The approver's own signature over the vote (lib/sign/vote.ts), checked against their published keys. */
        signature: SignatureSchema.optional(),
      }),
    ),
  }),
  run: z.object({
    status: z.string(),
    exit_code: z.number().nullable(),
    sandbox: z.string().nullable(),
    limits: z.record(z.string(), z.unknown()).nullable(),
    /** Where it ran: this machine (its host name) or a Slurm job. */
    executor: z
      .object({ type: z.enum(["local", "slurm"]), host: z.string().optional(), job_id: z.string().optional(), partition: z.string().optional() })
      .nullable(),
    started_at: z.string().nullable(),
    completed_at: z.string().nullable(),
    duration_ms: z.number().nullable(),
    limits_hit: z.array(z.string()),
  }),
  checks: z
    .array(z.object({ path: z.string(), findings: z.array(z.object({ rule: z.string(), blocking: z.boolean(), message: z.string() })) }))
    .nullable(),
  release: z.object({
    /** "auto": the checks allowed it (release "auto"); else the owner who released it. */
    by: z.string(),
    at: z.string(),
    withheld: z.array(z.object({ path: z.string(), reason: z.string() })),
    exception: z.string().nullable(),
  }),
  audit_head: z.object({ lines: z.number(), last: z.string() }).nullable(),
  app_version: z.string(),
});
export type ResultPredicate = z.infer<typeof ResultPredicateSchema>;

export const ResultStatementSchema = z.object({
  _type: z.literal("https://in-toto.io/Statement/v1"),
  subject: z.array(z.object({ name: z.string(), digest: z.object({ sha256: Sha256Hex }) })),
  predicateType: z.literal(PREDICATE_TYPE),
  predicate: ResultPredicateSchema,
});
export type ResultStatement = z.infer<typeof ResultStatementSchema>;

/** The released files in a job's folder, by their paths in it (the logs' folder, output/, the checks report, the crate and its manifest), empty ones aside. */
export async function releasedFiles(jobDir: string): Promise<string[]> {
  // Empty files say nothing, and SyftBox never carries them to the requester: they are not named.
  const files: string[] = [];
  for (const folder of ["output", LOGS_DIR]) {
    for (const e of (await ifExists(walkTree(path.join(jobDir, folder), { anyName: true }))) ?? []) {
      if (e.type === "file" && e.size > 0) files.push(`${folder}/${e.rel}`);
    }
  }
  for (const file of [EXECUTION_LOG, CHECKS_FILE, CRATE_FILE, MANIFEST_FILE]) {
    if ((fs.statSync(path.join(jobDir, file), { throwIfNoEntry: false })?.size ?? 0) > 0) files.push(file);
  }
  return files.sort();
}

/**
 * Sign, with the owner's key, what `job` (its record as it stands after this release) has released
 * into its folder, and write the envelope there. `release`: who released it and what they held back.
 */
export async function signRelease(paths: QueuePaths, job: Job, release: ReleaseFacts): Promise<void> {
  const key = await ownerKey(paths);
  // The released files, each read once; the crate and its manifest, which describe them, are signed with them.
  const payload = (await releasedFiles(job.dir)).filter((f) => f !== CRATE_FILE && f !== MANIFEST_FILE);
  const digests = await digestFiles(job.dir, payload);
  const described = await writeCrate(job, digests, release);
  const subject = [...payload.map((name): [string, Digest | undefined] => [name, digests.get(name)]), ...described]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([name, digest]) => {
      if (!digest) throw new Error(`${name} was released but is gone from ${job.dir}`);
      return { name, digest: { sha256: digest.sha256 } };
    });
  const m = job.meta;
  const report = await readChecksReport(job.dir);
  const run = m.run;
  const statement: ResultStatement = {
    _type: "https://in-toto.io/Statement/v1",
    subject,
    predicateType: PREDICATE_TYPE,
    predicate: {
      job: { uid: m.uid, name: m.name, requester: m.requester_email, owner: m.target_email },
      code_sha256: m.code_sha256,
      approval: { decision: m.decision, votes: m.votes },
      run: {
        status: job.status,
        exit_code: m.exit_code,
        sandbox: m.sandbox,
        limits: m.limits,
        executor: run
          ? run.executor === "local"
            ? { type: "local", host: run.host }
            : { type: "slurm", job_id: run.job_id, partition: run.partition }
          : null,
        started_at: m.started_at,
        completed_at: m.completed_at,
        duration_ms: m.duration_ms,
        limits_hit: m.limits_hit,
      },
      checks: report
        ? report.files.map((f) => ({ path: f.path, findings: f.findings.map((x) => ({ rule: x.rule, blocking: x.blocking, message: x.message })) }))
        : null,
      release,
      audit_head: (await readHead(paths)) ?? null,
      app_version: appVersion(),
    },
  };
  const envelope = signEnvelope(IN_TOTO_PAYLOAD_TYPE, Buffer.from(JSON.stringify(statement)), key);
  await writeJsonAtomic(path.join(job.dir, RESULT_STATEMENT), envelope);
}
