import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect, test } from "vitest";
import type { QueuePaths } from "../../lib/core/paths.ts";
import { queueHistory } from "../../lib/queue/history.ts";

test("the queue by day from the audit log: waiting at each day's end, arrivals, decisions and their median wait", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "scq-history-"));
  const audit = path.join(dir, "audit.jsonl");
  const line = (at: string, event: string, uid: string) => JSON.stringify({ at, event, uid, by: "x", detail: {}, prev: "0" });
  fs.writeFileSync(
    audit,
    [
      line("2026-11-20T10:00:00.000Z", "submitted", "a"), // before the window: still waiting when it opens
      line("2026-12-02T09:00:00.000Z", "submitted", "b"),
      line("2026-12-02T09:30:00.000Z", "started", "b"), // not an arrival or a decision
      line("2026-12-02T10:00:00.000Z", "approved", "b"), // waited 60 min
      line("2026-12-02T11:00:00.000Z", "submitted", "c"),
      "{ a line cut short by a crash",
      line("2026-12-03T11:30:00.000Z", "rejected", "c"), // waited 1470 min
      line("2026-12-03T12:00:00.000Z", "cancelled", "a"),
      line("2026-12-04T08:00:00.000Z", "submitted", "d"),
      "",
    ].join("\n"),
  );
  const days = await queueHistory({ audit } as QueuePaths, 4, new Date("2026-12-04T18:00:00Z"));
  expect(days).toEqual([
    { day: "2026-12-01", submitted: 0, decided: 0, waiting: 1, median_wait_minutes: null },
    { day: "2026-12-02", submitted: 2, decided: 1, waiting: 2, median_wait_minutes: 60 },
    {
      day: "2026-12-03",
      submitted: 0,
      decided: 2,
      waiting: 0,
      median_wait_minutes: (1470 + (Date.parse("2026-12-03T12:00:00Z") - Date.parse("2026-11-20T10:00:00Z")) / 60000) / 2,
    },
    { day: "2026-12-04", submitted: 1, decided: 0, waiting: 1, median_wait_minutes: null },
  ]);
  // No log yet: empty days, not an error.
  expect(
    (await queueHistory({ audit: path.join(dir, "none.jsonl") } as QueuePaths, 2, new Date("2026-12-04T18:00:00Z"))).map((d) => d.waiting),
  ).toEqual([0, 0]);
});
