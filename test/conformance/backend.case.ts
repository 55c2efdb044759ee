/**
 * The storage contract's conformance suite (see src/core/backend.ts). Every backend runs it through
 * `defineBackendSuite`; a backend that can be reopened also proves persistence.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Backend, DumpRecord } from "../../src/core/backend.ts";
import { KvError } from "../../src/core/errors.ts";
import { compareBytes, encodeKey, type KvKey } from "../../src/core/keys.ts";
import { u64Bytes, type Sealer } from "../../src/core/atomic.ts";
import type { AtomicWrite, Entry, Mutation, StoredValue } from "../../src/core/types.ts";
import { counterFromVersionstamp } from "../../src/core/versionstamp.ts";
import { deserializeV8, serializeV8 } from "../../src/core/v8.ts";

export interface BackendFactory {
  /** A fresh, empty backend. */
  open(): Promise<Backend>;
  /** Closes `backend` and opens the same store again (persistent backends only). */
  reopen?(backend: Backend): Promise<Backend>;
}

const NOW = 1_900_000_000_000;
const k = (...parts: KvKey) => encodeKey(parts);
const bytes = (...b: number[]): StoredValue => ({ encoding: "bytes", data: Uint8Array.from(b) });
const u64 = (n: bigint): StoredValue => ({ encoding: "le64", data: u64Bytes(n) });
const write = (mutations: Mutation[], checks: AtomicWrite["checks"] = [], enqueues: AtomicWrite["enqueues"] = []): AtomicWrite => ({
  checks,
  mutations,
  enqueues,
});
const ns1 = { id: "0".repeat(31) + "1", title: "one", createdAt: NOW };
const ns2 = { id: "0".repeat(31) + "2", title: "two", createdAt: NOW + 1 };

async function commitOne(b: Backend, w: AtomicWrite, nsId = ns1.id, now = NOW) {
  const [r] = await b.commit([{ namespaceId: nsId, write: w }], now);
  if (r instanceof KvError) throw r;
  return r!.result;
}

async function all(b: Backend, nsId = ns1.id, now = NOW, reverse = false) {
  const [rows] = await b.read(nsId, [{ start: new Uint8Array(), end: Uint8Array.of(0xff, 0xff), limit: 10_000, reverse }], now);
  return rows!;
}

/**
 * A stand-in for the keyring: "seals" by reversing the bytes and prefixing metadata, so a test can see
 * what the backend stored and that executeAtomic opened it again; records each keyring setting it synced.
 */
function reversingSealer(): Sealer & { synced: (string | null)[] } {
  const rev = (b: Uint8Array) => Uint8Array.from(b).reverse();
  const synced: (string | null)[] = [];
  return {
    synced,
    encrypted: true,
    sync: (setting) => void synced.push(setting("keyring")),
    sealEntry: (_ns, e) => ({ ...e, data: rev(e.data), metadata: e.metadata === null ? null : `S:${e.metadata}`, sealed: true }),
    openEntry: (_ns, e): Entry => (e.sealed ? { ...e, data: rev(e.data), metadata: e.metadata?.slice(2) ?? null, sealed: false } : e),
    sealMessage: (_ns, q) => ({ ...q, payload: rev(q.payload), sealed: true }),
  };
}

