/**
 * The embedded Cloudflare Workers KV binding: a `KVNamespace` over a local OpenKV store, sharing its
 * entries with the Deno KV API (Workers key "k" is Deno key ["k"]).
 */
import { openEngine, type OpenOptions } from "../open.ts";
import type { WorkersNamespaceOptions } from "./kv-namespace.ts";
import { workersNamespace } from "./kv-namespace.ts";
import type { KVNamespace } from "./types.ts";

export { WorkersKvNamespace, workersNamespace, type WorkersNamespaceOptions } from "./kv-namespace.ts";
export { KV_LIMITS, KV_MESSAGES } from "./messages.ts";
export type {
  KVNamespace,
  KVNamespaceOf,
  KVNamespaceGetOptions,
  KVNamespaceGetWithMetadataResult,
  KVNamespaceListKey,
  KVNamespaceListOptions,
  KVNamespaceListResult,
  KVNamespacePutOptions,
} from "./types.ts";

export type OpenNamespaceOptions = OpenOptions & WorkersNamespaceOptions;

/** A `KVNamespace` that owns its store handle. */
export type OpenedNamespace = KVNamespace & {
  /** Waits for acknowledged writes, then closes the store (unless it came in as `options.engine`). */
  close(): Promise<void>;
};

/**
 * Opens a Workers KV namespace: `":memory:"` (or nothing, without `OPENKV_URL`) in memory, a file path
 * in SQLite. `options.namespace` picks the namespace (default "default"), `options.clock` injects time,
 * `options.strict` adds production's per-key write rate limit (see `WorkersNamespaceOptions`).
 *
 * @example
 * ```ts
 * const kv = await openNamespace("./data.sqlite");
 * await kv.put("user:1", JSON.stringify({ name: "Ada" }), { metadata: { v: 1 }, expirationTtl: 3600 });
 * const user = await kv.get<{ name: string }>("user:1", "json");
 * const { keys, list_complete } = await kv.list({ prefix: "user:" });
 * await kv.close();
 * ```
 */
export async function openNamespace(path?: string, options: OpenNamespaceOptions = {}): Promise<OpenedNamespace> {
  const { engine, namespace, owned } = await openEngine(path, options);
  const kv = workersNamespace(engine, namespace.id, { strict: options.strict ?? false });
  let closing: Promise<void> | null = null;
  const close = () => (closing ??= owned ? engine.close() : Promise.resolve());
  return Object.assign(kv, { close });
}
