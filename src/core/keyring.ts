/**
 * Encryption at rest: the key hierarchy and the one place entries and queue payloads are sealed and
 * opened.
 *
 * - The **user key** (key-encryption key) is 256 bits the operator keeps outside the store
 *   (`--encryption-key-file`, `OPENKV_ENCRYPTION_KEY`); it is never written anywhere. Its fingerprint
 *   (an HMAC of a fixed label, 16 hex) names it in messages without revealing it.
 * - **Data keys** are random 256-bit AES-GCM keys with ids 1, 2, …, stored in the store's `keyring`
 *   setting only wrapped (AES-256-GCM, the id as associated data) under the user key. The wrapped keys
 *   are the store's check: a wrong user key fails to unwrap them, and opening is refused at start.
 * - One data key is **active**: every seal uses it; every envelope records its key id, so rows sealed
 *   under older keys stay readable until a rotation (src/core/rotation.ts) re-seals them and retires
 *   those keys.
 *
 * Each commit re-reads the keyring setting inside its transaction (`Sealer.sync`): a rotation started
 * by another process switches every writer to the new data key with the same commit that records it.
 */
import { createCipheriv, createDecipheriv, createHmac, createSecretKey, randomBytes, type KeyObject } from "node:crypto";
import type { Sealer } from "./atomic.ts";
import type { Backend } from "./backend.ts";
import { KvError } from "./errors.ts";
import { decodeKey } from "./keys.ts";
import { envelopeKeyId, EnvelopeError, metadataEnvelope, metadataText, open, OpenedCache, PlaintextCopies, seal, type SealContext } from "./sealing.ts";
import type { Entry, Enqueue, QueueMessage, ValueEncoding } from "./types.ts";

/** The name of the store setting holding the keyring. */
export const KEYRING_SETTING = "keyring";

const KEY_BYTES = 32;
const ENCODING_CODE: Record<ValueEncoding, number> = { v8: 1, le64: 2, bytes: 3 };
const NO_KEY = new Uint8Array(0);
/** Written values up to this size go into the opened cache (a KvU64 is 8 bytes, a V8 number at most 10). */
const REMEMBERED_WRITE_BYTES = 16;

/**
 * A user key from its base64 text (what `openssl rand -base64 32` prints), or a KvError naming `source`
 * (`--encryption-key-file ./key`, `OPENKV_ENCRYPTION_KEY`) and saying what is wrong.
 */
export function parseEncryptionKey(text: string, source: string): Uint8Array {
  const b64 = text.trim();
  if (b64 === "") {
    throw new KvError("encryption_key", `${source} is empty: it must hold a 256-bit key as base64, e.g. from \`openssl rand -base64 32\``);
  }
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || b64.length % 4 !== 0) {
    throw new KvError("encryption_key", `${source} is not base64: it must hold a 256-bit key as base64, e.g. from \`openssl rand -base64 32\``);
  }
  const key = Buffer.from(b64, "base64");
  if (key.length !== KEY_BYTES) {
    throw new KvError(
      "encryption_key",
      `${source} holds a ${key.length * 8}-bit key; OpenKV needs a 256-bit key (32 bytes) as base64, e.g. from \`openssl rand -base64 32\``,
    );
  }
  return new Uint8Array(key);
}

/** Names a user key in messages: 16 hex characters that reveal nothing about it. */
export function keyFingerprint(key: Uint8Array): string {
  return createHmac("sha256", key).update("openkv key fingerprint 1").digest("hex").slice(0, 16);
}

/** The keyring as stored (JSON in the `keyring` setting). */
export interface KeyringDocument {
  readonly format: 1;
  /** The data key every seal uses. */
  readonly active: number;
  readonly keys: readonly DataKeyRecord[];
  /** Present while `openkv key rotate` is re-sealing: what to finish. */
  readonly rotation?: RotationRecord;
}

export interface DataKeyRecord {
  readonly id: number;
  readonly createdAt: number;
  /** The data key wrapped under each user key that may open it, by user-key fingerprint. */
  readonly wrapped: Readonly<Record<string, string>>;
}

