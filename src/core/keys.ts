/**
 * The Deno KV tuple key codec (FoundationDB's tuple layer): a key is a list of parts, encoded so that
 * byte order equals Deno's sort order (bytes < string < bigint < number < false < true).
 */
import { KvError } from "./errors.ts";
import { SHORT_STRING_MAX, shortLatin1 } from "./short-strings.ts";

export type KvKeyPart = Uint8Array | string | number | bigint | boolean;
export type KvKey = readonly KvKeyPart[];

const BYTES = 0x01;
const STRING = 0x02;
const INT_ZERO = 0x14;
const POS_BIG = 0x1d;
const NEG_BIG = 0x0b;
const DOUBLE = 0x21;
const FALSE = 0x26;
const TRUE = 0x27;

const utf8 = new TextEncoder();
// ignoreBOM: a leading U+FEFF is part of the key part, not a byte order mark to drop.
const utf8Decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

class ByteWriter {
  buf = new Uint8Array(64);
  len = 0;
  ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }
  byte(b: number): void {
    this.ensure(1);
    this.buf[this.len++] = b;
  }
  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }
  /** Writes bytes with 0x00 escaped as 0x00 0xFF and a 0x00 terminator. */
  escaped(b: Uint8Array): void {
    this.ensure(b.length * 2 + 1);
    for (let i = 0; i < b.length; i++) {
      const c = b[i]!;
      this.buf[this.len++] = c;
      if (c === 0) this.buf[this.len++] = 0xff;
    }
    this.buf[this.len++] = 0;
  }
  result(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

function bigintToBytes(n: bigint): Uint8Array {
  let hex = n.toString(16);
  if (hex.length % 2) hex = "0" + hex;
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

function encodeBigint(w: ByteWriter, n: bigint): void {
  if (n === 0n) return w.byte(INT_ZERO);
  const negative = n < 0n;
  const mag = bigintToBytes(negative ? -n : n);
  if (mag.length > 255) throw new KvError("invalid_key", "BigInt key part is too large");
  if (negative) for (let i = 0; i < mag.length; i++) mag[i] = mag[i]! ^ 0xff;
  if (mag.length <= 8) {
    w.byte(negative ? INT_ZERO - mag.length : INT_ZERO + mag.length);
  } else {
    w.byte(negative ? NEG_BIG : POS_BIG);
    w.byte(negative ? mag.length ^ 0xff : mag.length);
  }
  w.bytes(mag);
}

const f64 = new DataView(new ArrayBuffer(8));
const f64Bytes = new Uint8Array(f64.buffer);

function encodeDouble(w: ByteWriter, n: number): void {
  if (Number.isNaN(n)) f64Bytes.set([0x7f, 0xf8, 0, 0, 0, 0, 0, 0]);
  else f64.setFloat64(0, n);
  w.ensure(9);
  w.buf[w.len++] = DOUBLE;
  const negative = (f64Bytes[0]! & 0x80) !== 0;
  w.buf[w.len++] = negative ? f64Bytes[0]! ^ 0xff : f64Bytes[0]! ^ 0x80;
  for (let i = 1; i < 8; i++) w.buf[w.len++] = negative ? f64Bytes[i]! ^ 0xff : f64Bytes[i]!;
}

/** Writes a string part's UTF-8 bytes, escaped; ASCII skips TextEncoder's per-call cost. */
function encodeString(w: ByteWriter, text: string): void {
  const n = text.length;
  w.ensure(n * 2 + 1);
  const start = w.len;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x80) {
      w.len = start;
      w.escaped(utf8.encode(text));
      return;
    }
    w.buf[w.len++] = c;
    if (c === 0) w.buf[w.len++] = 0xff;
  }
  w.buf[w.len++] = 0;
}

/** Encodes a Deno KV key. Throws KvError("invalid_key") for a part of an unsupported type. */
export function encodeKey(key: KvKey): Uint8Array {
  const w = new ByteWriter();
  for (const part of key) {
    switch (typeof part) {
      case "string":
        w.byte(STRING);
        encodeString(w, part);
        break;
      case "number":
        encodeDouble(w, part);
        break;
      case "bigint":
        encodeBigint(w, part);
        break;
      case "boolean":
        w.byte(part ? TRUE : FALSE);
        break;
      default:
        if (part instanceof Uint8Array) {
          w.byte(BYTES);
          w.escaped(part);
          break;
        }
        throw new KvError("invalid_key", "Invalid key part type");
    }
  }
  return w.result();
}

function readEscaped(bytes: Uint8Array, pos: number): [Uint8Array, number] {
  // Common case: no escaped 0x00 inside, so the part is a plain slice up to its terminator.
  let end = pos;
  let escapes = false;
  for (;;) {
    if (end >= bytes.length) throw new KvError("invalid_key", "Unterminated key part");
    if (bytes[end] === 0) {
      if (bytes[end + 1] === 0xff) {
        escapes = true;
        end += 2;
        continue;
      }
      break;
    }
    end++;
  }
  if (!escapes) return [bytes.slice(pos, end), end + 1];
  const out = new Uint8Array(end - pos);
  let n = 0;
  for (let i = pos; i < end; i++) {
    out[n++] = bytes[i]!;
    if (bytes[i] === 0) i++;
  }
  return [out.slice(0, n), end + 1];
}

