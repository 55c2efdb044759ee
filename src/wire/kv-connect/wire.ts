/**
 * KV Connect's protobuf messages ↔ the engine's types, both directions: the server decodes requests and
 * encodes outputs; our remote client (src/client/kv-connect.ts) does the reverse with the same functions.
 * Decoding validates what the engine does not (encodings, mutation kinds, versionstamp lengths) and
 * applies Deno's limits with Deno's messages, so every client — Deno, @deno/kv, ours — is held to them.
 * Errors are KvErrors; the routes answer them as 400 plain text.
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { KvError } from "../../core/errors.ts";
import { DENO_LIMITS } from "../../core/limits.ts";
import type { AtomicWrite, Check, CommitResult, Entry, Enqueue, Mutation, ReadRange, StoredValue, ValueEncoding } from "../../core/types.ts";
import { VERSIONSTAMP_BYTES } from "../../core/versionstamp.ts";
import { checkWriteCounts, checkWriteSizes } from "../../core/write-limits.ts";
import {
  AtomicWriteOutputSchema,
  AtomicWriteSchema,
  AtomicWriteStatus,
  type KvEntry as PbKvEntry,
  KvEntrySchema,
  type KvValue as PbKvValue,
  type Mutation as PbMutation,
  MutationType,
  SnapshotReadOutputSchema,
  SnapshotReadSchema,
  SnapshotReadStatus,
  ValueEncoding as PbValueEncoding,
  WatchOutputSchema,
  WatchSchema,
  type AtomicWriteOutput,
  type SnapshotReadOutput,
  type WatchOutput,
} from "./gen/kv-connect_pb.ts";

/** Wire messages as the server answers them and the client expects them. */
export const MESSAGES = {
  unknownMutation: "Invalid mutation kind or arguments.",
  invalidVersionstamp: "Invalid versionstamp.",
  invalidProto: (what: string, e: unknown) => `Request protobuf is invalid: ${what}: ${e instanceof Error ? e.message : String(e)}.`,
  unknownEncoding: (n: number) => `The value encoding ${n} is unknown.`,
} as const;

function decode<T>(what: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw new KvError("invalid_argument", MESSAGES.invalidProto(what, e));
  }
}

// ---- values ----

function encodingFromProto(n: number): ValueEncoding {
  switch (n) {
    case PbValueEncoding.VE_V8:
      return "v8";
    case PbValueEncoding.VE_LE64:
      return "le64";
    case PbValueEncoding.VE_BYTES:
      return "bytes";
  }
  throw new KvError("invalid_value", MESSAGES.unknownEncoding(n));
}

function encodingToProto(e: ValueEncoding): PbValueEncoding {
  return e === "v8" ? PbValueEncoding.VE_V8 : e === "le64" ? PbValueEncoding.VE_LE64 : PbValueEncoding.VE_BYTES;
}

function valueFromProto(v: PbKvValue | undefined): StoredValue {
  if (v === undefined) throw new KvError("invalid_mutation", MESSAGES.unknownMutation);
  return { encoding: encodingFromProto(v.encoding), data: v.data };
}

function entryToProto(e: Entry): PbKvEntry {
  return create(KvEntrySchema, { key: e.key, value: e.data, encoding: encodingToProto(e.encoding), versionstamp: e.versionstamp });
}

function entryFromProto(e: PbKvEntry): Entry {
  if (e.versionstamp.length !== VERSIONSTAMP_BYTES) throw new KvError("invalid_value", MESSAGES.invalidVersionstamp);
  return { key: e.key, encoding: encodingFromProto(e.encoding), data: e.value, versionstamp: e.versionstamp, expiresAt: null, metadata: null };
}

function checkReadKey(key: Uint8Array): void {
  if (key.length > DENO_LIMITS.maxReadKeyBytes) {
    throw new KvError("key_too_large", `Key too large for read (max ${DENO_LIMITS.maxReadKeyBytes} bytes)`);
  }
}

// ---- snapshot_read ----

/** Server: a SnapshotRead body as engine ranges, within Deno's read limits. */
export function decodeSnapshotRead(body: Uint8Array): ReadRange[] {
  const msg = decode("SnapshotRead", () => fromBinary(SnapshotReadSchema, body));
  if (msg.ranges.length > DENO_LIMITS.maxReadRanges) {
    throw new KvError("limit_exceeded", `Too many ranges (max ${DENO_LIMITS.maxReadRanges})`);
  }
  let total = 0;
  return msg.ranges.map((r) => {
    checkReadKey(r.start);
    checkReadKey(r.end);
    if (!(r.limit > 0)) throw new KvError("invalid_argument", "limit must be greater than 0");
    total += r.limit;
    if (total > DENO_LIMITS.maxReadEntries) throw new KvError("limit_exceeded", `Too many entries (max ${DENO_LIMITS.maxReadEntries})`);
    return { start: r.start, end: r.end, limit: r.limit, reverse: r.reverse };
  });
}

