import { test } from "node:test";
import assert from "node:assert/strict";
import { ManualClock } from "../core/clock.ts";
import { ResponseCache, type CachedAnswer } from "./response-cache.ts";

const answer = (text: string, expiresAt: number | null = null): CachedAnswer => {
  const body = Buffer.from(text);
  return { headers: { "content-length": body.byteLength }, body, expiresAt };
};

test("a kept answer is served until the store's version moves, then never again", () => {
  let version = 1;
  const cache = new ResponseCache(() => version, new ManualClock(0));
  cache.set("a", cache.version(), answer("one"));
  assert.equal(cache.get("a")?.body.toString(), "one");
  version = 2;
  assert.equal(cache.get("a"), null, "a commit since the answer was made: not served");
  assert.equal(cache.size, 0);
  assert.deepEqual([cache.hits, cache.misses], [1, 1]);
});

test("an answer read before a commit is not kept after it", () => {
  let version = 1;
  const cache = new ResponseCache(() => version, new ManualClock(0));
  const before = cache.version();
  version = 2; // a commit lands while the read's answer is being built
  cache.set("a", before, answer("old"));
  assert.equal(cache.get("a"), null);
});

test("lookup: nothing kept is a miss at once; a kept answer waits for the turn's one version check, and a commit before it wins", async () => {
  let version = 1;
  let reads = 0;
  const cache = new ResponseCache(() => (reads++, version), new ManualClock(0));
  assert.equal(cache.lookup("a"), null);
  cache.set("a", cache.version(), answer("one"));
  cache.set("b", cache.version(), answer("two"));
  reads = 0;
  const [a, b] = [cache.lookup("a"), cache.lookup("b")];
  assert.equal(reads, 0, "no version read yet: requests still arriving this turn are covered by the check");
  assert.deepEqual([(await a)?.body.toString(), (await b)?.body.toString()], ["one", "two"]);
  assert.equal(reads, 1, "one version read for both lookups of the turn");
  const c = cache.lookup("a")!;
  version = 2; // committed after the request came in, before the check: the check sees it
  assert.equal(await c, null);
});

test("an answer is not served at or past its entry's expiry", () => {
  const clock = new ManualClock(1000);
  const cache = new ResponseCache(() => 1, clock);
  cache.set("a", cache.version(), answer("soon gone", 2000));
  clock.advance(999);
  assert.equal(cache.get("a")?.body.toString(), "soon gone");
  clock.advance(1);
  assert.equal(cache.get("a"), null);
});

test("the cache keeps at most maxEntries answers and maxBytes bytes, the oldest out first, and no body over maxBodyBytes", () => {
  const cache = new ResponseCache(() => 1, new ManualClock(0), { maxEntries: 2, maxBytes: 10, maxBodyBytes: 6 });
  const v = cache.version();
  cache.set("a", v, answer("aaaa"));
  cache.set("b", v, answer("bbbb"));
  cache.set("c", v, answer("cccc"));
  assert.equal(cache.get("a"), null);
  assert.ok(cache.get("b") && cache.get("c"));
  cache.set("d", v, answer("dddddd")); // 4 + 4 + 6 > 10: b, the oldest, goes; 4 + 6 fits
  assert.equal(cache.get("b"), null);
  assert.ok(cache.get("c") && cache.get("d"));
  cache.set("e", v, answer("eeeeeee"));
  assert.equal(cache.get("e"), null, "a body over maxBodyBytes is not kept");
  cache.set("f", v, { headers: {}, body: "é".repeat(3), expiresAt: null }); // 6 bytes in UTF-8
  // Counted as 6 bytes, not 3 characters: c and d (4 + 6) both go to make room.
  assert.equal(cache.get("c"), null);
  assert.equal(cache.get("d"), null);
  assert.equal(cache.get("f")?.body, "ééé");
});
