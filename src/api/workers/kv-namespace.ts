/**
 * The Workers KV binding over the engine. Decode → validate (validation.ts, in workerd's order) →
 * engine → encode. Values share the engine's cross-API mapping (core/values.ts): a string put is a V8
 * string Deno reads as a string; bytes and streams are raw bytes; anything Deno wrote reads as its text.
 */
import type { Engine } from "../../core/engine.ts";
import type { Entry, ReadOptions, StoredValue } from "../../core/types.ts";
import { encodeV8String, storedToBytes, storedToText } from "../../core/values.ts";
import { bytesToStream, classifyBody, collectStream, toArrayBuffer } from "./body.ts";
import { workersKey } from "./key-range.ts";
import { listKeys } from "./list-keys.ts";
import { KV_LIMITS, KV_MESSAGES, kvFailure, type KvOperation } from "./messages.ts";
import { writeLimiterFor, type WriteRateLimiter } from "./rate-limit.ts";
import type { KVNamespace, KVNamespaceListKey } from "./types.ts";
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
} from "./validation.ts";

/** Workers reads are eventual: a node with a cache (an edge) may answer up to `cacheTtl` seconds old. */
export function eventualRead(cacheTtlSeconds?: number): ReadOptions {
  return { consistency: "eventual", maxAgeMs: (cacheTtlSeconds ?? KV_LIMITS.defaultCacheTtlSeconds) * 1000 };
}

export interface WorkersNamespaceOptions {
  /**
   * Reproduce production-only behaviour on top of the validation every namespace applies:
   * - at most one write (put or delete) per key per second, else `KV PUT failed: 429 Too Many Requests`.
   *
   * Not strict (the default) is exactly what Miniflare / `wrangler dev` do: every key, value, metadata,
   * TTL (minimum 60 s), cacheTtl, list and bulk check still applies, so code that passes here does not
   * fail on those in production; only the per-key write rate is unlimited.
   */
  strict?: boolean;
}

function parseMetadata(entry: Entry): unknown {
  return entry.metadata === null ? null : JSON.parse(entry.metadata);
}

/** A single read's value as `type`, or TypeError for an unknown type (checked only once a value exists). */
function decodeValue(entry: Entry, type: string): unknown {
  switch (type) {
    case "text":
      return storedToText(entry);
    case "json":
      return JSON.parse(storedToText(entry));
    case "arrayBuffer":
      return toArrayBuffer(storedToBytes(entry));
    case "stream":
      return bytesToStream(storedToBytes(entry));
    default:
      throw new TypeError(KV_MESSAGES.getType);
  }
}

const noMutations = { checks: [], enqueues: [] } as const;

/**
 * One namespace of an engine, as a Workers `KVNamespace`. Every method returns a promise; errors are
 * rejections (a `TypeError` for what the binding itself rejects, an `Error("KV <OP> failed: …")` for
 * what the service rejects). Build one with `openNamespace` or `workersNamespace`.
 */
export class WorkersKvNamespace {
  readonly #engine: Engine;
  readonly #namespaceId: string;
  readonly #limiter: WriteRateLimiter | null;

  constructor(engine: Engine, namespaceId: string, options: WorkersNamespaceOptions = {}) {
    this.#engine = engine;
    this.#namespaceId = namespaceId;
    this.#limiter = options.strict ? writeLimiterFor(engine, namespaceId) : null;
  }

  async get(key: unknown, typeOrOptions?: unknown): Promise<unknown> {
    if (Array.isArray(key)) return this.#getBulk(key, typeOrOptions, false);
    const entry = await this.#getOne(key, typeOrOptions);
    return entry && decodeValue(entry.entry, entry.type);
  }

  async getWithMetadata(key: unknown, typeOrOptions?: unknown): Promise<unknown> {
    if (Array.isArray(key)) return this.#getBulk(key, typeOrOptions, true);
    const entry = await this.#getOne(key, typeOrOptions);
    if (!entry) return { value: null, metadata: null, cacheStatus: null };
    return { value: decodeValue(entry.entry, entry.type), metadata: parseMetadata(entry.entry), cacheStatus: null };
  }

