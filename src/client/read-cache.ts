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
 *
 * With a spill file (src/client/spill-file.ts) the cache has two tiers: what memory evicts goes to the
 * file, a memory miss looks in the file and copies what it finds up to memory, and every rule here —
 * invalidation, namespace deletion, clear, spoilt fills, never an older entry over a newer one — applies
 * to both in the same synchronous step. A file that fails (disk full, I/O error) is dropped from use and
 * the cache goes on in memory alone; its recorded feed position then stops moving, so a restart that
 * reopens it replays every invalidation since.
 */
import { compareBytes, keyId } from "../core/keys.ts";
import type { Entry } from "../core/types.ts";
import type { SpillFile, SpillStats } from "./spill-file.ts";

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

/** A cached read with the key it answers: what memory holds, and what it hands the file when it evicts. */
interface Held extends CachedRead {
  readonly namespaceId: string;
  readonly key: Uint8Array;
  /** Copied up from the file, which still holds it: evicting it again writes nothing. */
  readonly inFile?: boolean;
}

/** What an entry costs beyond its bytes (map slots, object headers): keeps many tiny entries bounded too. */
const OVERHEAD = 96;

export function sizeOf(key: Uint8Array, entry: Entry | null): number {
  if (!entry) return OVERHEAD + key.byteLength;
  return OVERHEAD + 2 * key.byteLength + entry.data.byteLength + (entry.metadata?.length ?? 0) * 2 + entry.versionstamp.byteLength;
}

export interface CacheStats {
  entries: number;
  bytes: number;
  hits: number;
  /** Of `hits`, those whose entry came up from the file. */
  fileHits: number;
  misses: number;
  /** Fills refused because their key was invalidated while they were out. */
  spoiltFills: number;
  evictions: number;
  /** The spill file's, when there is one. */
  file?: SpillStats;
}

export interface ReadCacheOptions {
  /** The second tier: where memory's evictions go. */
  spill?: SpillFile;
  /** Where a failing spill file is reported. */
  log?: (line: string) => void;
}

export class ReadCache {
  readonly maxBytes: number;
  /** Insertion order is recency order: a hit moves its entry to the end. */
  readonly #entries = new Map<string, Held>();
  readonly #inflight = new Map<string, Set<Fill>>();
  #bytes = 0;
  #spill: SpillFile | null;
  readonly #log: (line: string) => void;
  readonly stats: CacheStats = { entries: 0, bytes: 0, hits: 0, fileHits: 0, misses: 0, spoiltFills: 0, evictions: 0 };
  /** Where the last `get` found its entry (read at once by the caller, which counts what it serves). */
  lastTier: "memory" | "file" | null = null;
  /**
   * Moves whenever the cache forgets something a read may have been answered from (a key invalidated, a
   * namespace dropped, everything cleared): what a response cache in front of it checks (`eventualVersion`).
   */
  version = 0;

