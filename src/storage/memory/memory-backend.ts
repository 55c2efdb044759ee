/**
 * The in-memory backend: for tests and local development. Keys are kept in one sorted array per
 * namespace (latin1 strings compare exactly like the bytes they hold).
 */
import { executeAtomic, isLive, type AppliedWrite, type TxView } from "../../core/atomic.ts";
import type { Backend, BatchItem, Change, ChangePage, DumpRecord, ExpiredKey, MessageReseal, Reseal } from "../../core/backend.ts";
import { KvError } from "../../core/errors.ts";
import { compareBytes, keyId } from "../../core/keys.ts";
import type { Entry, NamespaceInfo, QueueMessage, ReadRange } from "../../core/types.ts";
import { counterFromVersionstamp, versionstampFromCounter } from "../../core/versionstamp.ts";
import { entryBytes, type AnalyticsStore, type NamespaceStats, type OperationRow, type StorageRow } from "../../core/analytics/types.ts";
import { cloneRow } from "../../core/analytics/collector.ts";


const NO_DATA = new Uint8Array(0);

class SortedEntries {
  keys: string[] = [];
  map = new Map<string, Entry>();
  /** Kept with every put and delete: the namespace's byteCount (src/core/analytics/types.ts). */
  bytes = 0;

  /** First index whose key is >= k. */
  lowerBound(k: string): number {
    let lo = 0;
    let hi = this.keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.keys[mid]! < k) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  put(e: Entry): void {
    const k = keyId(e.key);
    const old = this.map.get(k);
    if (!old) this.keys.splice(this.lowerBound(k), 0, k);
    else this.bytes -= entryBytes(old);
    this.bytes += entryBytes(e);
    this.map.set(k, e);
  }

  delete(k: string): void {
    const old = this.map.get(k);
    if (!old) return;
    this.map.delete(k);
    this.bytes -= entryBytes(old);
    this.keys.splice(this.lowerBound(k), 1);
  }
}

interface StoredMessage extends QueueMessage {
  leasedUntil: number;
}

export class MemoryBackend implements Backend {
  readonly kind = "memory" as const;
  readonly analytics: AnalyticsStore;
  #operations: OperationRow[] = [];
  #storage = new Map<string, StorageRow>();
  #namespaces = new Map<string, NamespaceInfo>();
  #data = new Map<string, SortedEntries>();
  #queue = new Map<number, StoredMessage>();
  #counter = 0n;
  #nextMessageId = 1;
  #settings = new Map<string, string>();
  /** The change feed, oldest first; `#prunedThrough` is the last counter dropped from its head. */
  #feed: { counter: bigint; at: number; change: Change }[] = [];
  #prunedThrough = 0n;

