/**
 * What analytics count and keep, and the storage contract every backend implements for it.
 *
 * One operation is one request through a server API on one namespace (a bulk write of N keys is one
 * request of N operations, as Cloudflare bills it). Operations are aggregated in memory per minute and
 * per (namespace, actionType, result, responseStatusCode), then appended to the store as rows; rows from
 * several nodes sharing a store simply add up when read. Storage figures (keys and bytes per namespace)
 * are counters the store keeps inside its write transactions, sampled into hourly rows that hold the
 * hour's maximum.
 */
import type { LatencySketch } from "./sketch.ts";

export type ActionType = "read" | "write" | "delete" | "list";

/**
 * `hot_read`: answered from an edge node's memory cache; `cold_read`: read from the store (every read on
 * a core, and an edge's misses); `not_found`: a read of a key that is not there (HTTP 404); `uploaded`: a
 * write that succeeded; `deleted`: a delete that succeeded (whether or not the key existed, as Workers KV
 * answers); `error`: anything else that failed.
 */
export type OperationResult = "hot_read" | "cold_read" | "not_found" | "uploaded" | "deleted" | "error";

/** One minute of one group of operations. */
export interface OperationRow {
  /** Epoch ms of the minute's start. */
  readonly minute: number;
  readonly namespaceId: string;
  readonly actionType: ActionType;
  readonly result: OperationResult;
  readonly status: number;
  /** Operations (keys of a bulk call each count). */
  requests: number;
  /** Requests (HTTP calls). */
  count: number;
  /** Bytes of values read or written. */
  objectBytes: number;
  minLatencyMs: number;
  maxLatencyMs: number;
  minObjectBytes: number;
  maxObjectBytes: number;
  readonly sketch: LatencySketch;
}

export interface NamespaceStats {
  /** Entries stored, including expired ones not yet purged (the purge runs every second). */
  readonly keyCount: number;
  /** Key bytes + value bytes as stored (sealed on an encrypted store) + metadata bytes (UTF-8). */
  readonly byteCount: number;
}

/** The largest storage figures of one namespace seen in one hour. */
export interface StorageRow extends NamespaceStats {
  /** Epoch ms of the hour's start. */
  readonly hour: number;
  readonly namespaceId: string;
}

/**
 * Where analytics live in a store. Rows are plaintext (they hold namespace ids, counts, status codes
 * and latencies — no keys, values or metadata), so an encrypted store does not seal them.
 */
export interface AnalyticsStore {
  /** Appends rows; rows for the same minute and group add up with those already there. */
  appendOperations(rows: readonly OperationRow[]): Promise<void>;
  /** Every row whose minute is in `[from, to)`. */
  readOperations(from: number, to: number): Promise<OperationRow[]>;
  /** Keeps, per (hour, namespace), the largest of the figures given and those stored. */
  sampleStorage(rows: readonly StorageRow[]): Promise<void>;
  /** Every sample whose hour is in `[from, to)`. */
  readStorage(from: number, to: number): Promise<StorageRow[]>;
  /** Drops operation rows and storage samples older than `before` (epoch ms). */
  pruneAnalytics(before: number): Promise<void>;
  /** Every namespace's current figures, by namespace id. */
  allNamespaceStats(): Promise<Map<string, NamespaceStats>>;
}

/** 31 days, as Cloudflare keeps KV analytics. */
export const ANALYTICS_RETENTION_MS = 31 * 24 * 3600 * 1000;
export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;

/** What one entry adds to `byteCount`: key, value as stored, metadata as UTF-8. */
export function entryBytes(e: { readonly key: Uint8Array; readonly data: Uint8Array; readonly metadata: string | null }): number {
  return e.key.byteLength + e.data.byteLength + (e.metadata === null ? 0 : Buffer.byteLength(e.metadata));
}

const ACTIONS: readonly string[] = ["read", "write", "delete", "list"];
const RESULTS: readonly string[] = ["hot_read", "cold_read", "not_found", "uploaded", "deleted", "error"];

/** A row as plain data (the sketch as its text), for a wire such as the edge protocol. */
export function rowToPlain(r: OperationRow): Record<string, unknown> {
  return { ...r, sketch: r.sketch.encode() };
}

/** A row from plain data received from elsewhere, or null when it is not one. */
export function rowFromPlain(v: unknown, decode: (text: string) => LatencySketch): OperationRow | null {
  if (typeof v !== "object" || v === null) return null;
  const r = v as Record<string, unknown>;
  const nums = ["minute", "status", "requests", "count", "objectBytes", "minLatencyMs", "maxLatencyMs", "minObjectBytes", "maxObjectBytes"] as const;
  if (!nums.every((n) => typeof r[n] === "number" && Number.isFinite(r[n]) && (r[n] as number) >= 0)) return null;
  if (typeof r.namespaceId !== "string" || !ACTIONS.includes(r.actionType as string) || !RESULTS.includes(r.result as string) || typeof r.sketch !== "string") return null;
  return {
    minute: r.minute as number,
    namespaceId: r.namespaceId,
    actionType: r.actionType as ActionType,
    result: r.result as OperationResult,
    status: r.status as number,
    requests: r.requests as number,
    count: r.count as number,
    objectBytes: r.objectBytes as number,
    minLatencyMs: r.minLatencyMs as number,
    maxLatencyMs: r.maxLatencyMs as number,
    minObjectBytes: r.minObjectBytes as number,
    maxObjectBytes: r.maxObjectBytes as number,
    sketch: decode(r.sketch),
  };
}

/**
 * The `result` of a finished request from its action, HTTP status, whether a cache answered it and
 * whether a read found anything (a KV Connect read of a missing key answers 200 with no entry).
 */
export function resultOf(action: ActionType, status: number, hot: boolean, found = true): OperationResult {
  if (status >= 200 && status < 300) {
    if (action === "write") return "uploaded";
    if (action === "delete") return "deleted";
    if (!found && action === "read") return "not_found";
    return hot ? "hot_read" : "cold_read";
  }
  return status === 404 && (action === "read" || action === "list") ? "not_found" : "error";
}
