// The owner's signing key: an Ed25519 pair made at the first pass. The private key lives in the app's
// private state (state/keys/, owner-only, outside the synced datasite, never in the environment); the
// public keys are published in the owner's datasite under public/, which SyftBox lets everyone read,
// so a requester can check a result offline against them.
//
// Rotation (`scq key rotate`) makes a new pair; the old public key stays published with the time it
// stopped being used (statements it signed before still verify), and it endorses the new one: a
// signature by the old key over the new key's id. A requester who pinned the old key can so follow
// the rotation; a key that appears without an endorsement from a pinned key is refused.
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import * as z from "zod";
import { exists, ifExists, readJsonFile, writeFileAtomic, writeJsonAtomic } from "../core/fsutil.ts";
import type { QueuePaths } from "../core/paths.ts";
import { readableByAll } from "../queue/permissions.ts";
import { expected } from "../core/expected.ts";
import { fingerprint, keyIdOf, pae } from "./dsse.ts";

/** The type under which an old key signs the id of the key that replaces it. */
export const ENDORSEMENT_TYPE = "application/vnd.syft-code-queue.key-endorsement";
/** The type under which each key signs its own published entry: no byte of it can change unseen. */
export const ENTRY_TYPE = "application/vnd.syft-code-queue.key-entry";

const Base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, "must be base64");

export const PublishedKeySchema = z.object({
  key_id: z.string().regex(/^sha256:[0-9a-f]{64}$/, "must be sha256:<64 hex digits>"),
  /** The public key, PEM (SubjectPublicKeyInfo). */
  public_key: z.string().startsWith("-----BEGIN PUBLIC KEY-----"),
  valid_from: z.iso.datetime(),
  /** When it stopped signing (rotated), or null while it is the one in use. */
  valid_until: z.iso.datetime().nullable(),
  /** The key it replaced, and that key's signature over this key's id. */
  endorsement: z.object({ by: z.string(), sig: Base64 }).nullable(),
  /** The key's own signature over the rest of its entry and the owner's email (entryBytes). */
  self_sig: Base64,
});
export type PublishedKey = z.infer<typeof PublishedKeySchema>;

export const PublishedKeysSchema = z.object({ owner: z.string(), keys: z.array(PublishedKeySchema).min(1) });
export type PublishedKeys = z.infer<typeof PublishedKeysSchema>;

/** What a key's self-signature covers: its entry (but the signature) and whose key it is, as JSON in a fixed order. */
export function entryBytes(owner: string, entry: Omit<PublishedKey, "self_sig">): Buffer {
  const { key_id, public_key, valid_from, valid_until, endorsement } = entry;
  return pae(ENTRY_TYPE, Buffer.from(JSON.stringify({ owner, key_id, public_key, valid_from, valid_until, endorsement })));
}

const keysDir = (paths: QueuePaths) => path.join(paths.state, "keys");
/** The published document as the owner's app last wrote it: the public copy is restored from it if a sync loses it. */
const ownCopy = (paths: QueuePaths) => path.join(keysDir(paths), "published.json");
const privateFile = (paths: QueuePaths, keyId: string) => path.join(keysDir(paths), `${keyId.replace(/^sha256:/, "")}.pem`);

export interface OwnerKey {
  id: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
}

/**
 * The owner's key in use: made (and published) the first time; its published copy written again
 * when it is missing or differs (a sync lost or changed it).
 */
export async function ownerKey(paths: QueuePaths): Promise<OwnerKey> {
  const published = await ifExists(readJsonFile(ownCopy(paths), PublishedKeysSchema, "; `scq key rotate` makes a new key"));
  if (!published) return rotate(paths);
  const current = published.keys.find((k) => k.valid_until === null);
  if (!current) throw new Error(`${ownCopy(paths)} names no key in use; run \`scq key rotate\` to make one`);
  const pem = await fs.promises.readFile(privateFile(paths, current.key_id), "utf8");
  await publish(paths, published);
  return { id: current.key_id, ...keyPair(pem) };
}

/** The last key parsed, by its PEM text: a warm loop signs every release with the same key, and parsing it is most of a signature's cost. */
let parsed: { pem: string; privateKey: KeyObject; publicKey: KeyObject } | undefined;

