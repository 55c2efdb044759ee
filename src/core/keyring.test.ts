import { test } from "node:test";
import assert from "node:assert/strict";
import { createSecretKey, randomBytes } from "node:crypto";
import { describeKey, keyFingerprint, Keyring, KEYRING_SETTING, parseEncryptionKey } from "./keyring.ts";
import { encodeKey } from "./keys.ts";
import { envelopeKeyId, EnvelopeError, ENVELOPE_OVERHEAD, open, OpenedCache, seal, type SealContext } from "./sealing.ts";
import type { Entry } from "./types.ts";
import { MemoryBackend } from "../storage/memory/memory-backend.ts";

const HINT = "it must hold a 256-bit key as base64, e.g. from `openssl rand -base64 32`";

test("parseEncryptionKey takes what `openssl rand -base64 32` prints and refuses anything else with the reason", () => {
  const raw = randomBytes(32);
  assert.deepEqual(parseEncryptionKey(`${raw.toString("base64")}\n`, "--encryption-key-file k"), new Uint8Array(raw));
  assert.throws(() => parseEncryptionKey(" \n", "--encryption-key-file k"), { code: "encryption_key", message: `--encryption-key-file k is empty: ${HINT}` });
  assert.throws(() => parseEncryptionKey("not base64!", "OPENKV_ENCRYPTION_KEY"), { message: `OPENKV_ENCRYPTION_KEY is not base64: ${HINT}` });
  assert.throws(() => parseEncryptionKey(randomBytes(16).toString("base64"), "OPENKV_ENCRYPTION_KEY"), {
    message: "OPENKV_ENCRYPTION_KEY holds a 128-bit key; OpenKV needs a 256-bit key (32 bytes) as base64, e.g. from `openssl rand -base64 32`",
  });
  assert.throws(() => parseEncryptionKey(randomBytes(48).toString("base64"), "k"), { message: /^k holds a 384-bit key;/ });
});

test("a key's fingerprint is stable, 16 hex characters, and differs between keys", () => {
  const key = randomBytes(32);
  assert.match(keyFingerprint(key), /^[0-9a-f]{16}$/);
  assert.equal(keyFingerprint(key), keyFingerprint(Uint8Array.from(key)));
  assert.notEqual(keyFingerprint(key), keyFingerprint(randomBytes(32)));
});

test("an envelope opens only where it was sealed: any other part, namespace, key, encoding or data key fails", () => {
  const key = createSecretKey(randomBytes(32));
  const ctx: SealContext = { part: "value", namespaceId: "a".repeat(32), key: encodeKey(["users", "ada"]), encoding: 1 };
  const plaintext = new TextEncoder().encode("the plaintext");
  const env = seal(key, 7, plaintext, ctx);
  assert.equal(env.length, plaintext.length + ENVELOPE_OVERHEAD);
  assert.equal(envelopeKeyId(env), 7);
  assert.deepEqual(open(() => key, env, ctx), plaintext);
  const fails = (what: string, e: Uint8Array, c: SealContext, k = key) =>
    assert.throws(() => open(() => k, e, c), (err: unknown) => err instanceof EnvelopeError && err.keyId === 7, what);
  fails("moved to another key", env, { ...ctx, key: encodeKey(["users", "bob"]) });
  fails("moved to another namespace", env, { ...ctx, namespaceId: "b".repeat(32) });
  fails("relabelled as bytes", env, { ...ctx, encoding: 3 });
  fails("passed off as metadata", env, { ...ctx, part: "metadata" });
  fails("opened with another data key", env, ctx, createSecretKey(randomBytes(32)));
  for (const at of [0 + 5, 5 + 12, env.length - 1]) {
    const tampered = Uint8Array.from(env);
    tampered[at]! ^= 1;
    fails(`byte ${at} flipped`, tampered, ctx);
  }
  const renumbered = Uint8Array.from(env);
  renumbered[4] = 8;
  assert.throws(() => open(() => key, renumbered, ctx), EnvelopeError, "the key id is authenticated too");
  assert.throws(() => open(() => key, env.subarray(0, ENVELOPE_OVERHEAD - 1), ctx), { message: "it is not a sealed envelope" });
});

