// Reading job records: one read before is answered from memory only while the file's bytes are the
// same, so an edit made in place at once (same inode, size and timestamp tick) is still seen.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect, test } from "vitest";
import { jobDir, queuePaths } from "../../lib/core/paths.ts";
import { JobMetadataSchema } from "../../lib/core/schemas.ts";
import { uuidv7 } from "../../lib/core/uid.ts";
import { readJob, recordToDisk } from "../../lib/queue/job-record.ts";

test("a record edited in place at once is read anew, an answer is a copy, and a record made a link is refused", async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "scq-records-"));
  const paths = queuePaths(root, "owner@example.org", "code-queue");
  const uid = uuidv7();
  const file = path.join(jobDir(paths, "pending", uid), "metadata.json");
  const at = new Date().toISOString();
  const meta = JobMetadataSchema.parse({
    uid,
    name: "aaaa",
    requester_email: "ds@example.org",
    target_email: "owner@example.org",
    status: "pending",
    created_at: at,
    updated_at: at,
  });
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(recordToDisk(meta)));

  const first = await readJob(paths, "pending", uid);
  expect(first.meta.name).toBe("aaaa");
  first.meta.name = "changed by a caller";
  expect((await readJob(paths, "pending", uid)).meta.name).toBe("aaaa");

  // Same inode, same size, written straight after the read: only the bytes differ.
  const text = fs.readFileSync(file, "utf8");
  const fd = fs.openSync(file, "r+");
  fs.writeSync(fd, text.replace('"name":"aaaa"', '"name":"bbbb"'), 0);
  fs.closeSync(fd);
  expect((await readJob(paths, "pending", uid)).meta.name).toBe("bbbb");

  // The same bytes behind a link: refused, whatever was read before.
  fs.renameSync(file, path.join(root, "elsewhere.json"));
  fs.symlinkSync(path.join(root, "elsewhere.json"), file);
  await expect(readJob(paths, "pending", uid)).rejects.toThrow(/symbolic link/);
  fs.rmSync(root, { recursive: true, force: true });
});
