/**
 * Checks the shapes of edge RPC arguments (decoded from network bytes) and rebuilds them from known
 * fields only: an edge cannot, for instance, hand the core an entry or message flagged `sealed`.
 */
import { HttpError } from "../../http/http.ts";
import type { AtomicWrite, Check, Enqueue, Mutation, NamespaceInfo, ReadRange, StoredValue, ValueEncoding } from "../../core/types.ts";

const bad = (what: string): HttpError => new HttpError(400, `Edge RPC: ${what}`);

export function str(v: unknown, what: string): string {
  if (typeof v !== "string") throw bad(`${what} must be a string`);
  return v;
}

export function bytes(v: unknown, what: string): Uint8Array {
  if (!(v instanceof Uint8Array)) throw bad(`${what} must be bytes`);
  return v;
}

export function int(v: unknown, what: string): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v)) throw bad(`${what} must be an integer`);
  return v;
}

function list(v: unknown, what: string): unknown[] {
  if (!Array.isArray(v)) throw bad(`${what} must be an array`);
  return v;
}

function obj(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw bad(`${what} must be an object`);
  return v as Record<string, unknown>;
}

function optBool(v: unknown, what: string): boolean | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== "boolean") throw bad(`${what} must be a boolean`);
  return v;
}

const ENCODINGS: readonly ValueEncoding[] = ["v8", "bytes", "le64"];

function value(v: unknown, what: string): StoredValue {
  const o = obj(v, what);
  if (!ENCODINGS.includes(o.encoding as ValueEncoding)) throw bad(`${what}.encoding must be v8, bytes or le64`);
  return { encoding: o.encoding as ValueEncoding, data: bytes(o.data, `${what}.data`) };
}

function optExpiry(v: unknown, what: string): number | null | undefined {
  return v === undefined || v === null ? (v as null | undefined) : int(v, what);
}

export function namespaceInfo(v: unknown): NamespaceInfo {
  const o = obj(v, "namespace");
  return { id: str(o.id, "namespace.id"), title: str(o.title, "namespace.title"), createdAt: int(o.createdAt, "namespace.createdAt") };
}

export function ranges(v: unknown): ReadRange[] {
  return list(v, "ranges").map((r, i) => {
    const o = obj(r, `ranges[${i}]`);
    const reverse = optBool(o.reverse, "reverse");
    const keysOnly = optBool(o.keysOnly, "keysOnly");
    return {
      start: bytes(o.start, "start"),
      end: bytes(o.end, "end"),
      limit: int(o.limit, "limit"),
      ...(reverse === undefined ? {} : { reverse }),
      ...(keysOnly === undefined ? {} : { keysOnly }),
    };
  });
}

function check(v: unknown): Check {
  const o = obj(v, "check");
  return { key: bytes(o.key, "check.key"), versionstamp: o.versionstamp === null ? null : bytes(o.versionstamp, "check.versionstamp") };
}

function mutation(v: unknown): Mutation {
  const o = obj(v, "mutation");
  const key = bytes(o.key, "mutation.key");
  switch (o.type) {
    case "delete":
      return { type: "delete", key };
    case "set": {
      const expiresAt = optExpiry(o.expiresAt, "mutation.expiresAt");
      if (o.metadata !== undefined && o.metadata !== null) str(o.metadata, "mutation.metadata");
      return {
        type: "set",
        key,
        value: value(o.value, "mutation.value"),
        ...(expiresAt === undefined ? {} : { expiresAt }),
        ...(o.metadata === undefined ? {} : { metadata: o.metadata as string | null }),
      };
    }
    case "setSuffixVersionstampedKey": {
      const expiresAt = optExpiry(o.expiresAt, "mutation.expiresAt");
      return { type: "setSuffixVersionstampedKey", key, value: value(o.value, "mutation.value"), ...(expiresAt === undefined ? {} : { expiresAt }) };
    }
    case "sum":
    case "min":
    case "max": {
      const sumClamp = optBool(o.sumClamp, "mutation.sumClamp");
      return {
        type: o.type,
        key,
        value: value(o.value, "mutation.value"),
        ...(o.sumMin === undefined ? {} : { sumMin: bytes(o.sumMin, "mutation.sumMin") }),
        ...(o.sumMax === undefined ? {} : { sumMax: bytes(o.sumMax, "mutation.sumMax") }),
        ...(sumClamp === undefined ? {} : { sumClamp }),
      };
    }
    default:
      throw bad("mutation.type must be set, delete, sum, min, max or setSuffixVersionstampedKey");
  }
}

function enqueue(v: unknown): Enqueue {
  const o = obj(v, "enqueue");
  return {
    payload: bytes(o.payload, "enqueue.payload"),
    readyAt: int(o.readyAt, "enqueue.readyAt"),
    keysIfUndelivered: list(o.keysIfUndelivered, "enqueue.keysIfUndelivered").map((k) => bytes(k, "enqueue.keysIfUndelivered[]")),
    ...(o.backoffSchedule === undefined ? {} : { backoffSchedule: list(o.backoffSchedule, "enqueue.backoffSchedule").map((d) => int(d, "enqueue.backoffSchedule[]")) }),
  };
}

export function atomicWrite(v: unknown): AtomicWrite {
  const o = obj(v, "write");
  return {
    checks: list(o.checks, "write.checks").map(check),
    mutations: list(o.mutations, "write.mutations").map(mutation),
    enqueues: list(o.enqueues, "write.enqueues").map(enqueue),
  };
}

export interface CommitItem {
  namespaceId: string;
  write: AtomicWrite;
  consumeMessage?: number;
}

export function commitItems(v: unknown): CommitItem[] {
  return list(v, "items").map((it) => {
    const o = obj(it, "item");
    const item: CommitItem = { namespaceId: str(o.namespaceId, "item.namespaceId"), write: atomicWrite(o.write) };
    if (o.consumeMessage !== undefined) item.consumeMessage = int(o.consumeMessage, "item.consumeMessage");
    return item;
  });
}
