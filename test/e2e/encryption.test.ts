/**
 * Encryption at rest against the real server and CLI: a round trip through every API (Deno Kv and the
 * Workers binding embedded, /kv, REST v4, KV Connect through the remote client), what the data
 * directory and a backup hold (no plaintext, grepped byte for byte, before and after a checkpoint), a
 * tampered entry answered as a named error by every API while the server stays up, `openkv key rotate`
 * online under writes, and `serve` refusing a store its key cannot open.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { openKv, openNamespace } from "../../src/index.ts";
import { encodeKey } from "../../src/core/keys.ts";
import { keyFingerprint } from "../../src/core/keyring.ts";
import { startServer } from "../../src/server/server.ts";
import { cleanEnv, openkv, tempDir } from "../cli/helpers.ts";
import { ADMIN, auth, startTestServer } from "./harness.ts";

const key = randomBytes(32);
const home = tempDir("encryption");
const keyFile = join(home, "store.key");
writeFileSync(keyFile, key.toString("base64") + "\n", { mode: 0o600 });
const logs: string[] = [];
const server = await startTestServer({ persistent: true, encryptionKey: key, log: (line) => logs.push(line) });
const dataDir = server.dir!;
const dbPath = join(dataDir, "openkv.sqlite");
const ns = await server.engine.ensureNamespace("default");
const CF = `${server.url}/client/v4/accounts/${server.accountId}/storage/kv/namespaces/${ns.id}`;
const env = cleanEnv(home);

/** Markers written through every API; none may appear in any file of the store. */
const MARKERS = ["MARK-REST-VALUE", "MARK-CF-VALUE", "MARK-CF-META", "MARK-KVC-VALUE", "MARK-QUEUE-PAYLOAD", "MARK-DENO-EMBEDDED", "MARK-WORKERS-VALUE", "MARK-WORKERS-META"];

/**
 * `file: marker` for each marker found in the raw bytes of the files. grep runs in a child process:
 * reading a database file here and closing the descriptor would drop this process's SQLite locks (POSIX
 * locks belong to the process, not the descriptor), and another process could then truncate the WAL
 * under the server's feet.
 */
function filesHolding(dirPath: string, names?: string[]): string[] {
  const files = (names ?? readdirSync(dirPath)).map((f) => join(dirPath, f));
  const run = spawnSync("grep", ["--binary-files=text", "-o", "-H", "-F", ...MARKERS.flatMap((m) => ["-e", m]), ...files], { encoding: "latin1" });
  assert.ok(run.status === 0 || run.status === 1, run.stderr);
  return [...new Set(run.stdout.split("\n").filter(Boolean))].map((line) => line.replace(`${dirPath}/`, ""));
}

const kvConnect = await openKv(`${server.url}/kv-connect/default`, { token: ADMIN });
const deno = await openKv(dbPath, { encryptionKey: key.toString("base64") });
const workers = await openNamespace(dbPath, { encryptionKey: key });
test.after(async () => {
  kvConnect.close();
  deno.close();
  await workers.close();
});