  async #getOne(key: unknown, typeOrOptions: unknown): Promise<{ entry: Entry; type: string } | null> {
    const { type, cacheTtl } = readOptions(typeOrOptions);
    const name = jsString(key);
    checkKeyName(name);
    checkKeyLength("GET", name);
    checkCacheTtl("GET", cacheTtl);
    const entry = await this.#engine.get(this.#namespaceId, workersKey(name), eventualRead(cacheTtl));
    return entry && { entry, type };
  }

  /**
   * Bulk reads, as the bulk endpoint does them: type, then count, then per key in order: validate,
   * read, decode. All keys are read in one snapshot; an invalid key is still reported only after the
   * keys before it decoded (so the first error in request order wins, as in Miniflare).
   */
  async #getBulk(keys: unknown[], typeOrOptions: unknown, withMetadata: boolean): Promise<Map<string, unknown>> {
    const { type, unique, valid, invalid } = planBulkGet(keys, typeOrOptions);
    const ranges = unique.slice(0, valid).map((name) => {
      const start = workersKey(name);
      const end = new Uint8Array(start.length + 1);
      end.set(start);
      return { start, end, limit: 1 };
    });
    const rows = ranges.length > 0 ? await this.#engine.read(this.#namespaceId, ranges, eventualRead(readOptions(typeOrOptions).cacheTtl)) : [];

    const out = new Map<string, unknown>();
    let totalChars = 0;
    for (let i = 0; i < valid; i++) {
      const entry = rows[i]![0];
      if (!entry) {
        out.set(unique[i]!, null);
        continue;
      }
      const text = storedToText(entry);
      totalChars += text.length;
      let value: unknown = text;
      if (type === "json") {
        try {
          value = JSON.parse(text);
        } catch {
          throw kvFailure("GET_BULK", 400, KV_MESSAGES.bulkNotJson);
        }
      }
      out.set(unique[i]!, withMetadata ? { value, metadata: parseMetadata(entry) } : value);
    }
    if (invalid !== null) throw invalid;
    if (totalChars > KV_LIMITS.maxBulkTotalChars) throw kvFailure("GET_BULK", 413, KV_MESSAGES.bulkTooLarge);
    return out;
  }

  async put(key: unknown, value: unknown, options?: unknown): Promise<void> {
    const opts = putOptions(options);
    const name = jsString(key);
    checkKeyName(name);
    const metadata = metadataJson(opts.metadata);
    const body = classifyBody(value);

    let expiration: number | null;
    try {
      checkKeyLength("PUT", name);
      expiration = resolveExpiration(Math.floor(this.#engine.clock.now() / 1000), opts);
      checkMetadataSize(metadata);
      if (body.kind === "text") checkValueSize(Buffer.byteLength(body.text, "utf8"));
      if (body.kind === "bytes") checkValueSize(body.bytes.byteLength);
    } catch (e) {
      if (body.kind === "stream") await body.stream.cancel(e).catch(() => {});
      throw e;
    }

    let stored: StoredValue;
    if (body.kind === "text") {
      stored = { encoding: "v8", data: encodeV8String(body.text) };
    } else if (body.kind === "bytes") {
      // A copy: the caller may reuse its buffer, and the memory backend keeps what it is given.
      stored = { encoding: "bytes", data: body.bytes.slice() };
    } else {
      const collected = await collectStream(body.stream, KV_LIMITS.maxValueBytes);
      if (collected.bytes === null) checkValueSize(collected.length);
      stored = { encoding: "bytes", data: collected.bytes! };
    }

    this.#checkWriteRate("PUT", name);
    await this.#engine.atomic(this.#namespaceId, {
      ...noMutations,
      mutations: [
        {
          type: "set",
          key: workersKey(name),
          value: stored,
          expiresAt: expiration === null ? null : expiration * 1000,
          metadata: metadata === undefined || metadata === "null" ? null : metadata,
        },
      ],
    });
  }

  async delete(key: unknown): Promise<void> {
    const name = jsString(key);
    checkKeyName(name);
    checkKeyLength("DELETE", name);
    this.#checkWriteRate("DELETE", name);
    await this.#engine.atomic(this.#namespaceId, { ...noMutations, mutations: [{ type: "delete", key: workersKey(name) }] });
  }

  async list(options?: unknown): Promise<unknown> {
    const { prefix, limit, cursor } = listOptions(options);
    const page = await listKeys(this.#engine, this.#namespaceId, prefix, cursor, limit);
    const keys = page.entries.map(({ name, entry }) => {
      const key: KVNamespaceListKey<unknown> = { name };
      if (entry.expiresAt !== null) key.expiration = Math.floor(entry.expiresAt / 1000);
      if (entry.metadata !== null) key.metadata = JSON.parse(entry.metadata);
      return key;
    });
    if (page.more) return { keys, list_complete: false, cursor: encodeCursor(keys[keys.length - 1]!.name), cacheStatus: null };
    return { keys, list_complete: true, cacheStatus: null };
  }

  #checkWriteRate(op: KvOperation, name: string): void {
    if (this.#limiter && !this.#limiter.tryWrite(name)) throw kvFailure(op, 429, KV_MESSAGES.tooManyRequests);
  }
}

/**
 * The namespace `namespaceId` of an open engine as a `KVNamespace` (for composition roots that
 * share one engine between front ends). The engine stays the caller's to close.
 *
 * @example
 * const kv = workersNamespace(engine, ns.id, { strict: true });
 * await kv.put("greeting", "hello", { expirationTtl: 3600 });
 */
export function workersNamespace(engine: Engine, namespaceId: string, options: WorkersNamespaceOptions = {}): KVNamespace {
  // The class implements every overload of KVNamespace with one loosely typed method each.
  return new WorkersKvNamespace(engine, namespaceId, options) as unknown as KVNamespace;
}