export interface RotationRecord {
  /** The data key every row is being re-sealed under (the active one). */
  readonly to: number;
  /** The user key (fingerprint) that opens the store once the rotation ends; other wraps go then. */
  readonly keep: string;
  readonly startedAt: number;
}

const WRAP_NONCE = 12;
const WRAP_TAG = 16;

function wrapLabel(id: number): Buffer {
  return Buffer.from(`openkv data key ${id}`, "latin1");
}

export function wrapDataKey(userKey: KeyObject, id: number, dataKey: Uint8Array): string {
  const nonce = randomBytes(WRAP_NONCE);
  const c = createCipheriv("aes-256-gcm", userKey, nonce);
  c.setAAD(wrapLabel(id));
  const body = Buffer.concat([c.update(dataKey), c.final()]);
  return Buffer.concat([nonce, body, c.getAuthTag()]).toString("base64");
}

function unwrapDataKey(userKey: KeyObject, id: number, text: string): Uint8Array | null {
  const buf = Buffer.from(text, "base64");
  if (buf.length !== WRAP_NONCE + KEY_BYTES + WRAP_TAG) return null;
  const d = createDecipheriv("aes-256-gcm", userKey, buf.subarray(0, WRAP_NONCE), { authTagLength: WRAP_TAG });
  d.setAAD(wrapLabel(id));
  d.setAuthTag(buf.subarray(buf.length - WRAP_TAG));
  const body = d.update(buf.subarray(WRAP_NONCE, buf.length - WRAP_TAG));
  try {
    d.final();
  } catch {
    return null;
  }
  return new Uint8Array(body);
}

function parseDocument(text: string): KeyringDocument {
  let doc: KeyringDocument;
  try {
    doc = JSON.parse(text) as KeyringDocument;
  } catch {
    throw new KvError("encryption_key", "This store's keyring is not readable (not JSON): restore the store from a backup");
  }
  if (doc?.format !== 1 || !Array.isArray(doc.keys) || !Number.isInteger(doc.active)) {
    throw new KvError("encryption_key", "This store's keyring has a format this OpenKV does not know: upgrade OpenKV to open it");
  }
  return doc;
}

/** `["users","ada"]`: a stored key as a person reads it (hex when it is no tuple). */
export function describeKey(key: Uint8Array): string {
  try {
    const parts = decodeKey(key).map((p) =>
      typeof p === "string" ? JSON.stringify(p) : typeof p === "bigint" ? `${p}n` : p instanceof Uint8Array ? `Uint8Array(${Buffer.from(p).toString("hex")})` : String(p),
    );
    return `[${parts.join(",")}]`;
  } catch {
    return `0x${Buffer.from(key).toString("hex")}`;
  }
}

/** An envelope whose data key the keyring does not hold (the engine refreshes the keyring and retries). */
export class UnknownDataKeyError extends KvError {
  readonly keyId: number;
  constructor(message: string, keyId: number) {
    super("decrypt_failed", message);
    this.keyId = keyId;
  }
}

const START_HINT = "--encryption-key-file PATH or OPENKV_ENCRYPTION_KEY";

/**
 * The engine's keys: the user key (if given), the data keys it unwrapped, and the store's keyring as
 * last seen. Also the Sealer that executeAtomic seals and opens with.
 */
export class Keyring implements Sealer {
  readonly #userKey: KeyObject | null;
  readonly fingerprint: string | null;
  /** The keyring setting as last adopted; undefined before the first. */
  #text: string | null | undefined = undefined;
  #doc: KeyringDocument | null = null;
  #dataKeys = new Map<number, KeyObject>();
  #opened: OpenedCache;

  /** `cacheBytes`: how much plaintext of hot entries to keep (OpenedCache); 0 decrypts on every read. */
  constructor(userKey?: Uint8Array, cacheBytes?: number) {
    this.#opened = new OpenedCache(cacheBytes);
    this.#userKey = userKey ? createSecretKey(userKey) : null;
    this.fingerprint = userKey ? keyFingerprint(userKey) : null;
  }

