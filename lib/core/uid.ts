// Job uids are time-ordered (UUIDv7, RFC 9562): the first 48 bits are the submission's Unix time in
// milliseconds, so folder names sort by submission and a listing can page through a queue of any size
// by reading names only, never records. They are still plain lower-case UUIDs, which the Python
// client's CodeJob model accepts. Jobs from Python clients carry random v4 uids and no such time.
import { randomBytes } from "node:crypto";

let last = 0;
let sequence = 0;

export function uuidv7(now = Date.now()): string {
  // Within one millisecond, the random part still increases, so uids made in one process keep their order.
  if (now <= last) {
    sequence += 1;
    now = last;
  } else {
    last = now;
    sequence = 0;
  }
  const bytes = randomBytes(16);
  bytes.writeUIntBE(now, 0, 6);
  bytes[6] = 0x70 | ((sequence >> 8) & 0x0f);
  bytes[7] = sequence & 0xff;
  bytes[8] = 0x80 | (bytes[8]! & 0x3f);
  const hex = bytes.toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Does the uid carry its submission time (a v7 uid)? Its version digit says, without parsing it. */
export function isTimeOrdered(uid: string): boolean {
  return uid[14] === "7";
}

/** The submission time a v7 uid carries (ms), or undefined for any other uid. */
export function uidTime(uid: string): number | undefined {
  if (!isTimeOrdered(uid)) return undefined;
  return parseInt(uid.slice(0, 8) + uid.slice(9, 13), 16);
}