test("two seals of the same plaintext never share a nonce or a ciphertext", () => {
  const key = createSecretKey(randomBytes(32));
  const ctx: SealContext = { part: "payload", namespaceId: "n", key: new Uint8Array(0), encoding: 0 };
  const seen = new Set<string>();
  // More than one refill of the nonce pool (4,096 nonces).
  for (let i = 0; i < 10_000; i++) seen.add(Buffer.from(seal(key, 1, Uint8Array.of(1, 2, 3), ctx).subarray(5, 17)).toString("hex"));
  assert.equal(seen.size, 10_000);
});

test("describeKey shows a Deno key as written, and bytes that are no key as hex", () => {
  assert.equal(describeKey(encodeKey(["users", 1, 2n, true, Uint8Array.of(0xab)])), '["users",1,2n,true,Uint8Array(ab)]');
  assert.equal(describeKey(Uint8Array.of(0xee, 0x01)), "0xee01");
});

test("a keyring seals entries under its active data key and opens them; metadata and payloads too", async () => {
  const backend = new MemoryBackend();
  const keyring = new Keyring(randomBytes(32));
  await keyring.unlock(backend, { now: 1 });
  assert.equal(keyring.activeKeyId, 1);
  const doc = JSON.parse((await backend.getSetting(KEYRING_SETTING))!);
  assert.deepEqual(Object.keys(doc.keys[0].wrapped), [keyring.fingerprint]);
  const entry: Entry = {
    key: encodeKey(["k"]),
    encoding: "v8",
    data: Uint8Array.of(1, 2, 3),
    versionstamp: new Uint8Array(10),
    expiresAt: null,
    metadata: '{"a":1}',
  };
  const sealed = keyring.sealEntry("ns", entry);
  assert.equal(sealed.sealed, true);
  assert.match(sealed.metadata!, /^sealed:[A-Za-z0-9+/=]+$/);
  assert.deepEqual(Keyring.keyIdsOf(sealed), [1, 1]);
  assert.deepEqual(keyring.openEntry("ns", sealed), entry);
  assert.throws(() => keyring.openEntry("other", sealed), {
    code: "decrypt_failed",
    message: 'Cannot decrypt the value of key ["k"] in namespace other under data key 1: it does not authenticate (altered, or moved from another key or namespace)',
  });
  const moved = { ...sealed, metadata: keyring.sealEntry("ns", { ...entry, key: encodeKey(["j"]) }).metadata };
  assert.throws(() => keyring.openEntry("ns", moved), { message: /^Cannot decrypt the metadata of key \["k"\] in namespace ns under data key 1:/ });
  const msg = keyring.sealMessage("ns", { payload: Uint8Array.of(9), readyAt: 0, keysIfUndelivered: [] });
  const stored = { id: 1, namespaceId: "ns", payload: msg.payload, readyAt: 0, attempts: 0, keysIfUndelivered: [], backoffSchedule: null, sealed: true };
  assert.deepEqual(keyring.openPayload("ns", stored), Uint8Array.of(9));
  assert.throws(() => keyring.openPayload("elsewhere", stored), { message: /^Cannot decrypt the payload of a queue message of namespace elsewhere under data key 1:/ });
});

test("a read of many entries gets each plaintext as its own view: changing one changes no other, nor what is cached", async () => {
  const keyring = new Keyring(randomBytes(32));
  await keyring.unlock(new MemoryBackend(), { now: 1 });
  const values = [Uint8Array.of(1, 2, 3), new Uint8Array(200).fill(4), new Uint8Array(5000).fill(5), Uint8Array.of(6)];
  const stored = values.map((data, i) =>
    keyring.sealEntry("ns", { key: encodeKey(["k", i]), encoding: "bytes", data, versionstamp: new Uint8Array(10), expiresAt: null, metadata: i === 0 ? '{"m":0}' : null }),
  );
  const read = () => {
    const list: Entry[] = [...stored, { key: encodeKey(["plain"]), encoding: "bytes", data: Uint8Array.of(7), versionstamp: new Uint8Array(10), expiresAt: null, metadata: null }];
    keyring.openEntries("ns", list);
    return list;
  };
  const decrypted = read();
  assert.deepEqual(decrypted.map((e) => e.data), [...values, Uint8Array.of(7)]);
  assert.equal(decrypted[0]!.metadata, '{"m":0}');
  const cached = read();
  assert.deepEqual(cached.map((e) => e.data), [...values, Uint8Array.of(7)], "the second read comes from the cache");
  // The small plaintexts share one buffer that holds exactly them; the 5,000-byte one has its own.
  const [a, b, big, d] = cached.map((e) => e.data);
  assert.equal(a!.buffer, b!.buffer);
  assert.equal(a!.buffer, d!.buffer);
  assert.equal(a!.buffer.byteLength, 3 + 200 + 1);
  assert.notEqual(big!.buffer, a!.buffer);
  a!.fill(9);
  assert.deepEqual([b, d], [values[1], values[3]], "a view cannot reach its neighbours");
  assert.deepEqual(read().map((e) => e.data), [...values, Uint8Array.of(7)], "nor the cache");
});

