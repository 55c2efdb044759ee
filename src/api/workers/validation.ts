/**
 * Argument conversion and validation for the Workers KV binding, in the order workerd applies them:
 * first the argument conversions (int32 options, `String(key)`), then the binding's own TypeErrors
 * (key name, metadata serialisation, value type), then the service's checks (wrapped as
 * `KV <OP> failed: <status> …`). Every function here is pure; time comes in as an argument.
 */
import { KV_LIMITS, KV_MESSAGES, kvFailure, type KvOperation } from "./messages.ts";

const M = KV_MESSAGES;
const L = KV_LIMITS;

/**
 * workerd's conversion of a numeric option to a C++ `int`: `ToNumber`, non-finite → 0, outside the
 * int32 range → TypeError, otherwise truncated. (So `NaN` and `Infinity` reach the service as 0.)
 */
export function toInt32(value: unknown): number {
  // Unary plus, not Number(): ToNumber throws for a BigInt ("Cannot convert a BigInt value to a number").
  const n = +(value as number);
  if (!Number.isFinite(n)) return 0;
  if (n > L.int32Max || n < L.int32Min) throw new TypeError(M.int32Range);
  return Math.trunc(n) || 0;
}

/** A string argument (key, type, prefix, cursor) as workerd sees it: `ToString`, so a Symbol throws. */
export function jsString(value: unknown): string {
  return typeof value === "string" ? value : `${value as string}`;
}

/** The binding's own key checks (single get/put/delete), thrown as TypeError. */
export function checkKeyName(name: string): void {
  if (name === "") throw new TypeError(M.emptyKey);
  if (name === "." || name === "..") throw new TypeError(M.dotKey(name));
}

/** The service's key-length check: 414 when the UTF-8 form exceeds 512 bytes. */
export function checkKeyLength(op: KvOperation, name: string): void {
  const bytes = Buffer.byteLength(name, "utf8");
  if (bytes > L.maxKeyBytes) throw kvFailure(op, 414, M.keyTooLong(bytes));
}

/** The bulk endpoint's key checks, which the binding leaves to the service (so: other wording). */
export function checkBulkKey(name: string): void {
  if (name === "") throw kvFailure("GET_BULK", 400, M.bulkEmptyKey);
  if (name === "." || name === "..") throw kvFailure("GET_BULK", 400, M.bulkDotKey(name));
  checkKeyLength("GET_BULK", name);
}

export interface ReadOptions {
  /** The requested type as a string; not yet checked (single reads check it only when a value exists). */
  readonly type: string;
  readonly cacheTtl: number | undefined;
}

/** `get`'s second argument: a type string, `{ type, cacheTtl }`, or nothing (text). */
export function readOptions(arg: unknown): ReadOptions {
  if (arg === undefined || arg === null) return { type: "text", cacheTtl: undefined };
  if (typeof arg === "object") {
    const { type, cacheTtl } = arg as { type?: unknown; cacheTtl?: unknown };
    return {
      type: type === undefined ? "text" : jsString(type),
      cacheTtl: cacheTtl === undefined ? undefined : toInt32(cacheTtl),
    };
  }
  return { type: jsString(arg), cacheTtl: undefined };
}

export function checkCacheTtl(op: KvOperation, cacheTtl: number | undefined): void {
  if (cacheTtl !== undefined && cacheTtl < L.minCacheTtlSeconds) throw kvFailure(op, 400, M.cacheTtlTooSmall(cacheTtl));
}

export interface PutOptions {
  readonly expiration: number | undefined;
  readonly expirationTtl: number | undefined;
  /** The original `metadata` option, serialised later (after the key checks). */
  readonly metadata: unknown;
}

/** `put`'s third argument after workerd's conversions (int32 options). */
export function putOptions(options: unknown): PutOptions {
  if (options === undefined || options === null || typeof options !== "object") {
    return { expiration: undefined, expirationTtl: undefined, metadata: undefined };
  }
  const o = options as { expiration?: unknown; expirationTtl?: unknown; metadata?: unknown };
  return {
    expiration: o.expiration === undefined ? undefined : toInt32(o.expiration),
    expirationTtl: o.expirationTtl === undefined ? undefined : toInt32(o.expirationTtl),
    metadata: o.metadata,
  };
}

/**
 * The metadata's JSON text, or undefined for none. `JSON.stringify` drops undefined members and throws
 * TypeError for a BigInt or a cycle, exactly as the binding does; `null` serialises to "null", which
 * the service then stores as "no metadata".
 */
