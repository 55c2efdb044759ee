/**
 * Encryption at rest through the engine, on every backend: what is stored is sealed, what is read is
 * what was written, tampered or moved bytes are named errors, and key rotation (online, resumable, with
 * a new user key, or sealing a plaintext store in place) loses no write and changes no versionstamp.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Backend, Reseal } from "../src/core/backend.ts";
import { u64Bytes } from "../src/core/atomic.ts";
import { ManualClock } from "../src/core/clock.ts";
import { Engine } from "../src/core/engine.ts";
import { KvError } from "../src/core/errors.ts";
import { keyFingerprint, Keyring, KEYRING_SETTING } from "../src/core/keyring.ts";
import { compareBytes, encodeKey, type KvKey } from "../src/core/keys.ts";
import { rotateKeys } from "../src/core/rotation.ts";
import type { AtomicWrite, Entry, Mutation, StoredValue } from "../src/core/types.ts";
import { deserializeV8, serializeV8 } from "../src/core/v8.ts";
import { MemoryBackend, PostgresBackend, SqliteBackend } from "../src/storage/index.ts";
import { freshStoreUrl } from "./fixtures/postgres.ts";

const pgUrls = new WeakMap<Backend, string>();

const dir = mkdtempSync(join(tmpdir(), "openkv-encryption-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

interface Store {
  name: string;
  /** A fresh, empty backend. */
  fresh(): Promise<Backend>;
  /** Another connection to the same store (another process, as far as the store can tell), or null. */
  again(b: Backend): Backend | null;
}

const STORES: Store[] = [
  { name: "memory", fresh: async () => new MemoryBackend(), again: () => null },
  {
    name: "sqlite",
    fresh: async () => new SqliteBackend(join(dir, `db-${files++}.sqlite`)),
    again: (b) => new SqliteBackend((b as SqliteBackend).path),
  },
  {
    // A real PostgreSQL started for this file; each store a schema of its own.
    name: "postgres",
    fresh: async () => {
      const url = await freshStoreUrl();
      const b = new PostgresBackend(url);
      pgUrls.set(b, url);
      return b;
    },
    again: (b) => new PostgresBackend(pgUrls.get(b)!),
  },
];

const k = (...parts: KvKey) => encodeKey(parts);
const v8 = (v: unknown): StoredValue => ({ encoding: "v8", data: serializeV8(v) });
const set = (key: Uint8Array, value: StoredValue, extra: Partial<Extract<Mutation, { type: "set" }>> = {}): Mutation => ({ type: "set", key, value, ...extra });
const write = (mutations: Mutation[], enqueues: AtomicWrite["enqueues"] = []): AtomicWrite => ({ checks: [], mutations, enqueues });
const ALL = { start: new Uint8Array(0), end: Uint8Array.of(0xff), limit: 100_000 };

async function raw(b: Backend, nsId: string): Promise<Entry[]> {
  return (await b.read(nsId, [ALL], 0))[0]!;
}

async function plain(e: Engine, nsId: string): Promise<Entry[]> {
  return (await e.read(nsId, [ALL]))[0]!;
}

function ok(r: Awaited<ReturnType<Engine["atomic"]>>): Uint8Array {
  assert.ok(r.ok);
  return r.versionstamp;
}

/** Writes raw bytes over a stored entry, keeping its versionstamp: what an attacker with the file could do. */
async function overwrite(b: Backend, nsId: string, e: Entry, change: Partial<Reseal>): Promise<void> {
  const r: Reseal = { key: e.key, versionstamp: e.versionstamp, data: e.data, metadata: e.metadata, sealed: e.sealed ?? false, ...change };
  assert.deepEqual(await b.reseal(nsId, [r]), [true]);
}

const text = (b: Uint8Array) => Buffer.from(b).toString("latin1");

