/**
 * The Workers KV binding over HTTP: a `KVNamespace` whose calls go to an OpenKV server's Cloudflare REST
 * API v4. Arguments are converted and validated here with the embedded binding's own functions
 * (validation.ts, body.ts) in workerd's order, so a bad call fails exactly as it does embedded without
 * a round trip; what needs the store or the server's clock (absolute expirations) is the server's to
 * answer, and its envelope's message comes back as `KV <OP> failed: <status> <message>`.
 *
 * Requests: single reads `GET …/values/{key}` (value, and metadata in the `CF-KV-Metadata` header, in
 * one consistent read); bulk reads `POST …/bulk/get`; writes `PUT …/values/{key}` (raw, or multipart
 * with metadata; streams are streamed); deletes `DELETE …/values/{key}`; listings `GET …/keys`.
 *
 * Where it is not the embedded binding (none of which the conformance suite can see):
 * - values cross the wire as UTF-8, so a V8 string written by Deno that holds a lone surrogate (or
 *   starts with a BOM) reads with U+FFFD (without the BOM), as Workers KV itself would return it;
 * - `cacheTtl` is checked but not sent (the server has no cache);
 * - `list({ limit })` under 10 reads a page of 10 (the REST minimum) and cuts it;
 * - a put rejected here for its size, with an absolute `expiration`, costs one request that asks the
 *   server about the expiration (its clock decides, and that check comes first);
 * - writes from one handle to one key are sent one after another, so they apply in call order.
 */
import { bytesToStream, classifyBody } from "../api/workers/body.ts";
import { KV_LIMITS, KV_MESSAGES, kvFailure } from "../api/workers/messages.ts";
import type { KVNamespace, KVNamespaceListKey } from "../api/workers/types.ts";
import {
  checkCacheTtl,
  checkKeyLength,
  checkKeyName,
  checkMetadataSize,
  checkValueSize,
  encodeCursor,
  jsString,
  listOptions,
  metadataJson,
  planBulkGet,
  putOptions,
  readOptions,
  resolveExpiration,
  type PutOptions,
} from "../api/workers/validation.ts";
import { apiError, CF_ERROR, CloudflareApi, failure } from "./cloudflare-api.ts";
import { putRequestBody } from "./put-body.ts";

export interface RemoteNamespaceOptions {
  /** An API token of the server (`Authorization: Bearer …`). */
  token: string;
  /** Namespace id or title; created on first use when the token may manage namespaces. Default `"default"`. */
  namespace?: string;
  /** A `fetch` to send requests with (custom TLS, proxies, instrumentation). Default: the global one. */
  fetch?: typeof fetch;
}

/** The smallest page the REST API lists; smaller binding limits are cut from it here. */
const MIN_REST_LIST_LIMIT = 10;

/** The path segment of a key. Lone surrogates become U+FFFD, as they do in the key's UTF-8 when stored. */
function keySegment(name: string): string {
  return encodeURIComponent(name.toWellFormed());
}

async function decodeResponse(res: Response, type: string): Promise<unknown> {
  switch (type) {
    case "text":
      return res.text();
    case "json":
      return JSON.parse(await res.text());
    case "arrayBuffer":
      return res.arrayBuffer();
    case "stream":
      return res.body ?? bytesToStream(new Uint8Array(0));
    default:
      await res.body?.cancel();
      throw new TypeError(KV_MESSAGES.getType);
  }
}

function headerMetadata(res: Response): unknown {
  const header = res.headers.get("cf-kv-metadata");
  return header === null ? null : JSON.parse(header);
}

interface BulkAnswer {
  values: Record<string, string | { value: string; metadata: unknown } | null>;
}

/**
 * One namespace on a server, as a Workers `KVNamespace`. Build one with `openNamespace(url, { token })`
 * (or `openRemoteNamespace`). Writes from one handle to one key reach the server in call order.
 */
