// Who am I and where is the data: the SyftBox client config, overridable by flags.
// Every library function takes a Context so tests and other apps can call it directly.
import * as z from "zod";
import path from "node:path";
import { ConfigError, describeZodIssues, InvalidFileError } from "./errors.ts";
import { exists, readJsonFile } from "./fsutil.ts";
import { datasiteDir, DEFAULT_APP_CONFIG, defaultClientConfigPath, queuePaths, type QueuePaths } from "./paths.ts";
import { AppConfigSchema, ClientConfigSchema, Email, type AppConfig } from "./schemas.ts";
import { settingsInForce, type Settings } from "./settings.ts";

export interface Context {
  /** SyftBox data_dir: holds datasites/<email>/. */
  dataDir: string;
  /** The user running this: the owner for the pass and approvals, the requester for submit. */
  email: string;
  config: AppConfig;
  /** Which settings file `config` came from; absent when a caller built the context by hand. */
  settings?: Settings;
  /**
   * Whose queue the reviewing commands (pending, review, approve, reject, the page) work on: another
   * owner's, for a listed approver of theirs; absent or your own email: your own queue.
   */
  datasite?: string | undefined;
}

export interface ContextOptions {
  dataDir?: string | undefined;
  email?: string | undefined;
  /** SyftBox client config file; default $SYFTBOX_CLIENT_CONFIG_PATH or ~/.syftbox/config.json. */
  clientConfig?: string | undefined;
  /** App settings file; default $SCQ_APP_CONFIG or config.json in the app folder. */
  appConfig?: string | undefined;
  /** Review another owner's queue, as one of their listed approvers. */
  datasite?: string | undefined;
}

const DEMO_HINT = "To try it without SyftBox, run ./run.sh --demo";

export async function resolveContext(options: ContextOptions = {}): Promise<Context> {
  const { config, settings } = await loadAppConfig(options.appConfig);
  let { dataDir, email } = options;
  if (dataDir === undefined || email === undefined) {
    const file = options.clientConfig ?? defaultClientConfigPath();
    if (!(await exists(file))) {
      throw new ConfigError(
        `No SyftBox client config at ${file}. Install and log in to SyftBox, set SYFTBOX_CLIENT_CONFIG_PATH, ` +
          `or pass --data-dir and --email. ${DEMO_HINT}`,
      );
    }
    const client = await readConfig(file, ClientConfigSchema, "Fix the SyftBox client config or log in again");
    dataDir ??= client.data_dir;
    email ??= client.email;
  }
  const parsedEmail = Email.safeParse(email);
  if (!parsedEmail.success) throw new ConfigError(`"${email}" is not an email address (from --email or the client config)`);
  if (!(await exists(dataDir))) {
    throw new ConfigError(`The SyftBox data folder ${dataDir} does not exist. Check data_dir in the client config or --data-dir.`);
  }
  let datasite: string | undefined;
  if (options.datasite !== undefined) {
    const parsed = Email.safeParse(options.datasite);
    if (!parsed.success) throw new ConfigError(`--datasite "${options.datasite}" is not an email address: give the data owner's email.`);
    if (parsed.data !== parsedEmail.data) {
      datasite = parsed.data;
      if (!(await exists(datasiteDir(dataDir, datasite)))) {
        throw new ConfigError(`No datasite for ${datasite} in ${path.join(dataDir, "datasites")}: has SyftBox synced it yet? Check the email.`);
      }
    }
  }
  return { dataDir: path.resolve(dataDir), email: parsedEmail.data, config, settings, datasite };
}

/**
 * The app settings: the file named by --app-config or $SCQ_APP_CONFIG (which must exist), else
 * config.json in the app folder. Only that default file may be missing, and then the built-in
 * defaults apply and `settings.file` is null, so every caller can say so rather than hide it.
 * Beside it, an owner's own `<name>.local.json` (config.local.json; untracked) wins field by field, so
 * an upgrade of the app (git pull, a reinstall) that brings a new config.json keeps their settings.
 */
/** The owner's own settings file beside `file`: config.json → config.local.json. */
export const localSettingsFile = (file: string): string => file.replace(/(\.json)?$/, ".local.json");

async function loadAppConfig(appConfig?: string): Promise<{ config: AppConfig; settings: Settings }> {
  // An empty --app-config or $SCQ_APP_CONFIG names no file.
  const named = appConfig || process.env.SCQ_APP_CONFIG || undefined;
  const file = path.resolve(named ?? DEFAULT_APP_CONFIG);
  const local = localSettingsFile(file);
  const [base, mine] = [(await exists(file)) ? file : undefined, (await exists(local)) ? local : undefined];
  if (!base && named !== undefined) throw new ConfigError(`App config ${file} does not exist`);
  if (!base && !mine) {
    const config = AppConfigSchema.parse({});
    return { config, settings: settingsInForce(config, null, file) };
  }
  if (!mine) {
    const config = await readConfig(file, AppConfigSchema, "Fix it (see the config reference in README.md); nothing was changed");
    return { config, settings: settingsInForce(config, file, file) };
  }
  const read = (f: string) => readConfig(f, JsonObject, "It must be one JSON object of settings (see the config reference in README.md)");
  const merged = overlay(base ? await read(base) : {}, await read(mine));
  const parsed = AppConfigSchema.safeParse(merged);
  const both = base ? `${base} with ${mine} over it` : mine;
  if (!parsed.success) {
    throw new ConfigError(
      `Invalid settings in ${both}: ${describeZodIssues(parsed.error).join("; ")}. Fix it (see the config reference in README.md); nothing was changed.`,
    );
  }
  return { config: parsed.data, settings: settingsInForce(parsed.data, both, file) };
}

const JsonObject = z.record(z.string(), z.unknown());

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** `over` on top of `under`: objects merge field by field, anything else (arrays too) is replaced whole. */
function overlay(under: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...under };
  for (const [key, value] of Object.entries(over)) {
    const below = out[key];
    out[key] = isObject(value) && isObject(below) ? overlay(below, value) : value;
  }
  return out;
}

async function readConfig<S extends z.ZodType>(file: string, schema: S, hint: string): Promise<z.output<S>> {
  try {
    return await readJsonFile(file, schema, hint);
  } catch (error) {
    if (error instanceof InvalidFileError) throw new ConfigError(error.message, { cause: error });
    throw error;
  }
}

/** The queue of the user in the context: the owner's view. */
export function ownQueue(ctx: Context): QueuePaths {
  return queuePaths(ctx.dataDir, ctx.email, ctx.config.queue_name);
}

/** The queue the reviewing commands work on: another owner's with --datasite (as their approver), else your own. */
export function reviewedQueue(ctx: Context): QueuePaths {
  return queuePaths(ctx.dataDir, ctx.datasite ?? ctx.email, ctx.config.queue_name);
}

/** Reviewing someone else's queue, as one of their approvers: the owner's own powers do not apply. */
export function reviewsForAnother(ctx: Context): boolean {
  return ctx.datasite !== undefined && ctx.datasite !== ctx.email;
}
