// A Five Safes RO-Crate beside each release, so a TRE's own tools can read what the signed statement
// says: ro-crate-metadata.json describing the job folder (the run as a CreateAction, the approval as a
// sign-off, the output checks as a disclosure check, each released file), and manifest-sha512.txt,
// the released files' SHA-512 in BagIt's manifest format (`sha512sum -c` reads it). Both are written
// before the statement is signed, and are among its subjects.
import path from "node:path";
import { writeFileAtomic } from "../core/fsutil.ts";
import type { Job } from "../core/job.ts";
import type { ReleaseFacts } from "../disclosure/release.ts";
import { digestOf, type Digest } from "./digest.ts";

export const CRATE_FILE = "ro-crate-metadata.json";
export const MANIFEST_FILE = "manifest-sha512.txt";
const PROFILE = "https://w3id.org/5s-crate/0.5-DRAFT";
const SHP = "https://w3id.org/shp#";

/**
 * Write the crate and the manifest for `job`, whose released files (paths in its folder) have
 * `digests`; the two files written, with their own digests.
 */
export async function writeCrate(job: Job, digests: ReadonlyMap<string, Digest | undefined>, release: ReleaseFacts): Promise<[string, Digest][]> {
  const m = job.meta;
  const files = [...digests.keys()].filter((f) => digests.get(f) !== undefined).sort();
  const person = (email: string) => ({ "@id": `mailto:${email}`, "@type": "Person", email });
  const completed = job.status === "completed";
  const graph: Record<string, unknown>[] = [
    { "@id": CRATE_FILE, "@type": "CreativeWork", about: { "@id": "./" }, conformsTo: { "@id": "https://w3id.org/ro/crate/1.2" } },
    {
      "@id": "./",
      "@type": "Dataset",
      name: `Released results of job ${m.uid} (${m.name})`,
      datePublished: release.at,
      conformsTo: { "@id": PROFILE },
      hasPart: files.map((f) => ({ "@id": f })),
      mentions: [{ "@id": "#run" }, { "@id": "#signoff" }, { "@id": "#disclosure" }, { "@id": "#manifest" }],
      publisher: { "@id": `mailto:${m.target_email}` },
    },
    { "@id": PROFILE, "@type": "Profile", name: "Five Safes RO-Crate profile" },
    {
      "@id": "#run",
      "@type": "CreateAction",
      name: `Run of job ${m.uid}`,
      agent: { "@id": `mailto:${m.requester_email}` },
      instrument: { "@id": "code/", "@type": "Dataset", name: "the job's code", identifier: m.code_sha256 ? `sha256:${m.code_sha256}` : undefined },
      startTime: m.started_at ?? undefined,
      endTime: m.completed_at ?? undefined,
      actionStatus: `http://schema.org/${completed ? "CompletedActionStatus" : "FailedActionStatus"}`,
      result: files.filter((f) => f.startsWith("output/")).map((f) => ({ "@id": f })),
    },
    {
      "@id": "#signoff",
      "@type": "AssessAction",
      additionalType: { "@id": `${SHP}SignOff` },
      name: m.decision ? `Approval of the code: approved by ${m.decision.by} (${m.decision.reason || "no reason given"})` : "Approval of the code",
      endTime: m.decision?.at,
      object: { "@id": "code/" },
      // A person, or a pinned rule (its decision reads "rule <id>") that stands for the person who wrote it.
      agent: m.decision ? { "@id": m.decision.by.startsWith("rule ") ? `#${m.decision.by.slice(5)}` : `mailto:${m.decision.by}` } : undefined,
      actionStatus: "http://schema.org/CompletedActionStatus",
    },
    {
      "@id": "#disclosure",
      "@type": "AssessAction",
      additionalType: { "@id": `${SHP}DisclosureCheck` },
      name:
        `Disclosure check of the results: released by ${release.by}` +
        (release.withheld.length > 0 ? `, ${release.withheld.length} file(s) withheld` : "") +
        (release.exception ? ` (exception: ${release.exception})` : ""),
      endTime: release.at,
      object: { "@id": "./" },
      agent: { "@id": release.by === "auto" ? "#output-checks" : `mailto:${release.by}` },
      actionStatus: "http://schema.org/CompletedActionStatus",
    },
    { "@id": "#output-checks", "@type": "SoftwareApplication", name: "syft-code-queue output checks" },
    {
      "@id": "#manifest",
      "@type": "UpdateAction",
      additionalType: { "@id": `${SHP}GenerateCheckValue` },
      name: `SHA-512 manifest of the released files (${MANIFEST_FILE})`,
      object: { "@id": "./" },
      instrument: { "@id": "https://www.iana.org/assignments/named-information#sha-512" },
      actionStatus: "http://schema.org/CompletedActionStatus",
    },
    { "@id": "https://www.iana.org/assignments/named-information#sha-512", "@type": "DefinedTerm", name: "sha-512 algorithm" },
    person(m.requester_email),
    ...(m.target_email !== m.requester_email ? [person(m.target_email)] : []),
    ...files.map((f) => ({ "@id": f, "@type": "File", contentSize: String(digests.get(f)!.size) })),
  ];
  const crate = `${JSON.stringify({ "@context": "https://w3id.org/ro/crate/1.2/context", "@graph": graph }, null, 2)}\n`;
  const crateDigest = digestOf(crate);
  const sums = new Map([...files.map((f): [string, string] => [f, digests.get(f)!.sha512]), [CRATE_FILE, crateDigest.sha512]]);
  const manifest = [...sums.keys()]
    .sort()
    .map((f) => `${sums.get(f)!}  ${f}\n`)
    .join("");
  await writeFileAtomic(path.join(job.dir, CRATE_FILE), crate);
  await writeFileAtomic(path.join(job.dir, MANIFEST_FILE), manifest);
  return [
    [CRATE_FILE, crateDigest],
    [MANIFEST_FILE, digestOf(manifest)],
  ];
}