export class RemoteKvNamespace {
  readonly #api: CloudflareApi;
  readonly #ns: string;
  /** Key → the settling of its last write, so writes to one key are sent one after another. */
  readonly #writes = new Map<string, Promise<void>>();

  constructor(api: CloudflareApi, accountId: string, namespaceId: string) {
    this.#api = api;
    this.#ns = `/accounts/${encodeURIComponent(accountId)}/storage/kv/namespaces/${encodeURIComponent(namespaceId)}`;
  }

  async get(key: unknown, typeOrOptions?: unknown): Promise<unknown> {
    if (Array.isArray(key)) return this.#getBulk(key, typeOrOptions, false);
    const found = await this.#getOne(key, typeOrOptions);
    return found && decodeResponse(found.res, found.type);
  }

  async getWithMetadata(key: unknown, typeOrOptions?: unknown): Promise<unknown> {
    if (Array.isArray(key)) return this.#getBulk(key, typeOrOptions, true);
    const found = await this.#getOne(key, typeOrOptions);
    if (!found) return { value: null, metadata: null, cacheStatus: null };
    const metadata = headerMetadata(found.res);
    return { value: await decodeResponse(found.res, found.type), metadata, cacheStatus: null };
  }

  async #getOne(key: unknown, typeOrOptions: unknown): Promise<{ res: Response; type: string } | null> {
    const { type, cacheTtl } = readOptions(typeOrOptions);
    const name = jsString(key);
    checkKeyName(name);
    checkKeyLength("GET", name);
    checkCacheTtl("GET", cacheTtl);
    const res = await this.#api.send("GET", "GET", `${this.#ns}/values/${keySegment(name)}`);
    if (res.ok) return { res, type };
    const error = await apiError(res);
    if (error.status === 404 && error.code === CF_ERROR.keyNotFound) return null;
    throw kvFailure("GET", error.status, error.message);
  }

  /**
   * Bulk reads, checked as the embedded binding checks them (type, count, then each key in order), so
   * only valid keys are sent. Values come back as text and are parsed here: JSON values then are
   * exactly what `JSON.parse` makes of the stored text (no second trip through JSON), and the first
   * value that is not JSON still wins over a later invalid key, as embedded.
   */
  async #getBulk(keys: unknown[], typeOrOptions: unknown, withMetadata: boolean): Promise<Map<string, unknown>> {
    const { type, unique, valid, invalid } = planBulkGet(keys, typeOrOptions);
    // Text cannot fail to decode: an invalid key is the answer without asking.
    if (valid === 0 || (invalid !== null && type === "text")) throw invalid;

    const sent = unique.slice(0, valid);
    const res = await this.#api.send("GET_BULK", "POST", `${this.#ns}/bulk/get`, {
      body: JSON.stringify({ keys: sent, type: "text", withMetadata }),
      headers: { "content-type": "application/json" },
    });
    if (!res.ok) {
      const error = await apiError(res);
      // Too large to see the values: ask the server to parse them, since a value that is not JSON is
      // reported before an invalid key, and an invalid key before the size.
      if (error.status === 413 && type === "json") {
        const again = await this.#api.send("GET_BULK", "POST", `${this.#ns}/bulk/get`, {
          body: JSON.stringify({ keys: sent, type: "json", withMetadata: false }),
          headers: { "content-type": "application/json" },
        });
        if (again.status === 400) throw await failure("GET_BULK", again);
        await again.body?.cancel();
      }
      if (error.status === 413 && invalid !== null) throw invalid;
      throw kvFailure("GET_BULK", error.status, error.message);
    }
    const { values } = ((await res.json()) as { result: BulkAnswer }).result;

    const out = new Map<string, unknown>();
    for (const name of sent) {
      // Looked up by name in request order: the JSON object's own order puts index-like names first.
      const found = Object.hasOwn(values, name) ? values[name]! : null;
      if (found === null) {
        out.set(name, null);
        continue;
      }
      const text = typeof found === "string" ? found : found.value;
      let value: unknown = text;
      if (type === "json") {
        try {
          value = JSON.parse(text);
        } catch {
          throw kvFailure("GET_BULK", 400, KV_MESSAGES.bulkNotJson);
        }
      }
      out.set(name, withMetadata ? { value, metadata: typeof found === "string" ? null : found.metadata } : value);
    }
    if (invalid !== null) throw invalid;
    return out;
  }

  async put(key: unknown, value: unknown, options?: unknown): Promise<void> {
    const opts = putOptions(options);
    const name = jsString(key);
    checkKeyName(name);
    const metadata = metadataJson(opts.metadata);
    const body = classifyBody(value);
    const cancel = async (e: unknown) => {
      if (body.kind === "stream") await body.stream.cancel(e).catch(() => {});
    };

    // The service's checks, in its order, as far as they do not need the server's clock: the key,
    // then a TTL (which wins over an absolute expiration and does not depend on the time)…
    try {
      checkKeyLength("PUT", name);
      if (opts.expirationTtl !== undefined) resolveExpiration(0, opts);
    } catch (e) {
      await cancel(e);
      throw e;
    }
    // …then sizes, which an absolute expiration checked on the server would come before.
    try {
      checkMetadataSize(metadata);
      if (body.kind === "text") checkValueSize(Buffer.byteLength(body.text, "utf8"));
      if (body.kind === "bytes") checkValueSize(body.bytes.byteLength);
    } catch (e) {
      await cancel(e);
      throw await this.#unlessExpirationFails(name, opts, e);
    }

    const query = new URLSearchParams();
    if (opts.expiration !== undefined) query.set("expiration", String(opts.expiration));
    if (opts.expirationTtl !== undefined) query.set("expiration_ttl", String(opts.expirationTtl));
    const search = query.size > 0 ? `?${query}` : "";
    // "null" is no metadata to the service as well.
    const request = putRequestBody(body, metadata === "null" ? undefined : metadata, KV_LIMITS.maxValueBytes);

    await this.#inOrder(name, async () => {
      let res: Response | null = null;
      let sendError: unknown = null;
      try {
        res = await this.#api.send("PUT", "PUT", `${this.#ns}/values/${keySegment(name)}${search}`, {
          body: request.body,
          headers: { "content-type": request.contentType },
          ...(request.upload ? { duplex: "half" as const } : {}),
        });
      } catch (e) {
        sendError = e;
      }
      const outcome = request.upload ? await request.upload.outcome() : null;
      if (outcome?.kind === "failed") throw outcome.error;
      if (outcome?.kind === "too-large") {
        await res?.body?.cancel();
        throw await this.#unlessExpirationFails(name, opts, kvFailure("PUT", 413, KV_MESSAGES.valueTooLarge(outcome.length)));
      }
      if (sendError !== null) throw sendError;
      if (!res!.ok) throw await failure("PUT", res!);
      await res!.body?.cancel();
    });
  }

  /**
   * `error` (a size check that failed here), unless the put has an absolute expiration the server
   * rejects: that check comes first, and only the server's clock can make it. It is asked with a put
   * that cannot succeed — metadata one byte over the limit — so nothing is ever written by asking.
   */
  async #unlessExpirationFails(name: string, opts: PutOptions, error: unknown): Promise<unknown> {
    if (opts.expirationTtl !== undefined || opts.expiration === undefined) return error;
    const probe = putRequestBody({ kind: "text", text: "" }, JSON.stringify("x".repeat(KV_LIMITS.maxMetadataBytes - 1)), KV_LIMITS.maxValueBytes);
    const res = await this.#api.send("PUT", "PUT", `${this.#ns}/values/${keySegment(name)}?expiration=${opts.expiration}`, {
      body: probe.body,
      headers: { "content-type": probe.contentType },
    });
    const answer = await apiError(res);
    return answer.status === 400 ? kvFailure("PUT", answer.status, answer.message) : error;
  }

  async delete(key: unknown): Promise<void> {
    const name = jsString(key);
    checkKeyName(name);
    checkKeyLength("DELETE", name);
    await this.#inOrder(name, async () => {
      const res = await this.#api.send("DELETE", "DELETE", `${this.#ns}/values/${keySegment(name)}`);
      if (!res.ok) throw await failure("DELETE", res);
      await res.body?.cancel();
    });
  }

  /**
   * One page. The REST API lists at least 10 keys a page; a smaller limit is cut from such a page here,
   * its cursor made the way the server makes them ("after this key").
   */
  async list(options?: unknown): Promise<unknown> {
    const { prefix, limit, cursor } = listOptions(options);
    const query = new URLSearchParams({ limit: String(Math.max(limit, MIN_REST_LIST_LIMIT)) });
    if (prefix !== "") query.set("prefix", prefix);
    if (cursor !== undefined) query.set("cursor", encodeCursor(cursor));
    const res = await this.#api.send("GET", "GET", `${this.#ns}/keys?${query}`);
    if (!res.ok) throw await failure("GET", res);
    const page = (await res.json()) as { result: KVNamespaceListKey<unknown>[]; result_info?: { cursor?: string } };
    const keys = page.result.map(({ name, expiration, metadata }) => {
      const k: KVNamespaceListKey<unknown> = { name };
      if (expiration !== undefined) k.expiration = expiration;
      if (metadata !== undefined) k.metadata = metadata;
      return k;
    });
    if (keys.length > limit) {
      keys.length = limit;
      return { keys, list_complete: false, cursor: encodeCursor(keys[limit - 1]!.name), cacheStatus: null };
    }
    const next = page.result_info?.cursor;
    if (next) return { keys, list_complete: false, cursor: next, cacheStatus: null };
    return { keys, list_complete: true, cacheStatus: null };
  }

  /** Aborts requests in flight; every later call rejects with "The database is closed". */
  async close(): Promise<void> {
    this.#api.close();
  }

  #inOrder(name: string, write: () => Promise<void>): Promise<void> {
    const previous = this.#writes.get(name);
    const run = previous ? previous.then(write) : write();
    const settled = run.then(
      () => {},
      () => {},
    );
    this.#writes.set(name, settled);
    void settled.then(() => {
      if (this.#writes.get(name) === settled) this.#writes.delete(name);
    });
    return run;
  }
}

