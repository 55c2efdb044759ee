/**
 * Shared by `openKv` and `openNamespace`: turns a path into an engine and a namespace.
 * `":memory:"` → memory; `postgres://…` → PostgreSQL; a file path → SQLite; none → `OPENKV_URL` if set,
 * else memory.
 */
import type { Clock } from "../core/clock.ts";
import { Engine } from "../core/engine.ts";
import { parseEncryptionKey } from "../core/keyring.ts";
import type { NamespaceInfo } from "../core/types.ts";
import { openBackend, type Durability } from "../storage/index.ts";

export interface OpenOptions {
  /** Namespace id or title; created on first use. Default `"default"`. */
  namespace?: string;
  /** Injected time (epoch ms); tests move it forward instead of sleeping. */
  clock?: Clock;
  /** `"fsync"` (default): a write survives a power cut. `"process"`: only a process crash. */
  durability?: Durability;
  /** Use an already-open engine (shared by several front ends); it is not closed with this handle. */
  engine?: Engine;
  /**
   * Encryption at rest: the store's 256-bit key, as bytes or as base64 (what `openssl rand -base64 32`
   * prints). Values, metadata and queue payloads are then sealed with AES-256-GCM; a plaintext store
   * given a key is encrypted from then on. An encrypted store opened without its key, or with another
   * one, is refused.
   */
  encryptionKey?: Uint8Array | string;
}

export interface Opened {
  engine: Engine;
  namespace: NamespaceInfo;
  /** True when this handle opened the engine and must close it. */
  owned: boolean;
}

export function resolvePath(path: string | undefined): string {
  if (path !== undefined && path !== "") return path;
  return process.env.OPENKV_URL || ":memory:";
}

export async function openEngine(path: string | undefined, options: OpenOptions = {}): Promise<Opened> {
  const owned = options.engine === undefined;
  const key = typeof options.encryptionKey === "string" ? parseEncryptionKey(options.encryptionKey, "The encryptionKey option") : options.encryptionKey;
  const engine =
    options.engine ??
    (await Engine.open(openBackend(resolvePath(path), options.durability ? { durability: options.durability } : {}), {
      ...(options.clock ? { clock: options.clock } : {}),
      ...(key ? { encryptionKey: key } : {}),
    }));
  try {
    const namespace = await engine.ensureNamespace(options.namespace ?? "default");
    return { engine, namespace, owned };
  } catch (e) {
    if (owned) await engine.close();
    throw e;
  }
}