for (const store of STORES) {
  const { name } = store;

  test(`${name}: values, metadata and queue payloads are stored sealed and read back exactly`, async () => {
    const clock = new ManualClock();
    const backend = (await store.fresh());
    const engine = await Engine.open(backend, { clock, encryptionKey: randomBytes(32) });
    const ns = await engine.ensureNamespace("default");
    const stamp = ok(
      await engine.atomic(
        ns.id,
        write(
          [
            set(k("v8"), v8({ secret: "PLAINTEXT-V8" }), { metadata: '{"note":"PLAINTEXT-META"}', expiresAt: clock.now() + 60_000 }),
            set(k("bytes"), { encoding: "bytes", data: new TextEncoder().encode("PLAINTEXT-BYTES") }),
            set(k("u64"), { encoding: "le64", data: u64Bytes(40n) }),
            { type: "setSuffixVersionstampedKey", key: k("log"), value: v8("PLAINTEXT-LOG") },
          ],
          [{ payload: serializeV8("PLAINTEXT-QUEUE"), readyAt: clock.now(), keysIfUndelivered: [] }],
        ),
      ),
    );
    ok(await engine.atomic(ns.id, write([{ type: "sum", key: k("u64"), value: { encoding: "le64", data: u64Bytes(2n) } }])));
    ok(await engine.atomic(ns.id, write([{ type: "max", key: k("u64"), value: { encoding: "le64", data: u64Bytes(7n) } }])));
    ok(await engine.atomic(ns.id, write([{ type: "sum", key: k("n"), value: v8(1.5) }])));
    ok(await engine.atomic(ns.id, write([{ type: "sum", key: k("n"), value: v8(2) }])));

    const stored = await raw(backend, ns.id);
    assert.equal(stored.length, 5);
    for (const e of stored) {
      assert.equal(e.sealed, true, `${text(e.key)} is sealed`);
      assert.deepEqual(Keyring.keyIdsOf(e).every((id) => id === 1), true);
      assert.ok(!text(e.data).includes("PLAINTEXT") && !(e.metadata ?? "").includes("PLAINTEXT"));
    }
    const [msg] = await backend.listMessages(ns.id, 0, 10);
    assert.ok(msg!.sealed && !text(msg!.payload).includes("PLAINTEXT"));

    const read = new Map((await plain(engine, ns.id)).map((e) => [text(e.key), e]));
    assert.deepEqual(deserializeV8(read.get(text(k("v8")))!.data), { secret: "PLAINTEXT-V8" });
    assert.equal(read.get(text(k("v8")))!.metadata, '{"note":"PLAINTEXT-META"}');
    assert.equal(read.get(text(k("v8")))!.expiresAt, clock.now() + 60_000);
    assert.equal(new TextDecoder().decode(read.get(text(k("bytes")))!.data), "PLAINTEXT-BYTES");
    assert.deepEqual(read.get(text(k("u64")))!.data, u64Bytes(42n), "sum then max ran on the opened value");
    assert.equal(deserializeV8(read.get(text(k("n")))!.data), 3.5);
    const logKey = [...read.keys()].find((key) => key.startsWith(text(k("log"))))!;
    assert.deepEqual(deserializeV8(read.get(logKey)!.data), "PLAINTEXT-LOG");
    assert.deepEqual(read.get(text(k("bytes")))!.versionstamp, stamp);
    const [[listed]] = await engine.read(ns.id, [{ start: k("v8"), end: k("v9"), limit: 1, keysOnly: true }]);
    assert.deepEqual([listed!.data.length, listed!.metadata], [0, '{"note":"PLAINTEXT-META"}'], "keysOnly opens the metadata alone");

    const got: unknown[] = [];
    const done = engine.listenQueue(ns.id, (payload, m) => void got.push(deserializeV8(payload), deserializeV8(m.payload)));
    await engine.tick();
    assert.deepEqual(got, ["PLAINTEXT-QUEUE", "PLAINTEXT-QUEUE"]);
    await engine.close();
    await done;
  });

  test(`${name}: an undeliverable sealed message dead-letters its plaintext payload`, async () => {
    const clock = new ManualClock();
    const engine = await Engine.open((await store.fresh()), { clock, encryptionKey: randomBytes(32) });
    const ns = await engine.ensureNamespace("default");
    ok(await engine.atomic(ns.id, write([], [{ payload: serializeV8({ order: 7 }), readyAt: clock.now(), keysIfUndelivered: [k("dead")], backoffSchedule: [] }])));
    const done = engine.listenQueue(ns.id, () => {
      throw new Error("handler fails");
    });
    await engine.tick();
    const dead = await engine.get(ns.id, k("dead"));
    assert.deepEqual(deserializeV8(dead!.data), { order: 7 });
    await engine.close();
    await done;
  });

  test(`${name}: tampered or moved ciphertext is an error naming the entry and the data key, never garbage`, async () => {
    const backend = (await store.fresh());
    const engine = await Engine.open(backend, { encryptionKey: randomBytes(32) });
    const ns = await engine.ensureNamespace("default");
    const other = await engine.ensureNamespace("other");
    ok(await engine.atomic(ns.id, write([set(k("a"), v8("alpha"), { metadata: '{"m":1}' }), set(k("b"), v8("beta")), set(k("c"), { encoding: "le64", data: u64Bytes(1n) })])));
    ok(await engine.atomic(other.id, write([set(k("a"), v8("other alpha"))])));
    const [a, b, c] = await raw(backend, ns.id);
    const failure = (what: string, key: string, nsId = ns.id) =>
      `Cannot decrypt the ${what} of key ["${key}"] in namespace ${nsId} under data key 1: it does not authenticate (altered, or moved from another key or namespace)`;

    const flipped = Uint8Array.from(a!.data);
    flipped[20]! ^= 0x01;
    await overwrite(backend, ns.id, a!, { data: flipped });
    await assert.rejects(engine.get(ns.id, k("a")), { code: "decrypt_failed", message: failure("value", "a") });
    await assert.rejects(engine.read(ns.id, [ALL]), { message: failure("value", "a") }, "a list meeting it fails too");

    await overwrite(backend, ns.id, a!, { metadata: a!.metadata!.slice(0, -4) + "AAA=" });
    await assert.rejects(engine.read(ns.id, [{ ...ALL, keysOnly: true }]), { message: failure("metadata", "a") });

    await overwrite(backend, ns.id, b!, { data: a!.data, metadata: null });
    await assert.rejects(engine.get(ns.id, k("b")), { message: failure("value", "b") }, "a's bytes moved to b");
    const [otherA] = await raw(backend, other.id);
    await overwrite(backend, other.id, otherA!, { data: a!.data });
    await assert.rejects(engine.get(other.id, k("a")), { message: failure("value", "a", other.id) }, "moved to another namespace");

    // Inside a commit: a sum over a tampered counter fails that write alone; nothing of it is applied.
    await overwrite(backend, ns.id, c!, { data: flipped });
    const sum = engine.atomic(ns.id, write([set(k("d"), v8(1)), { type: "sum", key: k("c"), value: { encoding: "le64", data: u64Bytes(1n) } }]));
    const fine = engine.atomic(ns.id, write([set(k("e"), v8(2))]));
    await assert.rejects(sum, { code: "decrypt_failed", message: failure("value", "c") });
    ok(await fine);
    assert.equal(await engine.get(ns.id, k("d")), null);
    await engine.close();
  });

  test(`${name}: a rotation under concurrent writes loses no write and changes no versionstamp`, async () => {
    const key = randomBytes(32);
    const backend = (await store.fresh());
    const writer = await Engine.open(backend, { encryptionKey: key });
    const ns = await writer.ensureNamespace("default");
    const seed = Array.from({ length: 600 }, (_, i) => set(k("seed", i), v8(`seed ${i}`), { metadata: `{"i":${i}}` }));
    for (let i = 0; i < seed.length; i += 200) ok(await writer.atomic(ns.id, write(seed.slice(i, i + 200))));
    const before = new Map((await raw(backend, ns.id)).map((e) => [text(e.key), e]));

    // The rotation runs on its own connection where the store allows one (another process, as far as
    // SQLite can tell), and yields before each reseal; at that moment a write lands on a key of the batch.
    const acknowledged = new Map<string, { value: string; versionstamp: Uint8Array }>();
    let sums = 0;
    const put = async (key: Uint8Array, value: string) => {
      const vs = ok(await writer.atomic(ns.id, write([set(key, v8(value))])));
      acknowledged.set(text(key), { value, versionstamp: vs });
    };
    const second = store.again(backend);
    class Interleaving {
      static wrap(b: Backend): Backend {
        return new Proxy(b, {
          get(target, prop, receiver) {
            if (prop !== "reseal") {
              const v = Reflect.get(target, prop, receiver);
              // Methods reach private fields: call them on the backend itself, not on the proxy.
              return typeof v === "function" ? v.bind(target) : v;
            }
            return async (nsId: string, items: readonly Reseal[]) => {
              // Not the counter: a string there would fail the concurrent sums. It sorts first, so it
              // heads the first batch whenever a sum lands before the rotation lists it.
              const { key: written } = items.find((it) => text(it.key) !== text(k("counter"))) ?? items[0]!;
              await put(written, `overwritten during rotation ${text(written)}`);
              await new Promise((r) => setImmediate(r));
              return target.reseal(nsId, items);
            };
          },
        });
      }
    }
    const rotator = second ? await Engine.open(Interleaving.wrap(second), { encryptionKey: key }) : null;
    if (!rotator) {
      // One process: the rotation and the writes share the engine's keyring and backend.
      Object.defineProperty(writer, "backend", { value: Interleaving.wrap(backend) });
    }
    let rotating = true;
    const background = (async () => {
      for (let i = 0; rotating || i < 20; i++) {
        await put(k("new", i), `written ${i}`);
        ok(await writer.atomic(ns.id, write([{ type: "sum", key: k("counter"), value: { encoding: "le64", data: u64Bytes(1n) } }])));
        sums++;
        await new Promise((r) => setImmediate(r));
      }
    })();
    const report = await rotateKeys(rotator ?? writer, { batchSize: 50 });
    rotating = false;
    await background;
    if (!rotator) Object.defineProperty(writer, "backend", { value: backend });

    assert.equal(report.target, 2);
    assert.equal(report.finished, true);
    assert.deepEqual(report.retired, [1]);
    assert.ok(report.changedMeanwhile >= 12, `each of the 12 batches had a key written meanwhile (${report.changedMeanwhile})`);
    assert.ok(sums > 0);

    const after = await raw(backend, ns.id);
    assert.ok(after.every((e) => e.sealed && Keyring.keyIdsOf(e).every((id) => id === 2)), "every row is under data key 2");
    const doc = JSON.parse((await backend.getSetting(KEYRING_SETTING))!);
    assert.deepEqual([doc.active, doc.keys.map((x: { id: number }) => x.id), doc.rotation], [2, [2], undefined]);

    const reader = await Engine.open(store.again(backend) ?? backend, { encryptionKey: key });
    const now = new Map((await plain(reader, ns.id)).map((e) => [text(e.key), e]));
    for (const [key, w] of acknowledged) {
      assert.equal(deserializeV8(now.get(key)!.data), w.value, `acknowledged write to ${key}`);
      assert.equal(compareBytes(now.get(key)!.versionstamp, w.versionstamp), 0);
    }
    for (const [key, e] of before) {
      if (acknowledged.has(key)) continue;
      const i = Number(/(\d+)$/.exec(deserializeV8(now.get(key)!.data) as string)![1]);
      assert.equal(deserializeV8(now.get(key)!.data), `seed ${i}`);
      assert.equal(now.get(key)!.metadata, `{"i":${i}}`);
      assert.equal(compareBytes(now.get(key)!.versionstamp, e.versionstamp), 0, `versionstamp of ${key} unchanged`);
    }
    assert.deepEqual(now.get(text(k("counter")))!.data, u64Bytes(BigInt(sums)));
    if (reader !== writer) await reader.close();
    await rotator?.close();
    await writer.close();
  });

  test(`${name}: an interrupted rotation resumes where rows still need it`, async () => {
    const key = randomBytes(32);
    const backend = (await store.fresh());
    const engine = await Engine.open(backend, { encryptionKey: key });
    const ns = await engine.ensureNamespace("default");
    ok(await engine.atomic(ns.id, write(Array.from({ length: 300 }, (_, i) => set(k(i), v8(i))), [{ payload: serializeV8("m"), readyAt: 0, keysIfUndelivered: [] }])));
    const stop = new AbortController();
    let seen = 0;
    await assert.rejects(
      rotateKeys(engine, {
        batchSize: 100,
        signal: stop.signal,
        onProgress: (n) => {
          seen += n;
          if (seen >= 100) stop.abort();
        },
      }),
      { name: "AbortError" },
    );
    const doc = JSON.parse((await backend.getSetting(KEYRING_SETTING))!);
    assert.deepEqual([doc.active, doc.rotation.to, doc.keys.length], [2, 2, 2], "the rotation is recorded, both keys kept");
    let current = backend;
    const under = (id: number) => raw(current, ns.id).then((rows) => rows.filter((e) => Keyring.keyIdsOf(e)[0] === id).length);
    assert.deepEqual([await under(2), await under(1)], [100, 200]);
    assert.equal((await plain(engine, ns.id)).length, 300, "everything reads meanwhile, under either key");

    // A crash is no different: a new process (where the store outlives one) picks the rotation up.
    let again = engine;
    const next = store.again(backend);
    if (next) {
      await engine.close();
      current = next;
      again = await Engine.open(next, { encryptionKey: key });
    }
    const report = await rotateKeys(again);
    assert.deepEqual(
      [report.resumed, report.target, report.resealed, report.messagesResealed, report.finished, report.retired],
      [true, 2, 200, 1, true, [1]],
    );
    assert.deepEqual([await under(2), await under(1)], [300, 0]);
    assert.deepEqual((await plain(again, ns.id)).map((e) => deserializeV8(e.data)), Array.from({ length: 300 }, (_, i) => i));
    await again.close();
  });

  test(`${name}: a rotation to a new user key: the old one no longer opens the store, the new one does`, async () => {
    const oldKey = randomBytes(32);
    const newKey = randomBytes(32);
    const backend = (await store.fresh());
    const engine = await Engine.open(backend, { encryptionKey: oldKey });
    const ns = await engine.ensureNamespace("default");
    ok(await engine.atomic(ns.id, write([set(k("a"), v8("kept"))])));
    const stop = new AbortController();
    await assert.rejects(rotateKeys(engine, { newKey, signal: stop.signal, onStart: () => stop.abort() }), { name: "AbortError" });
    const third = randomBytes(32);
    await assert.rejects(rotateKeys(engine, { newKey: third }), {
      code: "encryption_key",
      message: `A rotation to data key 2, ending under the key with fingerprint ${keyFingerprint(newKey)}, is in progress: finish it first (run \`openkv key rotate\` again without --new-key-file, or with that key)`,
    });
    const report = await rotateKeys(engine);
    assert.deepEqual([report.resumed, report.keep, report.finished], [true, keyFingerprint(newKey), true]);
    assert.equal(deserializeV8((await engine.get(ns.id, k("a")))!.data), "kept", "this process keeps working with what it holds");
    ok(await engine.atomic(ns.id, write([set(k("b"), v8("after"))])));
    const doc = JSON.parse((await backend.getSetting(KEYRING_SETTING))!);
    assert.deepEqual(Object.keys(doc.keys[0].wrapped), [keyFingerprint(newKey)], "no wrap under the old key is left");
    if (name === "sqlite") {
      await engine.close();
      await assert.rejects(Engine.open(store.again(backend)!, { encryptionKey: oldKey }), {
        message: `The encryption key given (fingerprint ${keyFingerprint(oldKey)}) does not open this store: its data key 2 is wrapped under the key with fingerprint ${keyFingerprint(newKey)}`,
      });
      const reopened = await Engine.open(store.again(backend)!, { encryptionKey: newKey });
      assert.deepEqual((await plain(reopened, ns.id)).map((e) => deserializeV8(e.data)), ["kept", "after"]);
      await reopened.close();
    } else {
      await engine.close();
    }
  });
}

