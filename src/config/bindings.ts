/**
 * KV bindings from a wrangler config, as `KVNamespace` objects: embedded namespaces on the local OpenKV
 * data directory by default (the directory `openkv serve` and `openkv kv … --local` use), or namespaces
 * on an OpenKV server with `remote: true`.
 *
 * @example
 * ```ts
 * import { getBindings } from "openkv";
 * const env = await getBindings({ env: "staging" });      // reads ./wrangler.jsonc|json|toml
 * await env.CACHE.put("greeting", "hello");
 * const remote = await getBindings({ remote: true });      // OPENKV_URL + OPENKV_TOKEN
 * ```
 */
import { resolve } from "node:path";
import { workersNamespace } from "../api/workers/kv-namespace.ts";
import type { KVNamespace } from "../api/workers/types.ts";
import { openRemoteNamespace } from "../client/workers-remote.ts";
import { parseEncryptionKey } from "../core/keyring.ts";
import { DEFAULT_DATA_DIR, localNamespace, openDataDir } from "./data-dir.ts";
import { loadEncryptionKey } from "./encryption-key.ts";
import { remoteSettings } from "./remote.ts";
import { configBaseDir, ConfigError, readWranglerConfig, type KvNamespaceBinding, type WranglerConfig } from "./wrangler-config.ts";

export interface GetBindingsOptions {
  /** The config environment (`env.<name>.kv_namespaces`). */
  env?: string;
  /** Use each binding's `preview_id` instead of its `id`. */
  preview?: boolean;
  /** The config file; default: the one wrangler would find from `cwd`. */
  config?: string;
  /** Where to start (default `process.cwd()`). */
  cwd?: string;
  /** The local data directory; default `openkv.persist_to` from the config, else `.openkv` beside the config file (or in `cwd`). */
  persistTo?: string;
  /** Use an OpenKV server (`url`/`token`, else `OPENKV_URL`/`OPENKV_TOKEN`, else the config's `openkv` table). */
  remote?: boolean;
  url?: string;
  token?: string;
  /** The local store's encryption key (bytes or base64); default `OPENKV_ENCRYPTION_KEY`. */
  encryptionKey?: Uint8Array | string;
}

/** `{ BINDING: KVNamespace }`, plus a non-enumerable `close()` that closes the local store. */
export type Bindings = Record<string, KVNamespace> & { close(): Promise<void> };

/** The local data directory for a config: `--persist-to` (relative to cwd), the config's `openkv.persist_to`, else `.openkv` beside the config. */
export function localDataDir(config: WranglerConfig, cwd: string, persistTo?: string): string {
  if (persistTo) return resolve(cwd, persistTo);
  const base = configBaseDir(config, cwd);
  return resolve(base, config.openkv.persist_to ?? DEFAULT_DATA_DIR);
}

function known(config: WranglerConfig): string {
  const names = config.kvNamespaces.map((ns) => `"${ns.binding}"`);
  return names.length > 0 ? `The configured bindings are: ${names.join(", ")}.` : "No KV bindings are configured.";
}

/** The binding entry named `binding`, or a ConfigError listing the known ones (wrangler's texts first). */
export function findBinding(config: WranglerConfig, binding: string): KvNamespaceBinding {
  // wrangler always has a config object (defaults when there is no file), so no file reads as no bindings.
  if (config.kvNamespaces.length === 0) {
    throw new ConfigError(
      "No KV Namespaces configured! Either use --namespace-id to upload directly or add a KV namespace to your wrangler config file.",
      config.env ? [`(in the "${config.env}" environment of ${config.path})`] : [],
    );
  }
  const found = config.kvNamespaces.find((ns) => ns.binding === binding);
  if (!found) throw new ConfigError(`A namespace with binding name "${binding}" was not found in the configured "kv_namespaces".`, [known(config)]);
  return found;
}

/**
 * The namespace id a binding stands for, by wrangler's rules: `preview: true` → `preview_id`;
 * `preview: false` → `id`; `preview` unset → the only id there is, an error when there are both. A
 * binding with no id at all (wrangler's auto-provisioning) is, locally, the namespace named after it.
 */
export function bindingNamespaceId(ns: KvNamespaceBinding, preview: boolean | undefined, local: boolean): string {
  const { binding } = ns;
  if (preview === true) {
    if (ns.preview_id) return ns.preview_id;
    throw new ConfigError(`No preview ID found for ${binding}. Add one to your wrangler config file to use a separate namespace for previewing your worker.`);
  }
  const noId = () =>
    local ? binding : (() => {
      throw new ConfigError(`No namespace ID found for ${binding}. Add one to your wrangler config file or pass it via \`--namespace-id\`.`);
    })();
  if (preview === false) return ns.id ?? noId();
  if (ns.id && ns.preview_id) {
    throw new ConfigError(`${binding} has both a namespace ID and a preview ID. Specify "--preview" or "--preview false" to avoid writing data to the wrong namespace.`);
  }
  return ns.id ?? ns.preview_id ?? noId();
}

function hide(target: object, name: string, value: unknown): void {
  Object.defineProperty(target, name, { value, enumerable: false });
}

/**
 * Every KV binding of the config (of `options.env`) as a `KVNamespace`. Locally each one is the
 * namespace with the binding's id in the data directory (created when absent); remotely the namespace
 * with that id on the server. Call `close()` when done with local bindings.
 */
export async function getBindings(options: GetBindingsOptions = {}): Promise<Bindings> {
  const cwd = resolve(options.cwd ?? process.cwd());
  const config = readWranglerConfig({ ...(options.config ? { config: options.config } : {}), cwd, ...(options.env !== undefined ? { env: options.env } : {}) });
  const local = !options.remote;
  const ids = config.kvNamespaces.map((ns) => [ns.binding, bindingNamespaceId(ns, options.preview ?? false, local)] as const);
  const out = {} as Bindings;
  if (local) {
    const key =
      typeof options.encryptionKey === "string"
        ? parseEncryptionKey(options.encryptionKey, "The encryptionKey option")
        : (options.encryptionKey ?? loadEncryptionKey(undefined, process.env));
    const engine = await openDataDir(localDataDir(config, cwd, options.persistTo), key ? { encryptionKey: key } : {});
    try {
      for (const [binding, id] of ids) {
        const ns = (await localNamespace(engine, id, { create: true }))!;
        out[binding] = workersNamespace(engine, ns.id);
      }
    } catch (e) {
      await engine.close();
      throw e;
    }
    hide(out, "close", () => engine.close());
    return out;
  }
  const server = remoteSettings({ config, ...(options.url ? { url: options.url } : {}), ...(options.token ? { token: options.token } : {}) });
  const opened = await Promise.all(ids.map(([, id]) => openRemoteNamespace(server.url, { token: server.token, namespace: id })));
  ids.forEach(([binding], i) => (out[binding] = opened[i]!));
  hide(out, "close", async () => {
    await Promise.all(opened.map((ns) => ns.close()));
  });
  return out;
}

/** One binding, or a ConfigError listing the configured ones. */
export async function getBinding(name: string, options: GetBindingsOptions = {}): Promise<KVNamespace & { close(): Promise<void> }> {
  const cwd = resolve(options.cwd ?? process.cwd());
  const config = readWranglerConfig({ ...(options.config ? { config: options.config } : {}), cwd, ...(options.env !== undefined ? { env: options.env } : {}) });
  findBinding(config, name);
  const all = await getBindings(options);
  return Object.assign(all[name]!, { close: () => all.close() });
}
