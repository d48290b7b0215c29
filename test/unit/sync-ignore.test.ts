// What SyftBox never syncs, as its client's default ignore list applies: one path component anywhere,
// folders named with a trailing "/" in that list only as folders.
import { describe, expect, test } from "vitest";
import { neverSynced, neverSyncedName } from "../../lib/core/sync-ignore.ts";

describe("neverSynced", () => {
  test.each([
    "__pycache__/helper.cpython-311.pyc",
    "src/__pycache__/x.py",
    "model.pyc",
    ".venv/bin/python",
    "venv/lib/site.py",
    "dist/app.js",
    "logs/stdout.txt",
    "run.log",
    "out/debug.log",
    "cache.tmp",
    "report.syft.tmp.123",
    "data.conflict.20260101",
    "data.rejected.json",
    ".git/config",
    ".ipynb_checkpoints/a.ipynb",
    ".DS_Store",
    "sub/.vscode/settings.json",
    "syftignore",
  ])("%s never syncs", (rel) => {
    expect(neverSynced(rel)).toBe(true);
  });

  test.each([
    "run.sh",
    "run-logs/stdout.txt",
    "mylogs/a.txt",
    "logs",
    "dist",
    "catalog.py",
    "notes.logbook",
    "src/venvy.py",
    ".gitignore",
    "distance.csv",
  ])("%s syncs", (rel) => {
    expect(neverSynced(rel)).toBe(false);
  });

  test("a folder-only entry does not match a file of that name", () => {
    expect(neverSyncedName("logs", false)).toBe(false);
    expect(neverSyncedName("logs", true)).toBe(true);
    expect(neverSyncedName(".git", false)).toBe(true);
  });
});