/** A `KVNamespace` on a server, with `close()`. */
export type RemoteNamespace = KVNamespace & {
  /** Aborts requests in flight; later calls reject. Nothing is buffered, so there is nothing to flush. */
  close(): Promise<void>;
};

/**
 * Opens namespace `options.namespace` (id or title, default "default"; created when missing and the
 * token may) on the OpenKV server at `url` (`http(s)://host:port`, with or without `/client/v4`).
 * Usually reached through `openNamespace(url, { token })`.
 *
 * @example
 * ```ts
 * const kv = await openRemoteNamespace("http://127.0.0.1:8787", { token: process.env.OPENKV_TOKEN!, namespace: "sessions" });
 * await kv.put("s:1", JSON.stringify({ user: "ada" }), { expirationTtl: 3600, metadata: { v: 1 } });
 * const { value, metadata } = await kv.getWithMetadata<{ v: number }>("s:1", "json");
 * await kv.close();
 * ```
 */
export async function openRemoteNamespace(url: string, options: RemoteNamespaceOptions): Promise<RemoteNamespace> {
  const api = new CloudflareApi(url, options.token, options.fetch);
  const accountId = await api.accountId();
  const namespaceId = await api.namespaceId(accountId, options.namespace ?? "default");
  // The class implements every overload of KVNamespace with one loosely typed method each.
  return new RemoteKvNamespace(api, accountId, namespaceId) as unknown as RemoteNamespace;
}
