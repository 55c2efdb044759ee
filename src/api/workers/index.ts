/**
 * The embedded Cloudflare Workers KV binding: a `KVNamespace` over a local OpenKV store, sharing its
 * entries with the Deno KV API (Workers key "k" is Deno key ["k"]).
 */
import { openEngine, resolvePath, type OpenOptions } from "../open.ts";
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

export type OpenNamespaceOptions = OpenOptions &
  WorkersNamespaceOptions & {
    /**
     * The API token for an `http(s)://` URL (sent as `Authorization: Bearer …`). Default: the
     * `OPENKV_TOKEN` environment variable.
     */
    token?: string;
  };

const URL_PATH = /^https?:\/\//i;

const MISSING_TOKEN =
  "openNamespace: a server URL needs an API token: pass { token } or set OPENKV_TOKEN. " +
  "`openkv serve` prints its admin token when it first starts (and keeps it in <data dir>/admin-token); " +
  "with it, POST /admin/tokens creates tokens limited to some namespaces or to reading.";

/** A `KVNamespace` that owns its store handle. */
export type OpenedNamespace = KVNamespace & {
  /**
   * Waits for acknowledged writes, then closes the store (unless it came in as `options.engine`); on a
   * server URL, aborts the requests in flight. Later calls reject.
   */
  close(): Promise<void>;
};

/**
 * Opens a Workers KV namespace: `":memory:"` (or nothing, without `OPENKV_URL`) in memory, a file path
 * in SQLite, an `http(s)://` URL on an OpenKV server (`openkv serve`), over its Cloudflare REST API with
 * `options.token`. `options.namespace` picks the namespace (id or title, default "default", created on
 * first use), `options.clock` injects time, `options.strict` adds production's per-key write rate limit
 * (see `WorkersNamespaceOptions`). For a URL, time and limits are the server's: `clock` and
 * `durability` do not apply and `strict` is refused.
 *
 * @example
 * ```ts
 * const kv = await openNamespace("./data.sqlite");
 * await kv.put("user:1", JSON.stringify({ name: "Ada" }), { metadata: { v: 1 }, expirationTtl: 3600 });
 * const user = await kv.get<{ name: string }>("user:1", "json");
 * const { keys, list_complete } = await kv.list({ prefix: "user:" });
 * await kv.close();
 *
 * // The same binding on a server:
 * const remote = await openNamespace("http://127.0.0.1:8787", { token: process.env.OPENKV_TOKEN, namespace: "app" });
 * ```
 */
export async function openNamespace(path?: string, options: OpenNamespaceOptions = {}): Promise<OpenedNamespace> {
  const resolved = resolvePath(path);
  if (URL_PATH.test(resolved) && options.engine === undefined) {
    if (options.strict) throw new TypeError("openNamespace: `strict` applies to a local store; a server enforces its own limits");
    const token = options.token ?? process.env.OPENKV_TOKEN;
    if (!token) throw new TypeError(MISSING_TOKEN);
    // Imported lazily: the client is only loaded by programs that talk to a server.
    const { openRemoteNamespace } = await import("../../client/workers-remote.ts");
    return openRemoteNamespace(resolved, { token, ...(options.namespace !== undefined ? { namespace: options.namespace } : {}) });
  }
  const { engine, namespace, owned } = await openEngine(path, options);
  const kv = workersNamespace(engine, namespace.id, { strict: options.strict ?? false });
  let closing: Promise<void> | null = null;
  const close = () => (closing ??= owned ? engine.close() : Promise.resolve());
  return Object.assign(kv, { close });
}