test("a written counter is remembered as opened (the next sum reads it without decrypting); a bigger value is not", async () => {
  const keyring = new Keyring(randomBytes(32));
  await keyring.unlock(new MemoryBackend(), { now: 1 });
  const entry = (data: Uint8Array): Entry => ({ key: encodeKey(["c"]), encoding: "le64", data, versionstamp: new Uint8Array(10), expiresAt: null, metadata: null });
  keyring.sealEntry("ns", entry(new Uint8Array(100)));
  assert.equal(keyring.cachedBytes, 0);
  const counter = Uint8Array.of(1, 0, 0, 0, 0, 0, 0, 0);
  const sealed = keyring.sealEntry("ns", entry(counter));
  assert.ok(keyring.cachedBytes > 0);
  counter[0] = 2;
  assert.deepEqual(keyring.openEntry("ns", sealed).data, Uint8Array.of(1, 0, 0, 0, 0, 0, 0, 0), "what was sealed, not the writer's later bytes");
  assert.throws(() => keyring.openEntry("elsewhere", sealed), { code: "decrypt_failed" }, "remembered only where it was sealed");
});

test("unlock refuses an encrypted store without its key, or with another, naming the fingerprints", async () => {
  const backend = new MemoryBackend();
  const key = randomBytes(32);
  await new Keyring(key).unlock(backend, { now: 1 });
  const fp = keyFingerprint(key);
  await assert.rejects(new Keyring().unlock(backend, { now: 1 }), {
    code: "encryption_key",
    message: `This store is encrypted: open it with its encryption key (--encryption-key-file PATH or OPENKV_ENCRYPTION_KEY; the key's fingerprint is ${fp})`,
  });
  const other = randomBytes(32);
  await assert.rejects(new Keyring(other).unlock(backend, { now: 1 }), {
    message: `The encryption key given (fingerprint ${keyFingerprint(other)}) does not open this store: its data key 1 is wrapped under the key with fingerprint ${fp}`,
  });
  const locked = new Keyring();
  await locked.unlock(backend, { now: 1, allowLocked: true });
  assert.equal(locked.encrypted, true);
  assert.throws(() => locked.sealMessage("ns", { payload: Uint8Array.of(1), readyAt: 0, keysIfUndelivered: [] }), {
    message: "This store is encrypted but was opened without its encryption key: restart with --encryption-key-file PATH or OPENKV_ENCRYPTION_KEY",
  });
  // A wrapped data key altered in the store is caught when the keyring is read.
  const text = (await backend.getSetting(KEYRING_SETTING))!;
  const doc = JSON.parse(text);
  const wrapped = Buffer.from(doc.keys[0].wrapped[fp], "base64");
  wrapped[20]! ^= 1;
  doc.keys[0].wrapped[fp] = wrapped.toString("base64");
  assert.equal(await backend.putSetting(KEYRING_SETTING, JSON.stringify(doc), text), true);
  await assert.rejects(new Keyring(key).unlock(backend, { now: 1 }), {
    message: `This store's keyring does not authenticate under the encryption key given (fingerprint ${fp}): data key 1 was altered`,
  });
});

