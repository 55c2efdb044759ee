/**
 * Snapshot reads (get, getMany, list pages) with Deno's argument checks and limits, in Deno's order:
 * argument types, then "closed", then the number of ranges, then each range, then the entry total.
 */
import { DENO_LIMITS } from "../../core/limits.ts";
import type { Entry, ReadRange } from "../../core/types.ts";
import { BadResource, serdeTypeError, toDenoError } from "./errors.ts";
import type { KvContext } from "./context.ts";
import { optionalKeyToBytes } from "./key-validation.ts";
import { scanBounds, selectorFromKeys } from "./list-selector.ts";

/** One range as Deno's op receives it: a selector (prefix/start/end), a limit, a direction, a cursor. */
export interface RawReadRange {
  readonly prefix: unknown;
  readonly start: unknown;
  readonly end: unknown;
  readonly limit: number;
  readonly reverse: unknown;
  readonly cursor: unknown;
}

function parseCursor(cursor: unknown): string | null {
  if (cursor === null || cursor === undefined) return null;
  if (typeof cursor !== "string") throw serdeTypeError("string", cursor);
  // serde_v8's ByteString: one byte per character.
  for (let i = 0; i < cursor.length; i++) {
    if (cursor.charCodeAt(i) > 0xff) throw new TypeError("serde_v8 error: invalid type, expected: latin1");
  }
  return cursor;
}

export function checkConsistency(consistency: unknown): void {
  if (consistency === "strong" || consistency === "eventual") return;
  if (typeof consistency === "string") {
    throw new TypeError(`unknown variant \`${consistency}\`, expected \`strong\` or \`eventual\``);
  }
  throw serdeTypeError("enum", consistency);
}

function checkReadKeySize(key: Uint8Array): void {
  if (key.length > DENO_LIMITS.maxReadKeyBytes) {
    throw new TypeError(`Key too large for read (max ${DENO_LIMITS.maxReadKeyBytes} bytes)`);
  }
}

/** Reads all ranges in one snapshot; `consistency: "eventual"` lets an edge's cache answer. */
export async function snapshotRead(ctx: KvContext, ranges: readonly RawReadRange[], consistency: unknown): Promise<Entry[][]> {
  const parsed = ranges.map((r) => ({
    prefix: optionalKeyToBytes(r.prefix),
    start: optionalKeyToBytes(r.start),
    end: optionalKeyToBytes(r.end),
    limit: r.limit,
    reverse: r.reverse === true,
    cursor: parseCursor(r.cursor),
  }));
  checkConsistency(consistency);
  if (ctx.isClosed()) throw new BadResource();
  if (parsed.length > DENO_LIMITS.maxReadRanges) {
    throw new TypeError(`Too many ranges (max ${DENO_LIMITS.maxReadRanges})`);
  }
  let total = 0;
  const scans: ReadRange[] = parsed.map((r) => {
    const selector = selectorFromKeys(r.prefix, r.start, r.end);
    const { start, end } = scanBounds(selector, r.reverse, r.cursor);
    checkReadKeySize(start);
    checkReadKeySize(end);
    total += r.limit;
    if (!(r.limit > 0)) throw new TypeError("limit must be greater than 0");
    return { start, end, limit: r.limit, reverse: r.reverse };
  });
  if (total > DENO_LIMITS.maxReadEntries) {
    throw new TypeError(`Too many entries (max ${DENO_LIMITS.maxReadEntries})`);
  }
  try {
    return await ctx.backend.snapshotRead(scans, consistency as "strong" | "eventual");
  } catch (e) {
    throw toDenoError(e);
  }
}
