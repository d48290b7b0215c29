// An approver's vote, signed with the approver's own key (made in their own private state and
// published in their own datasite, as an owner's is: keys.ts), so a requester can check offline that
// each approver of an N-of-M approval voted for the very code that ran. The signature covers the vote
// and whose queue it is for, so it cannot be replayed on another job or another owner's queue.
import { sign, verify, type KeyObject } from "node:crypto";
import type { QueuePaths } from "../core/paths.ts";
import type { Signature } from "../core/schemas.ts";
import { pae } from "./dsse.ts";
import { ownerKey } from "./keys.ts";

export const VOTE_TYPE = "application/vnd.syft-code-queue.vote";

interface VoteFields {
  uid: string;
  decision: string;
  reason: string;
  by: string;
  at: string;
  code_sha256: string;
}

/** The bytes a vote's signature covers: the vote and the owner of the queue, as JSON in a fixed order. */
export function voteBytes(owner: string, v: VoteFields): Buffer {
  const { uid, decision, reason, by, at, code_sha256 } = v;
  return pae(VOTE_TYPE, Buffer.from(JSON.stringify({ owner, uid, decision, reason, by, at, code_sha256 })));
}

/** Sign `vote` for `owner`'s queue with the key of its voter, whose own queue paths (private state, datasite) are `mine`. */
export async function signVote(mine: QueuePaths, owner: string, vote: VoteFields): Promise<Signature> {
  const key = await ownerKey(mine);
  return { keyid: key.id, sig: sign(null, voteBytes(owner, vote), key.privateKey).toString("base64") };
}

export function voteSignedBy(owner: string, vote: VoteFields & { signature?: Signature | undefined }, publicKey: KeyObject): boolean {
  return vote.signature !== undefined && verify(null, voteBytes(owner, vote), publicKey, Buffer.from(vote.signature.sig, "base64"));
}
