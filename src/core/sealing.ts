/**
 * The sealed envelope: AES-256-GCM over one value, one metadata text or one queue payload.
 *
 *   [1 byte format = 1][4 bytes data key id, big-endian][12 bytes nonce][ciphertext][16 bytes tag]
 *
 * The key id travels with every envelope, so rows sealed before a key rotation stay readable and the
 * rotation can tell, without decrypting, which rows still need it. The associated data binds an envelope
 * to where it belongs — what it is (value, metadata, payload), the namespace id, the key and the value's
 * encoding — so bytes moved to another key or namespace, or relabelled, fail authentication instead of
 * decrypting to someone else's data. Keys themselves stay plaintext: ordering and ranges need them.
 *
 * Nonces are random (96 bits) and drawn from a pool refilled in bulk: a fresh `randomBytes(12)` per seal
 * costs more than the encryption of a small value. NIST SP 800-38D bounds random nonces at 2^32 seals per
 * key; `openkv key rotate` starts a new data key.
 */
import { createCipheriv, createDecipheriv, randomFillSync, type KeyObject } from "node:crypto";

export const ENVELOPE_FORMAT = 1;
const HEADER = 5;
const NONCE = 12;
const TAG = 16;
/** Bytes an envelope adds to what it seals. */
export const ENVELOPE_OVERHEAD = HEADER + NONCE + TAG;

/** What an envelope holds; part of its associated data, so one kind cannot pass for another. */
export type SealedPart = "value" | "metadata" | "payload";
const PART_TAG: Record<SealedPart, number> = { value: 0x76, metadata: 0x6d, payload: 0x71 };
const DOMAIN = Buffer.from("openkv/sealed/1\0", "latin1");

/** Where an envelope belongs: any difference on opening is an authentication failure. */
export interface SealContext {
  readonly part: SealedPart;
  readonly namespaceId: string;
  /** The entry's key (empty for queue payloads). */
  readonly key: Uint8Array;
  /** The plaintext value's encoding code (0 for metadata and payloads). */
  readonly encoding: number;
}

/** Thrown when an envelope is malformed or fails authentication; the keyring turns it into a KvError. */
export class EnvelopeError extends Error {
  readonly keyId: number | null;
  constructor(message: string, keyId: number | null) {
    super(message);
    this.name = "EnvelopeError";
    this.keyId = keyId;
  }
}

let pool = Buffer.alloc(0);
let poolAt = 0;

function nonceInto(out: Buffer, at: number): void {
  if (poolAt + NONCE > pool.length) {
    pool = randomFillSync(Buffer.allocUnsafe(NONCE * 4096));
    poolAt = 0;
  }
  pool.copy(out, at, poolAt, poolAt + NONCE);
  poolAt += NONCE;
}

/** Namespace ids as bytes: every seal and open needs one, and a store has few namespaces. */
const namespaceBytes = new Map<string, Buffer>();

function nsBytes(id: string): Buffer {
  let b = namespaceBytes.get(id);
  if (!b) {
    if (namespaceBytes.size > 10_000) namespaceBytes.clear();
    namespaceBytes.set(id, (b = Buffer.from(id, "utf8")));
  }
  return b;
}

/**
 * One buffer for every call's associated data: setAAD feeds it to the cipher at once and keeps no
 * reference, so an allocation per seal and open buys nothing.
 */
let aadScratch = Buffer.allocUnsafeSlow(256);

function associatedData(header: Uint8Array, ctx: SealContext): Buffer {
  const ns = nsBytes(ctx.namespaceId);
  const n = DOMAIN.length + 1 + HEADER + 1 + 2 + ns.length + ctx.key.length;
  if (n > aadScratch.length) aadScratch = Buffer.allocUnsafeSlow(Math.max(n, aadScratch.length * 2));
  const aad = aadScratch;
  let at = DOMAIN.copy(aad, 0);
  aad[at++] = PART_TAG[ctx.part];
  aad.set(header.subarray(0, HEADER), at);
  at += HEADER;
  aad[at++] = ctx.encoding;
  aad.writeUInt16BE(ns.length, at);
  at += 2;
  at += ns.copy(aad, at);
  aad.set(ctx.key, at);
  return aad.subarray(0, n);
}