export function defineBackendSuite(name: string, factory: BackendFactory): void {
  const withBackend = (title: string, fn: (b: Backend) => Promise<void>) =>
    test(`${name}: ${title}`, async () => {
      const b = await factory.open();
      try {
        await b.createNamespace(ns1);
        await fn(b);
      } finally {
        await b.close();
      }
    });

  withBackend("namespaces: create, list in creation order, find, rename, delete", async (b) => {
    await b.createNamespace(ns2);
    assert.deepEqual((await b.listNamespaces()).map((n) => n.title), ["one", "two"]);
    assert.deepEqual(await b.getNamespace(ns2.id), ns2);
    assert.deepEqual(await b.getNamespaceByTitle("two"), ns2);
    assert.equal(await b.getNamespace("f".repeat(32)), null);
    await assert.rejects(b.createNamespace({ ...ns2, id: "3".repeat(32) }), {
      code: "namespace_exists",
      message: "a namespace with this account ID and title already exists",
    });
    await assert.rejects(b.renameNamespace(ns2.id, "one"), { code: "namespace_exists" });
    await assert.rejects(b.renameNamespace("9".repeat(32), "x"), { code: "namespace_not_found", message: "namespace not found" });
    assert.equal((await b.renameNamespace(ns2.id, "deux")).title, "deux");
    assert.equal(await b.getNamespaceByTitle("two"), null);
    assert.equal(await b.deleteNamespace(ns2.id), true);
    assert.equal(await b.deleteNamespace(ns2.id), false);
    assert.deepEqual((await b.listNamespaces()).map((n) => n.id), [ns1.id]);
  });

  withBackend("namespaces are isolated and deleting one removes its entries and queue", async (b) => {
    await b.createNamespace(ns2);
    await commitOne(b, write([{ type: "set", key: k("a"), value: bytes(1) }]), ns1.id);
    await commitOne(b, write([{ type: "set", key: k("a"), value: bytes(2) }], [], [{ payload: serializeV8(1), readyAt: NOW, keysIfUndelivered: [] }]), ns2.id);
    assert.deepEqual((await all(b, ns1.id)).map((e) => [...e.data]), [[1]]);
    assert.deepEqual((await all(b, ns2.id)).map((e) => [...e.data]), [[2]]);
    await b.deleteNamespace(ns2.id);
    assert.deepEqual(await all(b, ns2.id), []);
    assert.equal(await b.nextMessageAt(ns2.id), null);
    // A store that remembers namespaces between commits must forget a deleted one.
    await assert.rejects(commitOne(b, write([{ type: "set", key: k("b"), value: bytes(3) }]), ns2.id), { code: "namespace_not_found" });
    // A namespace created again under the old title starts empty.
    await b.createNamespace({ ...ns2, id: "4".repeat(32) });
    assert.deepEqual(await all(b, "4".repeat(32)), []);
    assert.equal((await all(b, ns1.id)).length, 1);
  });

  withBackend("ranges are [start, end) bytewise, forward and reverse, with limits", async (b) => {
    const keys: KvKey[] = [["a"], ["a", 1n], ["a\0"], ["b"], [Uint8Array.of(0xff)], [1], [true], [Uint8Array.of(0)]];
    await commitOne(b, write(keys.map((key, i) => ({ type: "set", key: k(...key), value: bytes(i) }))));
    const sorted = keys.map((key) => k(...key)).sort(compareBytes);
    assert.deepEqual((await all(b)).map((e) => e.key), sorted);
    assert.deepEqual((await all(b, ns1.id, NOW, true)).map((e) => e.key), [...sorted].reverse());
    const [[firstTwo], [lastTwo]] = await Promise.all([
      b.read(ns1.id, [{ start: new Uint8Array(), end: Uint8Array.of(0xff), limit: 2 }], NOW),
      b.read(ns1.id, [{ start: new Uint8Array(), end: Uint8Array.of(0xff), limit: 2, reverse: true }], NOW),
    ]);
    assert.deepEqual(firstTwo!.map((e) => e.key), sorted.slice(0, 2));
    assert.deepEqual(lastTwo!.map((e) => e.key), sorted.slice(-2).reverse());
    // start inclusive, end exclusive
    const [inRange] = await b.read(ns1.id, [{ start: k("a"), end: k("b"), limit: 100 }], NOW);
    assert.deepEqual(inRange!.map((e) => e.key), [k("a"), k("a", 1n), k("a\0")]);
    // several ranges in one call, answered in request order
    const multi = await b.read(
      ns1.id,
      [
        { start: k("b"), end: k("c"), limit: 10 },
        { start: k("a"), end: k("a\0"), limit: 10 },
      ],
      NOW,
    );
    assert.deepEqual(multi.map((r) => r.map((e) => e.key)), [[k("b")], [k("a"), k("a", 1n)]]);
    assert.deepEqual(await b.read("e".repeat(32), [{ start: k("a"), end: k("b"), limit: 1 }], NOW), [[]]);
  });

  withBackend("keysOnly reads leave values out and keep everything else", async (b) => {
    await commitOne(b, write([{ type: "set", key: k("big"), value: bytes(...new Array(1000).fill(7)), metadata: '{"m":1}', expiresAt: NOW + 60_000 }]));
    for (const reverse of [false, true]) {
      const [[e]] = await b.read(ns1.id, [{ start: k("big"), end: k("big\0"), limit: 10, keysOnly: true, reverse }], NOW);
      assert.deepEqual(e!.key, k("big"));
      assert.equal(e!.data.byteLength, 0);
      assert.equal(e!.encoding, "bytes");
      assert.equal(e!.metadata, '{"m":1}');
      assert.equal(e!.expiresAt, NOW + 60_000);
      assert.equal(e!.versionstamp.byteLength, 10);
    }
  });

  withBackend("set stores value, encoding, metadata and expiry; delete removes", async (b) => {
    const r = await commitOne(b, write([{ type: "set", key: k("m"), value: bytes(7, 0, 255), metadata: '{"x":1}', expiresAt: NOW + 5000 }]));
    assert.ok(r.ok);
    const [e] = await all(b);
    assert.deepEqual([...e!.data], [7, 0, 255]);
    assert.equal(e!.encoding, "bytes");
    assert.equal(e!.metadata, '{"x":1}');
    assert.equal(e!.expiresAt, NOW + 5000);
    assert.deepEqual(e!.versionstamp, r.versionstamp);
    await commitOne(b, write([{ type: "delete", key: k("m") }, { type: "delete", key: k("never-there") }]));
    assert.deepEqual(await all(b), []);
  });

  withBackend("every commit, even empty or failed-free, gets a strictly larger versionstamp", async (b) => {
    const seen: bigint[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await commitOne(b, write(i === 1 ? [] : [{ type: "set", key: k("v"), value: bytes(i) }]));
      assert.ok(r.ok);
      assert.equal(r.versionstamp.byteLength, 10);
      seen.push(counterFromVersionstamp(r.versionstamp));
    }
    const batch = await b.commit(
      Array.from({ length: 5 }, (_, i) => ({ namespaceId: ns1.id, write: write([{ type: "set", key: k("g", i), value: bytes(i) }]) })),
      NOW,
    );
    for (const r of batch) {
      assert.ok(!(r instanceof KvError) && r.result.ok);
      seen.push(counterFromVersionstamp(r.result.versionstamp));
    }
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i]! > seen[i - 1]!, `${seen}`);
  });

  withBackend("checks: versionstamp match and must-not-exist; failure applies nothing", async (b) => {
    const first = await commitOne(b, write([{ type: "set", key: k("c"), value: bytes(1) }]));
    assert.ok(first.ok);
    const ok = await commitOne(b, write([{ type: "set", key: k("c"), value: bytes(2) }], [{ key: k("c"), versionstamp: first.versionstamp }, { key: k("absent"), versionstamp: null }]));
    assert.ok(ok.ok);
    const failed = await commitOne(
      b,
      write([{ type: "set", key: k("c"), value: bytes(3) }, { type: "set", key: k("d"), value: bytes(3) }], [
        { key: k("absent"), versionstamp: null },
        { key: k("c"), versionstamp: first.versionstamp },
        { key: k("c"), versionstamp: null },
      ]),
    );
    assert.deepEqual(failed, { ok: false, failedChecks: [1, 2] });
    assert.deepEqual((await all(b)).map((e) => [...e.data]), [[2]]);
  });

  withBackend("sum, min, max on u64: wraparound, absent key takes the operand, errors apply nothing", async (b) => {
    await commitOne(b, write([{ type: "set", key: k("n"), value: u64(2n ** 64n - 1n) }]));
    await commitOne(b, write([{ type: "sum", key: k("n"), value: u64(2n) }, { type: "max", key: k("hi"), value: u64(5n) }, { type: "min", key: k("lo"), value: u64(9n) }]));
    await commitOne(b, write([{ type: "max", key: k("hi"), value: u64(3n) }, { type: "min", key: k("lo"), value: u64(4n) }, { type: "sum", key: k("n"), value: u64(1n) }, { type: "sum", key: k("n"), value: u64(1n) }]));
    const got = Object.fromEntries(
      (await all(b)).map((e) => [e.key.at(1) === 0x68 ? "hi" : e.key.at(1) === 0x6c ? "lo" : "n", new DataView(e.data.buffer, e.data.byteOffset).getBigUint64(0, true)]),
    );
    assert.deepEqual(got, { hi: 5n, lo: 4n, n: 3n });
    await commitOne(b, write([{ type: "set", key: k("s"), value: bytes(1) }]));
    const results = await b.commit(
      [
        { namespaceId: ns1.id, write: write([{ type: "set", key: k("x"), value: bytes(1) }, { type: "sum", key: k("s"), value: u64(1n) }]) },
        { namespaceId: ns1.id, write: write([{ type: "sum", key: k("n"), value: bytes(1) }]) },
        { namespaceId: ns1.id, write: write([{ type: "set", key: k("y"), value: bytes(1) }]) },
      ],
      NOW,
    );
    assert.ok(results[0] instanceof KvError);
    assert.equal((results[0] as KvError).message, "Failed to perform 'sum' mutation on a non-U64 value in the database");
    assert.equal((results[1] as KvError).message, "Failed to perform 'sum' mutation on a non-U64 operand");
    assert.ok(!(results[2] instanceof KvError) && results[2]!.result.ok, "a later write in the same batch still commits");
    const keys = (await all(b)).map((e) => e.key);
    assert.ok(!keys.some((key) => compareBytes(key, k("x")) === 0), "the failed write left nothing");
    assert.ok(keys.some((key) => compareBytes(key, k("y")) === 0));
  });

  withBackend("sum with a V8 number or bigint operand, with bounds and clamping", async (b) => {
    const v8 = (v: unknown): StoredValue => ({ encoding: "v8", data: serializeV8(v) });
    await commitOne(b, write([{ type: "sum", key: k("f"), value: v8(1.5) }, { type: "sum", key: k("f"), value: v8(2) }, { type: "sum", key: k("g"), value: v8(10n) }]));
    const value = async (key: string) => {
      const [[e]] = await b.read(ns1.id, [{ start: k(key), end: k(key + "\0"), limit: 1 }], NOW);
      assert.equal(e!.encoding, "v8");
      return deserializeV8(e!.data);
    };
    assert.equal(await value("f"), 3.5);
    assert.equal(await value("g"), 10n);
    await commitOne(b, write([{ type: "sum", key: k("g"), value: v8(100n), sumMax: serializeV8(50n), sumClamp: true }]));
    assert.equal(await value("g"), 50n);
    const over = await b.commit([{ namespaceId: ns1.id, write: write([{ type: "sum", key: k("g"), value: v8(100n), sumMax: serializeV8(50n) }]) }], NOW);
    assert.equal((over[0] as KvError).message, "The result of a Sum operation would exceed its range limit");
    const mixed = await b.commit([{ namespaceId: ns1.id, write: write([{ type: "sum", key: k("g"), value: v8(1) }]) }], NOW);
    assert.equal((mixed[0] as KvError).message, "Cannot sum BigInt with Number");
  });

  withBackend("versionstamped-key mutation appends 0x02 hex(versionstamp) 0x00", async (b) => {
    const r = await commitOne(b, write([{ type: "setSuffixVersionstampedKey", key: k("log"), value: bytes(1) }]));
    assert.ok(r.ok);
    const [e] = await all(b);
    const hex = Buffer.from(r.versionstamp).toString("hex");
    assert.deepEqual(e!.key, k("log", hex));
  });

  withBackend("expired entries are never read or counted, and checks see them as absent", async (b) => {
    await commitOne(b, write([{ type: "set", key: k("t"), value: bytes(1), expiresAt: NOW + 10 }, { type: "set", key: k("u"), value: bytes(2) }]));
    assert.equal((await all(b, ns1.id, NOW + 9)).length, 2);
    assert.equal(await b.count(ns1.id, new Uint8Array(), Uint8Array.of(0xff), NOW + 9), 2);
    assert.equal((await all(b, ns1.id, NOW + 10)).length, 1);
    assert.equal((await all(b, ns1.id, NOW + 10, true)).length, 1);
    assert.equal(await b.count(ns1.id, new Uint8Array(), Uint8Array.of(0xff), NOW + 10), 1);
    const r = await commitOne(b, write([], [{ key: k("t"), versionstamp: null }]), ns1.id, NOW + 10);
    assert.ok(r.ok);
    // sum on an expired entry starts from the operand
    await commitOne(b, write([{ type: "set", key: k("e"), value: u64(100n), expiresAt: NOW + 1 }]));
    await commitOne(b, write([{ type: "sum", key: k("e"), value: u64(1n) }]), ns1.id, NOW + 5);
    const [[e]] = await b.read(ns1.id, [{ start: k("e"), end: k("e\0"), limit: 1 }], NOW + 5);
    assert.equal(e!.data[0], 1);
    assert.equal(e!.expiresAt, null, "sum results never expire");
    const gone = await b.purgeExpired(NOW + 10, 100);
    assert.deepEqual(gone.map((g) => [g.namespaceId, g.key]), [[ns1.id, k("t")]]);
    assert.deepEqual(await b.purgeExpired(NOW + 10, 100), []);
  });

  withBackend("queue: ready time, lease, attempts, retry, ack, consume in a write", async (b) => {
    await commitOne(
      b,
      write([], [], [
        { payload: serializeV8("later"), readyAt: NOW + 100, keysIfUndelivered: [k("dead")], backoffSchedule: [5] },
        { payload: serializeV8("now"), readyAt: NOW, keysIfUndelivered: [] },
      ]),
    );
    assert.equal(await b.nextMessageAt(ns1.id), NOW);
    const [m] = await b.claimMessages(ns1.id, NOW, 10, 1000);
    assert.equal(m!.attempts, 1);
    assert.deepEqual(await b.claimMessages(ns1.id, NOW, 10, 1000), [], "leased and not-yet-ready messages are not claimed");
    await b.retryMessage(m!.id, NOW + 50);
    assert.equal(await b.nextMessageAt(ns1.id), NOW + 50);
    const [again] = await b.claimMessages(ns1.id, NOW + 50, 10, 1000);
    assert.equal(again!.id, m!.id);
    assert.equal(again!.attempts, 2);
    await b.ackMessage(again!.id);
    const [later] = await b.claimMessages(ns1.id, NOW + 100, 10, 1000);
    assert.deepEqual(later!.keysIfUndelivered, [k("dead")]);
    assert.deepEqual(later!.backoffSchedule, [5]);
    // A lease that lapses (the consumer died) makes the message deliverable again.
    const [relapsed] = await b.claimMessages(ns1.id, NOW + 1100, 10, 1000);
    assert.equal(relapsed!.id, later!.id);
    const [r] = await b.commit([{ namespaceId: ns1.id, write: write([{ type: "set", key: k("dead"), value: { encoding: "v8", data: later!.payload } }]), consumeMessage: later!.id }], NOW + 1100);
    assert.ok(!(r instanceof KvError) && r!.result.ok);
    assert.equal(await b.nextMessageAt(ns1.id), null);
    assert.equal((await all(b)).length, 1);
  });

  withBackend("settings: absent is null; put is compare-and-set; null removes; a commit reads them inside its transaction", async (b) => {
    assert.equal(await b.getSetting("keyring"), null);
    assert.equal(await b.putSetting("keyring", "one", "wrong"), false);
    assert.equal(await b.getSetting("keyring"), null);
    assert.equal(await b.putSetting("keyring", "one", null), true);
    assert.equal(await b.putSetting("keyring", "two", null), false, "expected absent, but it is set");
    assert.equal(await b.putSetting("keyring", "two", "one"), true);
    assert.equal(await b.getSetting("keyring"), "two");
    const sealer = reversingSealer();
    const [r] = await b.commit([{ namespaceId: ns1.id, write: write([{ type: "set", key: k("s"), value: bytes(1) }]), sealer }], NOW);
    assert.ok(!(r instanceof KvError) && r!.result.ok);
    assert.deepEqual(sealer.synced, ["two"]);
    assert.equal(await b.putSetting("keyring", null, "two"), true);
    assert.equal(await b.getSetting("keyring"), null);
  });

  withBackend("sealed entries and payloads: stored opaque with their flag; sum/min/max open them inside the commit", async (b) => {
    const sealer = reversingSealer();
    const [r] = await b.commit(
      [
        {
          namespaceId: ns1.id,
          write: write(
            [
              { type: "set", key: k("v"), value: bytes(1, 2, 3), metadata: '{"m":1}' },
              { type: "set", key: k("n"), value: u64(0x0102n) },
            ],
            [],
            [{ payload: Uint8Array.of(7, 8), readyAt: NOW, keysIfUndelivered: [] }],
          ),
          sealer,
        },
      ],
      NOW,
    );
    assert.ok(!(r instanceof KvError) && r!.result.ok);
    const [n, v] = await all(b);
    assert.deepEqual([[...v!.data], v!.metadata, v!.sealed, v!.encoding], [[3, 2, 1], 'S:{"m":1}', true, "bytes"]);
    assert.equal(n!.sealed, true);
    const [[listed]] = await b.read(ns1.id, [{ start: k("v"), end: k("w"), limit: 1, keysOnly: true }], NOW);
    assert.deepEqual([listed!.data.length, listed!.metadata, listed!.sealed], [0, 'S:{"m":1}', true]);
    const [[point]] = await b.read(ns1.id, [{ start: k("v"), end: Uint8Array.from([...k("v"), 0]), limit: 1 }], NOW);
    assert.equal(point!.sealed, true);
    const [m] = await b.claimMessages(ns1.id, NOW, 10, 1000);
    assert.deepEqual([[...m!.payload], m!.sealed], [[8, 7], true]);
    // The stored u64 is byte-reversed; sum sees it opened (0x0102) and stores the sum sealed again.
    const [s] = await b.commit([{ namespaceId: ns1.id, write: write([{ type: "sum", key: k("n"), value: u64(1n) }]), sealer }], NOW);
    assert.ok(!(s instanceof KvError) && s!.result.ok);
    const [sum] = (await all(b)).filter((e) => e.encoding === "le64");
    assert.deepEqual([...sum!.data].reverse(), [...u64Bytes(0x0103n)]);
    // A write without a sealer stores plaintext, flag off.
    await commitOne(b, write([{ type: "set", key: k("v"), value: bytes(9) }]));
    const [, plain] = await all(b);
    assert.deepEqual([[...plain!.data], plain!.sealed ?? false], [[9], false]);
  });

  withBackend("reseal rewrites bytes iff the versionstamp is unchanged, issuing no versionstamp", async (b) => {
    await commitOne(b, write([{ type: "set", key: k("a"), value: bytes(1), metadata: "{}", expiresAt: NOW + 10 }]));
    await commitOne(b, write([{ type: "set", key: k("b"), value: bytes(2) }]));
    const [a, bEntry] = await all(b);
    await commitOne(b, write([{ type: "set", key: k("b"), value: bytes(3) }]));
    const applied = await b.reseal(ns1.id, [
      { key: k("a"), versionstamp: a!.versionstamp, data: Uint8Array.of(0xaa), metadata: "sealed-meta", sealed: true },
      { key: k("b"), versionstamp: bEntry!.versionstamp, data: Uint8Array.of(0xbb), metadata: null, sealed: true },
      { key: k("gone"), versionstamp: a!.versionstamp, data: Uint8Array.of(0xcc), metadata: null, sealed: true },
    ]);
    assert.deepEqual(applied, [true, false, false]);
    const [a2, b2] = await all(b);
    assert.deepEqual(
      [[...a2!.data], a2!.metadata, a2!.sealed, a2!.encoding, a2!.expiresAt, compareBytes(a2!.versionstamp, a!.versionstamp)],
      [[0xaa], "sealed-meta", true, "bytes", NOW + 10, 0],
    );
    assert.deepEqual([[...b2!.data], b2!.sealed ?? false], [[3], false], "b was written meanwhile: it keeps its new bytes");
    const next = await commitOne(b, write([]));
    assert.ok(next.ok && counterFromVersionstamp(next.versionstamp) === counterFromVersionstamp(b2!.versionstamp) + 1n, "a reseal takes no versionstamp");
    // Sealing adds bytes: a rewrite may grow a value past what a backend keeps inline, or shrink it back.
    const grown = Uint8Array.from({ length: 5000 }, (_, i) => i & 0xff);
    const [b3] = (await all(b)).slice(1);
    assert.deepEqual(await b.reseal(ns1.id, [{ key: k("b"), versionstamp: b3!.versionstamp, data: grown, metadata: null, sealed: true }]), [true]);
    assert.deepEqual((await all(b))[1]!.data, grown);
    assert.deepEqual(await b.reseal(ns1.id, [{ key: k("b"), versionstamp: b3!.versionstamp, data: Uint8Array.of(4), metadata: null, sealed: true }]), [true]);
    assert.deepEqual((await all(b))[1]!.data, Uint8Array.of(4));
    // Expired but not yet purged entries are rewritten too (nothing may stay under a retired key).
    assert.deepEqual(await b.reseal(ns1.id, [{ key: k("a"), versionstamp: a!.versionstamp, data: Uint8Array.of(0xab), metadata: null, sealed: false }]), [true]);
    assert.deepEqual((await all(b, ns1.id, 0))[0]!.data, Uint8Array.of(0xab));
  });

  withBackend("listMessages lists every message in id order; resealMessages rewrites a payload iff unchanged", async (b) => {
    const q = (n: number) => ({ payload: Uint8Array.of(n), readyAt: NOW + n, keysIfUndelivered: [] });
    await commitOne(b, write([], [], [q(1), q(2), q(3)]));
    await b.claimMessages(ns1.id, NOW + 1, 1, 1000);
    const listed = await b.listMessages(ns1.id, 0, 10);
    assert.deepEqual(listed.map((m) => m.payload[0]), [1, 2, 3], "leased and not-yet-ready messages are listed too");
    assert.deepEqual((await b.listMessages(ns1.id, listed[0]!.id, 1)).map((m) => m.payload[0]), [2]);
    const applied = await b.resealMessages([
      { id: listed[0]!.id, from: Uint8Array.of(1), payload: Uint8Array.of(0x11, 0x11), sealed: true },
      { id: listed[1]!.id, from: Uint8Array.of(9), payload: Uint8Array.of(0x22), sealed: true },
    ]);
    assert.deepEqual(applied, [true, false]);
    const after = await b.listMessages(ns1.id, 0, 10);
    assert.deepEqual(after.map((m) => [[...m.payload], m.sealed ?? false]), [[[0x11, 0x11], true], [[2], false], [[3], false]]);
  });

  withBackend("change feed: every commit, purge and namespace deletion, in versionstamp order, with the latest", async (b) => {
    const ZERO = new Uint8Array(10);
    const start = await b.changes(ZERO, 1000);
    assert.deepEqual(start.changes, []);
    const r1 = await commitOne(b, write([{ type: "set", key: k("a"), value: bytes(1), expiresAt: NOW + 5 }, { type: "set", key: k("b"), value: bytes(2) }]));
    const failed = await commitOne(b, write([{ type: "delete", key: k("a") }], [{ key: k("a"), versionstamp: null }]));
    assert.equal(failed.ok, false);
    const r2 = await commitOne(b, write([{ type: "delete", key: k("b") }]));
    assert.ok(r1.ok && r2.ok);
    const page = await b.changes(ZERO, 1000);
    assert.deepEqual(
      page.changes.map((c) => [c.versionstamp, c.namespaceId, c.keys?.map((key) => [...key])]),
      [
        [r1.versionstamp, ns1.id, [[...k("a")], [...k("b")]]],
        [r2.versionstamp, ns1.id, [[...k("b")]]],
      ],
      "one row per successful write, none for a failed check",
    );
    assert.deepEqual(page.latest, r2.versionstamp);
    assert.equal(page.gap, false);
    // Paging: after the first write, at most one write per page.
    const second = await b.changes(r1.versionstamp, 1);
    assert.deepEqual(second.changes.map((c) => c.versionstamp), [r2.versionstamp]);
    assert.deepEqual((await b.changes(r2.versionstamp, 10)).changes, []);

    const gone = await b.purgeExpired(NOW + 10, 100);
    assert.equal(gone.length, 1);
    const purge = (await b.changes(r2.versionstamp, 10)).changes;
    assert.deepEqual(purge.map((c) => [c.namespaceId, c.keys?.map((key) => [...key])]), [[ns1.id, [[...k("a")]]]], "an expiry purge is a change too");
    assert.ok(compareBytes(purge[0]!.versionstamp, r2.versionstamp) > 0);

    await b.createNamespace(ns2);
    const r3 = await commitOne(b, write([{ type: "set", key: k("c"), value: bytes(3) }]), ns2.id);
    assert.equal(await b.deleteNamespace(ns2.id), true);
    const del = (await b.changes(r3.ok ? r3.versionstamp : ZERO, 10));
    assert.deepEqual(del.changes.map((c) => [c.namespaceId, c.keys]), [[ns2.id, null]], "a namespace deletion says so with keys null");
    assert.deepEqual(del.latest, del.changes[0]!.versionstamp);
    const next = await commitOne(b, write([]));
    assert.ok(next.ok && compareBytes(next.versionstamp, del.latest) > 0, "versionstamps stay above the deletion's");
  });

  withBackend("change feed: pruning keeps the last writes and tells a follower that fell behind", async (b) => {
    const ZERO = new Uint8Array(10);
    const stamps: Uint8Array[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await commitOne(b, write([{ type: "set", key: k("p", i), value: bytes(i) }]));
      assert.ok(r.ok);
      stamps.push(r.versionstamp);
    }
    assert.ok((await b.pruneChanges(0, 2)) >= 3, "all but the last two writes go");
    const behind = await b.changes(ZERO, 10);
    assert.equal(behind.gap, true, "a cursor before the pruned writes is told it missed some");
    assert.deepEqual(behind.latest, stamps[4]);
    const current = await b.changes(stamps[2]!, 10);
    assert.equal(current.gap, false);
    assert.deepEqual(current.changes.map((c) => c.versionstamp), [stamps[3], stamps[4]]);
    assert.equal(await b.pruneChanges(Number.MAX_SAFE_INTEGER, 0), 2, "by age: everything older than the cut");
    assert.equal((await b.changes(stamps[4]!, 10)).gap, false, "a follower that saw everything is current");
    assert.deepEqual((await b.changes(ZERO, 10)).latest, stamps[4], "an emptied feed still knows the latest commit");
    const after = await commitOne(b, write([]));
    assert.ok(after.ok && compareBytes(after.versionstamp, stamps[4]!) > 0, "versionstamps stay above the pruned writes'");
  });

  test(`${name}: dump and load copy a whole store exactly, into an empty store only`, async () => {
    const src = await factory.open();
    const dst = await factory.open();
    try {
      await src.createNamespace(ns1);
      await src.createNamespace(ns2);
      await commitOne(src, write([
        { type: "set", key: k("a"), value: bytes(1), metadata: '{"m":1}', expiresAt: NOW + 60_000 },
        { type: "set", key: k("b"), value: { encoding: "bytes", data: new Uint8Array(100_000).fill(7) } },
        { type: "sum", key: k("n"), value: u64(5n) },
      ], [], [{ payload: serializeV8("job"), readyAt: NOW + 5, keysIfUndelivered: [k("dead")], backoffSchedule: [10] }]));
      for (let i = 0; i < 1500; i++) await commitOne(src, write([{ type: "set", key: k("many", i), value: bytes(i & 0xff) }]), ns2.id);
      const [sealed] = await src.commit([{ namespaceId: ns1.id, write: write([{ type: "set", key: k("s"), value: bytes(9) }]), sealer: reversingSealer() }], NOW);
      assert.ok(!(sealed instanceof KvError));
      assert.equal(await src.putSetting("keyring", "K", null), true);

      const records: DumpRecord[] = [];
      for await (const r of src.dump()) records.push(r);
      assert.equal(records[0]!.kind, "versionstamp");
      assert.equal(records[0]!.kind === "versionstamp" && records[0]!.entries, 4 + 1500);
      async function* replay() {
        yield* records;
      }
      await dst.load(replay());
      assert.deepEqual(await dst.listNamespaces(), await src.listNamespaces());
      for (const ns of [ns1.id, ns2.id]) assert.deepEqual(await all(dst, ns), await all(src, ns), "entries, versionstamps, sealed flags and expiry are kept");
      assert.deepEqual(
        (await dst.listMessages(ns1.id, 0, 10)).map((m) => [[...m.payload], m.readyAt, m.attempts, m.keysIfUndelivered, m.backoffSchedule]),
        (await src.listMessages(ns1.id, 0, 10)).map((m) => [[...m.payload], m.readyAt, m.attempts, m.keysIfUndelivered, m.backoffSchedule]),
      );
      assert.equal(await dst.getSetting("keyring"), "K");
      const before = (await src.changes(new Uint8Array(10), 1)).latest;
      const next = await commitOne(dst, write([{ type: "set", key: k("after"), value: bytes(1) }]));
      assert.ok(next.ok && compareBytes(next.versionstamp, before) > 0, "the copy issues versionstamps after the source's");
      await assert.rejects(
        dst.load(replay()),
        { code: "invalid_argument", message: "The store to load into already holds namespaces: load into an empty store." },
      );
    } finally {
      await src.close();
      await dst.close();
    }
  });

  if (factory.reopen) {
    test(`${name}: data, namespaces, queue and the versionstamp counter survive a reopen`, async () => {
      let b = await factory.open();
      await b.createNamespace(ns1);
      const r = await commitOne(b, write([{ type: "set", key: k("p"), value: bytes(1), metadata: "{}" }], [], [{ payload: serializeV8(1), readyAt: NOW, keysIfUndelivered: [] }]));
      assert.ok(r.ok);
      const [sealed] = await b.commit([{ namespaceId: ns1.id, write: write([{ type: "set", key: k("q"), value: bytes(5) }], [], [{ payload: Uint8Array.of(6), readyAt: NOW, keysIfUndelivered: [] }]), sealer: reversingSealer() }], NOW);
      assert.ok(!(sealed instanceof KvError));
      assert.equal(await b.putSetting("keyring", "kept", null), true);
      b = await factory.reopen!(b);
      try {
        assert.deepEqual(await b.listNamespaces(), [ns1]);
        const [e, q] = await all(b);
        assert.deepEqual([...e!.data], [1]);
        assert.equal(e!.metadata, "{}");
        assert.deepEqual([q!.sealed, e!.sealed], [true, false]);
        assert.deepEqual((await b.listMessages(ns1.id, 0, 10)).map((m) => m.sealed), [false, true]);
        assert.equal(await b.getSetting("keyring"), "kept");
        assert.equal(await b.nextMessageAt(ns1.id), NOW);
        const next = await commitOne(b, write([]));
        assert.ok(next.ok && counterFromVersionstamp(next.versionstamp) > counterFromVersionstamp(sealed!.result.ok ? sealed!.result.versionstamp : r.versionstamp));
      } finally {
        await b.close();
      }
    });
  }
}
