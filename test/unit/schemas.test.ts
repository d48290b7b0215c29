// Pure logic, no processes: the schemas every file read from disk goes through.
import { describe, expect, test } from "vitest";
import { describeZodIssues } from "../../lib/errors.ts";
import { AppConfigSchema, JobMetadataSchema, LegacyJobSchema, SubmissionSchema } from "../../lib/schemas.ts";

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

  test("our records need a zone in every time; Python's naive times are read as UTC", () => {
    expect(JobMetadataSchema.safeParse({ ...base, status: "pending", updated_at: "2026-01-01T00:00:00" }).success).toBe(false);
    expect(LegacyJobSchema.parse({ ...base, created_at: "2026-01-01T10:00:00" }).created_at).toBe("2026-01-01T10:00:00.000Z");
  });
});
