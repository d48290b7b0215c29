import type { CommandModule } from "yargs";
import { ownQueue } from "../core/context.ts";
import fs from "node:fs";
import { errorMessage, ScqError, UsageError } from "../core/errors.ts";
import { addRule, readRules, removeRule, type Rule } from "../approval/rules.ts";
import { contextFrom, print, table, type GlobalArgs } from "./shared.ts";

interface RulesArgs extends GlobalArgs {
  action: "add" | "list" | "remove";
  id?: string;
  from?: string;
  job?: string;
  expires?: string;
  "per-day"?: number;
  "params-schema"?: string;
}

function describe(r: Rule): string {
  const limits = [r.expires_at ? `until ${r.expires_at}` : "", r.per_day ? `${r.per_day} a day` : ""].filter(Boolean).join(", ");
  const what = r.params
    ? `the code of job ${r.from_job.slice(-8)} with any params.json its schema accepts`
    : `the code of job ${r.from_job.slice(-8)} (sha256 ${r.code_sha256.slice(0, 12)}…)`;
  return `${r.id}: ${r.requester} may run again ${what}, approved by ${r.reviewed_by}${limits ? `; ${limits}` : ""}`;
}

export const rulesCommand: CommandModule<GlobalArgs, RulesArgs> = {
  command: "rules <action> [id]",
  describe: "pinned auto-approval rules: add (from a job a person approved), list, remove",
  builder: (y) =>
    y
      .positional("action", { choices: ["add", "list", "remove"] as const, demandOption: true })
      .positional("id", { type: "string", describe: "the rule to remove" })
      .option("from", { type: "string", describe: "add: the requester the rule is for" })
      .option("job", { type: "string", describe: "add: the job whose reviewed code the rule pins" })
      .option("expires", { type: "string", describe: "add: when the rule stops approving (e.g. 2026-12-31)" })
      .option("per-day", { type: "number", describe: "add: most approvals by this rule in any 24 hours" })
      .option("params-schema", {
        type: "string",
        describe: "add: a JSON Schema file for params.json: the rule then approves the same code with any params.json it accepts",
      })
      .example("$0 rules add --from alice@uni.edu --job 3f2b8c1e --expires 2026-12-31 --per-day 5", "run that exact code again without review")
      .example("$0 rules add --from alice@uni.edu --job 3f2b8c1e --params-schema params.schema.json", "the same code with other parameters")
      .check((a) => {
        if (a.action === "add" && (!a.from || !a.job)) throw new UsageError("rules add needs --from and --job.");
        if (a.action === "remove" && !a.id) throw new UsageError("rules remove needs the rule's id (see scq rules list).");
        const perDay = a["per-day"];
        if (perDay !== undefined && (!Number.isInteger(perDay) || perDay < 1)) throw new UsageError("--per-day must be a whole number of 1 or more.");
        return true;
      }),
  handler: async (argv) => {
    const ctx = await contextFrom(argv);
    if (argv.action === "add") {
      const schemaFile = argv["params-schema"];
      const paramsSchema = schemaFile === undefined ? undefined : await readSchema(schemaFile);
      const rule = await addRule(ctx, { from: argv.from!, job: argv.job!, expires: argv.expires, perDay: argv["per-day"], paramsSchema });
      const same = rule.params ? "this code and a params.json the schema accepts" : "exactly this code";
      print(argv, rule, () => `Added ${describe(rule)}.\nA submission from ${rule.requester} with ${same} is approved at intake, naming the rule.`);
    } else if (argv.action === "remove") {
      const rule = await removeRule(ctx, argv.id!);
      print(argv, rule, () => `Removed ${rule.id}.`);
    } else {
      const rules = await readRules(ownQueue(ctx));
      print(argv, rules, () =>
        rules.length === 0
          ? "No rules. Add one with scq rules add --from <email> --job <uid>."
          : table(
              ["ID", "REQUESTER", "PINS JOB", "PARAMS", "APPROVED BY", "EXPIRES", "PER DAY", "USED (24 H)"],
              rules.map((r) => [
                r.id,
                r.requester,
                r.from_job.slice(-8),
                r.params ? "by schema" : "-",
                r.reviewed_by,
                r.expires_at ?? "never",
                r.per_day === null ? "-" : String(r.per_day),
                String(r.uses.filter((u) => Date.now() - Date.parse(u.at) < 86_400_000).length),
              ]),
            ),
      );
    }
  },
};

/** The JSON Schema file given to --params-schema, parsed (addRule checks it is a schema it can apply). */
async function readSchema(file: string): Promise<unknown> {
  const text = await fs.promises.readFile(file, "utf8").catch((error: NodeJS.ErrnoException) => {
    throw new ScqError(`--params-schema ${file}: ${error.code === "ENOENT" ? "no such file" : error.message}`);
  });
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new ScqError(`--params-schema ${file} is not JSON: ${errorMessage(error)}`);
  }
}
