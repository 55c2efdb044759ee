/**
 * `kv.watch(keys)`: a ReadableStream whose first chunk is the current entries of `keys` and then one
 * chunk whenever a versionstamp among them changes (a write, a delete, an expiry). Changes that
 * happen while nobody is reading are coalesced into one event carrying the latest state. The backend's
 * WatchFeed supplies the state (engine notifications, or a KV Connect watch stream).
 */
import { DENO_LIMITS } from "../../core/limits.ts";
import type { Entry } from "../../core/types.ts";
import { BadResource, serdeTypeError, toDenoError } from "./errors.ts";
import type { KvContext } from "./context.ts";
import { keyToBytes } from "./key-validation.ts";
import type { KvEntryMaybe, KvKey } from "./types.ts";
import { toKvEntry, versionstampString } from "./value-codec.ts";

/** A live watch: `stop()` ends it (the stream then closes) and releases its subscription. */
export interface WatchHandle {
  stop(): void;
}

export interface WatchOptions {
  /** Emit on every notification, even when no versionstamp changed. */
  raw?: boolean;
}

/**
 * Opens a watch. Throws synchronously (like Deno) for invalid keys, a closed handle, more than 10 keys,
 * or an oversized key. `register` lets the owning `Kv` stop the watch when it closes.
 */
export function openWatch<T extends readonly unknown[]>(
  ctx: KvContext,
  keys: readonly KvKey[],
  options: WatchOptions,
  register: (handle: WatchHandle) => () => void,
): ReadableStream<{ [K in keyof T]: KvEntryMaybe<T[K]> }> {
  const raw = options.raw ?? false;
  if (!Array.isArray(keys)) throw serdeTypeError("array", keys);
  const encoded = keys.map((k: unknown) => keyToBytes(k));
  if (ctx.isClosed()) throw new BadResource();
  if (encoded.length > DENO_LIMITS.maxWatchedKeys) throw new TypeError(`Too many keys (max ${DENO_LIMITS.maxWatchedKeys})`);
  for (const k of encoded) {
    if (k.length > DENO_LIMITS.maxReadKeyBytes) throw new TypeError(`Key too large for read (max ${DENO_LIMITS.maxReadKeyBytes} bytes)`);
  }
  const userKeys = keys.map((k) => Array.prototype.slice.call(k) as KvKey);
  const feed = encoded.length > 0 ? ctx.backend.watch(encoded) : null;
  let stopped = false;
  const last: (Entry | null | undefined)[] = new Array(keys.length).fill(undefined);
  let unregister = () => {};
  const stop = () => {
    if (stopped) return;
    stopped = true;
    feed?.stop();
    unregister();
  };
  unregister = register({ stop });

  return new ReadableStream({
    async pull(controller) {
      for (;;) {
        if (stopped || ctx.isClosed() || feed === null) {
          // Deno's watch of nothing ends at once.
          stop();
          controller.close();
          return;
        }
        let rows: (Entry | null)[] | null;
        try {
          rows = await feed.next();
        } catch (e) {
          if (stopped || ctx.isClosed()) continue;
          stop();
          controller.error(toDenoError(e));
          return;
        }
        if (rows === null) continue;
        let changed = false;
        rows.forEach((entry, i) => {
          const before = last[i];
          if (before !== undefined && versionstampOf(before) === versionstampOf(entry)) return;
          changed = true;
          last[i] = entry;
        });
        if (!changed && !raw) continue;
        controller.enqueue(
          last.map((e, i) =>
            e ? toKvEntry(e) : { key: Array.prototype.slice.call(userKeys[i]!) as KvKey, value: null, versionstamp: null },
          ) as { [K in keyof T]: KvEntryMaybe<T[K]> },
        );
        return;
      }
    },
    cancel() {
      stop();
    },
  },
  // No read-ahead: each event is read when asked for, so a slow reader gets the latest state instead
  // of a stale buffered one (several changes between two reads arrive as one event).
  { highWaterMark: 0 });
}

function versionstampOf(entry: Entry | null): string | null {
  return entry === null ? null : versionstampString(entry.versionstamp);
}
