/**
 * The two-tier read cache: memory in front of a real SQLite spill file (in a temporary directory). Every
 * rule of the memory tier — LRU, invalidation, namespace deletion, clear, spoilt fills, never an older
 * entry over a newer one — is checked on an entry that sits in the file, and the file's own bound,
 * order, size cap, restart record and failure handling.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { encodeKey } from "../core/keys.ts";
import type { Entry } from "../core/types.ts";
import { versionstampFromCounter } from "../core/versionstamp.ts";
import { ReadCache, sizeOf } from "./read-cache.ts";
import { CacheFileError, SPILL_MAX_ENTRY_BYTES, SpillFile } from "./spill-file.ts";

const dir = mkdtempSync(join(tmpdir(), "openkv-spill-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const NS = "0123456789abcdef0123456789abcdef";
const OTHER_NS = "fedcba9876543210fedcba9876543210";
const CORE = "store-a";
const ZERO = new Uint8Array(10);
let files = 0;

const key = (name: string) => encodeKey([name]);
const vs = (n: number) => versionstampFromCounter(BigInt(n));
function entry(name: string, n: number, size = 200, extra: Partial<Entry> = {}): Entry {
  return { key: key(name), encoding: "bytes", data: new Uint8Array(size).fill(n), versionstamp: vs(n), expiresAt: null, metadata: null, ...extra };
}
/** What one entry of `size` value bytes costs in either tier. */
const cost = (name: string, size = 200) => sizeOf(key(name), entry(name, 1, size));

function twoTier(memoryEntries: number, fileBytes = 1 << 20, path = join(dir, `cache-${++files}.sqlite`)) {
  const lines: string[] = [];
  const spill = SpillFile.open(path, CORE, { maxBytes: fileBytes, log: (l) => lines.push(l) });
  const cache = new ReadCache(memoryEntries * cost("k0") + 10, { spill, log: (l) => lines.push(l) });
  const fill = (name: string, e: Entry | null, ns = NS) => cache.finishFill(cache.beginFill(ns, key(name), 1000, ZERO), key(name), e);
  return { path, spill, cache, lines, fill };
}

test("memory evicts its least recently used entry to the file; a memory miss finds it there and copies it up", () => {
  const { cache, spill, fill } = twoTier(2);
  fill("k1", entry("k1", 1));
  fill("k2", entry("k2", 2));
  fill("k3", null); // "not found" spills too
  fill("k4", entry("k4", 4));
  assert.equal(cache.tierOf(NS, key("k1")), "file");
  assert.equal(cache.tierOf(NS, key("k2")), "file");
  assert.equal(cache.tierOf(NS, key("k3")), "memory");
  assert.equal(cache.tierOf(NS, key("k4")), "memory");
  assert.equal(spill.stats.entries, 2);

  // Promotion: k1 comes up from the file, byte for byte, and the least recently used in memory (k3) goes down.
  const hit = cache.get(NS, key("k1"))!;
  assert.deepEqual(hit.entry, entry("k1", 1));
  assert.equal(hit.fetchedAt, 1000);
  assert.equal(spill.stats.hits, 1);
  assert.equal(cache.tierOf(NS, key("k1")), "memory");
  assert.equal(cache.tierOf(NS, key("k3")), "file");
  assert.equal(cache.get(NS, key("k3"))!.entry, null, "not found, served from the file");
  assert.equal(cache.tierOf(NS, key("k4")), "file");
  assert.equal(cache.get(NS, key("k1"))!.entry!.data[0], 1, "now a memory hit");
  assert.equal(spill.stats.hits, 2);
  // The file kept its rows: evicting k1 and k3 again, unchanged, writes nothing.
  assert.equal(spill.stats.entries, 4);
  const written = spill.stats.spilled;
  fill("k5", entry("k5", 5));
  fill("k6", entry("k6", 6));
  assert.equal(cache.tierOf(NS, key("k1")), "file");
  assert.equal(cache.tierOf(NS, key("k3")), "file");
  assert.equal(spill.stats.spilled, written);
  assert.equal(cache.get(NS, key("absent")), undefined);
});

test("invalidation reaches the file: a changed key is dropped there, unless the file holds that write or a later one", () => {
  const { cache, fill } = twoTier(1);
  fill("a", entry("a", 5));
  fill("b", entry("b", 5));
  fill("n", null);
  fill("top", entry("top", 1)); // a, b and n are in the file now
  for (const k of ["a", "b", "n"]) assert.equal(cache.tierOf(NS, key(k)), "file");
  cache.invalidate(NS, key("a"), vs(6)); // a later write: gone
  cache.invalidate(NS, key("b"), vs(5)); // the write the file holds: kept
  cache.invalidate(NS, key("n"), vs(2)); // "not found" has no versionstamp: gone
  assert.equal(cache.tierOf(NS, key("a")), null);
  assert.equal(cache.tierOf(NS, key("b")), "file");
  assert.equal(cache.tierOf(NS, key("n")), null);
  cache.invalidate(NS, key("b")); // a write through this edge (no versionstamp known): gone
  assert.equal(cache.tierOf(NS, key("b")), null);
});

