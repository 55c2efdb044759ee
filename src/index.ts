/**
 * OpenKV: one store, spoken to as Deno KV (`openKv`) or as Cloudflare Workers KV (`openNamespace`).
 *
 * @example
 * ```ts
 * import { openKv, openNamespace, getBindings } from "openkv";
 * const kv = await openKv("./data.sqlite");
 * await kv.set(["greeting"], "hello");
 * const ns = await openNamespace("./data.sqlite");
 * console.log(await ns.get("greeting")); // "hello"
 *
 * // The KV bindings of ./wrangler.toml|json|jsonc, on the data directory `openkv serve` uses (./.openkv)
 * const env = await getBindings({ env: "staging" });
 * await env.CACHE.put("k", "v");
 * ```
 */
export { openKv, Kv, KvU64, AtomicOperation, type KvEntry, type KvEntryMaybe, type KvListSelector, type KvListOptions } from "./api/deno/index.ts";
export { openNamespace, type KVNamespace } from "./api/workers/index.ts";
export { ManualClock, type Clock } from "./core/clock.ts";
export { KvError, type KvErrorCode } from "./core/errors.ts";
export type { OpenOptions } from "./api/open.ts";
export { getBindings, getBinding, readWranglerConfig, ConfigError, type Bindings, type GetBindingsOptions, type WranglerConfig } from "./config/index.ts";
