/** `openKv`: Deno's `Deno.openKv`, backed by memory, a SQLite file, or an engine shared with other APIs. */
import { openEngine, type OpenOptions } from "../open.ts";
import { Kv, KV_TOKEN } from "./kv.ts";
import { logQueueHandlerError } from "./queue.ts";

export interface OpenKvOptions extends OpenOptions {
  /** Called with what a queue handler threw (the message is retried). Default: log like Deno. */
  onQueueHandlerError?: (error: unknown) => void;
}

/**
 * Opens a database. `":memory:"` is a fresh in-memory store; a file path is a SQLite database (created
 * if missing); no path uses `OPENKV_URL` or memory. `options.namespace` picks the namespace (created on
 * first use, default `"default"`).
 *
 * @example
 * ```ts
 * const kv = await openKv("./data.sqlite", { namespace: "app" });
 * await kv.set(["hello"], "world");
 * console.log((await kv.get(["hello"])).value); // "world"
 * await kv.close();
 * ```
 */
export async function openKv(path?: string, options: OpenKvOptions = {}): Promise<Kv> {
  if (path !== undefined && path.startsWith(":") && path !== ":memory:") {
    throw new TypeError("Filename cannot start with ':' unless prefixed with './'");
  }
  const { onQueueHandlerError, ...openOptions } = options;
  const opened = await openEngine(path, openOptions);
  return new Kv(KV_TOKEN, { ...opened, onQueueHandlerError: onQueueHandlerError ?? logQueueHandlerError });
}