export function metadataJson(metadata: unknown): string | undefined {
  if (metadata === undefined) return undefined;
  return JSON.stringify(metadata) as string | undefined;
}

export function checkMetadataSize(json: string | undefined): void {
  if (json === undefined) return;
  const bytes = Buffer.byteLength(json, "utf8");
  if (bytes > L.maxMetadataBytes) throw kvFailure("PUT", 413, M.metadataTooLarge(bytes));
}

/**
 * The absolute expiry (epoch seconds) of a put, or null. `expirationTtl` wins over `expiration`;
 * both must land at least 60 s after `nowSeconds`.
 */
export function resolveExpiration(nowSeconds: number, options: PutOptions): number | null {
  const { expiration, expirationTtl } = options;
  if (expirationTtl !== undefined) {
    if (expirationTtl <= 0) throw kvFailure("PUT", 400, M.expirationTtlNotPositive(expirationTtl));
    if (expirationTtl < L.minExpirationTtlSeconds) throw kvFailure("PUT", 400, M.expirationTtlTooSmall(expirationTtl));
    return nowSeconds + expirationTtl;
  }
  if (expiration !== undefined) {
    if (expiration <= nowSeconds) throw kvFailure("PUT", 400, M.expirationNotFuture(expiration));
    if (expiration < nowSeconds + L.minExpirationTtlSeconds) throw kvFailure("PUT", 400, M.expirationTooSoon(expiration));
    return expiration;
  }
  return null;
}

export function checkValueSize(bytes: number): void {
  if (bytes > L.maxValueBytes) throw kvFailure("PUT", 413, M.valueTooLarge(bytes));
}

export interface ListOptions {
  readonly prefix: string;
  readonly limit: number;
  /** The decoded cursor: list keys strictly after this name. */
  readonly cursor: string | undefined;
}

/**
 * `list`'s options, converted and validated. A limit that is not positive (0, negative, NaN) means
 * "the default", as workerd leaves it out of the request.
 */
export function listOptions(options: unknown): ListOptions {
  const o = (options !== null && typeof options === "object" ? options : {}) as {
    prefix?: unknown;
    limit?: unknown;
    cursor?: unknown;
  };
  const rawLimit = o.limit === undefined ? 0 : toInt32(o.limit);
  const prefix = o.prefix === undefined || o.prefix === null ? "" : jsString(o.prefix);
  const cursor = o.cursor === undefined || o.cursor === null ? undefined : decodeCursor(jsString(o.cursor));
  const limit = rawLimit > 0 ? rawLimit : L.maxListLimit;
  if (limit > L.maxListLimit) throw kvFailure("GET", 400, M.listLimitTooLarge(limit));
  checkKeyLength("GET", prefix);
  return { prefix, limit, cursor: cursor === "" ? undefined : cursor };
}

/** Cursors are the base64 of the last returned key, as in Miniflare: "continue after this key". */
export function encodeCursor(name: string): string {
  return Buffer.from(name, "utf8").toString("base64");
}

export function decodeCursor(cursor: string): string {
  return Buffer.from(cursor, "base64").toString("utf8");
}

export interface BulkGetPlan {
  /** "text" or "json". */
  readonly type: string;
  /** The requested names, duplicates collapsed, in request order. */
  readonly unique: string[];
  /** How many of `unique`, from the start, passed their checks. */
  readonly valid: number;
  /** The first check that failed (reported after the valid keys before it decoded), or null. */
  readonly invalid: unknown;
}

/**
 * A bulk read's checks, in the bulk endpoint's order: type, then count, then each key in order. Keys
 * up to the first invalid one are still read, so the first error in request order wins (as in Miniflare).
 */
export function planBulkGet(keys: unknown[], typeOrOptions: unknown): BulkGetPlan {
  const options = readOptions(typeOrOptions);
  const names = keys.map(jsString);
  const type = options.type || "text";
  if (type !== "text" && type !== "json") throw kvFailure("GET_BULK", 400, M.bulkType(type));
  if (names.length > L.maxBulkGetKeys) throw kvFailure("GET_BULK", 400, M.bulkTooMany);
  if (names.length < 1) throw kvFailure("GET_BULK", 400, M.bulkTooFew);
  const unique = [...new Set(names)];
  for (let i = 0; i < unique.length; i++) {
    try {
      checkBulkKey(unique[i]!);
      checkCacheTtl("GET_BULK", options.cacheTtl);
    } catch (e) {
      return { type, unique, valid: i, invalid: e };
    }
  }
  return { type, unique, valid: unique.length, invalid: null };
}
