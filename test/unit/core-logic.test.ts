// Pure logic, no processes: the rules the rest of the queue is built on, each small enough to read
// beside its test (vote tallies, the table of states, naming a job, limits, listing order, findings).
import { describe, expect, test } from "vitest";
import { tally } from "../../lib/approval/votes.ts";
import type { Job } from "../../lib/core/job.ts";
import { AppConfigSchema, JobMetadataSchema, type RunResult } from "../../lib/core/schemas.ts";
import { uidTime, uuidv7 } from "../../lib/core/uid.ts";
import { tableFindings, differencingFindings } from "../../lib/disclosure/rules.ts";
import { matchUid } from "../../lib/queue/jobs.ts";
import { canTransition, TERMINAL_STATUSES } from "../../lib/queue/lifecycle.ts";
import { orderLine } from "../../lib/queue/listing.ts";
import { appliedLimits, limitsHit } from "../../lib/run/limits.ts";

const CODE = "a".repeat(64);
const OTHER = "b".repeat(64);
const at = "2026-01-01T00:00:00.000Z";

function job(votes: { by: string; decision: "approve" | "reject"; code?: string }[]): Job {
  const meta = JobMetadataSchema.parse({
    uid: uuidv7(),
    name: "x",
    requester_email: "req@x.org",
    target_email: "owner@x.org",
    created_at: at,
    updated_at: at,
    status: "pending",
    code_sha256: CODE,
    votes: votes.map((v) => ({ by: v.by, decision: v.decision, reason: "", at, code_sha256: v.code ?? CODE })),
  });
  return { status: "pending", uid: meta.uid, dir: "/nowhere", meta };
}

describe("N-of-M tally", () => {
  const approvals = { required: 2, approvers: ["a@x.org", "b@x.org", "c@x.org", "req@x.org"] };

  test("only listed approvers' votes for exactly this code count, and never the requester's", () => {
    const t = tally(
      job([
        { by: "a@x.org", decision: "approve" },
        { by: "b@x.org", decision: "approve", code: OTHER },
        { by: "req@x.org", decision: "approve" },
        { by: "stranger@x.org", decision: "approve" },
      ]),
      approvals,
    );
    expect(t.approvedBy).toEqual(["a@x.org"]);
    expect(t.needed).toBe(1);
    expect(t.waitingFor).toEqual(["b@x.org", "c@x.org"]);
    expect(t.unreachable).toBe(false);
  });

  test("one listed reject is a rejection; too few approvers besides the requester can never approve", () => {
    expect(tally(job([{ by: "c@x.org", decision: "reject" }]), approvals).rejectedBy?.by).toBe("c@x.org");
    expect(tally(job([]), { required: 2, approvers: ["a@x.org", "req@x.org"] }).unreachable).toBe(true);
  });
});

describe("the table of states", () => {
  test("a job is approved only from pending, runs only from approved, and nothing leaves a finished state", () => {
    expect(canTransition("pending", "approved")).toBe(true);
    expect(canTransition("approved", "running")).toBe(true);
    expect(canTransition("pending", "running")).toBe(false);
    expect(canTransition("rejected", "approved")).toBe(false);
    for (const done of TERMINAL_STATUSES) for (const to of ["pending", "approved", "running"] as const) expect(canTransition(done, to)).toBe(false);
  });
});

describe("naming a job", () => {
  const uids = ["019a0000-0000-7000-8000-00000000aaaa", "019a0000-0000-7000-8000-00000000bbbb"];

  test("the full uid, or an end of at least 4 characters; a start only past a v7 uid's time, or of a v4 uid", () => {
    expect(matchUid(uids[0]!, uids)).toEqual([uids[0]]);
    expect(matchUid("BBBB", uids)).toEqual([uids[1]]);
    expect(matchUid("bbb", uids)).toEqual([]);
    // The start of a v7 uid is its time: jobs of the same minute share it, so it names none of them.
    expect(matchUid("019a", uids)).toEqual([]);
    expect(matchUid("019a0000-0000-7", uids)).toEqual([]);
    expect(matchUid("019a0000-0000-7000-8000-00000000a", uids)).toEqual([uids[0]]);
    // A v4 uid's start is random: it may name it.
    expect(matchUid("3f2b8c1e", ["3f2b8c1e-0d4a-4c7b-9e21-5a6f7b8c9d0e"])).toEqual(["3f2b8c1e-0d4a-4c7b-9e21-5a6f7b8c9d0e"]);
  });
});

describe("limits", () => {
  test("the CPU budget defaults to the timeout on every core; the limits a run hit are named", () => {
    const limits = appliedLimits(AppConfigSchema.parse({ job_timeout: 30 }));
    expect(limits.timeout_s).toBe(30);
    expect(limits.cpu_seconds).toBeGreaterThanOrEqual(30);
    const hit = limitsHit({ timedOut: true, memoryLimitExceeded: false, outputLimitExceeded: true, stdoutTruncated: true } as RunResult);
    expect(hit).toEqual(["timeout", "output", "stdout cap"]);
  });
});

describe("listing order", () => {
  test("newest first by the time in the uid, ties by the uid itself", () => {
    // (uuidv7 never goes back in time within a process, so these are written out.)
    const v7 = (iso: string) => {
      const hex = Date.parse(iso).toString(16).padStart(12, "0");
      return `${hex.slice(0, 8)}-${hex.slice(8)}-7000-8000-000000000000`;
    };
    const older = v7("2026-01-01T00:00:00Z");
    const newer = v7("2026-01-02T00:00:00Z");
    expect(uidTime(older)).toBe(Date.parse("2026-01-01T00:00:00Z"));
    // Listings go newest first through order lines, which sort as strings oldest first.
    const line = (uid: string) => orderLine(uidTime(uid)!, uid);
    expect([line(newer), line(older)].sort().reverse()).toEqual([line(newer), line(older)]);
    expect([line(older), line(newer)].sort().reverse()).toEqual([line(newer), line(older)]);
    // Ties (one millisecond, a Python uid's record time) by the uid itself.
    const twin = `${older.slice(0, 24)}000000000001`;
    expect([orderLine(5, twin), orderLine(5, older)].sort()).toEqual([orderLine(5, older), orderLine(5, twin)]);
  });
});

describe("findings on a table", () => {
  const checks = AppConfigSchema.parse({}).output_checks;

  test("a small count is flagged with its row, column and value; a count at the threshold is not", () => {
    const found = tableFindings(
      {
        columns: ["group", "n"],
        rows: [
          ["a", "3"],
          ["b", String(checks.min_count)],
        ],
      },
      checks,
      new Map(),
    );
    expect(found.filter((f) => f.rule === "small-count")).toEqual([expect.objectContaining({ row: 1, column: "n", value: "3" })]);
  });

  test("a cell that differs by less than the threshold from a table released before is flagged", () => {
    const prior = { uid: uuidv7(), at, columns: ["group", "n"], rows: [["a", "100"]] };
    const found = differencingFindings({ columns: ["group", "n"], rows: [["a", "103"]] }, [prior], checks);
    expect(found).toEqual([expect.objectContaining({ rule: "differencing", row: 1, column: "n", value: "103" })]);
  });
});
