import type { CommandModule } from "yargs";
import { readAudit, verifyAudit } from "../queue/audit.ts";
import { ownQueue } from "../core/context.ts";
import { matchUid } from "../queue/jobs.ts";
import { contextFrom, print, table, type GlobalArgs } from "./shared.ts";

interface Args extends GlobalArgs {
  action?: "verify";
  job?: string;
}

export const auditCommand: CommandModule<GlobalArgs, Args> = {
  command: "audit [action]",
  describe: "print the audit log, or check its hash chain with `scq audit verify`",
  builder: (y) =>
    y
      .positional("action", { choices: ["verify"] as const })
      .option("job", { type: "string", describe: "only events of this job (uid, or the 8 characters listings show)" }),
  handler: async (argv) => {
    const paths = ownQueue(await contextFrom(argv));
    if (argv.action === "verify") {
      const verdict = await verifyAudit(paths);
      print(argv, verdict, () =>
        [
          verdict.ok
            ? `audit log intact: ${verdict.lines} lines, hash chain unbroken from line 1` +
              (verdict.head
                ? ", and it ends where this machine's last append left it"
                : ". This machine has no record of where the log ended (a new machine, or the app's private state was removed): " +
                  "lines cut from its end cannot be told until the next append records it")
            : `audit log BROKEN at line ${verdict.brokenAt}: ${verdict.reason}`,
          // What an intact chain proves is said only of an intact one; its limit holds either way.
          (verdict.ok
            ? "This proves no line was changed, removed or inserted since it was written, as seen from this app's own records; it "
            : "It ") + "cannot prove anything against someone who can also write this app's private state (the owner's account).",
        ].join("\n"),
      );
      if (!verdict.ok) process.exitCode = 1;
      return;
    }
    const all = await readAudit(paths);
    // The same rule as every other command: the whole uid, or at least 4 characters of its start or end.
    const wanted = argv.job === undefined ? undefined : new Set(matchUid(argv.job, new Set(all.flatMap((e) => (e.uid ? [e.uid] : [])))));
    const events = all.filter((e) => !wanted || (e.uid !== null && wanted.has(e.uid)));
    print(argv, events, () =>
      table(
        ["AT", "EVENT", "JOB", "BY", "DETAIL"],
        events.map((e) => [e.at, e.event, e.uid?.slice(-8) ?? "", e.by ?? "", JSON.stringify(e.detail)]),
      ),
    );
  },
};
