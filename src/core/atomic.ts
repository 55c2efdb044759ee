/**
 * The one write path's rules, shared by every backend: checks first, then mutations in order on an
 * overlay (so later mutations see earlier ones), then the overlay is written. Nothing is written if a
 * check fails or a mutation throws. On an encrypted store this is also where values are sealed and
 * opened: the overlay holds plaintext (sum/min/max read and compute on it), and each entry is sealed as
 * it leaves for the backend — once, here, whatever the backend.
 */
import type { BatchItem } from "./backend.ts";
import { KvError } from "./errors.ts";
import { KEYRING_SETTING } from "./keyring.ts";
import { bytesToHex, compareBytes, concatBytes, keyId } from "./keys.ts";
import type { AtomicWrite, CommitResult, Entry, Enqueue, StoredValue } from "./types.ts";
import { deserializeV8, serializeV8 } from "./v8.ts";

/** What a backend offers inside one write transaction. */
export interface TxView {
  /** The stored entry, expired or not; null when absent. */
  get(key: Uint8Array): Entry | null;
  put(entry: Entry): void;
  delete(key: Uint8Array): void;
  enqueue(message: Enqueue): void;
  /** A store setting (Backend.getSetting) as of this transaction; only those named in TX_SETTINGS. */
  setting(name: string): string | null;
}

/**
 * The settings a write transaction may read (`TxView.setting`). A backend that fetches settings up
 * front (PostgreSQL, one round trip per batch) fetches only these: other settings, such as a store's
 * API tokens (one record per token), can grow large and no commit needs them.
 */
export const TX_SETTINGS: readonly string[] = [KEYRING_SETTING];

/**
 * Seals what a write stores and opens what it reads (the engine's Keyring, src/core/keyring.ts). Every
 * method throws a KvError when it cannot (no key for an encrypted store, an entry that fails to
 * authenticate): that write fails, the batch goes on.
 */
export interface Sealer {
  /** True when the store had a keyring when this process last looked (new writes are sealed). */
  readonly encrypted: boolean;
  /** Adopts the store's keyring as this transaction sees it, so every process seals under the active key. */
  sync(setting: (name: string) => string | null): void;
  sealEntry(namespaceId: string, entry: Entry): Entry;
  openEntry(namespaceId: string, entry: Entry): Entry;
  sealMessage(namespaceId: string, message: Enqueue): Enqueue;
}

export interface AppliedWrite {
  readonly result: CommitResult;
  /** Keys written or deleted, for watchers. */
  readonly changed: readonly Uint8Array[];
}


type Staged = { readonly key: Uint8Array; readonly entry: Entry | null };

export function isLive(entry: Entry | null, now: number): entry is Entry {
  return entry !== null && (entry.expiresAt === null || entry.expiresAt > now);
}

const U64_MASK = (1n << 64n) - 1n;

/** Eight bytes to read and write u64s through, so that a sum allocates no DataView. */
const scratch = new Uint8Array(8);
const scratchView = new DataView(scratch.buffer);

function readU64(v: StoredValue): bigint | null {
  if (v.encoding !== "le64" || v.data.byteLength !== 8) return null;
  scratch.set(v.data);
  return scratchView.getBigUint64(0, true);
}

export function u64Bytes(n: bigint): Uint8Array {
  scratchView.setBigUint64(0, n & U64_MASK, true);
  return scratch.slice();
}

function kindName(v: unknown): string {
  if (typeof v === "bigint") return "BigInt";
  if (typeof v === "number") return "Number";
  return "KvU64";
}

function applyU64(op: "sum" | "min" | "max", current: StoredValue | null, operand: StoredValue): StoredValue {
  const b = readU64(operand);
  if (b === null) throw new KvError("invalid_mutation", `Failed to perform '${op}' mutation on a non-U64 operand`);
  if (current === null) return { encoding: "le64", data: u64Bytes(b) };
  const a = readU64(current);
  if (a === null) {
    throw new KvError("invalid_mutation", `Failed to perform '${op}' mutation on a non-U64 value in the database`);
  }
  const r = op === "sum" ? (a + b) & U64_MASK : op === "min" ? (a < b ? a : b) : a > b ? a : b;
  return { encoding: "le64", data: u64Bytes(r) };
}

/** Decodes a V8 value inside a transaction; undecodable bytes are the caller's error, not the batch's. */
function v8Number(v: StoredValue): unknown {
  if (v.encoding !== "v8") return undefined;
  try {
    return deserializeV8(v.data);
  } catch {
    return undefined;
  }
}

/**
 * Deno's `mutate({ type: "sum", value: 1 | 1n })`: a V8 number or bigint operand, optionally bounded.
 * Like denokv: a bigint in u64 range adds (wrapping) to a KvU64; number adds to number and bigint to
 * bigint; any other stored value is "unsupported".
 */
/** A sum bound arrives as V8 bytes from the wire: bad bytes are this writer's error, not the batch's. */
function decodeBound(bytes: Uint8Array): unknown {
  try {
    return deserializeV8(bytes);
  } catch {
    throw new KvError("invalid_mutation", "Some of the parameters are not valid V8 values");
  }
}

