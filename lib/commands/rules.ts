import type { CommandModule } from "yargs";
import { ownQueue } from "../context.ts";
import { UsageError } from "../errors.ts";
import { addRule, readRules, removeRule, type Rule } from "../rules.ts";
import { contextFrom, print, table, type GlobalArgs } from "./shared.ts";

interface RulesArgs extends GlobalArgs {
  action: "add" | "list" | "remove";
  id?: string;
  from?: string;
  job?: string;
  expires?: string;
  "per-day"?: number;
}

function describe(r: Rule): string {
  const limits = [r.expires_at ? `until ${r.expires_at}` : "", r.per_day ? `${r.per_day} a day` : ""].filter(Boolean).join(", ");
  return `${r.id}: ${r.requester} may run again the code of job ${r.from_job.slice(-8)} (sha256 ${r.code_sha256.slice(0, 12)}…), approved by ${r.reviewed_by}${limits ? `; ${limits}` : ""}`;
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
      .example("$0 rules add --from alice@uni.edu --job 3f2b8c1e --expires 2026-12-31 --per-day 5", "run that exact code again without review")
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
      const rule = await addRule(ctx, { from: argv.from!, job: argv.job!, expires: argv.expires, perDay: argv["per-day"] });
      print(
        argv,
        rule,
        () => `Added ${describe(rule)}.\nA submission from ${rule.requester} with exactly this code is approved at intake, naming the rule.`,
      );
    } else if (argv.action === "remove") {
      const rule = await removeRule(ctx, argv.id!);
      print(argv, rule, () => `Removed ${rule.id}.`);
    } else {
      const rules = await readRules(ownQueue(ctx));
      print(argv, rules, () =>
        rules.length === 0
          ? "No rules. Add one with scq rules add --from <email> --job <uid>."
          : table(
              ["ID", "REQUESTER", "PINS JOB", "APPROVED BY", "EXPIRES", "PER DAY", "USED (24 H)"],
              rules.map((r) => [
                r.id,
                r.requester,
                r.from_job.slice(-8),
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
