// The requester's side: put a job into the owner's inbox. The folder is written in the order the
// intake expects: code/, metadata.json, and the `submitted` marker last, so a half-synced folder is
// never taken for a whole one.
import fs from "fs-extra";
import os from "node:os";
import path from "node:path";
import * as z from "zod";

import type { Context } from "../core/context.ts";
import { describeZodIssues, ScqError, UnsafeTreeError } from "../core/errors.ts";

import { ifExists, writeJsonAtomic } from "../core/fsutil.ts";

import { SUBMITTED_MARKER } from "../pass/intake.ts";

import { datasiteDir, queuePaths } from "../core/paths.ts";

import { uuidv7 } from "../core/uid.ts";
import type { SubmittedRecord } from "../proof/verify.ts";

import { Description, Email, JobName, Tag, type Submission } from "../core/schemas.ts";

import { neverSyncedName } from "../core/sync-ignore.ts";

import { checkJobCode, copyTreeHashed, type TreeEntry } from "../core/tree.ts";

const SubmitOptionsSchema = z.object({
  to: Email,
  folder: z.string().min(1),
  name: JobName,
  description: Description.default(""),
  tags: z.array(Tag).max(32).default([]),
  /** The uid of an earlier job this one revises. */
  revises: z.string().nullable().default(null),
});
export type SubmitOptions = z.input<typeof SubmitOptionsSchema>;

export interface Submitted {
  uid: string;
  /** The inbox folder written, in the owner's datasite. */
  dir: string;
  metadata: Submission;
  /** Files and folders of the code folder left out because SyftBox never syncs them ("__pycache__/", "run.log"). */
  left_out: string[];
}

function parseOptions<S extends z.ZodType>(schema: S, options: unknown): z.output<S> {
  const parsed = schema.safeParse(options);
  if (!parsed.success) throw new ScqError(`Invalid options: ${describeZodIssues(parsed.error).join("; ").replaceAll("field ", "--")}`);
  return parsed.data;
}

export async function writeSubmission(ctx: Context, options: SubmitOptions): Promise<Submitted> {
  const opts = parseOptions(SubmitOptionsSchema, options);
  const folder = path.resolve(opts.folder);
  const stat = await ifExists(fs.promises.stat(folder));
  if (!stat?.isDirectory()) throw new ScqError(`${opts.folder} is not a folder. Give the folder that holds your run.sh.`);
  const { limits } = ctx.config;
  // What SyftBox never syncs would never reach the owner, and the submission would wait for it for
  // ever: it is left out here, said, and not counted in the manifest.
  const left_out: string[] = [];
  let entries: TreeEntry[];
  try {
    entries = await checkJobCode(folder, limits, { leaveOut: neverSyncedName, onLeftOut: (rel) => left_out.push(rel) });
  } catch (error) {
    if (error instanceof UnsafeTreeError) {
      const hint = error.missingRunSh ? "; add one, or send a single script with scq submit-script" : "";
      throw new ScqError(`${opts.folder}: ${error.message}${hint}`);
    }
    throw error;
  }
  if (!(await fs.pathExists(datasiteDir(ctx.dataDir, opts.to)))) {
    throw new ScqError(`No datasite for ${opts.to} in ${path.join(ctx.dataDir, "datasites")}. Check the email; SyftBox may not have synced it yet.`);
  }
  const queue = queuePaths(ctx.dataDir, opts.to, ctx.config.queue_name);
  if (!(await fs.pathExists(queue.root))) {
    throw new ScqError(
      `${opts.to} does not run syft-code-queue (no app_data/${ctx.config.queue_name} in their datasite). ` +
        `Ask them to install it; if they just did, wait for SyftBox to sync and try again.`,
    );
  }
  const uid = uuidv7();
  const dir = path.join(queue.inbox, ctx.email, uid);
  fs.mkdirSync(dir, { recursive: true });
  const code_sha256 = await copyTreeHashed(folder, path.join(dir, "code"), entries);
  const metadata: Submission = {
    uid,
    name: opts.name,
    requester_email: ctx.email,
    target_email: opts.to,
    description: opts.description,
    tags: opts.tags,
    created_at: new Date().toISOString(),
    revises: opts.revises,
  };
  await writeJsonAtomic(path.join(dir, "metadata.json"), metadata);
  // Last, with a manifest of the code, so the owner's intake can tell when every file has synced.
  await writeJsonAtomic(path.join(dir, SUBMITTED_MARKER), {
    at: metadata.created_at,
    code_sha256,
    files: entries.filter((e) => e.type === "file").length,
  });
  // Kept here, in my private state: `scq verify` compares the code hash a signed result names with it.
  const mine = queuePaths(ctx.dataDir, ctx.email, ctx.config.queue_name);
  fs.mkdirSync(mine.submitted, { recursive: true, mode: 0o700 });
  await writeJsonAtomic(
    path.join(mine.submitted, `${uid}.json`),
    { uid, to: opts.to, code_sha256, at: metadata.created_at } satisfies SubmittedRecord,
    {
      mode: 0o600,
    },
  );
  return { uid, dir, metadata, left_out };
}

const INTERPRETERS: Record<string, string> = {
  ".py": "python3",
  ".sh": "bash",
  ".js": "node",
  ".mjs": "node",
  ".r": "Rscript",
  ".R": "Rscript",
};

const SubmitScriptOptionsSchema = z
  .object({
    to: Email,
    file: z.string().min(1).optional(),
    script: z.string().min(1).optional(),
    interpreter: z
      .string()
      .regex(/^[A-Za-z0-9._/-]+$/, "must be a program name like python3")
      .optional(),
    name: JobName.optional(),
    description: Description.default(""),
    tags: z.array(Tag).max(32).default([]),
  })
  .refine((o) => (o.file === undefined) !== (o.script === undefined), "give exactly one of --file or --script");
export type SubmitScriptOptions = z.input<typeof SubmitScriptOptionsSchema>;

/** Wrap one script into a job folder with a generated run.sh, then submit it. */
export async function writeScriptSubmission(ctx: Context, options: SubmitScriptOptions): Promise<Submitted> {
  const opts = parseOptions(SubmitScriptOptionsSchema, options);
  const tmp = await fs.promises.mkdtemp(path.join(os.tmpdir(), "scq-script-"));
  try {
    let scriptName = "script.sh";
    if (opts.file !== undefined) {
      const stat = await ifExists(fs.promises.lstat(opts.file));
      if (!stat?.isFile()) throw new ScqError(`${opts.file} is not a file`);
      scriptName = path.basename(opts.file);
      await fs.promises.copyFile(opts.file, path.join(tmp, scriptName));
    } else {
      await fs.promises.writeFile(path.join(tmp, scriptName), opts.script!);
    }
    const interpreter = opts.interpreter ?? INTERPRETERS[path.extname(scriptName)];
    if (!interpreter) throw new ScqError(`Cannot tell how to run ${scriptName}: pass --interpreter (e.g. python3)`);
    await fs.promises.writeFile(
      path.join(tmp, "run.sh"),
      `#!/bin/bash\n# Generated by scq submit-script.\nset -euo pipefail\nexec ${interpreter} ${JSON.stringify(scriptName)}\n`,
    );
    return await writeSubmission(ctx, { to: opts.to, folder: tmp, name: opts.name ?? scriptName, description: opts.description, tags: opts.tags });
  } finally {
    await fs.promises.rm(tmp, { recursive: true, force: true });
  }
}
