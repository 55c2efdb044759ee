/**
 * A KvStore over a local data directory: the engine on `<dir>/openkv.sqlite`, which is safe to open while
 * `openkv serve` runs on the same directory (SQLite WAL; writes serialise on SQLite's lock). Key
 * operations go through the Workers binding, so validation and messages are the binding's — the same
 * texts wrangler prints for its local mode (`KV PUT failed: 400 Invalid expiration_ttl of 30. …`).
 */
import type { Engine } from "../../core/engine.ts";
import { KvError } from "../../core/errors.ts";
import { workersNamespace } from "../../api/workers/kv-namespace.ts";
import type { KVNamespace } from "../../api/workers/types.ts";
import { localNamespace, openDataDir } from "../../config/data-dir.ts";
import { BULK_BATCH, NamespaceExistsError, type KvStore, type ListedKey, type NamespaceRecord, type PutItem } from "./types.ts";

/** A namespace id that never exists: reads and deletes of a namespace nobody wrote to still validate the key. */
const NO_NAMESPACE = "0".repeat(32);

const record = (ns: { id: string; title: string }): NamespaceRecord => ({ id: ns.id, title: ns.title, supports_url_encoding: true });

function putOptions(item: PutItem): Record<string, unknown> {
  return {
    ...(item.expiration !== undefined ? { expiration: item.expiration } : {}),
    ...(item.expirationTtl !== undefined ? { expirationTtl: item.expirationTtl } : {}),
    ...(item.metadata !== undefined ? { metadata: item.metadata } : {}),
  };
}

export class LocalStore implements KvStore {
  readonly location = "local" as const;
  readonly where: string;
  readonly engine: Engine;

  private constructor(engine: Engine, where: string) {
    this.engine = engine;
    this.where = where;
  }

  /** Opens (creating when missing) the data directory `dir`; `where` is how to name it to the user. */
  static async open(dir: string, where: string, options: { encryptionKey?: Uint8Array | undefined; allowLocked?: boolean } = {}): Promise<LocalStore> {
    const { encryptionKey, allowLocked } = options;
    return new LocalStore(await openDataDir(dir, { ...(encryptionKey ? { encryptionKey } : {}), allowLocked: allowLocked ?? false }), where);
  }

  async listNamespaces(): Promise<NamespaceRecord[]> {
    const all = (await this.engine.listNamespaces()).map(record);
    return all.sort((a, b) => (a.title < b.title ? -1 : a.title > b.title ? 1 : 0));
  }

  async createNamespace(title: string): Promise<NamespaceRecord> {
    try {
      return record(await this.engine.createNamespace(title));
    } catch (e) {
      if (e instanceof KvError && e.code === "namespace_exists") throw new NamespaceExistsError(title);
      throw e;
    }
  }

  async renameNamespace(id: string, title: string): Promise<NamespaceRecord> {
    try {
      return record(await this.engine.renameNamespace(id, title));
    } catch (e) {
      if (e instanceof KvError && e.code === "namespace_exists") throw new NamespaceExistsError(title);
      throw e;
    }
  }

  async deleteNamespace(id: string): Promise<void> {
    await this.engine.deleteNamespace(id);
  }

  /** The binding for a namespace id; writes create the namespace, as writing to any id does in wrangler's local mode. */
  async #binding(id: string, create: boolean): Promise<KVNamespace | null> {
    const ns = await localNamespace(this.engine, id, { create });
    return ns && workersNamespace(this.engine, ns.id);
  }

  async put(namespaceId: string, item: PutItem): Promise<void> {
    const kv = (await this.#binding(namespaceId, true))!;
    await kv.put(item.key, item.value, putOptions(item));
  }

  async get(namespaceId: string, key: string): Promise<Uint8Array | null> {
    const kv = await this.#binding(namespaceId, false);
    if (!kv) {
      await workersNamespace(this.engine, NO_NAMESPACE).get(key);
      return null;
    }
    const value = await kv.get(key, "arrayBuffer");
    return value === null ? null : new Uint8Array(value);
  }

  async delete(namespaceId: string, key: string): Promise<void> {
    const kv = await this.#binding(namespaceId, false);
    await (kv ?? workersNamespace(this.engine, NO_NAMESPACE)).delete(key).catch((e: unknown) => {
      if (!kv && e instanceof KvError && e.code === "namespace_not_found") return;
      throw e;
    });
  }

  async list(namespaceId: string, prefix: string): Promise<ListedKey[]> {
    const kv = await this.#binding(namespaceId, false);
    if (!kv) return [];
    const keys: ListedKey[] = [];
    let cursor: string | undefined;
    for (;;) {
      const page = await kv.list({ prefix, ...(cursor ? { cursor } : {}) });
      for (const k of page.keys) keys.push(k as ListedKey);
      if (page.list_complete) return keys;
      cursor = page.cursor;
    }
  }

  async bulkPut(namespaceId: string, items: readonly PutItem[], onProgress: (n: number) => void): Promise<string[]> {
    const kv = (await this.#binding(namespaceId, true))!;
    const failed: string[] = [];
    for (let i = 0; i < items.length; i += BULK_BATCH) {
      const batch = items.slice(i, i + BULK_BATCH);
      // Issued together, the engine commits a batch as one transaction (group commit).
      const results = await Promise.allSettled(batch.map((item) => kv.put(item.key, item.value, putOptions(item))));
      results.forEach((r, j) => {
        if (r.status === "rejected") failed.push(batch[j]!.key);
      });
      onProgress(batch.length);
    }
    return failed;
  }

  async bulkDelete(namespaceId: string, keys: readonly string[], onProgress: (n: number) => void): Promise<string[]> {
    const kv = await this.#binding(namespaceId, false);
    const failed: string[] = [];
    for (let i = 0; i < keys.length; i += BULK_BATCH) {
      const batch = keys.slice(i, i + BULK_BATCH);
      if (kv) {
        const results = await Promise.allSettled(batch.map((key) => kv.delete(key)));
        results.forEach((r, j) => {
          if (r.status === "rejected") failed.push(batch[j]!);
        });
      }
      onProgress(batch.length);
    }
    return failed;
  }

  async bulkGet(namespaceId: string, keys: readonly string[]): Promise<Record<string, string | null>> {
    const kv = await this.#binding(namespaceId, false);
    const out: Record<string, string | null> = {};
    for (const key of keys) out[key] = kv ? await kv.get(key, "text") : null;
    return out;
  }

  close(): Promise<void> {
    return this.engine.close();
  }
}
