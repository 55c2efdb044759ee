/** The checker on small hand-written histories: each rule passes a good one and names the ops of a bad one. */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Op } from "./history.ts";
import { checkHistory, describe } from "./checker.ts";

const vs = (n: number) => n.toString(16).padStart(16, "0") + "0000";
let nextId = 0;
const w = (client: string, value: string, n: number, invoke: number, ret: number, extra: Partial<Op> = {}): Op => ({
  id: nextId++, client, kind: "write", key: "k", value, versionstamp: vs(n), invoke, ret, ok: true, ...extra,
});
const r = (client: string, value: string | null, invoke: number, ret: number, extra: Partial<Op> = {}): Op => ({
  id: nextId++, client, kind: "read", consistency: "strong", key: "k", value, versionstamp: null, invoke, ret, ok: true, ...extra,
});
const final = (value: string, n: number) => new Map([["k", { value, versionstamp: vs(n) }]]);
const rulesOf = (history: Op[], fin: ReadonlyMap<string, { value: string; versionstamp: string } | null> = final("v2", 2), extra = {}) => checkHistory({ history, final: fin, ...extra }).map((v) => v.rule);

test("a good history passes", () => {
  const history = [w("p", "v1", 1, 0, 10), r("q", "v1", 11, 12), r("q", "v2", 13, 20), w("p", "v2", 2, 12, 15), r("p", "v2", 16, 17, { consistency: "eventual" })];
  assert.deepEqual(checkHistory({ history, final: final("v2", 2), feed: [{ key: "k", versionstamp: vs(1) }, { key: "k", versionstamp: vs(2) }] }), []);
});

test("lost-write: the final state is not the last acknowledged write, or a write is missing from the feed", () => {
  const history = [w("p", "v1", 1, 0, 10), w("p", "v2", 2, 11, 20)];
  assert.deepEqual(rulesOf(history, final("v1", 1)), ["lost-write"]);
  assert.deepEqual(rulesOf(history, new Map([["k", null]])), ["lost-write"]);
  assert.deepEqual(rulesOf(history, final("v2", 2), { feed: [{ key: "k", versionstamp: vs(2) }] }), ["lost-write"]);
  // A write whose outcome is unknown may have landed last.
  const unknown = w("q", "v3", 0, 15, 25, { ok: null, versionstamp: null });
  assert.deepEqual(rulesOf([...history, unknown], final("v3", 3)), []);
});

test("linearizable: a strong read older than a write acknowledged before it, or than an earlier strong read", () => {
  const v = checkHistory({ history: [w("p", "v1", 1, 0, 10), w("p", "v2", 2, 11, 20), r("q", "v1", 21, 22)], final: final("v2", 2) });
  assert.deepEqual(v.map((x) => x.rule), ["linearizable"]);
  assert.deepEqual(v[0]!.ops.map((op) => op.value), ["v1", "v2", "v1"], "the read, the newer write, the write it returned");
  assert.match(describe(v), /^linearizable: .*\n {4}#\d+ q \[21, 22\] read\(strong\) k → "v1"\n/);
  // Concurrent with the write: either answer.
  assert.deepEqual(rulesOf([w("p", "v1", 1, 0, 10), w("p", "v2", 2, 11, 20), r("q", "v1", 15, 22)]), []);
  // Reads that follow each other in real time may not go back.
  assert.deepEqual(rulesOf([w("p", "v1", 1, 0, 10), w("p", "v2", 2, 11, 30), r("q", "v2", 12, 13), r("s", "v1", 14, 15)]), ["linearizable"]);
  // A read of a write not yet invoked; versionstamps against real time; a CAS that did not follow what it expected.
  assert.deepEqual(rulesOf([w("p", "v1", 1, 0, 10), r("q", "v2", 11, 12), w("p", "v2", 2, 13, 20)]), ["linearizable"]);
  assert.deepEqual(rulesOf([w("p", "v2", 2, 0, 10), w("p", "v1", 1, 11, 20)]), ["linearizable", "monotonic"]);
  assert.deepEqual(rulesOf([w("p", "v1", 1, 0, 10), w("q", "v2", 2, 11, 20, { kind: "cas", expected: null })]), ["linearizable"]);
  assert.deepEqual(rulesOf([w("p", "v1", 1, 0, 10), w("q", "v2", 2, 11, 20, { kind: "cas", expected: vs(1) })]), []);
});

test("monotonic: a client's reads never go back, counting its own writes; eventual reads included", () => {
  const ev = { consistency: "eventual" as const };
  assert.deepEqual(rulesOf([w("p", "v1", 1, 0, 1), w("q", "v2", 2, 2, 3), r("p", "v2", 4, 5, ev), r("p", "v1", 6, 7, ev)]), ["monotonic"]);
  assert.deepEqual(rulesOf([w("p", "v1", 1, 0, 1), w("p", "v2", 2, 2, 3), r("p", "v1", 4, 5, ev)]), ["monotonic"]);
  // Another client may still see the older value: that is eventual consistency.
  assert.deepEqual(rulesOf([w("p", "v1", 1, 0, 1), w("p", "v2", 2, 2, 3), r("q", "v1", 4, 5, ev)]), []);
});

test("staleness: an eventual read older than a write acknowledged more than its bound before", () => {
  const ev = (maxAgeMs: number) => ({ consistency: "eventual" as const, maxAgeMs });
  const writes = [w("p", "v1", 1, 0, 1), w("p", "v2", 2, 2, 100)];
  assert.deepEqual(rulesOf([...writes, r("q", "v1", 150, 151, ev(50))]), []);
  assert.deepEqual(rulesOf([...writes, r("q", "v1", 151, 152, ev(50))]), ["staleness"]);
  assert.deepEqual(rulesOf([...writes, r("q", null, 151, 152, ev(50))]), ["staleness"]);
  assert.deepEqual(checkHistory({ history: [...writes, r("q", "v1", 60_101, 60_102, { consistency: "eventual" })], final: final("v2", 2) }).map((v) => v.rule), ["staleness"], "default bound 60 s");
});

test("unknown-value: a read of a value no write wrote, or of a refused CAS", () => {
  assert.deepEqual(rulesOf([w("p", "v2", 2, 0, 1), r("q", "ghost", 2, 3)]), ["unknown-value"]);
  assert.deepEqual(rulesOf([w("p", "v2", 2, 0, 1), w("q", "no", 0, 2, 3, { kind: "cas", ok: false, versionstamp: null }), r("q", "no", 4, 5)]), ["unknown-value"]);
});
