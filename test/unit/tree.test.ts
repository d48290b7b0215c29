// The tree walk and hash that bind an approval to exact code: pure file logic on small temp trees.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, test } from "vitest";

import { checkJobCode, isSyftBoxControlFile, MAX_DEPTH, treeHash, walkTree } from "../../lib/core/tree.ts";
import { UnsafeTreeError } from "../../lib/core/errors.ts";

const root = fs.mkdtempSync(path.join(os.tmpdir(), "scq-unit-"));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
let n = 0;
function tree(files: Record<string, string>): string {
  const dir = path.join(root, String((n += 1)));
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), text);
  }
  return dir;
}

describe("treeHash", () => {
  test("the same files give the same hash; a changed byte, name or layout gives another", async () => {
    const a = await treeHash(tree({ "run.sh": "echo hi\n", "lib/x.py": "print(1)\n" }));
    expect(await treeHash(tree({ "lib/x.py": "print(1)\n", "run.sh": "echo hi\n" }))).toBe(a);
    expect(await treeHash(tree({ "run.sh": "echo hi!\n", "lib/x.py": "print(1)\n" }))).not.toBe(a);
    expect(await treeHash(tree({ "run.sh": "echo hi\n", "lib/y.py": "print(1)\n" }))).not.toBe(a);
    expect(await treeHash(tree({ "run.sh": "echo hi\n", "x.py": "print(1)\n" }))).not.toBe(a);
  });
});

describe("the code gate", () => {
  test("needs a run.sh, and says so with a flag callers can test", async () => {
    const error = await checkJobCode(tree({ "main.py": "" }), { max_files: 10, max_code_mb: 1 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnsafeTreeError);
    expect((error as UnsafeTreeError).missingRunSh).toBe(true);
  });

  test("refuses links, control characters, permission files, too many entries and too deep a tree", async () => {
    const linked = tree({ "run.sh": "" });
    fs.symlinkSync("/etc/passwd", path.join(linked, "p"));
    await expect(walkTree(linked)).rejects.toThrow(/p is a symbolic link/);
    await expect(walkTree(tree({ "run.sh": "", "a\u0007b": "" }))).rejects.toThrow(/control character/);
    await expect(walkTree(tree({ "run.sh": "", "x/syft.pub.yaml": "" }))).rejects.toThrow(/x\/syft\.pub\.yaml is a SyftBox permission/);
    await expect(walkTree(tree({ "run.sh": "", "a/b": "", "c/d": "" }), { maxFiles: 3 })).rejects.toThrow(/more than 3 files and folders/);
    const deep = Array.from({ length: MAX_DEPTH + 1 }, () => "d").join("/");
    await expect(walkTree(tree({ "run.sh": "", [`${deep}/f`]: "" }))).rejects.toThrow(/nested more than 64 folders deep/);
  });

  test("knows SyftBox's permission and sync file names, in any case", () => {
    for (const name of ["syft.pub.yaml", "SYFT.PUB.YAML", "syftperm.yaml", "_.syftperm", ".syftignore"])
      expect(isSyftBoxControlFile(name)).toBe(true);
    expect(isSyftBoxControlFile("syft.pub.yaml.txt")).toBe(false);
  });
});
