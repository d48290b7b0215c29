// Checking a signed result offline (`scq verify`): the signature against the owner's published keys
// (pinned on first use; a later key is trusted only when a pinned key endorsed it), every released
// file against its hash, no released file left out of the statement, the statement about this very
// job, and the code's hash against what the requester submitted (kept by `scq submit`). Each check
// says what it found; one that fails names what changed.
import { createPublicKey, verify, type KeyObject } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import * as z from "zod";
import { ifExists, parseJsonText, readJsonFile, writeJsonAtomic } from "../core/fsutil.ts";
import type { JobView } from "../core/job.ts";
import { publishedKeysFile, type QueuePaths } from "../core/paths.ts";
import { envelopeSignedBy, EnvelopeSchema, fingerprint, IN_TOTO_PAYLOAD_TYPE, keyIdOf, pae } from "../sign/dsse.ts";
import { voteSignedBy } from "../sign/vote.ts";
import { ENDORSEMENT_TYPE, entryBytes, PublishedKeysSchema, type PublishedKey } from "../sign/keys.ts";
import { digestFiles } from "./digest.ts";
import { releasedFiles, RESULT_STATEMENT, ResultStatementSchema, type ResultPredicate } from "./statement.ts";
import { expected } from "../core/expected.ts";

export interface Check {
  what: "statement" | "key" | "signature" | "job" | "files" | "code" | "votes";
  /** false: it failed; null: it could not be checked here (said why). */
  ok: boolean | null;
  detail: string;
}

export interface Verdict {
  uid: string;
  owner: string;
  ok: boolean;
  key_id: string | null;
  checks: Check[];
  predicate: ResultPredicate | null;
  subjects: string[];
}

const PinsSchema = z.record(z.string(), z.object({ key_ids: z.array(z.string()), pinned_at: z.string() }));

/** What the requester kept of each submission: the code's hash, to compare with what was signed. */
const SubmittedRecordSchema = z.object({ uid: z.string(), to: z.string(), code_sha256: z.string(), at: z.string() });
export type SubmittedRecord = z.infer<typeof SubmittedRecordSchema>;

/**
 * Verify the signed result of `job` as seen by the owner of `mine` (the verifier's own queue paths:
 * its pins and its submissions' records, in its private state). Pins are added (first use, endorsed rotations) only when the rest verifies.
 */