  constructor() {
    this.analytics = {
      appendOperations: async (rows) => void this.#operations.push(...rows.map(cloneRow)),
      readOperations: async (from, to) => this.#operations.filter((r) => r.minute >= from && r.minute < to).map(cloneRow),
      sampleStorage: async (rows) => {
        for (const r of rows) {
          const k = `${r.hour}|${r.namespaceId}`;
          const have = this.#storage.get(k);
          this.#storage.set(k, have ? { ...r, keyCount: Math.max(have.keyCount, r.keyCount), byteCount: Math.max(have.byteCount, r.byteCount) } : { ...r });
        }
      },
      readStorage: async (from, to) => [...this.#storage.values()].filter((r) => r.hour >= from && r.hour < to),
      pruneAnalytics: async (before) => {
        this.#operations = this.#operations.filter((r) => r.minute >= before);
        for (const [k, r] of this.#storage) if (r.hour < before) this.#storage.delete(k);
      },
      allNamespaceStats: async () => new Map([...this.#namespaces.keys()].map((id) => [id, this.#stats(id)])),
    };
  }

  #stats(nsId: string): NamespaceStats {
    const e = this.#data.get(nsId);
    return { keyCount: e?.keys.length ?? 0, byteCount: e?.bytes ?? 0 };
  }

  async namespaceStats(nsId: string): Promise<NamespaceStats> {
    return this.#stats(nsId);
  }

  #record(namespaceId: string, keys: readonly Uint8Array[] | null, now: number): void {
    this.#feed.push({ counter: this.#counter, at: now, change: { versionstamp: versionstampFromCounter(this.#counter), namespaceId, keys } });
  }

  #entries(ns: string): SortedEntries {
    let e = this.#data.get(ns);
    if (!e) this.#data.set(ns, (e = new SortedEntries()));
    return e;
  }

  async createNamespace(info: NamespaceInfo): Promise<NamespaceInfo> {
    for (const ns of this.#namespaces.values()) {
      if (ns.title === info.title || ns.id === info.id) {
        throw new KvError("namespace_exists", "a namespace with this account ID and title already exists");
      }
    }
    this.#namespaces.set(info.id, { ...info });
    return { ...info };
  }

  async listNamespaces(): Promise<NamespaceInfo[]> {
    return [...this.#namespaces.values()].map((n) => ({ ...n }));
  }

  async getNamespace(nsId: string): Promise<NamespaceInfo | null> {
    const ns = this.#namespaces.get(nsId);
    return ns ? { ...ns } : null;
  }

  async getNamespaceByTitle(title: string): Promise<NamespaceInfo | null> {
    for (const ns of this.#namespaces.values()) if (ns.title === title) return { ...ns };
    return null;
  }

  async renameNamespace(nsId: string, title: string): Promise<NamespaceInfo> {
    const ns = this.#namespaces.get(nsId);
    if (!ns) throw new KvError("namespace_not_found", "namespace not found");
    for (const other of this.#namespaces.values()) {
      if (other.title === title && other.id !== nsId) {
        throw new KvError("namespace_exists", "a namespace with this account ID and title already exists");
      }
    }
    const renamed = { ...ns, title };
    this.#namespaces.set(nsId, renamed);
    return { ...renamed };
  }

  async deleteNamespace(nsId: string): Promise<boolean> {
    if (!this.#namespaces.delete(nsId)) return false;
    this.#data.delete(nsId);
    this.#counter++;
    this.#record(nsId, null, Date.now());
    for (const [mid, m] of this.#queue) if (m.namespaceId === nsId) this.#queue.delete(mid);
    return true;
  }

  async read(nsId: string, ranges: readonly ReadRange[], now: number): Promise<Entry[][]> {
    const store = this.#data.get(nsId);
    return ranges.map((r) => {
      const out: Entry[] = [];
      if (!store) return out;
      const lo = store.lowerBound(keyId(r.start));
      const hi = store.lowerBound(keyId(r.end));
      if (r.reverse) {
        for (let i = hi - 1; i >= lo && out.length < r.limit; i--) {
          const e = store.map.get(store.keys[i]!)!;
          if (isLive(e, now)) out.push(r.keysOnly ? { ...e, data: NO_DATA } : e);
        }
      } else {
        for (let i = lo; i < hi && out.length < r.limit; i++) {
          const e = store.map.get(store.keys[i]!)!;
          if (isLive(e, now)) out.push(r.keysOnly ? { ...e, data: NO_DATA } : e);
        }
      }
      return out;
    });
  }

  async count(nsId: string, start: Uint8Array, end: Uint8Array, now: number): Promise<number> {
    const store = this.#data.get(nsId);
    if (!store) return 0;
    let n = 0;
    for (let i = store.lowerBound(keyId(start)), hi = store.lowerBound(keyId(end)); i < hi; i++) {
      if (isLive(store.map.get(store.keys[i]!)!, now)) n++;
    }
    return n;
  }

  async commit(batch: readonly BatchItem[], now: number): Promise<(AppliedWrite | KvError)[]> {
    return batch.map((item) => {
      if (!this.#namespaces.has(item.namespaceId)) return new KvError("namespace_not_found", "namespace not found");
      const store = this.#entries(item.namespaceId);
      // Writes are staged so an invalid mutation leaves nothing behind.
      const puts: Entry[] = [];
      const deletes: string[] = [];
      const enqueues: StoredMessage[] = [];
      const view: TxView = {
        get: (key) => store.map.get(keyId(key)) ?? null,
        setting: (name) => this.#settings.get(name) ?? null,
        put: (e) => puts.push(e),
        delete: (key) => deletes.push(keyId(key)),
        enqueue: (q) =>
          enqueues.push({
            id: 0,
            namespaceId: item.namespaceId,
            payload: q.payload,
            readyAt: q.readyAt,
            attempts: 0,
            keysIfUndelivered: q.keysIfUndelivered,
            backoffSchedule: q.backoffSchedule ?? null,
            leasedUntil: 0,
            sealed: q.sealed ?? false,
          }),
      };
      let applied: AppliedWrite;
      try {
        applied = executeAtomic(view, item, versionstampFromCounter(this.#counter + 1n), now);
      } catch (e) {
        if (e instanceof KvError) return e;
        throw e;
      }
      if (applied.result.ok) {
        this.#counter++;
        for (const k of deletes) store.delete(k);
        for (const e of puts) store.put(e);
        for (const q of enqueues) {
          const mid = this.#nextMessageId++;
          this.#queue.set(mid, { ...q, id: mid });
        }
        if (item.consumeMessage !== undefined) this.#queue.delete(item.consumeMessage);
        this.#record(item.namespaceId, applied.changed, now);
      }
      return applied;
    });
  }

  async purgeExpired(now: number, limit: number): Promise<ExpiredKey[]> {
    const gone: ExpiredKey[] = [];
    for (const [nsId, store] of this.#data) {
      const keys: Uint8Array[] = [];
      for (const [k, e] of store.map) {
        if (gone.length >= limit) break;
        if (e.expiresAt !== null && e.expiresAt <= now) {
          store.delete(k);
          gone.push({ namespaceId: nsId, key: e.key });
          keys.push(e.key);
        }
      }
      if (keys.length > 0) {
        this.#counter++;
        this.#record(nsId, keys, now);
      }
      if (gone.length >= limit) break;
    }
    return gone;
  }

  async changes(after: Uint8Array, limit: number): Promise<ChangePage> {
    const cursor = counterFromVersionstamp(after);
    // The feed is in counter order: find the first row after the cursor by bisection.
    let lo = 0;
    let hi = this.#feed.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#feed[mid]!.counter <= cursor) lo = mid + 1;
      else hi = mid;
    }
    return {
      changes: this.#feed.slice(lo, lo + limit).map((f) => f.change),
      latest: versionstampFromCounter(this.#counter),
      gap: cursor < this.#prunedThrough,
    };
  }

  async pruneChanges(olderThan: number, keepWrites: number): Promise<number> {
    let n = 0;
    while (n < this.#feed.length && (this.#feed[n]!.at < olderThan || this.#feed[n]!.counter <= this.#counter - BigInt(keepWrites))) n++;
    if (n === 0) return 0;
    this.#prunedThrough = this.#feed[n - 1]!.counter;
    this.#feed.splice(0, n);
    return n;
  }

  async claimMessages(nsId: string, now: number, limit: number, leaseMs: number): Promise<QueueMessage[]> {
    const ready = [...this.#queue.values()]
      .filter((m) => m.namespaceId === nsId && m.readyAt <= now && m.leasedUntil <= now)
      .sort((a, b) => a.readyAt - b.readyAt || a.id - b.id)
      .slice(0, limit);
    return ready.map((m) => {
      const claimed = { ...m, attempts: m.attempts + 1, leasedUntil: now + leaseMs };
      this.#queue.set(m.id, claimed);
      return claimed;
    });
  }

  async ackMessage(mid: number): Promise<void> {
    this.#queue.delete(mid);
  }

  async retryMessage(mid: number, readyAt: number): Promise<void> {
    const m = this.#queue.get(mid);
    if (m) this.#queue.set(mid, { ...m, readyAt, leasedUntil: 0 });
  }

  async nextMessageAt(nsId: string): Promise<number | null> {
    let next: number | null = null;
    for (const m of this.#queue.values()) {
      if (m.namespaceId !== nsId) continue;
      const at = Math.max(m.readyAt, m.leasedUntil);
      if (next === null || at < next) next = at;
    }
    return next;
  }

  async getSetting(name: string): Promise<string | null> {
    return this.#settings.get(name) ?? null;
  }

  async putSetting(name: string, value: string | null, expected: string | null): Promise<boolean> {
    if ((this.#settings.get(name) ?? null) !== expected) return false;
    if (value === null) this.#settings.delete(name);
    else this.#settings.set(name, value);
    return true;
  }

  async reseal(nsId: string, items: readonly Reseal[]): Promise<boolean[]> {
    const store = this.#data.get(nsId);
    return items.map((r) => {
      const e = store?.map.get(keyId(r.key));
      if (!store || !e || compareBytes(e.versionstamp, r.versionstamp) !== 0) return false;
      store.put({ ...e, data: r.data, metadata: r.metadata, sealed: r.sealed });
      return true;
    });
  }

  async listMessages(nsId: string, afterId: number, limit: number): Promise<QueueMessage[]> {
    return [...this.#queue.values()]
      .filter((m) => m.namespaceId === nsId && m.id > afterId)
      .sort((a, b) => a.id - b.id)
      .slice(0, limit);
  }

  async resealMessages(items: readonly MessageReseal[]): Promise<boolean[]> {
    return items.map((r) => {
      const m = this.#queue.get(r.id);
      if (!m || compareBytes(m.payload, r.from) !== 0) return false;
      this.#queue.set(r.id, { ...m, payload: r.payload, sealed: r.sealed });
      return true;
    });
  }

  async *dump(): AsyncIterable<DumpRecord> {
    // Copied up front: one snapshot, whatever is written while the caller consumes it.
    const records: DumpRecord[] = [];
    let entries = 0;
    for (const [name, value] of this.#settings) records.push({ kind: "setting", name, value });
    for (const ns of this.#namespaces.values()) {
      records.push({ kind: "namespace", namespace: { ...ns } });
      const store = this.#data.get(ns.id);
      const list = store ? store.keys.map((k) => store.map.get(k)!) : [];
      entries += list.length;
      for (let i = 0; i < list.length; i += 1000) records.push({ kind: "entries", namespaceId: ns.id, entries: list.slice(i, i + 1000) });
      const messages = [...this.#queue.values()].filter((m) => m.namespaceId === ns.id).sort((a, b) => a.id - b.id);
      if (messages.length) records.push({ kind: "messages", namespaceId: ns.id, messages: messages.map(({ leasedUntil: _l, ...m }) => m) });
    }
    yield { kind: "versionstamp", versionstamp: versionstampFromCounter(this.#counter), entries };
    yield* records;
  }

  async load(records: AsyncIterable<DumpRecord>): Promise<void> {
    if (this.#namespaces.size > 0) throw new KvError("invalid_argument", "The store to load into already holds namespaces: load into an empty store.");
    for await (const r of records) {
      switch (r.kind) {
        case "versionstamp": {
          const c = counterFromVersionstamp(r.versionstamp);
          if (c > this.#counter) this.#counter = c;
          this.#prunedThrough = c;
          break;
        }
        case "setting":
          this.#settings.set(r.name, r.value);
          break;
        case "namespace":
          this.#namespaces.set(r.namespace.id, { ...r.namespace });
          break;
        case "entries": {
          const store = this.#entries(r.namespaceId);
          for (const e of r.entries) store.put(e);
          break;
        }
        case "messages":
          for (const m of r.messages) {
            const id = this.#nextMessageId++;
            this.#queue.set(id, { ...m, id, namespaceId: r.namespaceId, leasedUntil: 0 });
          }
          break;
      }
    }
  }

  async scrub(): Promise<void> {
    // Nothing outlives the process.
  }

  async close(): Promise<void> {
    this.#data.clear();
  }
}
