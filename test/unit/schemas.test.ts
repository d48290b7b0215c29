// Pure logic, no processes: the schemas every file read from disk goes through.
import { describe, expect, test } from "vitest";
import { describeZodIssues } from "../../lib/core/errors.ts";
import { recordFromDisk, recordToDisk } from "../../lib/queue/job-record.ts";
import { AppConfigSchema, JobMetadataSchema, SubmissionSchema } from "../../lib/core/schemas.ts";

describe("config.json", () => {
  test("every field has a default", () => {
    const config = AppConfigSchema.parse({});
    expect(config).toMatchObject({
      queue_name: "code-queue",
      job_timeout: 600,
      release: "auto",
      sandbox: { mode: "bwrap", network: false, data_paths: [] },
    });
    expect(config.limits).toMatchObject({ memory_mb: 2048, max_processes: 128, max_files: 10_000 });
  });

  test("an unknown field, a wrong type and an out-of-range value are each named", () => {
    const result = AppConfigSchema.safeParse({ job_timout: 5, limits: { memory_mb: "lots" }, job_timeout: 2_147_484 });
    expect(result.success).toBe(false);
    const problems = describeZodIssues(result.error!).join("\n");
    expect(problems).toMatch(/job_timout/);
    expect(problems).toMatch(/field "limits\.memory_mb"/);
    expect(problems).toMatch(/field "job_timeout": .*604800/);
  });

  test("output checkers: more reviews than checkers, a checker twice, or none, are each refused by field", () => {
    const problems = (output_checkers: unknown) => {
      const result = AppConfigSchema.safeParse({ output_checkers });
      return result.success ? "" : describeZodIssues(result.error).join("\n");
    };
    expect(problems({ required: 3, checkers: ["a@x.org", "b@x.org"] })).toMatch(
      /field "output_checkers\.required": cannot be more than the number of checkers/,
    );
    expect(problems({ checkers: ["a@x.org", "a@x.org"] })).toMatch(/field "output_checkers\.checkers": must not list a checker twice/);
    expect(problems({ checkers: [] })).toMatch(/must list at least one output checker's email/);
    expect(AppConfigSchema.parse({ output_checkers: { checkers: ["a@x.org", "b@x.org"] } }).output_checkers).toEqual({
      required: 2,
      checkers: ["a@x.org", "b@x.org"],
    });
  });
});

describe("job records", () => {
  const base = {
    uid: "3f2b8c1e-0d4a-4c7b-9e21-5a6f7b8c9d0e",
    name: "x",
    requester_email: "a@b.org",
    target_email: "o@b.org",
    created_at: "2026-01-01T00:00:00Z",
  };

  test("a submission refuses control characters in its name and a uid not like a uuid", () => {
    expect(SubmissionSchema.safeParse({ ...base, name: "a\u001b[2Jb" }).success).toBe(false);
    expect(SubmissionSchema.safeParse({ ...base, uid: "../../etc" }).success).toBe(false);
    expect(SubmissionSchema.safeParse(base).success).toBe(true);
  });

  test("in memory every time has its zone; on disk the Python-shared times are naive UTC, the exact ones beside them", () => {
    expect(JobMetadataSchema.safeParse({ ...base, status: "pending", updated_at: "2026-01-01T00:00:00" }).success).toBe(false);
    const meta = JobMetadataSchema.parse({
      ...base,
      status: "completed",
      updated_at: "2026-01-01T08:30:00.250+02:00",
      completed_at: "2026-01-01T06:30:00.250Z",
    });
    const disk = recordToDisk(meta);
    expect(disk).toMatchObject({
      created_at: "2026-01-01T00:00:00.000000",
      updated_at: "2026-01-01T06:30:00.250000",
      started_at: null,
      code_folder: "code",
    });
    expect(disk.scq_times).toMatchObject({ updated_at: "2026-01-01T08:30:00.250+02:00" });
    expect(JobMetadataSchema.parse(recordFromDisk(JSON.parse(JSON.stringify(disk)), 0))).toMatchObject({
      updated_at: "2026-01-01T08:30:00.250+02:00",
    });
  });

  test("a Python client's naive local times are read in the zone the file's mtime tells, else as UTC", () => {
    // Written at 18:00 UTC by a client in UTC-8, whose clock said 10:00.
    const written = Date.parse("2026-01-01T18:00:07Z");
    const python = { ...base, created_at: "2026-01-01T09:59:00", updated_at: "2026-01-01T10:00:00", status: "pending" };
    const read = JobMetadataSchema.parse(recordFromDisk(python, written));
    expect(read.created_at).toBe("2026-01-01T17:59:00.000Z");
    expect(read.time_zone).toEqual({ offset_minutes: -480, source: "file mtime" });
    const unknown = JobMetadataSchema.parse(recordFromDisk(python, Date.parse("2026-03-01T00:00:00Z")));
    expect(unknown.updated_at).toBe("2026-01-01T10:00:00.000Z");
    expect(unknown.time_zone).toEqual({ offset_minutes: 0, source: "assumed UTC" });
  });
});
