// An example of automation outside the product: approve pending jobs by your own rules, through the
// same CLI a person uses, reading its --json output. Here the rules are: the requester is on an
// allow-list, and the advisory scan found nothing in the code. Everything else is left for a human.
//
//   npx tsx examples/auto_approve_bot.ts --allow alice@uni.edu --allow bob@lab.org [scq options...]
//
// Run it from cron next to run.sh; every approval it makes is in the audit log with its reason.
import { execa } from "execa";
import path from "node:path";
import { fileURLToPath } from "node:url";

const scq = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "scripts", "scq.sh");

const allow: string[] = [];
const passthrough: string[] = [];
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i += 1) {
  if (args[i] === "--allow" && args[i + 1]) allow.push(args[++i]!);
  else passthrough.push(args[i]!);
}
if (allow.length === 0) {
  console.error("usage: auto_approve_bot.ts --allow EMAIL [--allow EMAIL ...] [scq options such as --data-dir, --email]");
  process.exit(2);
}

async function scqJson<T>(...command: string[]): Promise<T> {
  const { stdout } = await execa(scq, [...command, "--json", ...passthrough]);
  return JSON.parse(stdout) as T;
}

const pending = await scqJson<{ uid: string; name: string; requester_email: string }[]>("pending");
for (const job of pending) {
  if (!allow.includes(job.requester_email)) {
    console.log(`${job.uid.slice(-8)} left for review: ${job.requester_email} is not on the allow-list`);
    continue;
  }
  type Review = {
    findings: { file: string; line: number; rule: string }[];
    not_scanned: { file: string }[];
    not_shown: { file: string }[];
    code_sha256: string;
  };
  const review = await scqJson<Review>("review", job.uid);
  // A file the scan could not read, or nobody could read in full, is not code the scan passed.
  const unread = [...review.not_scanned, ...review.not_shown].map((n) => n.file);
  if (unread.length > 0) {
    console.log(`${job.uid.slice(-8)} left for review: not scanned or not shown in full: ${unread.join(", ")}`);
    continue;
  }
  if (review.findings.length > 0) {
    const first = review.findings[0]!;
    console.log(`${job.uid.slice(-8)} left for review: ${review.findings.length} finding(s), e.g. ${first.file}:${first.line} ${first.rule}`);
    continue;
  }
  // --sha: the approval covers exactly the code the scan read, not whatever is there a moment later.
  await scqJson(
    "approve",
    job.uid,
    "--sha",
    review.code_sha256,
    "-r",
    `auto-approved: ${job.requester_email} is allow-listed and the scan found nothing`,
  );
  console.log(`${job.uid.slice(-8)} approved ("${job.name}" from ${job.requester_email})`);
}