/** UTF-8 to string; short ASCII avoids TextDecoder's per-call cost. */
function decodeUtf8(b: Uint8Array): string {
  if (b.length < 64) {
    let ascii = true;
    for (let i = 0; i < b.length; i++) if (b[i]! >= 0x80) ascii = false;
    if (ascii) return String.fromCharCode.apply(null, b as unknown as number[]);
  }
  try {
    return utf8Decoder.decode(b);
  } catch {
    throw new KvError("invalid_key", "Invalid UTF-8 in string key part");
  }
}

function bytesToBigint(b: Uint8Array): bigint {
  let n = 0n;
  for (const c of b) n = (n << 8n) | BigInt(c);
  return n;
}

const doubleScratch = new Uint8Array(8);
const doubleView = new DataView(doubleScratch.buffer);

/** Decodes bytes written by encodeKey (or by Deno) back into a key. */
export function decodeKey(input: Uint8Array): KvKeyPart[] {
  // A Buffer's slice() is a view, not a copy: parts would alias (and the XORs below overwrite) the input.
  const bytes = input.constructor === Uint8Array ? input : new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  const parts: KvKeyPart[] = [];
  let pos = 0;
  while (pos < bytes.length) {
    const tag = bytes[pos++]!;
    if (tag === BYTES) {
      const [b, next] = readEscaped(bytes, pos);
      parts.push(b);
      pos = next;
    } else if (tag === STRING) {
      // Common case: a short ASCII part with no escaped 0x00, read in place (no slice, no decoder).
      let end = pos;
      while (end < bytes.length && bytes[end]! !== 0 && bytes[end]! < 0x80 && end - pos < SHORT_STRING_MAX) end++;
      if (end < bytes.length && bytes[end] === 0 && bytes[end + 1] !== 0xff) {
        parts.push(shortLatin1(bytes, pos, end - pos));
        pos = end + 1;
        continue;
      }
      const [b, next] = readEscaped(bytes, pos);
      parts.push(decodeUtf8(b));
      pos = next;
    } else if (tag >= INT_ZERO - 8 && tag <= INT_ZERO + 8) {
      const n = Math.abs(tag - INT_ZERO);
      if (pos + n > bytes.length) throw new KvError("invalid_key", "Truncated integer key part");
      const mag = bytes.slice(pos, pos + n);
      pos += n;
      if (tag < INT_ZERO) {
        for (let i = 0; i < n; i++) mag[i] = mag[i]! ^ 0xff;
        parts.push(-bytesToBigint(mag));
      } else parts.push(bytesToBigint(mag));
    } else if (tag === POS_BIG || tag === NEG_BIG) {
      const negative = tag === NEG_BIG;
      if (pos >= bytes.length) throw new KvError("invalid_key", "Truncated integer key part");
      const n = negative ? bytes[pos]! ^ 0xff : bytes[pos]!;
      pos++;
      if (pos + n > bytes.length) throw new KvError("invalid_key", "Truncated integer key part");
      const mag = bytes.slice(pos, pos + n);
      pos += n;
      if (negative) for (let i = 0; i < n; i++) mag[i] = mag[i]! ^ 0xff;
      parts.push(negative ? -bytesToBigint(mag) : bytesToBigint(mag));
    } else if (tag === DOUBLE) {
      if (pos + 8 > bytes.length) throw new KvError("invalid_key", "Truncated number key part");
      // Into a scratch buffer, not a slice: a number part allocates nothing but the number.
      const b = doubleScratch;
      for (let i = 0; i < 8; i++) b[i] = bytes[pos + i]!;
      pos += 8;
      if (b[0]! & 0x80) b[0] = b[0]! ^ 0x80;
      else for (let i = 0; i < 8; i++) b[i] = b[i]! ^ 0xff;
      parts.push(doubleView.getFloat64(0));
    } else if (tag === FALSE || tag === TRUE) {
      parts.push(tag === TRUE);
    } else {
      throw new KvError("invalid_key", `Unknown key part tag 0x${tag.toString(16).padStart(2, "0")}`);
    }
  }
  return parts;
}

/**
 * A key as a map key: latin1 maps each byte to one UTF-16 unit, so these strings also compare in the
 * keys' byte order.
 */
export function keyId(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString("latin1");
}

/** Bytewise comparison, the order of every range scan. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

export function concatBytes(...chunks: Uint8Array[]): Uint8Array {
  let len = 0;
  for (const c of chunks) len += c.length;
  const out = new Uint8Array(len);
  let pos = 0;
  for (const c of chunks) {
    out.set(c, pos);
    pos += c.length;
  }
  return out;
}

export function bytesToHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");
}

export function hexToBytes(hex: string): Uint8Array {
  if (hex.length % 2 || /[^0-9a-fA-F]/.test(hex)) throw new KvError("invalid_argument", `Invalid hex string: ${hex}`);
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** True when a range is exactly one key, `[key, key ‖ 0x00)`: what a get reads. */
export function isPointRange(range: { readonly start: Uint8Array; readonly end: Uint8Array }): boolean {
  const { start, end } = range;
  if (end.length !== start.length + 1 || end[start.length] !== 0) return false;
  for (let i = 0; i < start.length; i++) if (start[i] !== end[i]) return false;
  return true;
}
