/** The embedded KvBackend: a namespace of an Engine in this process. */
import { concatBytes } from "../../core/keys.ts";
import type { Engine } from "../../core/engine.ts";
import { addQueueConsumer } from "../../core/queue-dispatcher.ts";
import type { AtomicWrite, CommitResult, Entry, NamespaceInfo, ReadRange } from "../../core/types.ts";
import type { KvBackend, WatchFeed } from "./backend.ts";

export class EngineKvBackend implements KvBackend {
  readonly engine: Engine;
  readonly namespace: NamespaceInfo;
  #owned: boolean;

  /** `owned`: close the engine with this backend. */
  constructor(engine: Engine, namespace: NamespaceInfo, owned: boolean) {
    this.engine = engine;
    this.namespace = namespace;
    this.#owned = owned;
  }

  get closed(): boolean {
    return this.engine.closed;
  }

  now(): number {
    return this.engine.clock.now();
  }

  snapshotRead(ranges: readonly ReadRange[]): Promise<Entry[][]> {
    return this.engine.read(this.namespace.id, ranges);
  }

  atomicWrite(write: AtomicWrite): Promise<CommitResult> {
    return this.engine.atomic(this.namespace.id, write);
  }

  watch(keys: readonly Uint8Array[]): WatchFeed {
    return engineWatchFeed(this.engine, this.namespace.id, keys);
  }

  listenQueue(consumer: (payload: Uint8Array) => Promise<void>): () => void {
    return addQueueConsumer(this.engine, this.namespace.id, (payload) => consumer(payload));
  }

  async close(): Promise<void> {
    if (this.#owned) await this.engine.close();
  }
}

/**
 * A WatchFeed over the engine's change notifications: each notification marks the keys dirty, and the
 * next `next()` reads them all in one snapshot. Also used by the KV Connect server's watch endpoint.
 */
export function engineWatchFeed(engine: Engine, namespaceId: string, keys: readonly Uint8Array[]): WatchFeed {
  let dirty = true;
  let stopped = false;
  let wake: (() => void) | null = null;
  const notify = () => {
    dirty = true;
    const w = wake;
    wake = null;
    w?.();
  };
  const unsubscribe = engine.subscribe(namespaceId, keys, notify);
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
        const rows = await engine.read(namespaceId, ranges);
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