test("a namespace deletion and a clear empty both tiers; the file's feed position goes with a clear", () => {
  const { cache, spill, fill } = twoTier(1);
  fill("x", entry("x", 1));
  fill("y", entry("y", 1), OTHER_NS);
  fill("z", entry("z", 1));
  fill("w", entry("w", 1), OTHER_NS);
  assert.equal(spill.stats.entries, 3);
  cache.dropNamespace(NS);
  assert.equal(cache.tierOf(NS, key("x")), null);
  assert.equal(cache.tierOf(NS, key("z")), null);
  assert.equal(cache.tierOf(OTHER_NS, key("y")), "file");
  assert.equal(cache.tierOf(OTHER_NS, key("w")), "memory");
  cache.recordApplied(vs(9));
  assert.deepEqual(spill.applied, vs(9));
  cache.clear();
  assert.equal(cache.tierOf(OTHER_NS, key("y")), null);
  assert.equal(cache.size, 0);
  assert.deepEqual(spill.stats, { ...spill.stats, entries: 0, bytes: 0 });
  assert.equal(spill.applied, null);
});

test("fills against the file: a spoilt fill inserts nothing, an older answer never replaces a newer one in the file", () => {
  const { cache, fill } = twoTier(1);
  fill("k", entry("k", 7));
  fill("top", entry("top", 1));
  assert.equal(cache.tierOf(NS, key("k")), "file");
  // A fill of k that read the core before write 7 finishes after: the file's newer entry stays.
  assert.equal(fill("k", entry("k", 3)), false);
  assert.deepEqual(cache.get(NS, key("k"))!.entry!.versionstamp, vs(7));
  fill("top2", entry("top2", 1)); // k back down to the file
  assert.equal(cache.tierOf(NS, key("k")), "file");
  // "Not found" against an entry: neither is kept, in either tier.
  assert.equal(fill("k", null), false);
  assert.equal(cache.tierOf(NS, key("k")), null);
  // A spoilt fill (invalidated while out) inserts nothing, not even into the file.
  const ticket = cache.beginFill(NS, key("s"), 1000, ZERO);
  cache.invalidate(NS, key("s"), vs(9));
  assert.equal(cache.finishFill(ticket, key("s"), entry("s", 8)), false);
  assert.equal(cache.tierOf(NS, key("s")), null);
  // A newer answer replaces the file's older entry, and lands in memory.
  fill("k", entry("k", 2));
  fill("top3", entry("top3", 1));
  assert.equal(fill("k", entry("k", 4)), true);
  assert.equal(cache.tierOf(NS, key("k")), "memory");
  assert.deepEqual(cache.get(NS, key("k"))!.entry!.versionstamp, vs(4));
});

test("the file holds at most its bytes, evicting the entries written to it longest ago first", () => {
  const each = cost("f00");
  const { cache, spill, fill } = twoTier(1, 5 * each + 10);
  for (let i = 0; i < 12; i++) fill(`f${String(i).padStart(2, "0")}`, entry(`f${String(i).padStart(2, "0")}`, i + 1));
  // f11 in memory, f06..f10 in the file (5 fit), f00..f05 evicted from the file.
  assert.ok(spill.stats.bytes <= spill.maxBytes, `${spill.stats.bytes} > ${spill.maxBytes}`);
  assert.equal(spill.stats.entries, 5);
  assert.ok(spill.stats.evictions >= 6);
  const tiers = Array.from({ length: 12 }, (_, i) => cache.tierOf(NS, key(`f${String(i).padStart(2, "0")}`)));
  assert.deepEqual(tiers, [null, null, null, null, null, null, "file", "file", "file", "file", "file", "memory"]);
  // Reading f06 copies it up (f11 goes down) and leaves its row where it was: the oldest, so it is the
  // one the file drops for f11, and f07 stays. Evicted from memory by f12, the copy is not written back.
  cache.get(NS, key("f06"));
  assert.equal(cache.tierOf(NS, key("f06")), "memory");
  assert.equal(spill.peek(NS, key("f06")), undefined);
  assert.equal(cache.tierOf(NS, key("f07")), "file");
  fill("f12", entry("f12", 13));
  assert.equal(cache.tierOf(NS, key("f06")), null);
  assert.equal(cache.tierOf(NS, key("f11")), "file");
  assert.ok(spill.stats.bytes <= spill.maxBytes);
  // The file on disk stays near its bound (SQLite's pages and the WAL on top).
  assert.ok(statSync(spill.path).size < 1 << 20);
});