test("a value written through any API reads back through every other; none of it is plaintext in the store's files", async () => {
  const rest = await fetch(`${server.url}/kv/rest`, {
    method: "PUT",
    headers: { ...auth(), "content-type": "application/json" },
    body: JSON.stringify({ value: { secret: "MARK-REST-VALUE" } }),
  });
  assert.equal(rest.status, 200, await rest.text());
  const form = new FormData();
  form.set("value", "MARK-CF-VALUE");
  form.set("metadata", JSON.stringify({ m: "MARK-CF-META" }));
  const cf = await fetch(`${CF}/values/cf`, { method: "PUT", headers: auth(), body: form });
  assert.equal(cf.status, 200, await cf.text());
  await kvConnect.set(["kvc"], { secret: "MARK-KVC-VALUE" });
  await kvConnect.atomic().sum(["visits"], 5n).commit();
  // Delivered only in an hour: it stays in the queue, sealed, for the file check below.
  await kvConnect.enqueue("MARK-QUEUE-PAYLOAD", { delay: 3_600_000 });
  await deno.set(["embedded"], "MARK-DENO-EMBEDDED");
  await workers.put("workers", "MARK-WORKERS-VALUE", { metadata: { m: "MARK-WORKERS-META" } });

  const viaRest = async (path: string) => ((await (await fetch(`${server.url}/kv/${path}`, { headers: auth() })).json()) as { value: unknown }).value;
  assert.deepEqual(await viaRest("kvc"), { secret: "MARK-KVC-VALUE" });
  assert.equal(await viaRest("embedded"), "MARK-DENO-EMBEDDED");
  assert.equal(await viaRest("visits"), "5");
  assert.equal(await (await fetch(`${CF}/values/workers`, { headers: auth() })).text(), "MARK-WORKERS-VALUE");
  assert.deepEqual(((await (await fetch(`${CF}/metadata/workers`, { headers: auth() })).json()) as { result: unknown }).result, { m: "MARK-WORKERS-META" });
  assert.deepEqual((await kvConnect.get(["rest"])).value, { secret: "MARK-REST-VALUE" });
  assert.equal((await kvConnect.get(["cf"])).value, "MARK-CF-VALUE");
  assert.equal((await deno.get(["kvc"])).value !== null, true);
  assert.deepEqual((await deno.get(["rest"])).value, { secret: "MARK-REST-VALUE" });
  assert.deepEqual(await workers.getWithMetadata("cf"), { value: "MARK-CF-VALUE", metadata: { m: "MARK-CF-META" }, cacheStatus: null });
  const listed = await workers.list();
  assert.deepEqual(listed.keys.find((k) => k.name === "workers")?.metadata, { m: "MARK-WORKERS-META" });

  // The live files (the WAL holds the recent commits), then after a checkpoint folded them in.
  assert.ok(readdirSync(dataDir).includes("openkv.sqlite-wal"));
  assert.deepEqual(filesHolding(dataDir), []);
  const db = new DatabaseSync(dbPath);
  db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  db.close();
  assert.deepEqual(filesHolding(dataDir), []);
  // The same grep finds them in an export, which is plaintext by design (and says so).
  const exportFile = join(home, "all.ndjson");
  const exported = await openkv(["export", "--output", exportFile, "--persist-to", dataDir, "--encryption-key-file", keyFile], { cwd: home, env });
  assert.equal(exported.code, 0, exported.stderr);
  assert.deepEqual(filesHolding(home, ["all.ndjson"]).sort(), ["all.ndjson:MARK-CF-META", "all.ndjson:MARK-WORKERS-META"], "metadata is plain JSON text there");
  assert.ok(
    exported.stderr.includes(`The export is plaintext: this store is encrypted at rest, and its values and metadata were written decrypted to ${exportFile}.`),
    exported.stderr,
  );
});

test("a backup needs no key, stays encrypted, and opens only with the store's key", async () => {
  const backup = join(home, "snapshot.sqlite");
  const run = await openkv(["backup", backup, "--persist-to", dataDir], { cwd: home, env });
  assert.equal(run.code, 0, run.stderr);
  assert.deepEqual(filesHolding(home, ["snapshot.sqlite"]), []);
  const restored = join(home, "restored");
  assert.equal((await openkv(["restore", backup, "--persist-to", restored], { cwd: home, env })).code, 0);
  const refused = await openkv(["kv", "key", "get", "cf", "--namespace-id", "default", "--persist-to", restored], { cwd: home, env });
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, new RegExp(`This store is encrypted: open it with its encryption key \\(--encryption-key-file PATH or OPENKV_ENCRYPTION_KEY; the key's fingerprint is ${keyFingerprint(key)}\\)`));
  const got = await openkv(["kv", "key", "get", "cf", "--namespace-id", "default", "--persist-to", restored], { cwd: home, env: { ...env, OPENKV_ENCRYPTION_KEY: key.toString("base64") } });
  assert.equal(got.stdout, "MARK-CF-VALUE");
});

test("a tampered entry is a named error through every API, logged, and the server stays up", async () => {
  await deno.set(["tampered"], "will be altered");
  const db = new DatabaseSync(dbPath);
  const row = db.prepare("SELECT value FROM entries WHERE key = ?").get(encodeKey(["tampered"]))!;
  const bytes = Uint8Array.from(row.value as Uint8Array);
  bytes[bytes.length - 1]! ^= 0x01;
  db.prepare("UPDATE entries SET value = ? WHERE key = ?").run(bytes, encodeKey(["tampered"]));
  db.close();
  const message = `Cannot decrypt the value of key ["tampered"] in namespace ${ns.id} under data key 1: it does not authenticate (altered, or moved from another key or namespace)`;

  const rest = await fetch(`${server.url}/kv/tampered`, { headers: auth() });
  assert.deepEqual([rest.status, await rest.json()], [500, { error: { status: 500, message } }]);
  const list = await fetch(`${server.url}/kv?list=true`, { headers: auth() });
  assert.equal(list.status, 500);
  const cf = await fetch(`${CF}/values/tampered`, { headers: auth() });
  assert.equal(cf.status, 500);
  assert.deepEqual(((await cf.json()) as { errors: unknown }).errors, [{ code: 10002, message }]);
  await assert.rejects(kvConnect.get(["tampered"]), { message });
  await assert.rejects(deno.get(["tampered"]), { message });
  await assert.rejects(workers.get("tampered"), { message });
  assert.ok(logs.some((l) => l.includes(message)), "the server logged it");
  assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
  assert.equal((await kvConnect.get(["cf"])).value, "MARK-CF-VALUE", "other entries read on");
  await deno.delete(["tampered"]);
  assert.equal((await fetch(`${server.url}/kv?list=true`, { headers: auth() })).status, 200, "deleting it clears the way");
});