  constructor(maxBytes: number, options: ReadCacheOptions = {}) {
    this.maxBytes = maxBytes;
    this.#spill = options.spill ?? null;
    this.#log = options.log ?? (() => {});
    if (this.#spill) this.#spill.onFail = (e) => this.#drop(options.spill!, e);
  }

  /** The spill file in use, or null (none, or it failed). */
  get spill(): SpillFile | null {
    return this.#spill;
  }

  static id(namespaceId: string, key: Uint8Array): string {
    // A namespace id is 32 hex characters (or "" for a redacted feed row), so the split is unambiguous.
    return namespaceId + "/" + keyId(key);
  }

  /** Which tier holds a key, without touching its recency (tests, diagnostics). */
  tierOf(namespaceId: string, key: Uint8Array): "memory" | "file" | null {
    if (this.#entries.has(ReadCache.id(namespaceId, key))) return "memory";
    return this.#file((f) => f.peek(namespaceId, key)) ? "file" : null;
  }

    get size(): number {
    return this.#entries.size;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** The cached read of a key, marked most recently used (copied up to memory if it was in the file); undefined when absent. */
  get(namespaceId: string, key: Uint8Array): CachedRead | undefined {
    const id = ReadCache.id(namespaceId, key);
    const hit = this.#entries.get(id);
    if (hit) {
      this.#entries.delete(id);
      this.#entries.set(id, hit);
      this.lastTier = "memory";
      return hit;
    }
    // Copied up, the row staying in the file; an entry larger than memory is served from the file alone.
    const found = this.#file((f) => f.find(namespaceId, key));
    this.lastTier = found ? "file" : null;
    if (found && found.bytes <= this.maxBytes) this.#insert(id, { ...found, inFile: true });
    return found;
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
    const inMemory = this.#entries.get(fill.id);
    const held = inMemory ? { found: inMemory.entry !== null, versionstamp: inMemory.entry?.versionstamp ?? null } : this.#file((f) => f.peek(fill.namespaceId, key));
    if (held && held.found !== (entry !== null)) {
      this.#forget(fill.namespaceId, key);
      return false;
    }
    if (held?.versionstamp && entry && compareBytes(held.versionstamp, entry.versionstamp) > 0) return false;
    this.#forget(fill.namespaceId, key);
    return this.#insert(fill.id, { namespaceId: fill.namespaceId, key, entry, fetchedAt: fill.fetchedAt, tag: fill.tag, bytes: sizeOf(key, entry) });
  }

  /**
   * Puts a read in memory as the most recently used and evicts the least recently used past `maxBytes`
   * to the file (one transaction). A read larger than memory goes to the file directly. Says whether the
   * read is now cached in either tier.
   */
  #insert(id: string, read: Held): boolean {
    if (read.bytes > this.maxBytes) return (this.#file((f) => f.put([read])) ?? 0) > 0;
    this.#entries.set(id, read);
    this.#bytes += read.bytes;
    const evicted: Held[] = [];
    while (this.#bytes > this.maxBytes) {
      const oldest = this.#entries.keys().next().value!;
      evicted.push(this.#entries.get(oldest)!);
      this.#remove(oldest);
      this.stats.evictions++;
    }
    // The file may have dropped an entry copied up from it since (its own bound): then it is simply gone.
    const toWrite = evicted.filter((e) => !e.inFile);
    if (toWrite.length > 0) this.#file((f) => f.put(toWrite));
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
    this.version++;
    const id = ReadCache.id(namespaceId, key);
    const cached = versionstamp && this.#entries.get(id)?.entry;
    if (!cached || compareBytes(cached.versionstamp, versionstamp) < 0) this.#remove(id);
    this.#file((f) => (versionstamp ? f.removeOlder(namespaceId, key, versionstamp) : f.remove(namespaceId, key)));
    const fills = this.#inflight.get(id);
    if (fills) for (const f of fills) f.spoilt = true;
  }

  /** The namespace was deleted: forget all of it. */
  dropNamespace(namespaceId: string): void {
    this.version++;
    const prefix = namespaceId + "/";
    for (const id of [...this.#entries.keys()]) if (id.startsWith(prefix)) this.#remove(id);
    this.#file((f) => f.dropNamespace(namespaceId));
    for (const fills of this.#inflight.values()) for (const f of fills) if (f.namespaceId === namespaceId) f.spoilt = true;
  }

  /** Changes were missed (the feed was pruned past the edge): forget everything. */
  clear(): void {
    this.version++;
    this.#entries.clear();
    this.#bytes = 0;
    this.#file((f) => f.clear());
    for (const fills of this.#inflight.values()) for (const f of fills) f.spoilt = true;
  }

  /** Records in the file that every invalidation up to `versionstamp` has been applied to it. */
  recordApplied(versionstamp: Uint8Array): void {
    this.#file((f) => f.setApplied(versionstamp));
  }

  /**
   * Closes the file (`close`), after moving memory's entries into it, least recently used first, so a
   * clean restart finds the whole cache there. Memory is empty afterwards.
   */
  closeFile(): void {
    const spill = this.#spill;
    if (!spill) return this.clear();
    this.#file((f) => f.put([...this.#entries.values()].filter((e) => !e.inFile)));
    this.#entries.clear();
    this.#bytes = 0;
    for (const fills of this.#inflight.values()) for (const f of fills) f.spoilt = true;
    this.#spill = null;
    spill.close();
  }

  snapshotStats(): CacheStats {
    return { ...this.stats, entries: this.#entries.size, bytes: this.#bytes, ...(this.#spill ? { file: { ...this.#spill.stats } } : {}) };
  }

  /** Runs `fn` on the file; a file that throws is logged and dropped (memory goes on alone). */
  #file<T>(fn: (f: SpillFile) => T): T | undefined {
    const spill = this.#spill;
    if (!spill) return undefined;
    try {
      return fn(spill);
    } catch (e) {
      this.#drop(spill, e);
      return undefined;
    }
  }

  /**
   * The file failed: stop using it, and close it without committing what is pending, so it keeps only
   * whole commits — each with the invalidations its recorded feed position stands for.
   */
  #drop(spill: SpillFile, e: unknown): void {
    if (this.#spill !== spill) return;
    this.#spill = null;
    this.#log(`Cache file ${spill.path} failed (${(e as Error).message}): caching in memory only until restart.`);
    try {
      spill.abandon();
    } catch {
      // Already broken: nothing more to do.
    }
  }

  #forget(namespaceId: string, key: Uint8Array): void {
    this.#remove(ReadCache.id(namespaceId, key));
    this.#file((f) => f.remove(namespaceId, key));
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