test("sqlite: another process that opened the store before encryption was turned on can neither write plaintext nor read sealed rows", async () => {
  const path = join(dir, "late.sqlite");
  const keyless = new Engine(new SqliteBackend(path));
  const ns = await keyless.ensureNamespace("default");
  ok(await keyless.atomic(ns.id, write([set(k("plain"), v8("before"))])));
  const keyed = await Engine.open(new SqliteBackend(path), { encryptionKey: randomBytes(32) });
  ok(await keyed.atomic(ns.id, write([set(k("sealed"), v8("after"))])));
  const locked = "This store is encrypted but was opened without its encryption key: restart with --encryption-key-file PATH or OPENKV_ENCRYPTION_KEY";
  await assert.rejects(keyless.atomic(ns.id, write([set(k("plain"), v8("again"))])), { code: "encryption_key", message: locked });
  await assert.rejects(keyless.get(ns.id, k("sealed")), { code: "encryption_key", message: locked });
  assert.equal(deserializeV8((await keyless.get(ns.id, k("plain")))!.data), "before", "plaintext rows still read");
  assert.deepEqual((await plain(keyed, ns.id)).map((e) => deserializeV8(e.data)), ["before", "after"]);
  await keyless.close();
  await keyed.close();
});

test("sqlite: a process without the key leaves an encrypted store's queue messages to one that has it", async () => {
  const path = join(dir, "queue-late.sqlite");
  const keylessClock = new ManualClock();
  const keyless = new Engine(new SqliteBackend(path), { clock: keylessClock });
  const ns = await keyless.ensureNamespace("default");
  const keyedClock = new ManualClock();
  const keyed = await Engine.open(new SqliteBackend(path), { clock: keyedClock, encryptionKey: randomBytes(32) });
  ok(await keyed.atomic(ns.id, write([], [{ payload: serializeV8("for the keyed"), readyAt: keyedClock.now(), keysIfUndelivered: [k("dead")], backoffSchedule: [] }])));
  const seenByKeyless: unknown[] = [];
  const keylessDone = keyless.listenQueue(ns.id, (p) => void seenByKeyless.push(p));
  await keyless.tick();
  await keyless.close();
  await keylessDone;
  assert.deepEqual(seenByKeyless, []);
  assert.equal(await keyed.get(ns.id, k("dead")), null, "not dead-lettered: the keyless process could not even try");
  const got: unknown[] = [];
  const keyedDone = keyed.listenQueue(ns.id, (p) => void got.push(deserializeV8(p)));
  keyedClock.advance(61_000); // the keyless process's lease lapses
  await keyed.tick();
  assert.deepEqual(got, ["for the keyed"]);
  await keyed.close();
  await keyedDone;
});