export async function verifyResult(job: JobView, dataDir: string, mine: QueuePaths): Promise<Verdict> {
  const checks: Check[] = [];
  const verdict = (keyId: string | null, predicate: ResultPredicate | null = null, subjects: string[] = []): Verdict => ({
    uid: job.uid,
    owner: job.owner,
    ok: checks.every((c) => c.ok !== false),
    key_id: keyId,
    checks,
    predicate,
    subjects,
  });
  const envelopeFile = path.join(job.dir, RESULT_STATEMENT);
  const envelopeText = await ifExists(fs.promises.readFile(envelopeFile, "utf8"));
  if (envelopeText === undefined) {
    checks.push({ what: "statement", ok: false, detail: `no signed statement in ${job.dir} (nothing released yet, or not synced yet)` });
    return verdict(null);
  }
  let envelope;
  try {
    envelope = parseJsonText(envelopeFile, envelopeText, EnvelopeSchema);
  } catch (error) {
    checks.push({ what: "statement", ok: false, detail: `the statement's envelope is damaged: ${(error as Error).message}` });
    return verdict(null);
  }
  const keyId = envelope.signatures[0]!.keyid;

  // The key: published by the owner, matching its id, and pinned (or endorsed by a pinned key).
  const pins = (await ifExists(readJsonFile(mine.pins, PinsSchema, "; delete it to pin the owners' keys afresh"))) ?? {};
  const pinned = pins[job.owner];
  const owner = await trustedKeys(dataDir, job.owner, pinned);
  if ("problem" in owner) {
    checks.push({ what: "key", ok: false, detail: owner.problem });
    return verdict(keyId);
  }
  const { keys, trusted } = owner;
  const signer = keys.get(keyId);
  if (!signer || !trusted.has(keyId)) {
    checks.push({
      what: "key",
      ok: false,
      detail: signer
        ? `signed with ${fingerprint(keyId)}, which no key you pinned for ${job.owner} endorsed: their keys changed without a rotation`
        : `signed with ${fingerprint(keyId)}, which ${job.owner} does not publish`,
    });
    return verdict(keyId);
  }
  checks.push({
    what: "key",
    ok: true,
    detail: `${job.owner}'s key ${fingerprint(keyId)}, ${pinned ? (pinned.key_ids.includes(keyId) ? `pinned ${pinned.pinned_at}` : "endorsed by a key you pinned") : "pinned now, on first use"}`,
  });

  // The signature, then what it says.
  const canonical = canonicalBase64(envelope.payload) && envelope.signatures.every((x) => canonicalBase64(x.sig));
  if (envelope.payloadType !== IN_TOTO_PAYLOAD_TYPE || !canonical || !envelopeSignedBy(envelope, keyId, signer.key)) {
    checks.push({ what: "signature", ok: false, detail: `the signature does not match the statement: the statement or its signature was changed` });
    return verdict(keyId);
  }
  checks.push({ what: "signature", ok: true, detail: "good (Ed25519, DSSE)" });
  let payload: unknown;
  try {
    payload = JSON.parse(Buffer.from(envelope.payload, "base64").toString("utf8"));
  } catch {
    payload = undefined; // signed bytes that are not JSON: said below as not a statement
  }
  const statement = ResultStatementSchema.safeParse(payload);
  if (!statement.success) {
    checks.push({ what: "statement", ok: false, detail: "signed, but not a result statement this version understands" });
    return verdict(keyId);
  }
  const { subject, predicate } = statement.data;
  const { valid_from, valid_until } = signer.entry;
  if (predicate.release.at < valid_from || (valid_until !== null && predicate.release.at > valid_until)) {
    checks.push({
      what: "key",
      ok: false,
      detail: `signed at ${predicate.release.at}, outside the key's use (${valid_from} to ${valid_until ?? "now"})`,
    });
  }
  const about = predicate.job.uid === job.uid && predicate.job.owner === job.owner && predicate.job.requester === job.meta.requester_email;
  checks.push({
    what: "job",
    ok: about,
    detail: about
      ? `about job ${job.uid} of ${predicate.job.requester}`
      : `about another job (${predicate.job.uid} of ${predicate.job.requester}): copied from elsewhere`,
  });

  // Every released file as signed, and none released outside the statement.
  const named = new Set(subject.map((s) => s.name));
  const problems: string[] = [];
  const digests = await digestFiles(job.dir, [...named]);
  for (const s of subject) {
    const got = digests.get(s.name)?.sha256;
    if (got === undefined) problems.push(`${s.name} is missing (not synced yet, or removed)`);
    else if (got !== s.digest.sha256)
      problems.push(`${s.name} changed since it was signed (sha256 ${got.slice(0, 12)}… ≠ ${s.digest.sha256.slice(0, 12)}…)`);
  }
  for (const name of await releasedFiles(job.dir)) if (!named.has(name)) problems.push(`${name} is not in the signed statement`);
  checks.push({
    what: "files",
    ok: problems.length === 0,
    detail: problems.length === 0 ? `${subject.length} file(s) exactly as signed` : problems.join("; "),
  });

  // The code: what the requester sent.
  const sent = await ifExists(readJsonFile(path.join(mine.submitted, `${job.uid}.json`), SubmittedRecordSchema)).catch(
    expected("an unreadable record of the submission: the code is said to be unchecked", undefined),
  );
  if (!sent)
    checks.push({
      what: "code",
      ok: null,
      detail: "no record here of what was submitted (sent from another machine?): the code hash is not compared",
    });
  else if (sent.code_sha256 === predicate.code_sha256)
    checks.push({ what: "code", ok: true, detail: `sha256 ${sent.code_sha256.slice(0, 16)}…, what you submitted` });
  else
    checks.push({
      what: "code",
      ok: false,
      detail: `the signed code hash ${predicate.code_sha256?.slice(0, 16) ?? "(none)"}… is not what you submitted (${sent.code_sha256.slice(0, 16)}…)`,
    });

  // The approvers' votes, each signed with its approver's own published key (pinned like the owner's).
  const newPins: Record<string, Trusted> = { [job.owner]: owner };
  const votes = predicate.approval.votes;
  if (votes.length > 0) {
    const problems: string[] = [];
    let signed = 0;
    for (const v of votes) {
      if (!v.signature) continue;
      const theirs = newPins[v.by] ?? (await trustedKeys(dataDir, v.by, pins[v.by]));
      if ("problem" in theirs) {
        problems.push(theirs.problem);
        continue;
      }
      newPins[v.by] = theirs;
      const key = theirs.keys.get(v.signature.keyid);
      if (!key || !theirs.trusted.has(v.signature.keyid))
        problems.push(`${v.by}'s vote is signed with ${fingerprint(v.signature.keyid)}, not a key of theirs you trust`);
      else if (!canonicalBase64(v.signature.sig) || !voteSignedBy(job.owner, { ...v, uid: job.uid }, key.key))
        problems.push(`${v.by}'s vote does not match its signature: it was changed`);
      else signed += 1;
    }
    const unsigned = votes.filter((v) => !v.signature).map((v) => v.by);
    checks.push({
      what: "votes",
      ok: problems.length > 0 ? false : unsigned.length > 0 ? null : true,
      detail:
        problems.length > 0
          ? problems.join("; ")
          : `${signed} of ${votes.length} vote(s) signed by their approvers${unsigned.length > 0 ? `; unsigned (cast before votes were signed): ${unsigned.join(", ")}` : ""}`,
    });
  }

  const result = verdict(keyId, predicate, [...named]);
  if (result.ok) {
    // What was trusted is pinned: first use, and keys endorsed by pinned ones.
    let changed = false;
    const next = { ...pins };
    for (const [email, { keys: theirs, trusted: ids }] of Object.entries(newPins)) {
      const known = [...ids].filter((id) => theirs.has(id));
      const before = pins[email];
      if (before && known.every((id) => before.key_ids.includes(id))) continue;
      next[email] = { key_ids: known, pinned_at: before?.pinned_at ?? new Date().toISOString() };
      changed = true;
    }
    if (changed) {
      fs.mkdirSync(path.dirname(mine.pins), { recursive: true, mode: 0o700 });
      await writeJsonAtomic(mine.pins, next, { mode: 0o600 });
    }
  }
  return result;
}

