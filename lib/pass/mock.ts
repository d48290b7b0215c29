// Publishing the owner's mock data: each data path's `mock` folder (config.json sandbox.data_paths) is
// copied, by the pass, into a public folder of the owner's datasite, public/<queue name>/mock/<name>/,
// with a manifest.json naming the mocks and the limits and network setting jobs get, so requesters can
// `scq try` their code against it before they submit. Copied only when something changed (one hash of
// the mock folders' names, sizes and change times each pass: no file is read unless one changed), each
// mock replaced in one rename; unpublished when no mock is configured.
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import * as z from "zod";
import { errorMessage } from "../core/errors.ts";
import { ifExists, writeFileAtomic, writeJsonAtomic } from "../core/fsutil.ts";
import { now } from "../queue/lifecycle.ts";
import type { Log } from "../core/log.ts";
import type { QueuePaths } from "../core/paths.ts";
import { removeTree } from "../core/remove.ts";
import { appliedLimits } from "../run/limits.ts";
import { dataMounts, MOCK_CAPS } from "../core/data-paths.ts";
import { AppliedLimitsSchema, Timestamp, type AppConfig } from "../core/schemas.ts";
import { copyTreeHashed, walkTree } from "../core/tree.ts";
import { expected } from "../core/expected.ts";

export const MockManifestSchema = z.object({
  owner: z.string(),
  published_at: Timestamp,
  mocks: z.array(z.object({ name: z.string().regex(/^[A-Za-z0-9_-][A-Za-z0-9._-]*$/), files: z.number().int(), bytes: z.number().int() })),
  network: z.boolean(),
  /** The limits jobs get on the real data; fields a newer app adds are ignored. */
  limits: AppliedLimitsSchema.partial().strip(),
});
type MockManifest = z.infer<typeof MockManifestSchema>;

/** Where an owner's app publishes its mock data: a public folder of their datasite. */
export function mockFolder(datasite: string, queueName: string): string {
  return path.join(datasite, "public", queueName, "mock");
}

/** The pass's step. Trouble with a mock folder is said in the log and never stops the pass. */
export async function publishMocks(paths: QueuePaths, config: AppConfig, log: Log): Promise<void> {
  const datasite = path.dirname(path.dirname(paths.root));
  const publicDir = path.dirname(mockFolder(datasite, config.queue_name));
  const dest = mockFolder(datasite, config.queue_name);
  const stateFile = path.join(paths.state, "mock-published.json");
  const mocks = dataMounts(config.sandbox.data_paths).filter((m) => m.mock !== null);
  if (mocks.length === 0) {
    if (await ifExists(fs.promises.lstat(dest))) {
      await removeTree(dest);
      fs.rmSync(stateFile, { force: true });
      log(`mock data: unpublished (no data path has a "mock" any more): ${dest} removed`);
    }
    return;
  }
  try {
    const limits = appliedLimits(config);
    const signature = createHash("sha256");
    const listed: MockManifest["mocks"] = [];
    for (const m of mocks) {
      const entries = await walkTree(m.mock!, MOCK_CAPS);
      // Any write or replacement changes a file's ctime: that, not its content, tells a pass to copy again.
      for (const e of entries) {
        const { ctimeMs } = await fs.promises.lstat(path.join(m.mock!, e.rel));
        signature.update(`${m.target}/${e.rel}\0${e.type}\0${e.size}\0${ctimeMs}\n`);
      }
      listed.push({ name: m.target, files: entries.filter((e) => e.type === "file").length, bytes: entries.reduce((n, e) => n + e.size, 0) });
    }
    signature.update(JSON.stringify([config.sandbox.network, limits]));
    const digest = signature.digest("hex");
    if ((await ifExists(fs.promises.readFile(stateFile, "utf8"))) === digest && (await ifExists(fs.promises.lstat(dest)))) return;
    fs.mkdirSync(dest, { recursive: true });
    for (const m of mocks) {
      const fresh = path.join(dest, `.${m.target}.new`);
      await removeTree(fresh);
      await copyTreeHashed(m.mock!, fresh);
      const old = path.join(dest, `.${m.target}.old`);
      await removeTree(old);
      await fs.promises.rename(path.join(dest, m.target), old).catch(expected("no earlier mock to move aside"));
      fs.renameSync(fresh, path.join(dest, m.target));
      await removeTree(old);
    }
    // Mocks no longer configured go.
    for (const name of await fs.promises.readdir(dest)) {
      if (name !== "manifest.json" && !mocks.some((m) => m.target === name)) await removeTree(path.join(dest, name));
    }
    const manifest: MockManifest = { owner: paths.owner, published_at: now(), mocks: listed, network: config.sandbox.network, limits };
    await writeJsonAtomic(path.join(dest, "manifest.json"), manifest);
    // Anyone may read it: that is what publishing means (and it is made-up data).
    await writeFileAtomic(
      path.join(publicDir, "syft.pub.yaml"),
      'rules:\n  - pattern: "**"\n    access:\n      admin: []\n      read: ["*"]\n      write: []\n',
    );
    await writeFileAtomic(stateFile, digest);
    log(
      `mock data: published ${listed.map((m) => `${m.name} (${m.files} files)`).join(", ")} at ${dest}; requesters can try their code on it with scq try`,
    );
  } catch (error) {
    log(`mock data: not published this pass: ${errorMessage(error)}; fix the "mock" folders in sandbox.data_paths`);
  }
}
