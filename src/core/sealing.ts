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

function associatedData(header: Uint8Array, ctx: SealContext): Buffer {
  const ns = nsBytes(ctx.namespaceId);
  const aad = Buffer.allocUnsafe(DOMAIN.length + 1 + HEADER + 1 + 2 + ns.length + ctx.key.length);
  let at = DOMAIN.copy(aad, 0);
  aad[at++] = PART_TAG[ctx.part];
  aad.set(header.subarray(0, HEADER), at);
  at += HEADER;
  aad[at++] = ctx.encoding;
  aad.writeUInt16BE(ns.length, at);
  at += 2;
  at += ns.copy(aad, at);
  aad.set(ctx.key, at);
  return aad;
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

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

interface Opened {
  readonly envelope: Uint8Array | string;
  readonly encoding: number;
  readonly plaintext: Uint8Array | string;
  readonly size: number;
}

/**
 * The plaintext of entries this process sealed or opened lately, as a database's buffer pool holds
 * decrypted pages: a hot entry is decrypted once, not on every read. One slot per namespace, key and
 * part (value or metadata), holding the exact envelope it was decrypted from: opening is a pure
 * function of those bytes and of where they belong, and a hit needs both identical, so the cache never
 * answers for altered or moved bytes (they miss, and fail to open). Only small entries are kept (for a
 * big value the cipher's throughput, not its set-up, is the cost), at most `budget` bytes in all, least
 * recently used going first. Plaintext lives in this process's memory, as it does while any request
 * handles it; none of it reaches the store's files.
 */
export class OpenedCache {
  readonly #budget: number;
  readonly #maxItem: number;
  #bytes = 0;
  #items = new Map<string, Opened>();

  constructor(budget = 16 * 1024 * 1024, maxItem = 64 * 1024) {
    this.#budget = budget;
    this.#maxItem = maxItem;
  }

  static #slot(ctx: SealContext): string {
    // The key's bytes as char codes: keyId() would reach for the key's ArrayBuffer, which for a small
    // key made in JS means copying it out of the heap on every lookup.
    return `${ctx.part}\0${ctx.namespaceId}\0${String.fromCharCode.apply(null, ctx.key as unknown as number[])}`;
  }

  get<T extends Uint8Array | string>(envelope: T, ctx: SealContext): T | undefined {
    if (this.#bytes === 0) return undefined;
    const slot = OpenedCache.#slot(ctx);
    const hit = this.#items.get(slot);
    if (!hit || hit.encoding !== ctx.encoding) return undefined;
    if (typeof envelope === "string" ? hit.envelope !== envelope : typeof hit.envelope === "string" || !sameBytes(hit.envelope, envelope)) return undefined;
    this.#items.delete(slot);
    this.#items.set(slot, hit);
    // A copy: whoever reads the value may change its bytes, and the next reader must get what was stored.
    return (typeof hit.plaintext === "string" ? hit.plaintext : hit.plaintext.slice()) as T;
  }

  put(envelope: Uint8Array | string, ctx: SealContext, plaintext: Uint8Array | string): void {
    const size = envelope.length + plaintext.length + ctx.key.length + ctx.namespaceId.length;
    if (size > this.#maxItem || size > this.#budget) return;
    const slot = OpenedCache.#slot(ctx);
    const old = this.#items.get(slot);
    if (old) {
      this.#items.delete(slot);
      this.#bytes -= old.size;
    }
    this.#items.set(slot, { envelope, encoding: ctx.encoding, plaintext: typeof plaintext === "string" ? plaintext : plaintext.slice(), size });
    this.#bytes += size;
    if (this.#bytes <= this.#budget) return;
    // Evict down to three quarters at once: a Map drops its oldest entries cheaply in bulk, not one at a time.
    for (const [oldest, item] of this.#items) {
      if (this.#bytes <= (this.#budget * 3) / 4) break;
      this.#items.delete(oldest);
      this.#bytes -= item.size;
    }
  }
}
