/**
 * The change feed: every committed write recorded as (versionstamp, namespace, keys) in the commit's own
 * transaction, readable in versionstamp order by anything that follows the store — watch on any node
 * (src/core/feed.ts), and edge caches. Retention is bounded; a follower whose cursor fell behind it is
 * told (`gap`) and must start over (re-read what it watches, clear what it caches).
 */
import type { Backend } from "./backend.ts";
import { versionstampFromCounter } from "./versionstamp.ts";

export interface Change {
  /** The write's versionstamp (10 bytes): strictly increasing in commit order. */
  readonly versionstamp: Uint8Array;
  readonly namespaceId: string;
  /** The keys the write set, deleted or purged; null when the whole namespace was deleted. */
  readonly keys: readonly Uint8Array[] | null;
}

export interface ChangePage {
  /** Changes after the cursor, oldest first. */
  readonly changes: readonly Change[];
  /** The latest committed versionstamp when the page was read: a follower that applied it is current. */
  readonly latest: Uint8Array;
  /** True when changes after the cursor were pruned: the follower missed some. */
  readonly gap: boolean;
}

/** How much of the feed a store keeps: the last `maxWrites` writes, none older than `maxAgeMs`. */
/** A cursor past any real versionstamp: a feed read after it returns nothing but the latest versionstamp. */
const PAST_THE_END = versionstampFromCounter(BigInt(Number.MAX_SAFE_INTEGER));

/** The latest versionstamp `store` has committed (all zeros before its first commit), in one feed read. */
export async function latestVersionstamp(store: Pick<Backend, "changes">): Promise<Uint8Array> {
  return (await store.changes(PAST_THE_END, 1)).latest;
}

export const CHANGE_RETENTION = { maxAgeMs: 60 * 60 * 1000, maxWrites: 100_000 } as const;

/** Keys packed into one blob for a feed row: each as a 4-byte big-endian length, then its bytes. */
export function packKeys(keys: readonly Uint8Array[]): Uint8Array {
  let size = 0;
  for (const k of keys) size += 4 + k.byteLength;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let at = 0;
  for (const k of keys) {
    view.setUint32(at, k.byteLength);
    out.set(k, at + 4);
    at += 4 + k.byteLength;
  }
  return out;
}

export function unpackKeys(packed: Uint8Array): Uint8Array[] {
  const view = new DataView(packed.buffer, packed.byteOffset, packed.byteLength);
  const out: Uint8Array[] = [];
  let at = 0;
  while (at + 4 <= packed.byteLength) {
    const n = view.getUint32(at);
    out.push(packed.slice(at + 4, at + 4 + n));
    at += 4 + n;
  }
  return out;
}