  /** True when the store has a keyring (new writes are sealed), as last seen. */
  get encrypted(): boolean {
    return this.#doc !== null;
  }

  get document(): KeyringDocument | null {
    return this.#doc;
  }

  /** The keyring text as last adopted (what a compare-and-set of the setting expects). */
  get text(): string | null {
    return this.#text ?? null;
  }

  get activeKeyId(): number | null {
    return this.#doc?.active ?? null;
  }

  /** Bytes the opened cache holds now (diagnostics, tests). */
  get cachedBytes(): number {
    return this.#opened.bytes;
  }

  /** Whether this keyring can seal and open under data key `id`. */
  holds(id: number): boolean {
    return this.#dataKeys.has(id);
  }

  /** The user key as a KeyObject, for wrapping new data keys (rotation). */
  get userKey(): KeyObject | null {
    return this.#userKey;
  }

  /** The store's keyring text as this transaction (or read) sees it; synchronous, so commits can call it. */
  adopt(text: string | null): void {
    if (text === this.#text) {
      // Keep this very string: each write of a batch syncs, and the next comparison is then by identity,
      // not character by character.
      this.#text = text;
      return;
    }
    if (text === null) {
      this.#doc = null;
      this.#text = null;
      return;
    }
    const doc = parseDocument(text);
    if (this.#userKey && this.fingerprint) {
      for (const k of doc.keys) {
        if (this.#dataKeys.has(k.id)) continue;
        const wrapped = k.wrapped[this.fingerprint];
        if (wrapped === undefined) continue;
        const raw = unwrapDataKey(this.#userKey, k.id, wrapped);
        if (!raw) {
          throw new KvError(
            "encryption_key",
            `This store's keyring does not authenticate under the encryption key given (fingerprint ${this.fingerprint}): data key ${k.id} was altered`,
          );
        }
        this.#dataKeys.set(k.id, createSecretKey(raw));
      }
    }
    this.#doc = doc;
    this.#text = text;
  }

  sync(setting: (name: string) => string | null): void {
    this.adopt(setting(KEYRING_SETTING));
  }

  /** Re-reads the keyring from the store (a rotation elsewhere may have added a data key). */
  async refresh(backend: Backend): Promise<void> {
    this.adopt(await backend.getSetting(KEYRING_SETTING));
  }

  /**
   * At open: adopts the store's keyring; with a user key and no keyring yet, creates one (data key 1),
   * so every write from now on is sealed. Refuses, with what to do, a store it cannot open: an
   * encrypted store without a key (unless `allowLocked`: a backup copies ciphertext and needs none) or
   * with the wrong key.
   */
  async unlock(backend: Backend, options: { allowLocked?: boolean; now: number }): Promise<void> {
    for (;;) {
      const text = await backend.getSetting(KEYRING_SETTING);
      if (text === null && this.#userKey) {
        const fresh = JSON.stringify(this.newDocument(null, options.now, undefined));
        if (!(await backend.putSetting(KEYRING_SETTING, fresh, null))) continue;
        this.adopt(fresh);
      } else {
        this.adopt(text);
      }
      break;
    }
    const doc = this.#doc;
    if (!doc) return;
    if (!this.#userKey) {
      if (options.allowLocked) return;
      throw new KvError(
        "encryption_key",
        `This store is encrypted: open it with its encryption key (${START_HINT}; the key's fingerprint is ${this.#fingerprintsOf(doc.active)})`,
      );
    }
    if (!this.#dataKeys.has(doc.active)) throw this.#wrongKey(doc.active);
    await backend.scrub({ checkpoint: false });
  }

  /**
   * A keyring document with a fresh data key made active: the next id after `from`'s keys, wrapped
   * under this user key and `alsoUnder` (a new user key during a rotation, which also gets every older
   * data key). The new key is not held until the document is stored and adopted: another process may
   * win the race for the same id.
   */
  newDocument(from: KeyringDocument | null, now: number, alsoUnder: { key: KeyObject; fingerprint: string } | undefined, rotation?: { keep: string }): KeyringDocument {
    const userKey = this.#userKey!;
    const id = Math.max(0, ...(from?.keys ?? []).map((k) => k.id)) + 1;
    const raw = randomBytes(KEY_BYTES);
    const keys: DataKeyRecord[] = (from?.keys ?? []).map((k) => {
      if (!alsoUnder || k.wrapped[alsoUnder.fingerprint]) return k;
      const dk = this.#dataKeys.get(k.id);
      if (!dk) return k;
      return { ...k, wrapped: { ...k.wrapped, [alsoUnder.fingerprint]: wrapDataKey(alsoUnder.key, k.id, dk.export()) } };
    });
    const wrapped: Record<string, string> = { [this.fingerprint!]: wrapDataKey(userKey, id, raw) };
    if (alsoUnder) wrapped[alsoUnder.fingerprint] = wrapDataKey(alsoUnder.key, id, raw);
    keys.push({ id, createdAt: now, wrapped });
    raw.fill(0);
    return { format: 1, active: id, keys, ...(rotation ? { rotation: { to: id, keep: rotation.keep, startedAt: now } } : {}) };
  }

  #fingerprintsOf(id: number): string {
    const k = this.#doc?.keys.find((x) => x.id === id);
    const fps = k ? Object.keys(k.wrapped) : [];
    return fps.length === 0 ? "unknown" : fps.join(" or ");
  }

  #wrongKey(id: number): KvError {
    return new KvError(
      "encryption_key",
      `The encryption key given (fingerprint ${this.fingerprint}) does not open this store: its data key ${id} is wrapped under the key with fingerprint ${this.#fingerprintsOf(id)}`,
    );
  }

  #locked(): KvError {
    return new KvError("encryption_key", `This store is encrypted but was opened without its encryption key: restart with ${START_HINT}`);
  }