/** Seals `plaintext` under data key `keyId`. */
export function seal(key: KeyObject, keyId: number, plaintext: Uint8Array, ctx: SealContext): Uint8Array {
  const out = Buffer.allocUnsafe(HEADER + NONCE + plaintext.length + TAG);
  out[0] = ENVELOPE_FORMAT;
  out.writeUInt32BE(keyId, 1);
  nonceInto(out, HEADER);
  const cipher = createCipheriv("aes-256-gcm", key, out.subarray(HEADER, HEADER + NONCE));
  cipher.setAAD(associatedData(out, ctx));
  let at = HEADER + NONCE;
  at += cipher.update(plaintext).copy(out, at);
  at += cipher.final().copy(out, at);
  cipher.getAuthTag().copy(out, at);
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

/** The data key id an envelope was sealed with, read without decrypting; null when it is no envelope. */
export function envelopeKeyId(envelope: Uint8Array): number | null {
  if (envelope.length < ENVELOPE_OVERHEAD || envelope[0] !== ENVELOPE_FORMAT) return null;
  return new DataView(envelope.buffer, envelope.byteOffset, HEADER).getUint32(1);
}

/** Opens an envelope with the key `keyOf(id)` returns; throws EnvelopeError when it cannot. */
export function open(keyOf: (id: number) => KeyObject, envelope: Uint8Array, ctx: SealContext): Uint8Array {
  const keyId = envelopeKeyId(envelope);
  if (keyId === null) throw new EnvelopeError("it is not a sealed envelope", null);
  const key = keyOf(keyId);
  const n = envelope.length;
  const decipher = createDecipheriv("aes-256-gcm", key, envelope.subarray(HEADER, HEADER + NONCE), { authTagLength: TAG });
  decipher.setAAD(associatedData(envelope, ctx));
  decipher.setAuthTag(envelope.subarray(n - TAG));
  const body = decipher.update(envelope.subarray(HEADER + NONCE, n - TAG));
  try {
    decipher.final();
  } catch {
    throw new EnvelopeError("it does not authenticate (altered, or moved from another key or namespace)", keyId);
  }
  return new Uint8Array(body.buffer, body.byteOffset, body.length);
}

/** Sealed metadata is stored as text (the Backend keeps metadata as a string): a prefix, then base64. */
const METADATA_PREFIX = "sealed:";

export function metadataText(envelope: Uint8Array): string {
  return METADATA_PREFIX + Buffer.from(envelope.buffer, envelope.byteOffset, envelope.length).toString("base64");
}

export function metadataEnvelope(text: string): Uint8Array {
  if (!text.startsWith(METADATA_PREFIX)) throw new EnvelopeError("it is not sealed metadata", null);
  return new Uint8Array(Buffer.from(text.slice(METADATA_PREFIX.length), "base64"));
}

const compareRange = Buffer.prototype.compare as (this: Uint8Array, target: Uint8Array, targetStart: number, targetEnd: number, sourceStart: number, sourceEnd: number) => number;

/** Whether `bytes[at, at + b.length)` equals `b`. */
function sameBytesAt(bytes: Uint8Array, at: number, b: Uint8Array): boolean {
  // A loop beats a call into C++ (Buffer.compare) for the few dozen bytes of a small value or key.
  for (let i = b.length - 1; i >= 0; i--) if (bytes[at + i] !== b[i]) return false;
  return true;
}

/**
 * What a slot costs beyond its bytes (the slot object, the array's header, the Map's entry), counted
 * so that a budget of small entries is close to the memory they take.
 */
const SLOT_OVERHEAD = 160;

interface Opened {
  readonly part: SealedPart;
  readonly namespaceId: string;
  readonly encoding: number;
  /**
   * The key, then (for a value) the envelope and its plaintext, in one array: a hit reads all three,
   * and in a server's heap one array is fewer cache misses than three.
   */
  readonly bytes: Uint8Array;
  readonly keyLength: number;
  readonly envelopeLength: number;
  /** A metadata envelope and its plaintext, both text; null for a value. */
  readonly text: string | null;
  readonly plainText: string | null;
  readonly size: number;
  /** Read since it was stored or last spared by eviction (second chance). */
  used: boolean;
}

/**
 * The plaintext of envelopes this process opened lately, as a database's buffer pool holds decrypted
 * pages: a hot entry is decrypted once, not on every read. A hit needs the envelope's bytes and the
 * place it is read from (part, namespace, key, encoding) both identical to those it was opened with:
 * opening is a pure function of the two, so the cache answers exactly what decrypting would — never
 * for altered or moved bytes (they miss, and fail to open).
 *
 * Slots are found by the envelope itself, not by where it belongs: a value's slot is 30 bits of its
 * random nonce (a small integer, so a lookup builds no string and hashes nothing; two envelopes that
 * share those bits only take turns in one slot), a metadata envelope's slot is its text. An entry
 * rewritten leaves its old envelope's slot behind, never read again, first to go. Only small entries
 * are kept (for a big value the cipher's throughput, not its set-up, is the cost), at most `budget`
 * bytes in all. Eviction is second chance (CLOCK): a hit only marks its slot, because moving it to the
 * back of the Map on every read cost more than the rest of the hit; eviction skips marked slots once.
 * Plaintext lives in this process's memory, as it does while any request handles it; none of it
 * reaches the store's files.
 */
export class OpenedCache {
  readonly #budget: number;
  readonly #maxItem: number;
  #bytes = 0;
  #items = new Map<number | string, Opened>();

  constructor(budget = 16 * 1024 * 1024, maxItem = 64 * 1024) {
    this.#budget = budget;
    this.#maxItem = maxItem;
  }

  /** Bytes held (envelopes, plaintext, keys, and SLOT_OVERHEAD per slot), never above the budget after a put. */
  get bytes(): number {
    return this.#bytes;
  }

  static #slot(envelope: Uint8Array | string): number | string {
    if (typeof envelope === "string") return envelope;
    if (envelope.length < ENVELOPE_OVERHEAD) return -1;
    return envelope[HEADER]! | (envelope[HEADER + 1]! << 8) | (envelope[HEADER + 2]! << 16) | ((envelope[HEADER + 3]! & 0x3f) << 24);
  }

  /** `copies`: where a value's plaintext is copied to (one read's shared buffers); alone otherwise. */
  get<T extends Uint8Array | string>(envelope: T, ctx: SealContext, copies?: PlaintextCopies): T | undefined {
    if (this.#bytes === 0) return undefined;
    const hit = this.#items.get(OpenedCache.#slot(envelope));
    if (
      hit === undefined ||
      hit.part !== ctx.part ||
      hit.encoding !== ctx.encoding ||
      hit.namespaceId !== ctx.namespaceId ||
      hit.keyLength !== ctx.key.length ||
      !sameBytesAt(hit.bytes, 0, ctx.key)
    ) {
      return undefined;
    }
    if (typeof envelope === "string") {
      // The slot is the text itself; only a number slot can hold a stranger.
      if (hit.text !== envelope) return undefined;
      hit.used = true;
      return hit.plainText as T;
    }
    if (hit.text !== null || hit.envelopeLength !== envelope.length || compareRange.call(hit.bytes, envelope, 0, envelope.length, hit.keyLength, hit.keyLength + hit.envelopeLength) !== 0) return undefined;
    hit.used = true;
    // A copy: whoever reads the value may change its bytes, and the next reader must get what was stored.
    const from = hit.keyLength + hit.envelopeLength;
    return (copies ? copies.copy(hit.bytes, from, hit.bytes.length) : hit.bytes.slice(from)) as T;
  }

  put(envelope: Uint8Array | string, ctx: SealContext, plaintext: Uint8Array | string): void {
    const size = SLOT_OVERHEAD + envelope.length + plaintext.length + ctx.key.length;
    if (size > this.#maxItem || size > this.#budget) return;
    const slot = OpenedCache.#slot(envelope);
    const old = this.#items.get(slot);
    if (old) {
      this.#items.delete(slot);
      this.#bytes -= old.size;
    }
    const k = ctx.key.length;
    let bytes: Uint8Array;
    if (typeof envelope === "string") {
      bytes = new Uint8Array(ctx.key);
    } else {
      bytes = new Uint8Array(k + envelope.length + plaintext.length);
      bytes.set(ctx.key);
      bytes.set(envelope, k);
      bytes.set(plaintext as Uint8Array, k + envelope.length);
    }
    this.#items.set(slot, {
      part: ctx.part,
      namespaceId: ctx.namespaceId,
      encoding: ctx.encoding,
      bytes,
      keyLength: k,
      envelopeLength: typeof envelope === "string" ? 0 : envelope.length,
      text: typeof envelope === "string" ? envelope : null,
      plainText: typeof plaintext === "string" ? plaintext : null,
      size,
      used: false,
    });
    this.#bytes += size;
    if (this.#bytes > this.#budget) this.#evict();
  }

  /** Down to three quarters of the budget at once: a Map drops its oldest entries cheaply in bulk. */
  #evict(): void {
    const target = (this.#budget * 3) / 4;
    // Each slot is spared at most once per call (it comes round again, unmarked), so this ends.
    for (const [slot, item] of this.#items) {
      if (this.#bytes <= target) return;
      this.#items.delete(slot);
      if (item.used) {
        item.used = false;
        this.#items.set(slot, item);
      } else {
        this.#bytes -= item.size;
      }
    }
  }
}

/** Plaintexts up to this size share a read's buffers; a bigger one is copied on its own. */
const SHARED_COPY_MAX = 1024;
/** A shared buffer's size at most: one value kept by a caller keeps no more than this alive. */
const SHARED_BUFFER_MAX = 64 * 1024;

/**
 * Copies of cached plaintexts for one read of many entries, carved out of a few shared buffers: one
 * allocation per read rather than one per entry, which a listing paid more for than for finding the
 * plaintext (and an array made in JS per small value is later copied out of the heap again by
 * whatever asks for its ArrayBuffer, as the V8 decoder does). The values all go to the one caller
 * that read them; each is its own view, so changing one changes no other. Buffers are zeroed, so no
 * part of one holds anything but these plaintexts.
 */
export class PlaintextCopies {
  /** Bytes of small plaintexts the read may still copy (sized from its envelopes). */
  #left: number;
  #buffer: Uint8Array | null = null;
  #at = 0;

  /** `envelopes`: the sealed values the read holds; their sizes bound what will be copied. */
  constructor(envelopes: Iterable<Uint8Array>) {
    let left = 0;
    for (const e of envelopes) {
      const n = e.length - ENVELOPE_OVERHEAD;
      if (n > 0 && n <= SHARED_COPY_MAX) left += n;
    }
    this.#left = left;
  }

  copy(source: Uint8Array, start: number, end: number): Uint8Array {
    const n = end - start;
    if (n > SHARED_COPY_MAX) return source.slice(start, end);
    let buffer = this.#buffer;
    if (buffer === null || this.#at + n > buffer.length) {
      this.#buffer = buffer = new Uint8Array(Math.min(SHARED_BUFFER_MAX, Math.max(n, this.#left)));
      this.#at = 0;
    }
    const out = buffer.subarray(this.#at, this.#at + n);
    out.set(source.subarray(start, end));
    this.#at += n;
    this.#left -= n;
    return out;
  }
}
