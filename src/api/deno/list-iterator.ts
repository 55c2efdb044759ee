/** `Deno.KvListIterator`: pages through a selector in batches and remembers where it stopped. */
import { keyToBytes, optionalKeyToBytes } from "./key-validation.ts";
import { encodeCursor, selectorFromKeys } from "./list-selector.ts";
import type { KvConsistencyLevel, KvEntry, KvKey, KvListSelector } from "./types.ts";

/** Fetches one batch: `cursor` is where the previous batch ended (null: from the beginning). */
export type PullBatch = (
  selector: KvListSelector,
  cursor: string | undefined,
  reverse: boolean,
  consistency: KvConsistencyLevel,
) => Promise<KvEntry[]>;

export interface ListIteratorInit {
  limit: number | undefined;
  selector: KvListSelector;
  cursor: string | undefined;
  reverse: boolean;
  consistency: KvConsistencyLevel;
  batchSize: number;
  pullBatch: PullBatch;
}

/**
 * An async iterator over list entries. `cursor` (after at least one `next()`) continues a later listing
 * right after the last entry returned; it is `""` once the listing is exhausted.
 *
 * @example
 * ```ts
 * const page = kv.list({ prefix: ["users"] }, { limit: 10 });
 * for await (const entry of page) console.log(entry.key, entry.value);
 * const next = kv.list({ prefix: ["users"] }, { limit: 10, cursor: page.cursor });
 * ```
 */
export class KvListIterator<T = unknown> implements AsyncIterableIterator<KvEntry<T>> {
  #selector: KvListSelector;
  #entries: KvEntry[] | null = null;
  /** The cursor as given (any value: the read path checks it), or "" once exhausted… */
  #cursorFixed: string | undefined;
  /** …unless an entry was returned since: the cursor follows its key, computed only when asked for. */
  #cursorKey: KvKey | null = null;
  #done = false;
  #lastBatch = false;
  #pullBatch: PullBatch;
  #limit: number | undefined;
  #count = 0;
  #reverse: boolean;
  #batchSize: number;
  #consistency: KvConsistencyLevel;

  constructor(init: ListIteratorInit) {
    const sel = init.selector as { prefix?: unknown; start?: unknown; end?: unknown };
    // Copies, so later changes to the caller's arrays do not move the listing.
    let prefix: KvKey | undefined;
    let start: KvKey | undefined;
    let end: KvKey | undefined;
    if (Object.hasOwn(sel, "prefix") && sel.prefix !== undefined) prefix = Object.freeze(Array.prototype.slice.call(sel.prefix));
    if (Object.hasOwn(sel, "start") && sel.start !== undefined) start = Object.freeze(Array.prototype.slice.call(sel.start));
    if (Object.hasOwn(sel, "end") && sel.end !== undefined) end = Object.freeze(Array.prototype.slice.call(sel.end));
    if (prefix) {
      if (start && end) {
        throw new TypeError("Selector can not specify both 'start' and 'end' key when specifying 'prefix'");
      }
      this.#selector = start ? { prefix, start } : end ? { prefix, end } : { prefix };
    } else if (start && end) {
      this.#selector = { start, end };
    } else {
      throw new TypeError("Selector must specify either 'prefix' or both 'start' and 'end' key");
    }
    Object.freeze(this.#selector);
    this.#pullBatch = init.pullBatch;
    this.#limit = init.limit;
    this.#reverse = init.reverse;
    this.#consistency = init.consistency;
    this.#batchSize = init.batchSize;
    const cursor = init.cursor;
    this.#cursorFixed = cursor ? cursor : undefined;
  }

  /** Where the listing stopped; throws before the first `next()` unless a cursor was given. */
  get cursor(): string {
    const cursor = this.#currentCursor();
    if (cursor === undefined) throw new Error("Cannot get cursor before first iteration");
    return cursor;
  }

  #currentCursor(): string | undefined {
    return this.#cursorKey === null ? this.#cursorFixed : cursorAfter(this.#selector, this.#cursorKey);
  }

  async next(): Promise<IteratorResult<KvEntry<T>, undefined>> {
    if (this.#done || (this.#limit !== undefined && this.#count >= this.#limit)) {
      return { done: true, value: undefined };
    }
    if (!this.#entries?.length && !this.#lastBatch) {
      const batch = await this.#pullBatch(
        this.#selector,
        this.#currentCursor(),
        this.#reverse,
        this.#consistency,
      );
      batch.reverse();
      this.#entries = batch;
      if (batch.length < this.#batchSize) this.#lastBatch = true;
    }
    const entry = this.#entries?.pop();
    if (!entry) {
      this.#done = true;
      this.#cursorKey = null;
      this.#cursorFixed = "";
      return { done: true, value: undefined };
    }
    // The key, not a closure per entry: the cursor is computed only when asked for.
    this.#cursorKey = entry.key;
    this.#count++;
    return { done: false, value: entry as KvEntry<T> };
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

function cursorAfter(selector: KvListSelector, key: KvKey): string {
  const s = selector as { prefix?: KvKey; start?: KvKey; end?: KvKey };
  const raw = selectorFromKeys(
    Object.hasOwn(s, "prefix") ? optionalKeyToBytes(s.prefix) : null,
    Object.hasOwn(s, "start") ? optionalKeyToBytes(s.start) : null,
    Object.hasOwn(s, "end") ? optionalKeyToBytes(s.end) : null,
  );
  return encodeCursor(raw, keyToBytes(key));
}