test("entries over 1 MiB are not spilled; an entry larger than memory goes to the file directly", () => {
  const { cache, spill, fill } = twoTier(1, 64 << 20);
  assert.equal(fill("huge", entry("huge", 1, SPILL_MAX_ENTRY_BYTES + 1)), false, "larger than memory and than the file's cap: not cached");
  assert.equal(cache.tierOf(NS, key("huge")), null);
  assert.equal(spill.stats.tooLarge, 1);
  assert.equal(fill("big", entry("big", 1, 64 << 10)), true, "larger than memory, under the cap: cached in the file");
  assert.equal(cache.tierOf(NS, key("big")), "file");
  const written = spill.stats.spilled;
  assert.equal(cache.get(NS, key("big"))!.entry!.data.byteLength, 64 << 10);
  assert.equal(cache.tierOf(NS, key("big")), "file", "too big for memory: it stays in the file");
  assert.equal(spill.stats.spilled, written, "read in place, not written again");
});

test("closing moves memory to the file; reopening finds every entry, the feed position and the recency order", () => {
  const first = twoTier(2);
  first.fill("old", entry("old", 1));
  first.fill("mid", entry("mid", 2));
  first.fill("new", entry("new", 3));
  first.cache.recordApplied(vs(3));
  first.cache.closeFile();
  assert.equal(first.cache.spill, null);

  const again = twoTier(2, 3 * cost("old") + 10, first.path);
  assert.deepEqual(again.spill.applied, vs(3));
  assert.equal(again.spill.stats.entries, 3);
  assert.deepEqual(again.lines, []);
  // One more spill pushes out the least recently used: "old" (it was in the file before the close).
  again.fill("p", entry("p", 4));
  again.fill("q", entry("q", 5));
  again.fill("r", entry("r", 6));
  assert.equal(again.cache.tierOf(NS, key("old")), null);
  assert.equal(again.cache.tierOf(NS, key("new")), "file");
  again.cache.closeFile();
});

test("a file of another core, of another schema or that is not SQLite is emptied and the log says why; a file in use is refused", () => {
  const a = twoTier(1);
  a.fill("k", entry("k", 1));
  a.fill("l", entry("l", 1));
  a.cache.recordApplied(vs(1));
  assert.throws(() => SpillFile.open(a.path, CORE), (e: unknown) => e instanceof CacheFileError && /in use by another process/.test(e.message));
  a.cache.closeFile();

  const lines: string[] = [];
  const b = SpillFile.open(a.path, "store-b", { log: (l) => lines.push(l) });
  assert.equal(b.stats.entries, 0);
  assert.equal(b.applied, null);
  assert.deepEqual(lines, [`Cache file ${a.path} holds entries of another core (store ${CORE}, not store-b): cleared.`]);
  b.close();
  const db = new DatabaseSync(a.path);
  db.exec("UPDATE meta SET value = '99' WHERE name = 'schema'");
  db.close();
  lines.length = 0;
  SpillFile.open(a.path, "store-b", { log: (l) => lines.push(l) }).close();
  assert.deepEqual(lines, [`Cache file ${a.path} could not be read (schema 99, this edge writes 1): starting it empty.`]);

  const junk = join(dir, "junk.sqlite");
  writeFileSync(junk, "this is not a database, just forty-odd bytes of text ".repeat(100));
  lines.length = 0;
  const c = SpillFile.open(junk, CORE, { log: (l) => lines.push(l) });
  assert.equal(c.stats.entries, 0);
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /^Cache file .*junk\.sqlite could not be read \(file is not a database\): starting it empty\.$/);
  c.close();
  assert.equal(statSync(junk).mode & 0o777, 0o600, "recreated readable by its owner only");

  assert.throws(() => SpillFile.open(join(dir, "no", "such", "dir.sqlite"), CORE), (e: unknown) => e instanceof CacheFileError && /^Cannot create the cache file/.test(e.message));
});

test("a file that fails is dropped from use and logged; memory goes on alone", () => {
  const { cache, spill, fill, lines } = twoTier(1);
  fill("a", entry("a", 1));
  fill("b", entry("b", 1));
  spill.close(); // every statement on it now throws
  cache.invalidate(NS, key("a"), vs(2));
  assert.equal(cache.spill, null);
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /^Cache file .* failed \(.*\): caching in memory only until restart\.$/);
  assert.equal(cache.get(NS, key("a")), undefined);
  assert.equal(cache.get(NS, key("b"))!.entry!.key.byteLength > 0, true);
  fill("c", entry("c", 1));
  assert.equal(cache.size, 1);
  cache.invalidate(NS, key("c"));
  assert.equal(cache.size, 0);
});
