/**
 * One page of a Workers listing over the engine: the single-string-part keys under a prefix, after a
 * cursor, in byte order, fetched with `limit + 1` to know whether the listing is complete.
 */
import type { Engine } from "../../core/engine.ts";
import { compareBytes } from "../../core/keys.ts";
import type { Entry } from "../../core/types.ts";
import { keyAfter, prefixRange, scanKey, workersKey } from "./key-range.ts";

export interface ListedEntry {
  readonly name: string;
  readonly entry: Entry;
}

export interface ListPage {
  readonly entries: ListedEntry[];
  /** True when more keys follow the last entry. */
  readonly more: boolean;
}

function later(a: Uint8Array, b: Uint8Array): Uint8Array {
  return compareBytes(a, b) >= 0 ? a : b;
}

/**
 * Lists up to `limit` Workers keys starting with `prefix` and sorting after `cursor`. Deno tuples that
 * share the range are skipped a group at a time (see key-range.ts); each round reads only as many
 * entries as are still wanted, so a page costs about `limit + 1` entries plus one seek per tuple group.
 * Rounds are separate snapshots: like Workers KV, a listing is not one consistent view.
 */
export async function listKeys(
  engine: Engine,
  namespaceId: string,
  prefix: string,
  cursor: string | undefined,
  limit: number,
): Promise<ListPage> {
  const range = prefixRange(prefix);
  let start = cursor === undefined ? range.start : later(range.start, keyAfter(workersKey(cursor)));
  const wanted = limit + 1;
  const found: ListedEntry[] = [];
  while (found.length < wanted && compareBytes(start, range.end) < 0) {
    const batch = wanted - found.length;
    const [rows] = await engine.read(namespaceId, [{ start, end: range.end, limit: batch, keysOnly: true }]);
    let resumeAt: Uint8Array | null = null;
    for (const entry of rows!) {
      if (resumeAt && compareBytes(entry.key, resumeAt) < 0) continue;
      const scanned = scanKey(entry.key);
      if (scanned === null) continue;
      if ("resumeAt" in scanned) {
        resumeAt = scanned.resumeAt;
        continue;
      }
      found.push({ name: scanned.name, entry });
      if (found.length === wanted) break;
    }
    if (rows!.length < batch) break;
    const next = keyAfter(rows![rows!.length - 1]!.key);
    start = resumeAt ? later(next, resumeAt) : next;
  }
  const more = found.length > limit;
  if (more) found.length = limit;
  return { entries: found, more };
}