function applyV8Sum(
  current: StoredValue | null,
  operand: StoredValue,
  min: Uint8Array | undefined,
  max: Uint8Array | undefined,
  clamp: boolean,
): StoredValue {
  const b = v8Number(operand);
  if (typeof b !== "number" && typeof b !== "bigint") {
    throw new KvError("invalid_mutation", "Some of the parameters are not valid V8 values");
  }
  let result: number | bigint;
  if (current === null) {
    result = b;
  } else if (current.encoding === "le64") {
    const a = readU64(current);
    if (a === null || typeof b !== "bigint" || b < 0n || b > U64_MASK) {
      throw new KvError("invalid_mutation", `Cannot sum KvU64 with ${kindName(b)}`);
    }
    return { encoding: "le64", data: u64Bytes(a + b) };
  } else {
    const a = v8Number(current);
    if (typeof a !== "number" && typeof a !== "bigint") throw new KvError("invalid_mutation", "unsupported value type");
    if (typeof a !== typeof b) throw new KvError("invalid_mutation", `Cannot sum ${kindName(a)} with ${kindName(b)}`);
    result = typeof a === "bigint" ? a + (b as bigint) : (a as number) + (b as number);
  }
  const lo = min && min.byteLength ? decodeBound(min) : undefined;
  const hi = max && max.byteLength ? decodeBound(max) : undefined;
  if ((lo !== undefined && result < (lo as number)) || (hi !== undefined && result > (hi as number))) {
    if (!clamp) throw new KvError("invalid_mutation", "The result of a Sum operation would exceed its range limit");
    result = lo !== undefined && result < (lo as number) ? (lo as number | bigint) : (hi as number | bigint);
  }
  return { encoding: "v8", data: serializeV8(result) };
}

/** The view executeAtomic works on: plaintext in and out, sealed on the backend's side. */
function plaintextView(view: TxView, namespaceId: string, sealer: Sealer): TxView {
  let synced = false;
  const ready = () => {
    if (!synced) sealer.sync((name) => view.setting(name));
    synced = true;
  };
  return {
    get(key) {
      const e = view.get(key);
      if (e === null || !e.sealed) return e;
      ready();
      return sealer.openEntry(namespaceId, e);
    },
    put(entry) {
      ready();
      view.put(sealer.sealEntry(namespaceId, entry));
    },
    delete: (key) => view.delete(key),
    enqueue(message) {
      ready();
      view.enqueue(sealer.sealMessage(namespaceId, message));
    },
    setting: (name) => view.setting(name),
  };
}

/**
 * Applies one atomic write inside a backend transaction. `versionstamp` is the commit's, issued by the
 * backend inside the same transaction.
 */
export function executeAtomic(tx: TxView, item: BatchItem, versionstamp: Uint8Array, now: number): AppliedWrite {
  const { write } = item;
  const view = item.sealer ? plaintextView(tx, item.namespaceId, item.sealer) : tx;
  const failed: number[] = [];
  write.checks.forEach((check, i) => {
    // A check compares versionstamps only: the stored entry as it is, never decrypted.
    const current = tx.get(check.key);
    const live = isLive(current, now) ? current : null;
    const ok = check.versionstamp === null ? live === null : live !== null && compareBytes(live.versionstamp, check.versionstamp) === 0;
    if (!ok) failed.push(i);
  });
  if (failed.length > 0) return { result: { ok: false, failedChecks: failed }, changed: [] };

  // A lone mutation (most writes) has nothing before it to see: no overlay, no key ids.
  const overlay = write.mutations.length > 1 ? new Map<string, Staged>() : null;
  let only: Staged | null = null;
  const read = (key: Uint8Array): Entry | null => {
    const staged = overlay?.get(keyId(key));
    if (staged) return staged.entry;
    const current = view.get(key);
    return isLive(current, now) ? current : null;
  };
  const stage = (key: Uint8Array, entry: Entry | null) => {
    if (overlay) overlay.set(keyId(key), { key, entry });
    else only = { key, entry };
  };
  const entry = (key: Uint8Array, value: StoredValue, expiresAt: number | null | undefined, metadata: string | null | undefined): Entry => ({
    key,
    encoding: value.encoding,
    data: value.data,
    versionstamp,
    expiresAt: expiresAt && expiresAt > 0 ? expiresAt : null,
    metadata: metadata ?? null,
  });

  for (const m of write.mutations) {
    switch (m.type) {
      case "set":
        stage(m.key, entry(m.key, m.value, m.expiresAt, m.metadata));
        break;
      case "delete":
        stage(m.key, null);
        break;
      case "setSuffixVersionstampedKey": {
        const suffix = new TextEncoder().encode(bytesToHex(versionstamp));
        const key = concatBytes(m.key, Uint8Array.of(0x02), suffix, Uint8Array.of(0x00));
        stage(key, entry(key, m.value, m.expiresAt, null));
        break;
      }
      case "sum":
      case "min":
      case "max": {
        const current = read(m.key);
        const value =
          m.value.encoding === "v8" && m.type === "sum"
            ? applyV8Sum(current, m.value, m.sumMin, m.sumMax, m.sumClamp ?? false)
            : applyU64(m.type, current, m.value);
        stage(m.key, entry(m.key, value, null, null));
        break;
      }
    }
  }

  const changed: Uint8Array[] = [];
  const apply = ({ key, entry: e }: Staged) => {
    if (e === null) view.delete(key);
    else view.put(e);
    changed.push(key);
  };
  if (overlay) for (const staged of overlay.values()) apply(staged);
  else if (only) apply(only);
  for (const q of write.enqueues) view.enqueue(q);
  return { result: { ok: true, versionstamp }, changed };
}