test("the opened cache answers only for identical bytes and context, and keeps and hands out copies", () => {
  const cache = new OpenedCache(10_000, 300);
  const key = createSecretKey(randomBytes(32));
  const ctxOf = (k: string): SealContext => ({ part: "value", namespaceId: "ns", key: encodeKey([k]), encoding: 1 });
  const ctx = ctxOf("k");
  const plaintext = Uint8Array.of(1, 2, 3);
  const env = seal(key, 1, plaintext, ctx);
  const written = Uint8Array.from(plaintext);
  cache.put(env, ctx, written);
  written[0] = 7;
  const hit = cache.get(Uint8Array.from(env), ctxOf("k"))!;
  assert.deepEqual(hit, plaintext, "a writer changing its bytes after the put changes nothing cached");
  hit[0] = 9;
  assert.deepEqual(cache.get(env, ctx), plaintext, "a reader changing its copy changes nothing cached");
  const altered = Uint8Array.from(env);
  altered[30]! ^= 1;
  assert.equal(cache.get(altered, ctx), undefined, "other bytes for the same entry: a miss");
  assert.equal(cache.get(env, ctxOf("j")), undefined, "moved to another key: a miss");
  assert.equal(cache.get(env, { ...ctx, namespaceId: "other" }), undefined);
  assert.equal(cache.get(env, { ...ctx, encoding: 3 }), undefined);
  assert.equal(cache.get(env, { ...ctx, part: "metadata" }), undefined);
  const text = "sealed:text";
  cache.put(text, { ...ctx, part: "metadata", encoding: 0 }, '{"m":1}');
  assert.equal(cache.get(text, { ...ctx, part: "metadata", encoding: 0 }), '{"m":1}');
  assert.equal(cache.get("sealed:other", { ...ctx, part: "metadata", encoding: 0 }), undefined);
  // A newer envelope for the same entry: each answers with its own plaintext, as opening them would.
  const newer = seal(key, 1, Uint8Array.of(4), ctx);
  cache.put(newer, ctx, Uint8Array.of(4));
  assert.deepEqual(cache.get(newer, ctx), Uint8Array.of(4));
  assert.deepEqual(cache.get(env, ctx), plaintext);
  // Slots are found by 30 bits of the nonce: a stranger sharing them is a miss, never its plaintext.
  const twin = Uint8Array.from(newer);
  twin[5 + 11]! ^= 1;
  assert.equal(cache.get(twin, ctx), undefined);
  cache.put(twin, ctx, Uint8Array.of(5));
  assert.deepEqual(cache.get(twin, ctx), Uint8Array.of(5), "the twin took the slot");
  assert.equal(cache.get(newer, ctx), undefined, "and the first one misses, to be decrypted again");
  cache.put(newer, ctx, Uint8Array.of(4));
  assert.deepEqual(cache.get(newer, ctx), Uint8Array.of(4));
  // Past maxItem nothing is kept.
  const big = seal(key, 1, new Uint8Array(400), ctxOf("big"));
  cache.put(big, ctxOf("big"), new Uint8Array(400));
  assert.equal(cache.get(big, ctxOf("big")), undefined);
});

test("the opened cache stays within its budget: the oldest go first, but one read since it was stored is spared once", () => {
  const key = createSecretKey(randomBytes(32));
  const ctxOf = (k: string): SealContext => ({ part: "value", namespaceId: "ns", key: encodeKey([k]), encoding: 1 });
  const envs = new Map(["a", "b", "c", "d", "e", "f"].map((k) => [k, seal(key, 1, Uint8Array.of(k.charCodeAt(0)), ctxOf(k))]));
  const put = (k: string) => cache.put(envs.get(k)!, ctxOf(k), Uint8Array.of(k.charCodeAt(0)));
  const has = (k: string) => cache.get(envs.get(k)!, ctxOf(k)) !== undefined;
  const probe = new OpenedCache();
  probe.put(envs.get("a")!, ctxOf("a"), Uint8Array.of(1));
  const slot = probe.bytes;
  // Room for three slots; an eviction goes down to three quarters of that (two slots).
  const cache = new OpenedCache(3 * slot, slot);
  put("a");
  put("b");
  put("c");
  assert.equal(cache.bytes, 3 * slot);
  assert.ok(has("a"), "a read: marked");
  put("d");
  assert.equal(cache.bytes, 2 * slot);
  assert.deepEqual(["a", "b", "c", "d"].map(has), [true, false, false, true], "b and c went; a, the oldest, was spared");
  // a and d are marked again (read just above): the next eviction spares both and takes e and f,
  // never read; the one after, with a and d not read since, takes them.
  put("e");
  put("f");
  assert.equal(cache.bytes, 2 * slot);
  assert.deepEqual(["a", "d", "e", "f"].map(has), [true, true, false, false]);
  // Read once more (just above): spared by one more eviction, then, not read since, gone.
  put("b");
  put("c");
  put("e");
  put("f");
  assert.equal(cache.bytes, 2 * slot);
  assert.deepEqual(["a", "d", "e", "f"].map(has), [false, false, true, true]);
});
