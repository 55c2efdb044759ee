/**
 * The memory an edge node answers point reads from (src/client/cached-backend.ts): one entry — or "not
 * found" — per (namespace, key), least recently used first out once the total passes `maxBytes`.
 *
 * The fill race: a read that misses fetches from the core, and a write can land while it is on its way;
 * inserting the old answer after the write's invalidation would keep it until the next write to that key.
 * So a fill is a ticket taken *before* the fetch, every invalidation of its key (or a clear) while it is
 * out spoils it, and a spoilt ticket inserts nothing. That is enough because an invalidation is applied
 * only after its write committed: a write the fetch did not see committed after the fetch began, so its
 * invalidation comes after the ticket was taken.
 */
import { compareBytes, keyId } from "../core/keys.ts";
import type { Entry } from "../core/types.ts";

export interface CachedRead {
  /** The entry as the core returned it, or null: the key did not exist. */
  readonly entry: Entry | null;
  /** Clock time just before the fetch was sent: the entry was current at that moment. */
  readonly fetchedAt: number;
  /** The feed position the edge had applied when the fetch began (the versionstamp it was read at or after). */
  readonly tag: Uint8Array;
  readonly bytes: number;
}

/** A fill in progress: taken before fetching, spoilt by any invalidation of its key until it is finished. */
export interface Fill {
  readonly id: string;
  readonly namespaceId: string;
  readonly fetchedAt: number;
  readonly tag: Uint8Array;
  spoilt: boolean;
}

/** What an entry costs beyond its bytes (map slots, object headers): keeps many tiny entries bounded too. */
const OVERHEAD = 96;

function sizeOf(key: Uint8Array, entry: Entry | null): number {
  if (!entry) return OVERHEAD + key.byteLength;
  return OVERHEAD + 2 * key.byteLength + entry.data.byteLength + (entry.metadata?.length ?? 0) * 2 + entry.versionstamp.byteLength;
}

export interface CacheStats {
  entries: number;
  bytes: number;
  hits: number;
  misses: number;
  /** Fills refused because their key was invalidated while they were out. */
  spoiltFills: number;
  evictions: number;
}

export class ReadCache {
  readonly maxBytes: number;
  /** Insertion order is recency order: a hit moves its entry to the end. */
  readonly #entries = new Map<string, CachedRead>();
  readonly #inflight = new Map<string, Set<Fill>>();
  #bytes = 0;
  readonly stats: CacheStats = { entries: 0, bytes: 0, hits: 0, misses: 0, spoiltFills: 0, evictions: 0 };

  constructor(maxBytes: number) {
    this.maxBytes = maxBytes;
  }

  static id(namespaceId: string, key: Uint8Array): string {
    // A namespace id is 32 hex characters (or "" for a redacted feed row), so the split is unambiguous.
    return namespaceId + "/" + keyId(key);
  }

  get size(): number {
    return this.#entries.size;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** The cached read of a key, marked most recently used; undefined when absent. */
  get(namespaceId: string, key: Uint8Array): CachedRead | undefined {
    const id = ReadCache.id(namespaceId, key);
    const hit = this.#entries.get(id);
    if (!hit) return undefined;
    this.#entries.delete(id);
    this.#entries.set(id, hit);
    return hit;
  }

  /** Takes a fill ticket for a key about to be fetched. */
  beginFill(namespaceId: string, key: Uint8Array, fetchedAt: number, tag: Uint8Array): Fill {
    const fill: Fill = { id: ReadCache.id(namespaceId, key), namespaceId, fetchedAt, tag, spoilt: false };
    let set = this.#inflight.get(fill.id);
    if (!set) this.#inflight.set(fill.id, (set = new Set()));
    set.add(fill);
    return fill;
  }

  /** Ends a fill with what the fetch returned: inserted unless the key was invalidated meanwhile. Says whether it was. */
  finishFill(fill: Fill, key: Uint8Array, entry: Entry | null): boolean {
    this.#release(fill);
    if (fill.spoilt) {
      this.stats.spoiltFills++;
      return false;
    }
    // Two fills of one key may finish out of order: never put an older answer over a newer one, or a
    // client's next read on this edge would go back in time. With "not found" on one side there is no
    // versionstamp to compare (a deletion, or a key not yet written): keep neither.
    const held = this.#entries.get(fill.id);
    if (held && (held.entry === null) !== (entry === null)) {
      this.#remove(fill.id);
      return false;
    }
    if (held?.entry && entry && compareBytes(held.entry.versionstamp, entry.versionstamp) > 0) return false;
    const bytes = sizeOf(key, entry);
    if (bytes > this.maxBytes) return false;
    this.#remove(fill.id);
    this.#entries.set(fill.id, { entry, fetchedAt: fill.fetchedAt, tag: fill.tag, bytes });
    this.#bytes += bytes;
    while (this.#bytes > this.maxBytes) {
      const oldest = this.#entries.keys().next().value!;
      this.#remove(oldest);
      this.stats.evictions++;
    }
    return true;
  }

  /** Ends a fill whose fetch failed. */
  abandonFill(fill: Fill): void {
    this.#release(fill);
  }

  /**
   * The key changed (at `versionstamp`, when known): forget it — unless the cached entry already is that
   * write or a later one, fetched after it — and spoil fills of it still out, whose answers may predate it.
   */
  invalidate(namespaceId: string, key: Uint8Array, versionstamp?: Uint8Array): void {
    const id = ReadCache.id(namespaceId, key);
    const cached = versionstamp && this.#entries.get(id)?.entry;
    if (!cached || compareBytes(cached.versionstamp, versionstamp) < 0) this.#remove(id);
    const fills = this.#inflight.get(id);
    if (fills) for (const f of fills) f.spoilt = true;
  }

  /** The namespace was deleted: forget all of it. */
  dropNamespace(namespaceId: string): void {
    const prefix = namespaceId + "/";
    for (const id of [...this.#entries.keys()]) if (id.startsWith(prefix)) this.#remove(id);
    for (const fills of this.#inflight.values()) for (const f of fills) if (f.namespaceId === namespaceId) f.spoilt = true;
  }

  /** Changes were missed (the feed was pruned past the edge): forget everything. */
  clear(): void {
    this.#entries.clear();
    this.#bytes = 0;
    for (const fills of this.#inflight.values()) for (const f of fills) f.spoilt = true;
  }

  snapshotStats(): CacheStats {
    return { ...this.stats, entries: this.#entries.size, bytes: this.#bytes };
  }

  #remove(id: string): void {
    const old = this.#entries.get(id);
    if (!old) return;
    this.#entries.delete(id);
    this.#bytes -= old.bytes;
  }

  #release(fill: Fill): void {
    const set = this.#inflight.get(fill.id);
    if (!set) return;
    set.delete(fill);
    if (set.size === 0) this.#inflight.delete(fill.id);
  }
}
