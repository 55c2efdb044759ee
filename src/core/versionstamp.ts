/** A versionstamp: 8-byte big-endian commit counter ‖ 2-byte index within the commit. */
import { KvError } from "./errors.ts";
import { bytesToHex, hexToBytes } from "./keys.ts";

export const VERSIONSTAMP_BYTES = 10;

export function versionstampFromCounter(counter: bigint, index = 0): Uint8Array {
  const out = new Uint8Array(VERSIONSTAMP_BYTES);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, counter);
  view.setUint16(8, index);
  return out;
}

export function counterFromVersionstamp(vs: Uint8Array): bigint {
  return new DataView(vs.buffer, vs.byteOffset, vs.byteLength).getBigUint64(0);
}

/**
 * The commit counter of a versionstamp that is `counter ‖ 0000` with the counter a safe JS integer (every
 * versionstamp this store's commits make), else null (imported ones may carry an index).
 */
export function plainCounter(vs: Uint8Array): number | null {
  if (vs.length !== VERSIONSTAMP_BYTES || vs[8] !== 0 || vs[9] !== 0 || vs[0] !== 0 || vs[1]! >= 0x20) return null;
  return (vs[1]! * 2 ** 48) + (vs[2]! * 2 ** 40) + (vs[3]! * 2 ** 32) + ((vs[4]! << 24) >>> 0) + (vs[5]! << 16) + (vs[6]! << 8) + vs[7]!;
}

/** `counter ‖ 0000` for a safe integer counter, without a BigInt. */
export function versionstampFromNumber(counter: number): Uint8Array {
  const out = new Uint8Array(VERSIONSTAMP_BYTES);
  const hi = Math.floor(counter / 2 ** 32);
  const lo = counter >>> 0;
  out[1] = hi >>> 16;
  out[2] = hi >>> 8;
  out[3] = hi;
  out[4] = lo >>> 24;
  out[5] = lo >>> 16;
  out[6] = lo >>> 8;
  out[7] = lo;
  return out;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/** 20 lowercase hex characters, the form Deno shows. A table lookup: lists call this once per entry. */
export function versionstampToHex(vs: Uint8Array): string {
  if (vs.length !== VERSIONSTAMP_BYTES) return bytesToHex(vs);
  return HEX[vs[0]!]! + HEX[vs[1]!]! + HEX[vs[2]!]! + HEX[vs[3]!]! + HEX[vs[4]!]! + HEX[vs[5]!]! + HEX[vs[6]!]! + HEX[vs[7]!]! + HEX[vs[8]!]! + HEX[vs[9]!]!;
}

export function versionstampFromHex(hex: string): Uint8Array {
  if (hex.length !== 20) throw new KvError("invalid_argument", "Invalid versionstamp");
  try {
    return hexToBytes(hex);
  } catch {
    throw new KvError("invalid_argument", "Invalid versionstamp");
  }
}
