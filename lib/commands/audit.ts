import { readAudit, verifyAudit, type AuditVerdict } from "../queue/audit.ts";
import type { AuditEvent } from "../core/schemas.ts";
import { ownQueue } from "../core/context.ts";
import { matchUid } from "../queue/jobs.ts";
import { cliCommand, table, type Command, type GlobalArgs } from "./shared.ts";

interface Args extends GlobalArgs {
  action?: "verify";
  job?: string;
}

type AuditData = { verdict: AuditVerdict } | { events: AuditEvent[] };

export const audit: Command<Args, AuditData> = {
  command: "audit [action]",
  describe: "print the audit log, or check its hash chain with `scq audit verify`",
  builder: (y) =>
    y
      .positional("action", { choices: ["verify"] as const })
      .option("job", { type: "string", describe: "only events of this job (uid, or the 8 characters listings show)" }),
  run: async (ctx, argv) => {
    const paths = ownQueue(ctx);
    if (argv.action === "verify") return { verdict: await verifyAudit(paths) };
    const all = await readAudit(paths);
    // The same rule as every other command: the whole uid, or at least 4 characters of its start or end.
    const wanted = argv.job === undefined ? undefined : new Set(matchUid(argv.job, new Set(all.flatMap((e) => (e.uid ? [e.uid] : [])))));
    return { events: all.filter((e) => !wanted || (e.uid !== null && wanted.has(e.uid))) };
  },
  render: (data) => {
    if ("events" in data) {
      return table(
        ["AT", "EVENT", "JOB", "BY", "DETAIL"],
        data.events.map((e) => [e.at, e.event, e.uid?.slice(-8) ?? "", e.by ?? "", JSON.stringify(e.detail)]),
      );
    }
    const { verdict } = data;
    return [
      verdict.ok
        ? `audit log intact: ${verdict.lines} lines, hash chain unbroken from line 1` +
          (verdict.head && verdict.head.lines < verdict.lines
            ? `, and it goes on from line ${verdict.head.lines}, where this machine last recorded its end: a pass stopped between an append ` +
              "and recording it; the next append records the end"
            : verdict.head
              ? ", and it ends where this machine's last append left it"
              : ". This machine has no record of where the log ended (a new machine, or the app's private state was removed): " +
                "lines cut from its end cannot be told until the next append records it")
        : `audit log BROKEN at line ${verdict.brokenAt}: ${verdict.reason}`,
      // What an intact chain proves is said only of an intact one; its limit holds either way.
      (verdict.ok ? "This proves no line was changed, removed or inserted since it was written, as seen from this app's own records; it " : "It ") +
        "cannot prove anything against someone who can also write this app's private state (the owner's account).",
    ].join("\n");
  },
  json: (data) => ("events" in data ? data.events : data.verdict),
  failed: (data) => "verdict" in data && !data.verdict.ok,
};

export const auditCommand = cliCommand(audit);