  #active(): [number, KeyObject] {
    const doc = this.#doc!;
    if (!this.#userKey) throw this.#locked();
    const key = this.#dataKeys.get(doc.active);
    if (!key) {
      throw new KvError(
        "encryption_key",
        `This store's active data key ${doc.active} is not wrapped under this process's encryption key (fingerprint ${this.fingerprint}): the store's key was changed to the one with fingerprint ${this.#fingerprintsOf(doc.active)}; restart with it`,
      );
    }
    return [doc.active, key];
  }

  #keyOf = (id: number): KeyObject => {
    const key = this.#dataKeys.get(id);
    if (key) return key;
    if (!this.#userKey) throw this.#locked();
    throw new UnknownDataKeyError(`data key ${id} is not in this store's keyring (or not wrapped under this process's key, fingerprint ${this.fingerprint})`, id);
  };

  #failure(e: unknown, what: string, namespaceId: string, key: Uint8Array | null): unknown {
    const where = key ? `key ${describeKey(key)} in namespace ${namespaceId}` : `a queue message of namespace ${namespaceId}`;
    if (e instanceof UnknownDataKeyError) return new UnknownDataKeyError(`Cannot decrypt the ${what} of ${where}: ${e.message}`, e.keyId);
    if (e instanceof EnvelopeError) {
      const under = e.keyId === null ? "" : ` under data key ${e.keyId}`;
      return new KvError("decrypt_failed", `Cannot decrypt the ${what} of ${where}${under}: ${e.message}`);
    }
    return e;
  }

  sealEntry(namespaceId: string, entry: Entry): Entry {
    if (!this.#doc) return entry;
    const [id, key] = this.#active();
    const ctx: SealContext = { part: "value", namespaceId, key: entry.key, encoding: ENCODING_CODE[entry.encoding] };
    const data = seal(key, id, entry.data, ctx);
    // A counter (what sum/min/max write, and read back at the next commit) is remembered as if opened:
    // that read then decrypts nothing, and a lone decryption runs cold (~12 us, against ~4 back to
    // back). Bigger values are not: measured, a copy into the cache per write slowed 100 writes in
    // flight by 5-7%.
    if (entry.data.length <= REMEMBERED_WRITE_BYTES) this.#opened.put(data, ctx, entry.data);
    const metadata =
      entry.metadata === null ? null : metadataText(seal(key, id, Buffer.from(entry.metadata, "utf8"), { part: "metadata", namespaceId, key: entry.key, encoding: 0 }));
    return { key: entry.key, data, encoding: entry.encoding, versionstamp: entry.versionstamp, expiresAt: entry.expiresAt, metadata, sealed: true };
  }

  #openValue(envelope: Uint8Array, ctx: SealContext, copies: PlaintextCopies | undefined): Uint8Array {
    const cached = this.#opened.get(envelope, ctx, copies);
    if (cached) return cached;
    const plaintext = open(this.#keyOf, envelope, ctx);
    this.#opened.put(envelope, ctx, plaintext);
    return plaintext;
  }

  #openMetadata(text: string, ctx: SealContext): string {
    const cached = this.#opened.get(text, ctx);
    if (cached !== undefined) return cached;
    const plaintext = Buffer.from(open(this.#keyOf, metadataEnvelope(text), ctx)).toString("utf8");
    this.#opened.put(text, ctx, plaintext);
    return plaintext;
  }

  /** `copies`: where cached plaintext is copied to when the entry is one of many read together. */
  openEntry(namespaceId: string, entry: Entry, copies?: PlaintextCopies): Entry {
    if (!entry.sealed) return entry;
    let what = "value";
    try {
      // A keysOnly read carries no value: only the metadata needs opening. (A sealed value is never empty.)
      const data =
        entry.data.length === 0
          ? entry.data
          : this.#openValue(entry.data, { part: "value", namespaceId, key: entry.key, encoding: ENCODING_CODE[entry.encoding] }, copies);
      what = "metadata";
      const metadata = entry.metadata === null ? null : this.#openMetadata(entry.metadata, { part: "metadata", namespaceId, key: entry.key, encoding: 0 });
      return { key: entry.key, data, encoding: entry.encoding, versionstamp: entry.versionstamp, expiresAt: entry.expiresAt, metadata };
    } catch (e) {
      throw this.#failure(e, what, namespaceId, entry.key);
    }
  }

  /** Opens, in place, the sealed entries of one range read; plaintext entries are left as they are. */
  openEntries(namespaceId: string, list: Entry[]): void {
    let sealed = 0;
    for (let i = 0; i < list.length; i++) if (list[i]!.sealed) sealed++;
    if (sealed === 0) return;
    const copies = sealed > 1 ? new PlaintextCopies(list.filter((e) => e.sealed).map((e) => e.data)) : undefined;
    for (let i = 0; i < list.length; i++) if (list[i]!.sealed) list[i] = this.openEntry(namespaceId, list[i]!, copies);
  }

  sealMessage(namespaceId: string, message: Enqueue): Enqueue {
    if (!this.#doc) return message;
    const [id, key] = this.#active();
    return { ...message, payload: seal(key, id, message.payload, payloadContext(namespaceId)), sealed: true };
  }

  openPayload(namespaceId: string, message: QueueMessage): Uint8Array {
    if (!message.sealed) return message.payload;
    try {
      return open(this.#keyOf, message.payload, payloadContext(namespaceId));
    } catch (e) {
      throw this.#failure(e, "payload", namespaceId, null);
    }
  }

  /** The data key ids an entry's stored bytes are sealed under (empty when plaintext). */
  static keyIdsOf(entry: Entry): number[] {
    if (!entry.sealed) return [];
    const ids = [envelopeKeyId(entry.data) ?? -1];
    if (entry.metadata !== null) {
      try {
        ids.push(envelopeKeyId(metadataEnvelope(entry.metadata)) ?? -1);
      } catch {
        ids.push(-1);
      }
    }
    return ids;
  }
}

function payloadContext(namespaceId: string): SealContext {
  return { part: "payload", namespaceId, key: NO_KEY, encoding: 0 };
}