test("sqlite: a plaintext store is encrypted in place; afterwards its files hold none of the plaintext", async () => {
  const sub = mkdtempSync(join(dir, "inplace-"));
  const path = join(sub, "openkv.sqlite");
  const plainEngine = new Engine(new SqliteBackend(path));
  const ns = await plainEngine.ensureNamespace("default");
  const big = "PLAINTEXT-BIG-".repeat(100);
  ok(
    await plainEngine.atomic(
      ns.id,
      write(
        [
          ...Array.from({ length: 50 }, (_, i) => set(k(i), v8(`PLAINTEXT-VALUE-${i}`), { metadata: `{"m":"PLAINTEXT-META-${i}"}` })),
          set(k("big"), v8(big)),
        ],
        [{ payload: serializeV8("PLAINTEXT-QUEUE"), readyAt: 0, keysIfUndelivered: [] }],
      ),
    ),
  );
  // Overwritten and deleted while plaintext: gone from the store, but in the files.
  ok(await plainEngine.atomic(ns.id, write([set(k(0), v8("PLAINTEXT-VALUE-0b")), { type: "delete", key: k(1) }])));
  await plainEngine.close();
  const grep = () =>
    readdirSync(sub).filter((f) => {
      const bytes = readFileSync(join(sub, f)).toString("latin1");
      return bytes.includes("PLAINTEXT-VALUE") || bytes.includes("PLAINTEXT-META") || bytes.includes("PLAINTEXT-BIG") || bytes.includes("PLAINTEXT-QUEUE");
    });
  assert.deepEqual(grep(), ["openkv.sqlite"], "the plaintext is there before");

  const key = randomBytes(32);
  const engine = await Engine.open(new SqliteBackend(path), { encryptionKey: key });
  ok(await engine.atomic(ns.id, write([set(k("new"), v8("PLAINTEXT-VALUE-new"))])));
  assert.equal(deserializeV8((await engine.get(ns.id, k(2)))!.data), "PLAINTEXT-VALUE-2", "plaintext rows read throughout");
  const report = await rotateKeys(engine);
  assert.deepEqual([report.sealedInPlace, report.resealed, report.messagesResealed, report.finished], [50, 51, 1, true]);
  const rows = await plain(engine, ns.id);
  assert.equal(rows.length, 51);
  assert.equal(deserializeV8(rows.find((e) => text(e.key) === text(k(0)))!.data), "PLAINTEXT-VALUE-0b");
  assert.equal(deserializeV8(rows.find((e) => text(e.key) === text(k("big")))!.data), big);
  assert.equal(rows.find((e) => text(e.key) === text(k(2)))!.metadata, '{"m":"PLAINTEXT-META-2"}');
  await engine.close();
  assert.deepEqual(grep(), [], "no file of the store holds any of it");
});
