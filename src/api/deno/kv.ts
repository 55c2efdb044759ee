/** `Deno.Kv`: the Deno KV API over a KvBackend (an embedded engine namespace, or a KV Connect server). */
import type { NamespaceInfo } from "../../core/types.ts";
import { AtomicOperation } from "./atomic-operation.ts";
import type { KvBackend } from "./backend.ts";
import type { KvContext } from "./context.ts";
import { BadResource, toDenoError } from "./errors.ts";
import { COMMIT_VERSIONSTAMP } from "./key-validation.ts";
import { KvListIterator } from "./list-iterator.ts";
import { queueConsumer } from "./queue.ts";
import { snapshotRead } from "./read-path.ts";
import type {
  EnqueueOptions,
  KvCommitResult,
  KvEntry,
  KvEntryMaybe,
  KvKey,
  KvListOptions,
  KvListSelector,
  ReadOptions,
  SetOptions,
} from "./types.ts";
import { listBatchSize, validateBackoffSchedule, validateExpireIn, validateQueueDelay } from "./validation.ts";
import { serializeMessage, serializeValue, toKvEntry } from "./value-codec.ts";
import { openWatch, type WatchHandle, type WatchOptions } from "./watch.ts";
import { atomicWrite } from "./write-path.ts";

/** Only `openKv` constructs a Kv, as in Deno. */
export const KV_TOKEN: unique symbol = Symbol("KvToken");

export interface KvInit {
  /** Where the data lives: an engine namespace (EngineKvBackend) or a KV Connect server. */
  backend: KvBackend;
  onQueueHandlerError: (error: unknown) => void;
}

/**
 * A Deno KV database handle: the same methods, results and errors as `Deno.Kv`.
 *
 * @example
 * ```ts
 * const kv = await openKv(":memory:");
 * await kv.set(["users", 1], { name: "Ada" });
 * const entry = await kv.get<{ name: string }>(["users", 1]);
 * for await (const e of kv.list({ prefix: ["users"] })) console.log(e.key, e.value);
 * await kv.close();
 * ```
 */
export class Kv {
  #ctx: KvContext;
  #init: KvInit;
  #closed = false;
  #closing: Promise<void> | null = null;
  #watches = new Set<WatchHandle>();
  #unlisten = new Set<() => void>();
  #listenerDone: (() => void)[] = [];

