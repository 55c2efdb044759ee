/** The embedded KvBackend: a namespace of an Engine in this process. */
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

  snapshotRead(ranges: readonly ReadRange[], consistency?: "strong" | "eventual"): Promise<Entry[][]> {
    return this.engine.read(this.namespace.id, ranges, consistency === "eventual" ? { consistency } : undefined);
  }

  atomicWrite(write: AtomicWrite): Promise<CommitResult> {
    return this.engine.atomic(this.namespace.id, write);
  }

  watch(keys: readonly Uint8Array[]): WatchFeed {
    return this.engine.watch(this.namespace.id, keys);
  }

  listenQueue(consumer: (payload: Uint8Array) => Promise<void>): () => void {
    return addQueueConsumer(this.engine, this.namespace.id, (payload) => consumer(payload));
  }

  async close(): Promise<void> {
    if (this.#owned) await this.engine.close();
  }
}