type Pin = z.infer<typeof PinsSchema>[string];

interface Trusted {
  keys: Map<string, { entry: PublishedKey; key: KeyObject }>;
  /** The ids of the keys trusted: pinned (all published ones, on first use), or endorsed by a trusted one. */
  trusted: Set<string>;
}

/**
 * The keys `email` publishes, each checked (its PEM as written, its id, its own signature over its
 * entry), and which of them to trust given what was pinned for them, or the problem, in words.
 */
async function trustedKeys(dataDir: string, email: string, pinned: Pin | undefined): Promise<Trusted | { problem: string }> {
  const keysFile = publishedKeysFile(dataDir, email);
  const published = await readJsonFile(keysFile, PublishedKeysSchema).catch((error: unknown) => error as Error);
  if (published instanceof Error) return { problem: `${email}'s published keys cannot be read: ${published.message}` };
  const keys = new Map<string, { entry: PublishedKey; key: KeyObject }>();
  for (const entry of published.keys) {
    let key: KeyObject | undefined;
    try {
      key = createPublicKey(entry.public_key);
    } catch {
      key = undefined; // not a key at all: said below
    }
    const { self_sig, ...rest } = entry;
    const intact =
      key !== undefined &&
      key.export({ type: "spki", format: "pem" }) === entry.public_key &&
      keyIdOf(key) === entry.key_id &&
      canonicalBase64(self_sig) &&
      published.owner === email &&
      verify(null, entryBytes(email, rest), key, Buffer.from(self_sig, "base64"));
    if (!intact) return { problem: `the published key ${fingerprint(entry.key_id)} in ${keysFile} is not as ${email} signed it: it was changed` };
    keys.set(entry.key_id, { entry, key: key! });
  }
  for (const id of pinned?.key_ids ?? []) {
    if (!keys.has(id)) {
      return {
        problem: `${email}'s key ${fingerprint(id)}, pinned ${pinned!.pinned_at}, is no longer published: their keys were replaced, not rotated`,
      };
    }
  }
  const trusted = new Set(pinned?.key_ids ?? [...keys.keys()]);
  // Rotations: a key endorsed by a trusted one is trusted, and so on down the chain.
  for (let grew = true; grew;) {
    grew = false;
    for (const [id, { entry }] of keys) {
      const by = entry.endorsement ? keys.get(entry.endorsement.by) : undefined;
      if (trusted.has(id) || !by || !trusted.has(entry.endorsement!.by)) continue;
      const sig = entry.endorsement!.sig;
      if (canonicalBase64(sig) && verify(null, pae(ENDORSEMENT_TYPE, Buffer.from(id)), by.key, Buffer.from(sig, "base64"))) {
        trusted.add(id);
        grew = true;
      }
    }
  }
  return { keys, trusted };
}

/** Base64 as an encoder writes it: decoding ignores stray bits and characters, and one changed character must never pass. */
function canonicalBase64(text: string): boolean {
  return Buffer.from(text, "base64").toString("base64") === text;
}
