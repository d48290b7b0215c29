// The sandbox's command line, limits and seccomp program, as data: no process is started here.
import { describe, expect, test } from "vitest";
import { appliedLimits } from "../../lib/run/limits.ts";
import { dataMounts } from "../../lib/core/data-paths.ts";
import { launchCommand, prlimitArgs, stageLayout } from "../../lib/run/sandbox.ts";
import { AppConfigSchema } from "../../lib/core/schemas.ts";
import { seccompProgram } from "../../lib/run/seccomp.ts";

const config = AppConfigSchema.parse({ job_timeout: 60, limits: { memory_mb: 256, max_processes: 16, max_file_mb: 8, cpu_seconds: 30 } });
const limits = appliedLimits(config);

describe("limits", () => {
  test("applied limits carry the timeout; prlimit gets bytes, seconds and the process cap only inside a user namespace", () => {
    expect(limits).toMatchObject({ timeout_s: 60, cpu_seconds: 30, memory_mb: 256 });
    expect(prlimitArgs(limits, true)).toEqual([`--as=${256 * 1024 * 1024}`, `--fsize=${8 * 1024 * 1024}`, "--cpu=30", "--core=0", "--nproc=16"]);
    expect(prlimitArgs(limits, false)).not.toContain("--nproc=16");
  });

  test("data paths are mounted at /data/<basename>, duplicates made distinct", () => {
    expect(dataMounts(["/srv/a/cohort", "/srv/b/cohort/"]).map((m) => m.target)).toEqual(["cohort", "cohort_"]);
  });
});

describe("bwrap command line", () => {
  const launch = launchCommand({
    mode: "bwrap",
    stage: stageLayout("/tmp/stage"),
    limits,
    network: false,
    dataPaths: ["/srv/cohort"],
    job: { uid: "u", name: "n" },
    fds: { args: 3, info: 4, seccomp: 5 },
    disableUserns: true,
  });
  test("no network, no nested user namespaces, seccomp, everything read-only but the stage", () => {
    const args = launch.args.join(" ");
    expect(args).toContain("--unshare-all");
    expect(args).not.toContain("--share-net");
    expect(args).toContain("--disable-userns");
    expect(args).toContain("--seccomp 5");
    expect(args).toContain("--info-fd 4");
    expect(args).toContain("--cap-drop ALL");
    expect(args).toContain("--ro-bind /srv/cohort /data/cohort");
    expect(args).toContain("--remount-ro /");
    expect(launch.args.at(-1)).toBe("run.sh");
  });
});

describe("seccomp program", () => {
  test("is whole instructions that check the architecture first and end in allow, deny and kill", () => {
    const program = seccompProgram("x64")!;
    expect(program.length % 8).toBe(0);
    const insn = (i: number) => ({ code: program.readUInt16LE(i * 8), k: program.readUInt32LE(i * 8 + 4) });
    expect(insn(0)).toEqual({ code: 0x20, k: 4 }); // load arch
    expect(insn(1).k).toBe(0xc000003e); // x86_64
    const returns = Array.from({ length: program.length / 8 }, (_, i) => insn(i))
      .filter((x) => x.code === 0x06)
      .map((x) => x.k >>> 0);
    expect(returns).toEqual([0x7fff0000, 0x00050001, 0x00050026, 0x80000000]);
    const compared = Array.from({ length: program.length / 8 }, (_, i) => insn(i))
      .filter((x) => x.code === 0x15)
      .map((x) => x.k);
    expect(compared).toContain(101); // ptrace
    expect(compared).toContain(425); // io_uring_setup
    expect(seccompProgram("riscv64")).toBeUndefined();
  });
});