function keyPair(pem: string): { privateKey: KeyObject; publicKey: KeyObject } {
  if (parsed?.pem !== pem) {
    const privateKey = createPrivateKey(pem);
    parsed = { pem, privateKey, publicKey: createPublicKey(privateKey) };
  }
  return { privateKey: parsed.privateKey, publicKey: parsed.publicKey };
}

/** The owner's key made (first pass) or its published copy restored, unless both are there: two stats on most passes. */
export async function ensureOwnerKey(paths: QueuePaths): Promise<void> {
  if ((await exists(ownCopy(paths))) && (await exists(paths.publicKeys))) return;
  await ownerKey(paths);
}

/** A key as people are shown it: its id, its fingerprint, and where it is published. */
export interface KeyInfo {
  key_id: string;
  fingerprint: string;
  published: string;
}

export function keyInfo(paths: QueuePaths, keyId: string): KeyInfo {
  return { key_id: keyId, fingerprint: fingerprint(keyId), published: paths.publicKeys };
}

/**
 * The key in use, from the owner's copy of what is published, or null before the first pass (or
 * when that copy cannot be read: the next pass, or `scq key show`, says why).
 */
export async function currentKey(paths: QueuePaths): Promise<KeyInfo | null> {
  const published = await ifExists(readJsonFile(ownCopy(paths), PublishedKeysSchema)).catch(
    expected("an unreadable key record is shown as none; the next pass or scq key show says why", undefined),
  );
  const id = published?.keys.find((k) => k.valid_until === null)?.key_id;
  return id === undefined ? null : keyInfo(paths, id);
}

/** A new key pair: the old key (if any) retired now, kept published, and endorsing the new one. */
export async function rotate(paths: QueuePaths): Promise<OwnerKey> {
  const before = await ifExists(readJsonFile(ownCopy(paths), PublishedKeysSchema));
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const id = keyIdOf(publicKey);
  const at = new Date().toISOString();
  const old = before?.keys.find((k) => k.valid_until === null);
  const oldPrivate = old ? await ifExists(fs.promises.readFile(privateFile(paths, old.key_id), "utf8")) : undefined;
  const endorsement =
    old && oldPrivate
      ? { by: old.key_id, sig: sign(null, pae(ENDORSEMENT_TYPE, Buffer.from(id)), createPrivateKey(oldPrivate)).toString("base64") }
      : null;
  fs.mkdirSync(keysDir(paths), { recursive: true, mode: 0o700 });
  await writeFileAtomic(privateFile(paths, id), privateKey.export({ type: "pkcs8", format: "pem" }), { mode: 0o600 });
  const selfSigned = (entry: Omit<PublishedKey, "self_sig">, key: KeyObject): PublishedKey => ({
    ...entry,
    self_sig: sign(null, entryBytes(paths.owner, entry), key).toString("base64"),
  });
  const keys: PublishedKey[] = [
    // The retired key signs its entry again, now with the end of its use (without its private key, it stays as it was).
    ...(before?.keys ?? []).map((k) =>
      k.valid_until === null && oldPrivate ? selfSigned({ ...k, valid_until: at }, createPrivateKey(oldPrivate)) : k,
    ),
    selfSigned(
      { key_id: id, public_key: String(publicKey.export({ type: "spki", format: "pem" })), valid_from: at, valid_until: null, endorsement },
      privateKey,
    ),
  ];
  const document = { owner: paths.owner, keys };
  await writeJsonAtomic(ownCopy(paths), document, { mode: 0o600 });
  await publish(paths, document);
  // The retired private key goes: what it signed stays checkable with its public key.
  if (old) await fs.promises.rm(privateFile(paths, old.key_id), { force: true });
  return { id, privateKey, publicKey };
}

async function publish(paths: QueuePaths, document: PublishedKeys): Promise<void> {
  const file = paths.publicKeys;
  const text = `${JSON.stringify(document, null, 2)}\n`;
  if ((await ifExists(fs.promises.readFile(file, "utf8"))) === text) return;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  // Its own rule, whatever the datasite's public/ says: every user may read the keys, and only them.
  await readableByAll(path.dirname(file), [path.basename(file)]);
  await writeFileAtomic(file, text);
}
