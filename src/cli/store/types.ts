/**
 * What `openkv kv …` commands act on: a local data directory (the engine, opened directly) or an OpenKV
 * server (its Cloudflare REST API v4). Both implement this one contract, so every command is written
 * once and says which one it acted on through `location` and `where`.
 */

export interface NamespaceRecord {
  readonly id: string;
  readonly title: string;
  readonly supports_url_encoding: boolean;
}

export interface ListedKey {
  readonly name: string;
  readonly expiration?: number;
  readonly metadata?: unknown;
}

export interface PutOptions {
  /** Absolute expiry, epoch seconds. */
  readonly expiration?: number;
  /** Seconds from now. */
  readonly expirationTtl?: number;
  readonly metadata?: unknown;
}

/** One pair of a `kv bulk put` file, with `base64` already decoded to bytes. */
export interface PutItem extends PutOptions {
  readonly key: string;
  readonly value: string | Uint8Array;
}

export interface KvStore {
  readonly location: "local" | "remote";
  /** The data directory (as typed, e.g. `./.openkv`) or the server URL. */
  readonly where: string;

  /** Every namespace, ordered by title. */
  listNamespaces(): Promise<NamespaceRecord[]>;
  /** Throws NamespaceExistsError when the title is taken. */
  createNamespace(title: string): Promise<NamespaceRecord>;
  renameNamespace(id: string, title: string): Promise<NamespaceRecord>;
  deleteNamespace(id: string): Promise<void>;

  put(namespaceId: string, item: PutItem): Promise<void>;
  /** The value's bytes (text as UTF-8), or null when there is no such key. */
  get(namespaceId: string, key: string): Promise<Uint8Array | null>;
  delete(namespaceId: string, key: string): Promise<void>;
  /** Every key under `prefix`, following cursors to the end. */
  list(namespaceId: string, prefix: string): Promise<ListedKey[]>;

  /** Writes every pair; `onProgress` gets the number written after each batch. Returns the keys that failed. */
  bulkPut(namespaceId: string, items: readonly PutItem[], onProgress: (n: number) => void): Promise<string[]>;
  bulkDelete(namespaceId: string, keys: readonly string[], onProgress: (n: number) => void): Promise<string[]>;
  /** Text values by key (null when missing), in request order. */
  bulkGet(namespaceId: string, keys: readonly string[]): Promise<Record<string, string | null>>;

  close(): Promise<void>;
}

export class NamespaceExistsError extends Error {
  constructor(title: string) {
    super(`a namespace with the title "${title}" already exists`);
    this.name = "NamespaceExistsError";
  }
}

/** wrangler batches bulk writes and deletes by 1,000 pairs; so do we (and report progress per batch). */
export const BULK_BATCH = 1000;
/** The bulk read endpoint takes at most 100 keys. */
export const BULK_GET_BATCH = 100;
