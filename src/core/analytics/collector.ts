/**
 * The request path's side of analytics: `record` adds one request to an in-memory aggregate for its
 * minute (a map lookup, a few additions and one logarithm), and a timer flushes the aggregates to the
 * store, samples the storage figures and drops what is older than 31 days — never on the request path.
 * Queries read the store plus what has not been flushed yet, so figures show at once.
 *
 * @example
 * const analytics = new Analytics(backend.analytics, { clock });
 * analytics.record(ns.id, "read", "cold_read", 200, 1, 5, 0.42);
 * await analytics.close(); // flushes
 */
import type { Clock } from "../clock.ts";
import { LatencySketch } from "./sketch.ts";
import {
  ANALYTICS_RETENTION_MS,
  HOUR_MS,
  MINUTE_MS,
  type ActionType,
  type AnalyticsStore,
  type NamespaceStats,
  type OperationResult,
  type OperationRow,
  type StorageRow,
} from "./types.ts";

export interface AnalyticsOptions {
  /** Wall time: which minute a request belongs to, and what "older than 31 days" means. */
  clock: Clock;
  /** How often aggregates go to the store (real time). Default 60 s. */
  flushMs?: number;
  /** Sample storage figures into the store (a core does; an edge, which has no store, does not). */
  sampleStorage?: boolean;
  log?: (line: string) => void;
}

/** A copy of `row` with a sketch of its own, for adding into. */
export function cloneRow(row: OperationRow): OperationRow {
  const sketch = new LatencySketch();
  sketch.merge(row.sketch);
  return { ...row, sketch };
}

/** Adds `b` into `a` (same group). */
export function mergeRow(a: OperationRow, b: OperationRow): void {
  a.requests += b.requests;
  a.count += b.count;
  a.objectBytes += b.objectBytes;
  a.minLatencyMs = Math.min(a.minLatencyMs, b.minLatencyMs);
  a.maxLatencyMs = Math.max(a.maxLatencyMs, b.maxLatencyMs);
  a.minObjectBytes = Math.min(a.minObjectBytes, b.minObjectBytes);
  a.maxObjectBytes = Math.max(a.maxObjectBytes, b.maxObjectBytes);
  a.sketch.merge(b.sketch);
}

const rowKey = (r: OperationRow) => `${r.minute}|${r.namespaceId}|${r.actionType}|${r.result}|${r.status}`;

export class Analytics {
  readonly store: AnalyticsStore | null;
  readonly clock: Clock;
  #pending = new Map<string, OperationRow>();
  #timer: NodeJS.Timeout | null = null;
  #flushing: Promise<void> | null = null;
  #sample: boolean;
  #log: (line: string) => void;
  /** What this process last sampled per namespace, for the hour it sampled it in. */
  #sampled = new Map<string, StorageRow>();
  #lastPrune = -Infinity;
  #closed = false;

  constructor(store: AnalyticsStore | null, options: AnalyticsOptions) {
    this.store = store;
    this.clock = options.clock;
    this.#sample = options.sampleStorage ?? true;
    this.#log = options.log ?? ((line) => process.stderr.write(line + "\n"));
    if (store) {
      this.#timer = setInterval(() => void this.flush(), options.flushMs ?? 60_000);
      this.#timer.unref();
    }
  }

  /** Counts one request of `requests` operations that moved `objectBytes` bytes and took `latencyMs`. */
  record(namespaceId: string, actionType: ActionType, result: OperationResult, status: number, requests: number, objectBytes: number, latencyMs: number): void {
    const now = this.clock.now();
    const minute = now - (now % MINUTE_MS);
    const key = `${minute}|${namespaceId}|${actionType}|${result}|${status}`;
    let row = this.#pending.get(key);
    if (!row) {
      row = {
        minute,
        namespaceId,
        actionType,
        result,
        status,
        requests: 0,
        count: 0,
        objectBytes: 0,
        minLatencyMs: latencyMs,
        maxLatencyMs: latencyMs,
        minObjectBytes: objectBytes,
        maxObjectBytes: objectBytes,
        sketch: new LatencySketch(),
      };
      this.#pending.set(key, row);
    } else {
      if (latencyMs < row.minLatencyMs) row.minLatencyMs = latencyMs;
      if (latencyMs > row.maxLatencyMs) row.maxLatencyMs = latencyMs;
      if (objectBytes < row.minObjectBytes) row.minObjectBytes = objectBytes;
      if (objectBytes > row.maxObjectBytes) row.maxObjectBytes = objectBytes;
    }
    row.requests += requests;
    row.count += 1;
    row.objectBytes += objectBytes;
    row.sketch.add(latencyMs);
  }

