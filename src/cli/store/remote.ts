/**
 * A KvStore on an OpenKV server, over its Cloudflare REST API v4 — the same requests wrangler sends
 * (text values as text/plain, files as raw bytes, metadata as multipart, bulk by 1,000), so the server
 * stores what it would store for wrangler.
 */
import { UserError } from "../errors.ts";
import { RestClient } from "./rest-client.ts";
import { BULK_BATCH, BULK_GET_BATCH, NamespaceExistsError, type KvStore, type ListedKey, type NamespaceRecord, type PutItem } from "./types.ts";
import { RemoteApiError } from "../errors.ts";

const NAMESPACE_EXISTS = 10014;
const KEY_NOT_FOUND = 10009;

export class RemoteStore implements KvStore {
  readonly location = "remote" as const;
  readonly where: string;
  readonly client: RestClient;

  constructor(url: string, token: string, accountId?: string) {
    this.client = new RestClient(url, token, accountId);
    this.where = this.client.url;
  }

  async #ns(id?: string): Promise<string> {
    const base = `/accounts/${await this.client.accountId()}/storage/kv/namespaces`;
    return id === undefined ? base : `${base}/${encodeURIComponent(id)}`;
  }

  async listNamespaces(): Promise<NamespaceRecord[]> {
    const all: NamespaceRecord[] = [];
    const perPage = 1000;
    for (let page = 1; ; page++) {
      const env = await this.client.v4(await this.#ns(), { query: { per_page: perPage, order: "title", direction: "asc", page } });
      const items = (env.result as NamespaceRecord[]) ?? [];
      all.push(...items);
      if (items.length < perPage) return all;
    }
  }

  async createNamespace(title: string): Promise<NamespaceRecord> {
    try {
      return (await this.client.v4(await this.#ns(), { method: "POST", json: { title } })).result as NamespaceRecord;
    } catch (e) {
      if (e instanceof RemoteApiError && e.hasCode(NAMESPACE_EXISTS)) throw new NamespaceExistsError(title);
      throw e;
    }
  }

  async renameNamespace(id: string, title: string): Promise<NamespaceRecord> {
    return (await this.client.v4(await this.#ns(id), { method: "PUT", json: { title } })).result as NamespaceRecord;
  }

  async deleteNamespace(id: string): Promise<void> {
    await this.client.v4(await this.#ns(id), { method: "DELETE" });
  }

  async put(namespaceId: string, item: PutItem): Promise<void> {
    const path = `${await this.#ns(namespaceId)}/values/${encodeURIComponent(item.key)}`;
    const query = {
      ...(item.expiration ? { expiration: item.expiration } : {}),
      ...(item.expirationTtl ? { expiration_ttl: item.expirationTtl } : {}),
    };
    let body: NonNullable<RequestInit["body"]>;
    if (item.metadata !== undefined && item.metadata !== null) {
      const form = new FormData();
      form.append("value", typeof item.value === "string" ? item.value : new Blob([item.value as Uint8Array<ArrayBuffer>]));
      form.append("metadata", JSON.stringify(item.metadata));
      body = form;
    } else {
      body = typeof item.value === "string" ? item.value : (item.value as Uint8Array<ArrayBuffer>);
    }
    await this.client.v4(path, { method: "PUT", query, body });
  }

  async get(namespaceId: string, key: string): Promise<Uint8Array | null> {
    const path = `${await this.#ns(namespaceId)}/values/${encodeURIComponent(key)}`;
    const res = await this.client.v4Bytes(path);
    if (res.bytes) return res.bytes;
    if (res.status === 404 && res.errors.some((e) => e.code === KEY_NOT_FOUND)) return null;
    throw new RemoteApiError(this.client.url, path, res.status, res.errors);
  }

  async delete(namespaceId: string, key: string): Promise<void> {
    await this.client.v4(`${await this.#ns(namespaceId)}/values/${encodeURIComponent(key)}`, { method: "DELETE" });
  }

  async list(namespaceId: string, prefix: string): Promise<ListedKey[]> {
    const path = `${await this.#ns(namespaceId)}/keys`;
    const keys: ListedKey[] = [];
    let cursor: string | undefined;
    for (;;) {
      const env = await this.client.v4(path, { query: { prefix, cursor } });
      keys.push(...((env.result as ListedKey[]) ?? []));
      cursor = (env.result_info?.cursor as string | undefined) || undefined;
      if (!cursor) return keys;
    }
  }

  async bulkPut(namespaceId: string, items: readonly PutItem[], onProgress: (n: number) => void): Promise<string[]> {
    const path = `${await this.#ns(namespaceId)}/bulk`;
    const failed: string[] = [];
    for (let i = 0; i < items.length; i += BULK_BATCH) {
      const batch = items.slice(i, i + BULK_BATCH).map((item) => ({
        key: item.key,
        ...(typeof item.value === "string" ? { value: item.value } : { value: Buffer.from(item.value).toString("base64"), base64: true }),
        ...(item.expiration !== undefined ? { expiration: item.expiration } : {}),
        ...(item.expirationTtl !== undefined ? { expiration_ttl: item.expirationTtl } : {}),
        ...(item.metadata !== undefined ? { metadata: item.metadata } : {}),
      }));
      const env = await this.client.v4(path, { method: "PUT", json: batch });
      failed.push(...(((env.result as { unsuccessful_keys?: string[] } | undefined)?.unsuccessful_keys) ?? []));
      onProgress(batch.length);
    }
    return failed;
  }

  async bulkDelete(namespaceId: string, keys: readonly string[], onProgress: (n: number) => void): Promise<string[]> {
    const path = `${await this.#ns(namespaceId)}/bulk/delete`;
    const failed: string[] = [];
    for (let i = 0; i < keys.length; i += BULK_BATCH) {
      const batch = keys.slice(i, i + BULK_BATCH);
      const env = await this.client.v4(path, { method: "POST", json: batch });
      failed.push(...(((env.result as { unsuccessful_keys?: string[] } | undefined)?.unsuccessful_keys) ?? []));
      onProgress(batch.length);
    }
    return failed;
  }

  async bulkGet(namespaceId: string, keys: readonly string[]): Promise<Record<string, string | null>> {
    const path = `${await this.#ns(namespaceId)}/bulk/get`;
    const out: Record<string, string | null> = {};
    for (let i = 0; i < keys.length; i += BULK_GET_BATCH) {
      const env = await this.client.v4(path, { method: "POST", json: { keys: keys.slice(i, i + BULK_GET_BATCH) } });
      const values = (env.result as { values?: Record<string, string | null> } | undefined)?.values;
      if (!values) throw new UserError(`The server at ${this.client.url} answered a bulk read without values.`);
      Object.assign(out, values);
    }
    return out;
  }

  async close(): Promise<void> {}
}
