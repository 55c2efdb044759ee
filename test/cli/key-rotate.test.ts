/**
 * `openkv key rotate` as a user runs it: encrypting a plaintext data directory in place, resuming an
 * interrupted rotation, moving to a new key file, and stopping (keeping the old keys) at an entry that
 * no longer decrypts.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { openDataDir } from "../../src/config/data-dir.ts";
import { keyFingerprint } from "../../src/core/keyring.ts";
import { encodeKey } from "../../src/core/keys.ts";
import { rotateKeys } from "../../src/core/rotation.ts";
import { cleanEnv, openkv, tempDir } from "./helpers.ts";

const cwd = tempDir("key-rotate");
const env = cleanEnv(cwd);
const keyFile = (name: string, bytes = randomBytes(32)) => {
  writeFileSync(join(cwd, name), bytes.toString("base64") + "\n");
  return { name, bytes };
};
const run = (args: string[], extra: Record<string, string> = {}) => openkv(args, { cwd, env: { ...env, ...extra } });
const get = (dir: string, k: string, extra: string[] = []) => run(["kv", "key", "get", k, "--namespace-id", "default", "--persist-to", dir, ...extra]);

test("a plaintext directory is encrypted in place; then only its key opens it", async () => {
  for (const [k, v] of [["a", "one"], ["b", "two"], ["c", "three"]]) assert.equal((await run(["kv", "key", "put", k, v, "--namespace-id", "default", "--persist-to", "plain"])).code, 0);
  const noKey = await run(["key", "rotate", "--persist-to", "plain"]);
  assert.equal(noKey.code, 1);
  assert.match(
    noKey.stderr,
    /Rotating needs the store's encryption key \(to encrypt a plaintext store: the key to encrypt it with\): pass --encryption-key-file PATH or set OPENKV_ENCRYPTION_KEY/,
  );
  const key = keyFile("plain.key");
  const rotated = await run(["key", "rotate", "--persist-to", "plain", "--encryption-key-file", key.name]);
  assert.equal(rotated.code, 0, rotated.stderr);
  assert.ok(
    rotated.stdout.includes(
      [
        "Rotating to data key 2: 3 entries and 0 queue messages to look at.",
        "Re-encrypted 3 entries (3 of them were plaintext) and 0 queue messages under data key 2; 0 written meanwhile were already under it.",
        "✨ Every value, metadata and queue payload is now sealed under data key 2. Retired data key 1.",
      ].join("\n"),
    ),
    rotated.stdout,
  );
  assert.equal((await get("plain", "b")).code, 1);
  assert.equal((await get("plain", "b", ["--encryption-key-file", key.name])).stdout, "two");
  assert.equal((await get("plain", "c")).stderr.includes(keyFingerprint(key.bytes)), true, "the refusal names the key it needs");
  const remote = await run(["key", "rotate", "--remote"], { OPENKV_URL: "http://127.0.0.1:1", OPENKV_TOKEN: "x" });
  assert.equal(remote.code, 1);
  assert.match(remote.stderr, /`openkv key rotate` works on a data directory, not over the network/);
});

test("an interrupted rotation is resumed by the next run; --new-key-file moves the store to a new key", async () => {
  const key = keyFile("old.key");
  const engine = await openDataDir(join(cwd, "resume"), { encryptionKey: key.bytes });
  const ns = await engine.ensureNamespace("default");
  const mutations = Array.from({ length: 40 }, (_, i) => ({ type: "set" as const, key: encodeKey([`k${i}`]), value: { encoding: "bytes" as const, data: Uint8Array.of(i) } }));
  assert.ok((await engine.atomic(ns.id, { checks: [], mutations, enqueues: [] })).ok);
  const stop = new AbortController();
  await assert.rejects(rotateKeys(engine, { batchSize: 10, signal: stop.signal, onProgress: () => stop.abort() }), { name: "AbortError" });
  await engine.close();

  const newKey = keyFile("new.key");
  const other = keyFile("other.key");
  const conflicting = await run(["key", "rotate", "--persist-to", "resume", "--encryption-key-file", key.name, "--new-key-file", other.name]);
  assert.equal(conflicting.code, 1);
  assert.match(conflicting.stderr, /A rotation to data key 2, ending under the key with fingerprint [0-9a-f]{16}, is in progress: finish it first/);

  const resumed = await run(["key", "rotate", "--persist-to", "resume", "--encryption-key-file", key.name]);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stdout, /Resuming the rotation to data key 2: 40 entries and 0 queue messages to look at\.\nRe-encrypted 30 entries and 0 queue messages under data key 2;/);

  const moved = await run(["key", "rotate", "--persist-to", "resume", "--encryption-key-file", key.name, "--new-key-file", newKey.name]);
  assert.equal(moved.code, 0, moved.stderr);
  assert.ok(
    moved.stdout.includes(`From now on open this store with the key in new.key (fingerprint ${keyFingerprint(newKey.bytes)}); restart processes that still use the old key.`),
    moved.stdout,
  );
  const old = await get("resume", "k7", ["--encryption-key-file", key.name]);
  assert.equal(old.code, 1);
  assert.match(old.stderr, new RegExp(`does not open this store: its data key 3 is wrapped under the key with fingerprint ${keyFingerprint(newKey.bytes)}`));
  const fresh = await get("resume", "k7");
  assert.equal(fresh.code, 1);
  assert.deepEqual((await run(["kv", "key", "get", "k7", "--namespace-id", "default", "--persist-to", "resume"], { OPENKV_ENCRYPTION_KEY: newKey.bytes.toString("base64") })).bytes, Buffer.of(7));
});

test("an entry that no longer decrypts stops the rotation before it retires a key, and says which", async () => {
  const key = keyFile("t.key");
  for (const k of ["good", "bad"]) assert.equal((await run(["kv", "key", "put", k, `value of ${k}`, "--namespace-id", "default", "--persist-to", "tampered", "--encryption-key-file", key.name])).code, 0);
  const db = new DatabaseSync(join(cwd, "tampered", "openkv.sqlite"));
  const row = db.prepare("SELECT value FROM entries WHERE key = ?").get(encodeKey(["bad"]))!;
  const bytes = Uint8Array.from(row.value as Uint8Array);
  bytes[bytes.length - 1]! ^= 1;
  db.prepare("UPDATE entries SET value = ? WHERE key = ?").run(bytes, encodeKey(["bad"]));
  const nsId = db.prepare("SELECT id FROM namespaces WHERE title = 'default'").get()!.id as string;
  db.close();
  const stopped = await run(["key", "rotate", "--persist-to", "tampered", "--encryption-key-file", key.name]);
  assert.equal(stopped.code, 1);
  assert.ok(
    stopped.stderr.includes(
      [
        "1 entry or message could not be decrypted, so the older data keys are kept:",
        "",
        `  Cannot decrypt the value of key ["bad"] in namespace ${nsId} under data key 1: it does not authenticate (altered, or moved from another key or namespace)`,
        "  Delete or restore them, then run `openkv key rotate` again to finish.",
      ].join("\n"),
    ),
    stopped.stderr,
  );
  assert.equal((await get("tampered", "good", ["--encryption-key-file", key.name])).stdout, "value of good");
  assert.equal((await run(["kv", "key", "delete", "bad", "--namespace-id", "default", "--persist-to", "tampered", "--encryption-key-file", key.name])).code, 0);
  const finished = await run(["key", "rotate", "--persist-to", "tampered", "--encryption-key-file", key.name]);
  assert.equal(finished.code, 0, finished.stderr);
  assert.match(finished.stdout, /Resuming the rotation to data key 2: 1 entry and 0 queue messages to look at\.\nRe-encrypted 0 entries and 0 queue messages under data key 2; 0 written meanwhile were already under it\.\n✨ Every value, metadata and queue payload is now sealed under data key 2\. Retired data key 1\./);
});