  /** Aggregates not flushed yet (copies). */
  pending(): OperationRow[] {
    return [...this.#pending.values()].map(cloneRow);
  }

  /**
   * Sends the aggregates to the store, samples storage figures and prunes what is past 31 days. Rows the
   * store refused (it is down) are kept and sent with the next flush.
   */
  flush(): Promise<void> {
    this.#flushing ??= this.#flush().finally(() => (this.#flushing = null));
    return this.#flushing;
  }

  async #flush(): Promise<void> {
    const store = this.store;
    if (!store) return;
    const rows = [...this.#pending.values()];
    this.#pending = new Map();
    try {
      if (rows.length > 0) await store.appendOperations(rows);
    } catch (e) {
      // Back in, added to whatever arrived meanwhile.
      for (const r of rows) {
        const have = this.#pending.get(rowKey(r));
        if (have) mergeRow(have, r);
        else this.#pending.set(rowKey(r), r);
      }
      this.#log(`openkv: analytics not saved yet (${(e as Error).message}); trying again at the next flush`);
      return;
    }
    try {
      const now = this.clock.now();
      if (this.#sample) await this.#sampleStorage(store, now);
      if (now - this.#lastPrune >= HOUR_MS) {
        await store.pruneAnalytics(now - ANALYTICS_RETENTION_MS);
        this.#lastPrune = now;
      }
    } catch (e) {
      this.#log(`openkv: analytics storage sample or prune failed (${(e as Error).message})`);
    }
  }

  /** One row per namespace per hour, written when the figures differ from what this process last wrote. */
  async #sampleStorage(store: AnalyticsStore, now: number): Promise<void> {
    const hour = now - (now % HOUR_MS);
    const stats = await store.allNamespaceStats();
    const rows: StorageRow[] = [];
    for (const [namespaceId, s] of stats) {
      const last = this.#sampled.get(namespaceId);
      if (last && last.hour === hour && last.keyCount >= s.keyCount && last.byteCount >= s.byteCount) continue;
      const row = { hour, namespaceId, keyCount: Math.max(s.keyCount, last?.hour === hour ? last.keyCount : 0), byteCount: Math.max(s.byteCount, last?.hour === hour ? last.byteCount : 0) };
      rows.push(row);
      this.#sampled.set(namespaceId, row);
    }
    if (rows.length > 0) await store.sampleStorage(rows);
  }

  /** Operation rows with a minute in `[from, to)`: the store's and this process's unflushed ones. */
  async operations(from: number, to: number): Promise<OperationRow[]> {
    const stored = this.store ? await this.store.readOperations(from, to) : [];
    for (const r of this.#pending.values()) if (r.minute >= from && r.minute < to) stored.push(cloneRow(r));
    return stored;
  }

  /** Storage samples with an hour in `[from, to)`, with the current figures counted in the current hour. */
  async storage(from: number, to: number): Promise<StorageRow[]> {
    if (!this.store) return [];
    const rows = await this.store.readStorage(from, to);
    const now = this.clock.now();
    const hour = now - (now % HOUR_MS);
    if (hour >= from && hour < to) {
      const live: Map<string, NamespaceStats> = await this.store.allNamespaceStats();
      for (const [namespaceId, s] of live) rows.push({ hour, namespaceId, keyCount: s.keyCount, byteCount: s.byteCount });
    }
    return rows;
  }

  /** Stops the timer and flushes what is left. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    await this.#flushing?.catch(() => {});
    await this.flush();
  }
}