/**
 * Server: every read is successful, and strongly consistent (Deno throws otherwise) unless `strong` is
 * false: a read an edge may have answered from its cache (the eventual endpoint; @deno/kv accepts that
 * for eventual reads only).
 */
export function encodeSnapshotReadOutput(rows: readonly (readonly Entry[])[], strong = true): Uint8Array {
  return toBinary(
    SnapshotReadOutputSchema,
    create(SnapshotReadOutputSchema, {
      ranges: rows.map((values) => ({ values: values.map(entryToProto) })),
      readDisabled: false,
      readIsStronglyConsistent: strong,
      status: SnapshotReadStatus.SR_SUCCESS,
    }),
  );
}

/** Client. */
export function encodeSnapshotRead(ranges: readonly ReadRange[]): Uint8Array {
  return toBinary(
    SnapshotReadSchema,
    create(SnapshotReadSchema, { ranges: ranges.map((r) => ({ start: r.start, end: r.end, limit: r.limit, reverse: r.reverse ?? false })) }),
  );
}

/** Client. Throws unless the output is a successful, strongly consistent read. */
export function decodeSnapshotReadOutput(body: Uint8Array): Entry[][] {
  const out: SnapshotReadOutput = decode("SnapshotReadOutput", () => fromBinary(SnapshotReadOutputSchema, body));
  if (out.readDisabled || out.status === SnapshotReadStatus.SR_READ_DISABLED) throw new KvError("busy", "Reads are disabled for this database");
  if (out.status !== SnapshotReadStatus.SR_SUCCESS || !out.readIsStronglyConsistent) {
    throw new KvError("busy", `Unexpected snapshot read status ${out.status}`);
  }
  return out.ranges.map((r) => r.values.map(entryFromProto));
}

// ---- atomic_write ----

function mutationFromProto(m: PbMutation): Mutation {
  const ms = Number(m.expireAtMs);
  // 0 and -1 (and any other non-positive time) mean "never".
  const expiresAt = ms > 0 ? ms : null;
  switch (m.mutationType) {
    case MutationType.M_SET:
      return { type: "set", key: m.key, value: valueFromProto(m.value), expiresAt };
    case MutationType.M_DELETE:
      return { type: "delete", key: m.key };
    case MutationType.M_SET_SUFFIX_VERSIONSTAMPED_KEY:
      return { type: "setSuffixVersionstampedKey", key: m.key, value: valueFromProto(m.value), expiresAt };
    case MutationType.M_SUM:
    case MutationType.M_MIN:
    case MutationType.M_MAX: {
      const type = m.mutationType === MutationType.M_SUM ? "sum" : m.mutationType === MutationType.M_MIN ? "min" : "max";
      const value = valueFromProto(m.value);
      if (type === "sum" && value.encoding === "v8") {
        return { type, key: m.key, value, sumMin: m.sumMin, sumMax: m.sumMax, sumClamp: m.sumClamp };
      }
      return { type, key: m.key, value };
    }
  }
  throw new KvError("invalid_mutation", MESSAGES.unknownMutation);
}

/** Server: an AtomicWrite body as the engine's write, within Deno's write limits. */
export function decodeAtomicWrite(body: Uint8Array): AtomicWrite {
  const msg = decode("AtomicWrite", () => fromBinary(AtomicWriteSchema, body));
  checkWriteCounts(msg.checks.length, msg.mutations.length + msg.enqueues.length);
  const checks: Check[] = msg.checks.map((c) => {
    if (c.versionstamp.length !== 0 && c.versionstamp.length !== VERSIONSTAMP_BYTES) {
      throw new KvError("invalid_argument", MESSAGES.invalidVersionstamp);
    }
    return { key: c.key, versionstamp: c.versionstamp.length === 0 ? null : c.versionstamp };
  });
  const mutations = msg.mutations.map(mutationFromProto);
  const enqueues: Enqueue[] = msg.enqueues.map((q) => ({
    payload: q.payload,
    readyAt: Number(q.deadlineMs),
    // A key that can never be written would make the dead-letter write fail forever (as in write-path.ts).
    keysIfUndelivered: q.keysIfUndelivered.filter((k) => k.length > 0 && k.length <= DENO_LIMITS.maxWriteKeyBytes),
    // Explicit on the wire: an empty schedule means "no retry".
    backoffSchedule: q.backoffSchedule,
  }));
  const write: AtomicWrite = { checks, mutations, enqueues };
  checkWriteSizes(write);
  return write;
}

/** Server. `writeDisabled`: the caller may not write (a read-only token). */
export function encodeAtomicWriteOutput(result: CommitResult | "write_disabled"): Uint8Array {
  const out =
    result === "write_disabled"
      ? { status: AtomicWriteStatus.AW_WRITE_DISABLED }
      : result.ok
        ? { status: AtomicWriteStatus.AW_SUCCESS, versionstamp: result.versionstamp }
        : { status: AtomicWriteStatus.AW_CHECK_FAILURE, failedChecks: [...result.failedChecks] };
  return toBinary(AtomicWriteOutputSchema, create(AtomicWriteOutputSchema, out));
}