  /** @internal Use `openKv()`. */
  constructor(token: symbol, init: KvInit) {
    if (token !== KV_TOKEN) throw new TypeError("Deno.Kv can not be constructed: use Deno.openKv instead");
    this.#init = init;
    this.#ctx = {
      backend: init.backend,
      isClosed: () => this.#closed || init.backend.closed,
    };
  }

  /** The namespace this handle reads and writes. */
  get namespace(): NamespaceInfo {
    return this.#init.backend.namespace;
  }

  atomic(): AtomicOperation {
    return new AtomicOperation(this.#ctx);
  }

  /** A placeholder key part: `set([...prefix, kv.commitVersionstamp()], v)` appends the commit's versionstamp. */
  commitVersionstamp(): symbol {
    return COMMIT_VERSIONSTAMP;
  }

  async get<T = unknown>(key: KvKey, options?: ReadOptions): Promise<KvEntryMaybe<T>> {
    const [entries] = await snapshotRead(
      this.#ctx,
      [{ prefix: null, start: key, end: null, limit: 1, reverse: false, cursor: null }],
      options?.consistency ?? "strong",
    );
    const entry = entries![0];
    return entry ? toKvEntry<T>(entry) : { key, value: null, versionstamp: null };
  }

  async getMany<T extends readonly unknown[]>(
    keys: readonly [...{ [K in keyof T]: KvKey }],
    options?: ReadOptions,
  ): Promise<{ [K in keyof T]: KvEntryMaybe<T[K]> }> {
    const ranges = Array.prototype.map.call(keys, (key: unknown) => ({
      prefix: null,
      start: key,
      end: null,
      limit: 1,
      reverse: false,
      cursor: null,
    })) as { prefix: null; start: unknown; end: null; limit: number; reverse: false; cursor: null }[];
    const results = await snapshotRead(this.#ctx, ranges, options?.consistency ?? "strong");
    return results.map((entries, i) =>
      entries[0] ? toKvEntry(entries[0]) : { key: keys[i], value: null, versionstamp: null },
    ) as { [K in keyof T]: KvEntryMaybe<T[K]> };
  }

  async set(key: KvKey, value: unknown, options?: SetOptions): Promise<KvCommitResult> {
    validateExpireIn(options?.expireIn);
    const versionstamp = await atomicWrite(this.#ctx, [], [{ key, type: "set", value: serializeValue(value), expireIn: options?.expireIn }], []);
    if (versionstamp === null) throw new TypeError("Failed to set value");
    return { ok: true, versionstamp };
  }

  async delete(key: KvKey): Promise<void> {
    const versionstamp = await atomicWrite(this.#ctx, [], [{ key, type: "delete", value: null, expireIn: undefined }], []);
    if (!versionstamp) throw new TypeError("Failed to set value");
  }

  /**
   * Iterates the entries a selector covers, in key order (or reversed), fetching `batchSize` at a time.
   * Selector and option errors throw here; key and cursor errors reject the first `next()`.
   */
  list<T = unknown>(selector: KvListSelector, options: KvListOptions = { __proto__: null } as KvListOptions): KvListIterator<T> {
    const batchSize = listBatchSize(options);
    return new KvListIterator<T>({
      limit: options.limit,
      selector,
      cursor: options.cursor,
      reverse: options.reverse ?? false,
      consistency: options.consistency ?? "strong",
      batchSize,
      pullBatch: async (sel, cursor, reverse, consistency) => {
        const s = sel as { prefix?: KvKey; start?: KvKey; end?: KvKey };
        const [entries] = await snapshotRead(
          this.#ctx,
          [
            {
              prefix: Object.hasOwn(s, "prefix") ? s.prefix : null,
              start: Object.hasOwn(s, "start") ? s.start : null,
              end: Object.hasOwn(s, "end") ? s.end : null,
              limit: batchSize,
              reverse,
              cursor: cursor ?? null,
            },
          ],
          consistency,
        );
        return entries!.map((e) => toKvEntry(e) as KvEntry);
      },
    });
  }

  /**
   * Enqueues a message for `listenQueue` handlers: delivered at least once, after `delay` ms, retried per
   * `backoffSchedule` when a handler throws, and finally written to `keysIfUndelivered`.
   */
  async enqueue(value: unknown, options?: EnqueueOptions): Promise<KvCommitResult> {
    if (options?.delay !== undefined) validateQueueDelay(options.delay);
    if (options?.backoffSchedule !== undefined) validateBackoffSchedule(options.backoffSchedule);
    const versionstamp = await atomicWrite(this.#ctx, [], [], [
      {
        payload: serializeMessage(value),
        delay: options?.delay ?? 0,
        keysIfUndelivered: options?.keysIfUndelivered ?? [],
        backoffSchedule: options?.backoffSchedule ?? null,
      },
    ]);
    if (versionstamp === null) throw new TypeError("Failed to enqueue value");
    return { ok: true, versionstamp };
  }

  /**
   * Calls `handler` for each queue message (a throw or rejection means "retry later"). Resolves when the
   * handle is closed.
   */
  async listenQueue(handler: (message: unknown) => unknown): Promise<void> {
    if (this.#closed) throw new Error("Queue already closed");
    let unregister: () => void;
    try {
      unregister = this.#init.backend.listenQueue(queueConsumer(handler, this.#init.onQueueHandlerError));
    } catch (e) {
      throw toDenoError(e);
    }
    this.#unlisten.add(unregister);
    await new Promise<void>((resolve) => this.#listenerDone.push(resolve));
  }

  /**
   * A stream of the entries at `keys` (at most 10): first their current state, then a new array each
   * time one of them changes. Cancel the stream (or close the handle) to stop watching.
   */
  watch<T extends readonly unknown[]>(keys: readonly [...{ [K in keyof T]: KvKey }], options: WatchOptions = {}): ReadableStream<{ [K in keyof T]: KvEntryMaybe<T[K]> }> {
    return openWatch<T>(this.#ctx, keys, options, (handle) => {
      this.#watches.add(handle);
      return () => this.#watches.delete(handle);
    });
  }

  /**
   * Closes the handle: later calls throw BadResource, watches end, `listenQueue` promises resolve. Throws
   * BadResource if already closed. The returned promise resolves once the backend has released what it
   * holds (an engine this handle opened, connections); awaiting it is optional.
   */
  close(): Promise<void> {
    if (this.#closed) throw new BadResource();
    return this.#shutdown();
  }

  #shutdown(): Promise<void> {
    this.#closed = true;
    this.#closing ??= (async () => {
      for (const w of [...this.#watches]) w.stop();
      for (const u of this.#unlisten) u();
      this.#unlisten.clear();
      try {
        await this.#init.backend.close();
      } finally {
        for (const done of this.#listenerDone.splice(0)) done();
      }
    })();
    // Callers may drop the promise, as with Deno's synchronous close().
    this.#closing.catch(() => {});
    return this.#closing;
  }

  /** `using kv = await openKv()`: closes unless already closed. */
  [Symbol.dispose](): void {
    if (!this.#closed) void this.#shutdown();
  }

  /** `await using kv = await openKv()`: closes and waits for the backend to be released. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.#shutdown();
  }
}