test("`openkv key rotate` re-encrypts while the server takes writes: no write lost, no versionstamp changed", async () => {
  for (let i = 0; i < 300; i += 100) {
    const op = deno.atomic();
    for (let j = i; j < i + 100; j++) op.set(["bulk", j], { n: j });
    assert.ok((await op.commit()).ok);
  }
  const before = new Map<number, string>();
  for await (const e of deno.list<{ n: number }>({ prefix: ["bulk"] })) before.set(e.value.n, e.versionstamp);

  let writing = true;
  const acknowledged = new Map<string, string>();
  const writer = (async () => {
    for (let i = 0; writing || i < 10; i++) {
      const res = await fetch(`${server.url}/kv/during.${i}`, { method: "PUT", headers: { ...auth(), "content-type": "application/json" }, body: JSON.stringify({ value: i }) });
      assert.equal(res.status, 200);
      acknowledged.set(`during.${i}`, ((await res.json()) as { versionstamp: string }).versionstamp);
    }
  })();
  const rotate = await openkv(["key", "rotate", "--persist-to", dataDir, "--encryption-key-file", keyFile], { cwd: home, env });
  writing = false;
  await writer;
  assert.equal(rotate.code, 0, rotate.stderr);
  assert.match(rotate.stdout, /Rotating to data key 2: [\d,]+ entries and 1 queue message to look at\./);
  assert.match(rotate.stdout, /✨ Every value, metadata and queue payload is now sealed under data key 2\. Retired data key 1\./);
  assert.ok(acknowledged.size >= 10);

  for (const [path, vs] of acknowledged) {
    const res = await fetch(`${server.url}/kv/${path}`, { headers: auth() });
    assert.equal(res.status, 200, `${path} is there`);
    assert.equal(res.headers.get("etag"), `"${vs}"`);
  }
  for await (const e of deno.list<{ n: number }>({ prefix: ["bulk"] })) assert.equal(e.versionstamp, before.get(e.value.n), `["bulk",${e.value.n}] keeps its versionstamp`);
  assert.equal(await (await fetch(`${CF}/values/cf`, { headers: auth() })).text(), "MARK-CF-VALUE", "the server reads what the CLI re-sealed");
  const db = new DatabaseSync(dbPath, { readOnly: true });
  const codes = db.prepare("SELECT DISTINCT encoding & 16 AS sealed FROM entries").all().map((r) => r.sealed);
  const keyring = JSON.parse(db.prepare("SELECT value FROM settings WHERE name = 'keyring'").get()!.value as string);
  db.close();
  assert.deepEqual(codes, [16], "every row sealed");
  assert.deepEqual([keyring.active, keyring.keys.map((k: { id: number }) => k.id)], [2, [2]]);
});

test("serve refuses a store its key cannot open, and a key file that holds no 256-bit key", async () => {
  const wrong = join(home, "wrong.key");
  writeFileSync(wrong, randomBytes(32).toString("base64"));
  const short = join(home, "short.key");
  writeFileSync(short, randomBytes(16).toString("base64"));
  const serve = (args: string[], extra: Record<string, string> = {}) => openkv(["serve", "--port", "0", "--data", dataDir, ...args], { cwd: home, env: { ...env, ...extra } });
  const none = await serve([]);
  assert.deepEqual([none.code, none.stderr], [1, `This store is encrypted: open it with its encryption key (--encryption-key-file PATH or OPENKV_ENCRYPTION_KEY; the key's fingerprint is ${keyFingerprint(key)})\n`]);
  const other = await serve(["--encryption-key-file", wrong]);
  assert.equal(other.code, 1);
  assert.match(other.stderr, new RegExp(`^The encryption key given \\(fingerprint [0-9a-f]{16}\\) does not open this store: its data key 2 is wrapped under the key with fingerprint ${keyFingerprint(key)}\n$`));
  const bad = await serve(["--encryption-key-file", short]);
  assert.deepEqual([bad.code, bad.stderr], [1, `--encryption-key-file ${short} holds a 128-bit key; OpenKV needs a 256-bit key (32 bytes) as base64, e.g. from \`openssl rand -base64 32\`\n`]);
  const env64 = await serve([], { OPENKV_ENCRYPTION_KEY: "not base64!" });
  assert.deepEqual([env64.code, env64.stderr], [1, "OPENKV_ENCRYPTION_KEY is not base64: it must hold a 256-bit key as base64, e.g. from `openssl rand -base64 32`\n"]);
  // In-process as well: startServer refuses before listening.
  await assert.rejects(startServer({ host: "127.0.0.1", port: 0, dataDir, adminToken: ADMIN }), { code: "encryption_key" });
});
