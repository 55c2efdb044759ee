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

/** 20 lowercase hex characters, the form Deno shows. */
export function versionstampToHex(vs: Uint8Array): string {
  return bytesToHex(vs);
}

export function versionstampFromHex(hex: string): Uint8Array {
  if (hex.length !== 20) throw new KvError("invalid_argument", "Invalid versionstamp");
  try {
    return hexToBytes(hex);
  } catch {
    throw new KvError("invalid_argument", "Invalid versionstamp");
  }
}
