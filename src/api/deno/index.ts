/**
 * The Deno KV API (`Deno.openKv` and friends) over OpenKV's engine.
 *
 * @example
 * ```ts
 * import { openKv, KvU64 } from "openkv";
 * const kv = await openKv(":memory:");
 * await kv.atomic().sum(["hits"], 1n).commit();
 * console.log((await kv.get<KvU64>(["hits"])).value); // KvU64 1n
 * ```
 */
export { openKv, type OpenKvOptions } from "./open-kv.ts";
export { Kv } from "./kv.ts";
export { KvU64 } from "./kv-u64.ts";
export { AtomicOperation } from "./atomic-operation.ts";
export { KvListIterator } from "./list-iterator.ts";
export { BadResource } from "./errors.ts";
export type {
  AtomicCheck,
  EnqueueOptions,
  KvCommitError,
  KvCommitResult,
  KvConsistencyLevel,
  KvEntry,
  KvEntryMaybe,
  KvKey,
  KvKeyPart,
  KvListOptions,
  KvListSelector,
  KvMutation,
} from "./types.ts";
