/**
 * Watching keys: the engine's change notifications (fed by the change feed, src/core/feed.ts) turned into
 * a pull-based feed of the keys' latest state. Deno's `kv.watch` and the KV Connect watch endpoint both
 * read it, on any node.
 */
import { concatBytes } from "./keys.ts";
import type { Entry, ReadRange } from "./types.ts";

/**
 * The state of watched keys over time. The first `next()` resolves at once with the current entries
 * (null = absent), in key order; each later one after the next change notification (a write, delete or
 * expiry of one of the keys; spurious notifications are allowed) with the latest state, so several
 * changes between two calls arrive as one. Resolves null once stopped; rejects on failure.
 */
export interface WatchFeed {
  next(): Promise<(Entry | null)[] | null>;
  /** Ends the feed and releases its subscription; a pending `next()` resolves null. */
  stop(): void;
}

export interface WatchSource {
  /** Calls `listener` whenever one of `keys` may have changed; returns the function that stops it. */
  subscribe(namespaceId: string, keys: readonly Uint8Array[], listener: () => void): () => void;
  read(namespaceId: string, ranges: readonly ReadRange[]): Promise<Entry[][]>;
}

/** Each notification marks the keys dirty; the next `next()` reads them all in one snapshot. */
export function watchFeed(source: WatchSource, namespaceId: string, keys: readonly Uint8Array[]): WatchFeed {
  let dirty = true;
  let stopped = false;
  let wake: (() => void) | null = null;
  const notify = () => {
    dirty = true;
    const w = wake;
    wake = null;
    w?.();
  };
  const unsubscribe = source.subscribe(namespaceId, keys, notify);
  const ranges = keys.map((k) => ({ start: k, end: concatBytes(k, Uint8Array.of(0)), limit: 1 }));
  return {
    async next() {
      for (;;) {
        if (stopped) return null;
        if (!dirty) {
          await new Promise<void>((resolve) => (wake = resolve));
          continue;
        }
        dirty = false;
        const rows = await source.read(namespaceId, ranges);
        return rows.map((r) => r[0] ?? null);
      }
    },
    stop() {
      if (stopped) return;
      stopped = true;
      unsubscribe();
      notify();
    },
  };
}
