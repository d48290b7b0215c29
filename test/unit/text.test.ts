// What a reviewer is shown: control and bidi characters by name, and the advisory scan.
import { describe, expect, test } from "vitest";
import { scanText } from "../../lib/people/danger.ts";
import { matchUid } from "../../lib/queue/jobs.ts";
import { describeSettings, settingsInForce } from "../../lib/core/settings.ts";
import { AppConfigSchema } from "../../lib/core/schemas.ts";
import { hasInvisible, visible, visibleKeepingColour } from "../../lib/core/visible.ts";

describe("visible", () => {
  test("names escapes, a lone CR, NUL and bidi controls; keeps newlines, tabs and CR LF", () => {
    expect(visible("a\u001b[2Jb")).toBe("a⟨ESC⟩[2Jb");
    expect(visible("shown\rhidden")).toBe("shown⟨CR⟩hidden");
    expect(visible("line\r\nnext\tcol")).toBe("line\r\nnext\tcol");
    expect(visible("x\u0000y\u202ez\u2066")).toBe("x⟨NUL⟩y⟨U+202E⟩z⟨U+2066⟩");
    expect(hasInvisible("plain text")).toBe(false);
    expect(hasInvisible("rtl\u202e")).toBe(true);
  });

  test("keeps only the CLI's own colour codes", () => {
    expect(visibleKeepingColour("\u001b[32mok\u001b[39m \u001b[8mhidden")).toBe("\u001b[32mok\u001b[39m ⟨ESC⟩[8mhidden");
  });
});

describe("advisory scan", () => {
  test("finds network use, secrets, generated code and hidden characters, with line numbers", () => {
    const findings = scanText("run.sh", 'echo ok\ncurl http://x\ncat $HOME/.netrc\neval "$(echo x)"\necho a\u202eb\n');
    expect(findings.map((f) => `${f.line} ${f.rule.split(" ")[0]}`)).toEqual(["2 network", "3 reads", "4 runs", "5 control"]);
    expect(findings.at(-1)!.text).toBe("echo a⟨U+202E⟩b");
    expect(scanText("ok.py", "import pandas\nprint(df.mean())\n")).toEqual([]);
  });

  test("reading the job's own variables is no hunt; keys, wipes and copying the data out are named for what they are", () => {
    const rules = (file: string, text: string) => scanText(file, text).map((f) => `${f.line} ${f.rule}`);
    // The job's variables, as every job reads them: nothing to see.
    expect(rules("a.py", 'import os\ndata = os.environ["DATA_DIR"]\nout = os.environ.get("OUTPUT_DIR")\n')).toEqual([]);
    expect(rules("a.js", "const d = process.env.DATA_DIR;\n")).toEqual([]);
    // Everything else in the environment is a hunt.
    expect(rules("b.py", "import os\nprint(dict(os.environ))\nkey = os.environ['AWS_KEY']\n")).toEqual([
      "2 environment or credential hunting",
      "3 environment or credential hunting",
    ]);
    expect(rules("c.sh", "cat /proc/self/environ\n")).toEqual(["1 environment or credential hunting"]);
    // A key file is a key file, not network access.
    expect(rules("d.sh", "cat ~/.ssh/id_rsa\n")).toEqual(["1 reads home, keys or other datasites"]);
    expect(rules("e.sh", "ssh user@host ls\n")).toEqual(["1 network access (blocked in the sandbox unless sandbox.network is true)"]);
    // Wiping folders, and the raw data copied into the output.
    expect(rules("f.sh", "rm -rf /tmp/*\nrm -rf *\n")).toEqual(["1 destructive command", "2 destructive command"]);
    expect(rules("g.sh", 'cp "$DATA_DIR/cohort/people.csv" "$OUTPUT_DIR/"\n')).toEqual(["1 copies the data into the output"]);
    expect(rules("h.py", 'shutil.copy(os.path.join(DATA_DIR, "x.csv"), OUTPUT_DIR)\n')).toEqual(["1 copies the data into the output"]);
  });
});

describe("naming a job", () => {
  const uids = ["3f2b8c1e-0d4a-4c7b-9e21-5a6f7b8c9d0e", "3f2b0000-0d4a-4c7b-9e21-5a6f7b8c9d0e", "aaaa1111-0d4a-4c7b-9e21-5a6f7b8c9d0e"];
  test("a full uid, or a prefix of at least 4 characters; ambiguity is every match", () => {
    expect(matchUid(uids[0]!, uids)).toEqual([uids[0]]);
    expect(matchUid("3f2b8", uids)).toEqual([uids[0]]);
    expect(matchUid("3f2b", uids)).toEqual([uids[0], uids[1]]);
    expect(matchUid("3f2", uids)).toEqual([]);
    expect(matchUid(" AAAA1111 ", uids)).toEqual([uids[2]]);
  });
});

describe("settings line", () => {
  test("names the file, or says the built-in defaults apply", () => {
    const config = AppConfigSchema.parse({ release: "review", job_timeout: 30 });
    expect(describeSettings(settingsInForce(config, "/app/config.json"))).toBe(
      "/app/config.json (sandbox bwrap, release review, job_timeout 30 s, executor local)",
    );
    const checked = AppConfigSchema.parse({ output_checkers: { required: 2, checkers: ["a@x.org", "b@x.org"] } });
    expect(describeSettings(settingsInForce(checked, "/app/config.json"))).toBe(
      "/app/config.json (sandbox bwrap, release auto, job_timeout 600 s, executor local, output checkers 2 of a@x.org, b@x.org)",
    );
    expect(describeSettings(settingsInForce(config, null, "/app/config.json"))).toMatch(
      /^built-in defaults \(no settings file at \/app\/config\.json\)/,
    );
  });
});
