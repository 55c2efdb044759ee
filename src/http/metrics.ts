/** Prometheus metrics: operations per namespace and kind, with latency histograms. */
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { WriteFence } from "../core/fence.ts";

export type OperationKind = "read" | "write" | "delete" | "list";

/** What an edge's cache reports to /metrics (see Metrics.edgeCache). */
export interface EdgeCacheNumbers {
  memoryHits: number;
  fileHits: number;
  misses: number;
  memoryEntries: number;
  fileEntries: number;
  memoryBytes: number;
  fileBytes: number;
}

export class Metrics {
  readonly registry = new Registry();
  #ops = new Counter({
    name: "openkv_operations_total",
    help: "Operations by namespace and kind",
    labelNames: ["namespace", "kind", "api"] as const,
    registers: [this.registry],
  });
  #latency = new Histogram({
    name: "openkv_operation_duration_seconds",
    help: "Operation latency by namespace and kind",
    labelNames: ["namespace", "kind", "api"] as const,
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  #errors = new Counter({
    name: "openkv_http_errors_total",
    help: "HTTP error responses by status",
    labelNames: ["status"] as const,
    registers: [this.registry],
  });

  #edgeRpc = new Counter({
    name: "openkv_edge_rpc_total",
    help: "Edge protocol calls this server answered (as an edge's core), by op",
    labelNames: ["op"] as const,
    registers: [this.registry],
  });

  /** Counts one edge protocol call (src/api/edge-rpc): how much work the edges send to this core. */
  edgeRpc(op: string): void {
    this.#edgeRpc.inc({ op });
  }

  /**
   * An edge's read cache, read at each scrape: hits and entries per tier (memory, file), fills spoilt
   * by an invalidation, entries evicted.
   */
  edgeCache(read: () => EdgeCacheNumbers): void {
    const registers = [this.registry];
    const perTier = (name: string, help: string, memory: keyof EdgeCacheNumbers, file: keyof EdgeCacheNumbers) =>
      new Gauge({
        name,
        help,
        labelNames: ["tier"] as const,
        registers,
        collect() {
          const n = read();
          this.set({ tier: "memory" }, n[memory]);
          this.set({ tier: "file" }, n[file]);
        },
      });
    perTier("openkv_edge_cache_hits", "Point reads this edge answered from its cache, by the tier that held the entry", "memoryHits", "fileHits");
    perTier("openkv_edge_cache_entries", "Entries in this edge's cache, by tier", "memoryEntries", "fileEntries");
    perTier("openkv_edge_cache_bytes", "Bytes held by this edge's cache, by tier", "memoryBytes", "fileBytes");
    new Gauge({
      name: "openkv_edge_cache_misses",
      help: "Point reads this edge could not answer from its cache (sent to the core)",
      registers,
      collect() {
        this.set(read().misses);
      },
    });
  }

  /** The hot-GET response cache (./response-cache.ts), read at each scrape: answers served from it, lookups it could not answer, answers kept. */
  responseCache(read: () => { hits: number; misses: number; size: number }): void {
    const registers = [this.registry];
    const gauge = (name: string, help: string, field: "hits" | "misses" | "size") =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(read()[field]);
        },
      });
    gauge("openkv_response_cache_hits", "GETs answered from the response cache (counted as operations like any other)", "hits");
    gauge("openkv_response_cache_misses", "GETs the response cache could not answer (read from the store)", "misses");
    gauge("openkv_response_cache_entries", "Answers kept by the response cache", "size");
  }

  /** Records one operation that took from `startNs` (process.hrtime.bigint()) until now. */
  observe(namespace: string, kind: OperationKind, api: string, startNs: bigint): void {
    const seconds = Number(process.hrtime.bigint() - startNs) / 1e9;
    this.#ops.inc({ namespace, kind, api });
    this.#latency.observe({ namespace, kind, api }, seconds);
  }

  error(status: number): void {
    this.#errors.inc({ status: String(status) });
  }

  /** Reports a core's write fence (src/core/fence.ts): the edges writes wait for, and the waits that timed out. */
  watchFence(fence: WriteFence): void {
    new Gauge({
      name: "openkv_edge_fence_following",
      help: "Edge nodes whose application of the change feed each write waits for",
      registers: [this.registry],
      collect() {
        this.set(fence.following);
      },
    });
    new Counter({
      name: "openkv_edge_fence_timeouts_total",
      help: "Writes acknowledged after waiting the full --edge-fence-ms for a lagging edge",
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc(fence.timeouts);
      },
    });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
