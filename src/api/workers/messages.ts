/**
 * The Workers KV binding's limits and user-facing messages, frozen in one place and quoted exactly as
 * workerd + Miniflare produce them (each was observed against Miniflare 4 / workerd; see
 * /work/shared/reference/cloudflare-kv.md). Client-side checks surface as a bare `TypeError`;
 * server-side ones as `Error("KV <OP> failed: <status> <message>")`, the way the runtime wraps a
 * failed subrequest.
 */
import { WORKERS_LIMITS } from "../../core/limits.ts";

export const KV_LIMITS = Object.freeze({
  ...WORKERS_LIMITS,
  /** workerd converts `expiration`, `expirationTtl`, `cacheTtl` and `limit` to a signed 32-bit int. */
  int32Min: -2147483648,
  int32Max: 2147483647,
  /** The text form of a bulk read may total at most this many UTF-16 code units (Miniflare's check). */
  maxBulkTotalChars: 25 * 1024 * 1024,
  /** Chunk size of a `get(k, "stream")` body. */
  streamChunkBytes: 64 * 1024,
} as const);

/** Which subrequest an error is attributed to, as in `KV GET failed: …`. */
export type KvOperation = "GET" | "PUT" | "DELETE" | "GET_BULK";

const L = KV_LIMITS;

export const KV_MESSAGES = Object.freeze({
  // Thrown by the binding itself, as TypeError.
  emptyKey: "Key name cannot be empty.",
  dotKey: (key: string) => `"${key}" is not allowed as a key name.`,
  int32Range: `Value out of range. Must be between ${L.int32Min} and ${L.int32Max} (inclusive).`,
  putValueType: "KV put() accepts only strings, ArrayBuffers, ArrayBufferViews, and ReadableStreams as values.",
  getType: 'Unknown response type. Possible types are "text", "arrayBuffer", "json", and "stream".',
  streamChunk: "This ReadableStream did not return bytes.",

  // Answered by the service, wrapped as `KV <OP> failed: <status> <message>`.
  keyTooLong: (bytes: number) => `UTF-8 encoded length of ${bytes} exceeds key length limit of ${L.maxKeyBytes}.`,
  valueTooLarge: (bytes: number) => `Value length of ${bytes} exceeds limit of ${L.maxValueBytes}.`,
  metadataTooLarge: (bytes: number) => `Metadata length of ${bytes} exceeds limit of ${L.maxMetadataBytes}.`,
  expirationTtlNotPositive: (ttl: number) => `Invalid expiration_ttl of ${ttl}. Please specify integer greater than 0.`,
  expirationTtlTooSmall: (ttl: number) =>
    `Invalid expiration_ttl of ${ttl}. Expiration TTL must be at least ${L.minExpirationTtlSeconds}.`,
  expirationNotFuture: (expiration: number) =>
    `Invalid expiration of ${expiration}. Please specify integer greater than the current number of seconds since the UNIX epoch.`,
  expirationTooSoon: (expiration: number) =>
    `Invalid expiration of ${expiration}. Expiration times must be at least ${L.minExpirationTtlSeconds} seconds in the future.`,
  cacheTtlTooSmall: (ttl: number) => `Invalid cache_ttl of ${ttl}. Cache TTL must be at least ${L.minCacheTtlSeconds}.`,
  listLimitTooLarge: (limit: number) =>
    `Invalid key_count_limit of ${limit}. Please specify an integer less than ${L.maxListLimit}.`,
  bulkTooMany: `You can request a maximum of ${L.maxBulkGetKeys} keys`,
  bulkTooFew: "You must request a minimum of 1 key",
  bulkType: (type: string) => `"${type}" is not a valid type. Use "json" or "text"`,
  bulkNotJson: "At least one of the requested keys corresponds to a non-json value",
  bulkTooLarge: `Total size of request exceeds the limit of ${L.maxBulkTotalChars / 1024 / 1024}MB`,
  // The bulk endpoint validates keys itself, with its own wording.
  bulkEmptyKey: "Key names must not be empty",
  bulkDotKey: (key: string) => `Illegal key name "${key}". Please use a different name.`,
  tooManyRequests: "Too Many Requests",
} as const);

/** The error the binding throws when the service answers `status`. */
export function kvFailure(op: KvOperation, status: number, message: string): Error {
  return new Error(`KV ${op} failed: ${status} ${message}`);
}
