// DSSE envelopes (Dead Simple Signing Envelope, v1): a payload, its type, and signatures over the
// pre-authentication encoding PAE(type, payload), so a signature over one type of document can never
// be replayed as another. Ed25519, keys as node:crypto KeyObjects. Anyone can check an envelope with
// openssl: the bytes signed are PAE below.
import { createHash, sign, verify, type KeyObject } from "node:crypto";
import * as z from "zod";

export const IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json";

export const EnvelopeSchema = z.object({
  payloadType: z.string(),
  payload: z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, "must be base64"),
  signatures: z.array(z.object({ keyid: z.string(), sig: z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, "must be base64") })).min(1),
});
export type Envelope = z.infer<typeof EnvelopeSchema>;

/** The bytes a DSSE signature covers: "DSSEv1 <len(type)> <type> <len(body)> <body>". */
export function pae(payloadType: string, payload: Buffer): Buffer {
  const type = Buffer.from(payloadType, "utf8");
  return Buffer.concat([Buffer.from(`DSSEv1 ${type.length} `), type, Buffer.from(` ${payload.length} `), payload]);
}

export function signEnvelope(payloadType: string, payload: Buffer, key: { id: string; privateKey: KeyObject }): Envelope {
  return {
    payloadType,
    payload: payload.toString("base64"),
    signatures: [{ keyid: key.id, sig: sign(null, pae(payloadType, payload), key.privateKey).toString("base64") }],
  };
}

/** Whether `envelope` carries a good signature by `keyid` with `publicKey`. */
export function envelopeSignedBy(envelope: Envelope, keyid: string, publicKey: KeyObject): boolean {
  const payload = Buffer.from(envelope.payload, "base64");
  return envelope.signatures.some(
    (s) => s.keyid === keyid && verify(null, pae(envelope.payloadType, payload), publicKey, Buffer.from(s.sig, "base64")),
  );
}

/** A public key's id: the SHA-256 of its SubjectPublicKeyInfo (DER), "sha256:<hex>". */
export function keyIdOf(publicKey: KeyObject): string {
  return `sha256:${createHash("sha256")
    .update(publicKey.export({ type: "spki", format: "der" }))
    .digest("hex")}`;
}

/** A key id as people compare it: its first 16 hex digits in groups of four. */
export function fingerprint(keyId: string): string {
  return (
    keyId
      .replace(/^sha256:/, "")
      .slice(0, 16)
      .match(/.{4}/g) ?? []
  ).join(" ");
}
