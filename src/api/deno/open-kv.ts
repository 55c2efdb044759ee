/**
 * `openKv`: Deno's `Deno.openKv`, backed by memory, a SQLite file, an engine shared with other APIs, or
 * — for an `http(s)://` URL — a KV Connect server (OpenKV's or any other).
 */
import { openEngine, resolvePath, type OpenOptions } from "../open.ts";
import { EngineKvBackend } from "./engine-backend.ts";
import { Kv, KV_TOKEN } from "./kv.ts";
import { logQueueHandlerError } from "./queue.ts";

export interface OpenKvOptions extends OpenOptions {
  /** Called with what a queue handler threw (the message is retried). Default: log like Deno. */
  onQueueHandlerError?: (error: unknown) => void;
  /**
   * The access token for an `http(s)://` URL (KV Connect). Default: the `DENO_KV_ACCESS_TOKEN`, then the
   * `OPENKV_TOKEN` environment variable.
   */
  token?: string;
}

const URL_PATH = /^https?:\/\//i;

/**
 * Opens a database. `":memory:"` is a fresh in-memory store; a file path is a SQLite database (created
 * if missing); an `http(s)://` URL is a remote database spoken to over KV Connect (e.g.
 * `http://host:8787/kv-connect/<namespace>` on `openkv serve`); no path uses `OPENKV_URL` or memory.
 * `options.namespace` picks the namespace of a local store (created on first use, default `"default"`).
 *
 * @example
 * ```ts
 * const kv = await openKv("./data.sqlite", { namespace: "app" });
 * await kv.set(["hello"], "world");
 * console.log((await kv.get(["hello"])).value); // "world"
 * await kv.close();
 *
 * const remote = await openKv("https://kv.example.com/kv-connect/app", { token: process.env.OPENKV_TOKEN });
 * ```
 */
export async function openKv(path?: string, options: OpenKvOptions = {}): Promise<Kv> {
  if (path !== undefined && path.startsWith(":") && path !== ":memory:") {
    throw new TypeError("Filename cannot start with ':' unless prefixed with './'");
  }
  const { onQueueHandlerError, token, ...openOptions } = options;
  const onError = onQueueHandlerError ?? logQueueHandlerError;
  const resolved = resolvePath(path);
  if (URL_PATH.test(resolved) && openOptions.engine === undefined) {
    // Imported lazily: the client is only loaded by programs that talk to a server.
    const { openKvConnectBackend } = await import("../../client/kv-connect.ts");
    const backend = await openKvConnectBackend(resolved, { token: token ?? process.env.DENO_KV_ACCESS_TOKEN ?? process.env.OPENKV_TOKEN });
    return new Kv(KV_TOKEN, { backend, onQueueHandlerError: onError });
  }
  const opened = await openEngine(path, openOptions);
  return new Kv(KV_TOKEN, { backend: new EngineKvBackend(opened.engine, opened.namespace, opened.owned), onQueueHandlerError: onError });
}