function mutationTypeToProto(m: Mutation): MutationType {
  switch (m.type) {
    case "set":
      return MutationType.M_SET;
    case "delete":
      return MutationType.M_DELETE;
    case "sum":
      return MutationType.M_SUM;
    case "min":
      return MutationType.M_MIN;
    case "max":
      return MutationType.M_MAX;
    case "setSuffixVersionstampedKey":
      return MutationType.M_SET_SUFFIX_VERSIONSTAMPED_KEY;
  }
}

/** Client. `defaultBackoff` is written out when an enqueue has none (the wire has no "default"). */
export function encodeAtomicWrite(write: AtomicWrite, defaultBackoff: readonly number[]): Uint8Array {
  return toBinary(
    AtomicWriteSchema,
    create(AtomicWriteSchema, {
      checks: write.checks.map((c) => ({ key: c.key, versionstamp: c.versionstamp ?? new Uint8Array(0) })),
      mutations: write.mutations.map((m) => ({
        key: m.key,
        mutationType: mutationTypeToProto(m),
        ...("value" in m ? { value: { data: m.value.data, encoding: encodingToProto(m.value.encoding) } } : {}),
        ...("expiresAt" in m && m.expiresAt ? { expireAtMs: BigInt(m.expiresAt) } : {}),
        ...(m.type === "sum" ? { sumMin: m.sumMin ?? new Uint8Array(0), sumMax: m.sumMax ?? new Uint8Array(0), sumClamp: m.sumClamp ?? false } : {}),
      })),
      enqueues: write.enqueues.map((q) => ({
        payload: q.payload,
        deadlineMs: BigInt(Math.trunc(q.readyAt)),
        keysIfUndelivered: [...q.keysIfUndelivered],
        backoffSchedule: [...(q.backoffSchedule ?? defaultBackoff)],
      })),
    }),
  );
}

/** Client: the commit's result, or "write_disabled". */
export function decodeAtomicWriteOutput(body: Uint8Array): CommitResult | "write_disabled" {
  const out: AtomicWriteOutput = decode("AtomicWriteOutput", () => fromBinary(AtomicWriteOutputSchema, body));
  switch (out.status) {
    case AtomicWriteStatus.AW_SUCCESS:
      if (out.versionstamp.length !== VERSIONSTAMP_BYTES) throw new KvError("invalid_value", MESSAGES.invalidVersionstamp);
      return { ok: true, versionstamp: out.versionstamp };
    case AtomicWriteStatus.AW_CHECK_FAILURE:
      return { ok: false, failedChecks: out.failedChecks };
    case AtomicWriteStatus.AW_WRITE_DISABLED:
      return "write_disabled";
  }
  throw new KvError("invalid_value", `Unspecified write error (status ${out.status})`);
}

// ---- watch ----

/** Server: the watched keys, within Deno's limits. */
export function decodeWatch(body: Uint8Array): Uint8Array[] {
  const msg = decode("Watch", () => fromBinary(WatchSchema, body));
  if (msg.keys.length > DENO_LIMITS.maxWatchedKeys) throw new KvError("limit_exceeded", `Too many keys (max ${DENO_LIMITS.maxWatchedKeys})`);
  return msg.keys.map((k) => {
    checkReadKey(k.key);
    return k.key;
  });
}

/** Server: one frame's message; `changed[i]` says whether key i is reported (with its entry, or absent). */
export function encodeWatchOutput(entries: readonly (Entry | null)[], changed: readonly boolean[]): Uint8Array {
  return toBinary(
    WatchOutputSchema,
    create(WatchOutputSchema, {
      status: SnapshotReadStatus.SR_SUCCESS,
      keys: entries.map((e, i) => (changed[i] ? { changed: true, ...(e ? { entryIfChanged: entryToProto(e) } : {}) } : { changed: false })),
    }),
  );
}

/** Client. */
export function encodeWatch(keys: readonly Uint8Array[]): Uint8Array {
  return toBinary(WatchSchema, create(WatchSchema, { keys: keys.map((key) => ({ key })) }));
}

/** Client: per key, undefined when unchanged, else the entry (null = absent). */
export function decodeWatchOutput(body: Uint8Array): (Entry | null | undefined)[] {
  const out: WatchOutput = decode("WatchOutput", () => fromBinary(WatchOutputSchema, body));
  if (out.status !== SnapshotReadStatus.SR_SUCCESS) throw new KvError("busy", `Unexpected watch status ${out.status}`);
  return out.keys.map((k) => (k.changed ? (k.entryIfChanged ? entryFromProto(k.entryIfChanged) : null) : undefined));
}
