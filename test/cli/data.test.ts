/**
 * Moving data in and out with the real `openkv` binary: export → import round trips every value
 * encoding, metadata and expiry exactly; a backup taken under a concurrent write load restores to a
 * consistent store; a Deno KV file written by the real deno binary and wrangler's local state written
 * by the real wrangler import as those tools show them.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { KvU64, openKv } from "../../src/index.ts";
import { workersNamespace } from "../../src/api/workers/index.ts";
import { Engine } from "../../src/core/engine.ts";
import { encodeKey } from "../../src/core/keys.ts";
import { STORE_ID_SETTING, storeId } from "../../src/core/store-id.ts";
import type { Entry } from "../../src/core/types.ts";
import { openBackend } from "../../src/storage/index.ts";
import { startTestServer } from "../e2e/harness.ts";
import { cleanEnv, DENO, exec, jsonOf, openkv, tempDir, wrangler } from "./helpers.ts";

const ALL = { start: new Uint8Array(0), end: Uint8Array.of(0xff) };

function openStore(dir: string): Engine {
  return new Engine(openBackend(join(dir, "openkv.sqlite")));
}

/** Every entry of every namespace, by namespace title, without versionstamps (an import issues new ones). */
async function snapshot(dir: string): Promise<Record<string, Omit<Entry, "versionstamp">[]>> {
  const engine = openStore(dir);
  try {
    const out: Record<string, Omit<Entry, "versionstamp">[]> = {};
    for (const ns of await engine.listNamespaces()) {
      const [rows] = await engine.read(ns.id, [{ ...ALL, limit: 100_000 }]);
      out[`${ns.title} ${ns.id}`] = rows!.map(({ versionstamp: _v, ...e }) => ({ ...e, key: Buffer.from(e.key), data: Buffer.from(e.data) }));
    }
    return out;
  } finally {
    await engine.close();
  }
}

test("export → import into an empty store gives identical entries: every encoding, metadata, expiry, Deno keys", { timeout: 60_000 }, async () => {
  const dir = tempDir("roundtrip");
  const source = join(dir, "a");
  const engine = openStore(source);
  await engine.ensureNamespace("default");
  const alpha = await engine.createNamespace("alpha");
  const kv = await openKv(undefined, { engine, namespace: alpha.id });
  await kv.set(["text"], "héllo ✓");
  await kv.set(["object"], { a: 1, big: 2n, date: new Date(0), map: new Map([[1, "x"]]), set: new Set(["s"]), nested: [null, undefined, -0, NaN] });
  await kv.set(["bytes"], new Uint8Array([0, 1, 254, 255]));
  await kv.set(["u64"], new KvU64(18446744073709551615n));
  await kv.set(["number"], 3.5);
  await kv.set([1, true, 3n, new Uint8Array([9]), "tuple"], "a Deno key no Workers listing shows");
  await kv.set(["expiring"], "later", { expireIn: 3_600_000 });
  const workers = workersNamespace(engine, alpha.id);
  await workers.put("w:text", "from workers", { metadata: { owner: "ada", tags: ["x"] }, expirationTtl: 7200 });
  await workers.put("w:bytes", new Uint8Array([1, 2, 3]).buffer);
  await workers.put("w:\u0000nul", "a key with a NUL");
  const beta = await engine.createNamespace("beta");
  await workersNamespace(engine, beta.id).put("only-in-beta", "b");
  kv.close();
  await engine.close();

  const env = cleanEnv(dir);
  const exported = await openkv(["export", "--persist-to", "a", "--output", "dump.ndjson"], { cwd: dir, env });
  assert.equal(exported.code, 0, exported.stderr);
  assert.equal(exported.stdout, "", "with --output, stdout stays empty");
  assert.match(exported.stderr, /^Resource location: local \(\.\/a\)\n/);
  assert.match(exported.stderr, /Exported 11 entries of 3 namespaces from local \(\.\/a\) to dump\.ndjson\./);
  const lines = readFileSync(join(dir, "dump.ndjson"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(lines.filter((l) => "namespace" in l).map((l) => (l.namespace as { title: string }).title), ["default", "alpha", "beta"]);
  const byName = new Map(lines.filter((l) => "name" in l).map((l) => [l.name, l]));
  assert.deepEqual(byName.get("w:text")!.metadata, { owner: "ada", tags: ["x"] });
  assert.equal(byName.get("u64")!.encoding, "le64");
  assert.equal(byName.get("bytes")!.encoding, "bytes");
  assert.equal(byName.get("bytes")!.value, Buffer.from([0, 1, 254, 255]).toString("base64"));
  assert.ok(typeof byName.get("expiring")!.expiration_ms === "number");
  assert.match(byName.get("text")!.versionstamp as string, /^[0-9a-f]{20}$/);
  assert.ok(lines.some((l) => "key" in l && !("name" in l)), "the tuple key has no Workers name but is exported");

  const imported = await openkv(["import", "dump.ndjson", "--persist-to", "b"], { cwd: dir, env });
  assert.equal(imported.code, 0, imported.stderr);
  assert.match(imported.stdout, /Resource location: local \(\.\/b\)/);
  assert.match(imported.stdout, /✨ Imported 11 entries into 2 namespaces: alpha \(id: [0-9a-f]{32}\), beta/);

  const [before, after] = [await snapshot(source), await snapshot(join(dir, "b"))];
  // `default` exists in both stores with different ids (each store makes its own); alpha and beta keep theirs.
  const strip = (s: typeof before) => Object.fromEntries(Object.entries(s).map(([k, v]) => [k.startsWith("default ") ? "default" : k, v]));
  assert.deepEqual(strip(after), strip(before));

  // One namespace to stdout, into a namespace of another id (created with that id).
  const one = await openkv(["export", "--persist-to", "a", "--namespace-id", alpha.id], { cwd: dir, env });
  assert.equal(one.code, 0, one.stderr);
  assert.ok(!one.stdout.includes('"namespace"'), "a single-namespace export has no namespace lines");
  writeFileSync(join(dir, "alpha.ndjson"), one.stdout);
  const target = "0123456789abcdef0123456789abcdef";
  const into = await openkv(["import", "alpha.ndjson", "--persist-to", "c", "--namespace-id", target], { cwd: dir, env });
  assert.equal(into.code, 0, into.stderr);
  const c = await snapshot(join(dir, "c"));
  assert.deepEqual(c[`${target} ${target}`], before[`alpha ${alpha.id}`]);
});

test("backup during a concurrent write load restores to a consistent store; restore refuses a non-empty store without --force", { timeout: 120_000 }, async () => {
  const server = await startTestServer({ persistent: true });
  const dir = server.dir!;
  const work = tempDir("backup");
  const engine = server.engine;
  const ns = await engine.createNamespace("load");
  const kv = await openKv(undefined, { engine, namespace: ns.id });
  // Each write adds ["item", w, i] and sets ["count", w] = i in one atomic operation.
  let stop = false;
  const writers = [0, 1, 2, 3].map(async (w) => {
    let i = 0;
    while (!stop) {
      i++;
      const res = await kv.atomic().set(["item", w, i], "x".repeat(200)).set(["count", w], i).commit();
      assert.ok(res.ok);
    }
    return i;
  });
  while ((await kv.get<number>(["count", 0])).value! < 200) await new Promise((r) => setImmediate(r));
  const env = cleanEnv(work);
  const sourceId = await storeId(engine.backend);
  const backup = await openkv(["backup", "snap.sqlite", "--persist-to", dir], { cwd: work, env });
  stop = true;
  const totals = await Promise.all(writers);
  assert.equal(backup.code, 0, backup.stderr);
  assert.match(backup.stdout, /✨ Backed up .* \(2 namespaces, \d[\d,]* entries\) to snap\.sqlite\./);

  const restored = await openkv(["restore", "snap.sqlite", "--persist-to", "fresh"], { cwd: work, env });
  assert.equal(restored.code, 0, restored.stderr);
  const copy = openStore(join(work, "fresh"));
  try {
    const copyNs = (await copy.findNamespace("load"))!;
    assert.equal(copyNs.id, ns.id, "namespaces keep their ids");
    // A restored store is a new store to edges' cache files: it gets an id of its own.
    assert.equal(await copy.backend.getSetting(STORE_ID_SETTING), null);
    assert.notEqual(await storeId(copy.backend), sourceId);
    const copyKv = await openKv(undefined, { engine: copy, namespace: ns.id });
    let seen = 0;
    for (const w of [0, 1, 2, 3]) {
      const count = (await copyKv.get<number>(["count", w])).value ?? 0;
      let items = 0;
      let last = 0;
      for await (const e of copyKv.list({ prefix: ["item", w] })) {
        items++;
        last = Number(e.key[2]);
      }
      assert.equal(items, count, `writer ${w}: every item up to the count, and no more`);
      assert.equal(last, count);
      assert.ok(count <= totals[w]!);
      seen += count;
    }
    assert.ok(seen >= 200, "the backup holds the writes made before it");
    copyKv.close();
  } finally {
    await copy.close();
  }

  const again = await openkv(["restore", "snap.sqlite", "--persist-to", "fresh"], { cwd: work, env });
  assert.equal(again.code, 1);
  assert.match(again.stderr, /✘ \[ERROR\] The store in \.\/fresh is not empty \(2 namespaces, [\d,]+ entries\): restoring would replace it\./);
  const forced = await openkv(["restore", "snap.sqlite", "--persist-to", "fresh", "--force"], { cwd: work, env });
  assert.equal(forced.code, 0, forced.stderr);
  const exists = await openkv(["backup", "snap.sqlite", "--persist-to", dir], { cwd: work, env });
  assert.equal(exists.code, 1);
  assert.match(exists.stderr, /snap\.sqlite already exists: pass --force to overwrite it\./);
  const remote = await openkv(["export", "--remote"], { cwd: work, env: { ...env, OPENKV_URL: server.url, OPENKV_TOKEN: "x" } });
  assert.equal(remote.code, 1);
  assert.match(remote.stderr, /`openkv export` works on a data directory, not over the network/);
  kv.close();
});

/** The same listing in deno and in node: every entry as [key, tagged value, expiry?]. */
const LIST_SCRIPT = `
const tag = (v) => v instanceof Uint8Array ? { bytes: Array.from(v) }
  : typeof v === "bigint" ? { bigint: String(v) }
  : v instanceof Date ? { date: v.toISOString() }
  : v instanceof Map ? { map: [...v].map(([k, x]) => [tag(k), tag(x)]) }
  : v instanceof Set ? { set: [...v].map(tag) }
  : v && typeof v === "object" && v.constructor && v.constructor.name === "KvU64" ? { u64: String(v.value) }
  : Array.isArray(v) ? v.map(tag)
  : v && typeof v === "object" ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, tag(x)]))
  : v;
const listAll = async (kv) => { const out = []; for await (const e of kv.list({ prefix: [] })) out.push([tag(e.key), tag(e.value)]); return out; };
`;

test("importing a Deno KV file written by the real deno binary yields the entries deno reads from it", { timeout: 60_000 }, async () => {
  const dir = tempDir("deno-import");
  writeFileSync(
    join(dir, "write.ts"),
    `${LIST_SCRIPT}
const kv = await Deno.openKv("./deno.sqlite");
await kv.set(["users", "ada"], { name: "Ada", visits: 3n, joined: new Date(0), roles: new Set(["admin"]), prefs: new Map([["theme", "dark"]]) });
await kv.set(["bytes"], new Uint8Array([0, 1, 255]));
await kv.set(["counter"], new Deno.KvU64(42n));
await kv.set(["text"], "hello ✓");
await kv.set([1, true, 2n, new Uint8Array([9])], "mixed key");
await kv.set(["soon"], "expires", { expireIn: 3_600_000 });
await kv.atomic().sum(["visits"], 5n).commit();
console.log(JSON.stringify(await listAll(kv)));
kv.close();
`,
  );
  const env = cleanEnv(dir, { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" });
  const deno = await exec(DENO, ["run", "--unstable-kv", "--allow-read", "--allow-write", "write.ts"], { cwd: dir, env });
  assert.equal(deno.code, 0, deno.stderr);
  const denoSees = JSON.parse(deno.stdout) as unknown[];
  assert.equal(denoSees.length, 7);
  // An entry that has expired (Deno cannot write one with a past expiry: age a copy of ["soon"]) is not imported.
  const db = new DatabaseSync(join(dir, "deno.sqlite"));
  db.prepare("INSERT INTO kv (k, v, v_encoding, version, seq, expiration_ms) SELECT ?, v, v_encoding, version, seq, 1000 FROM kv WHERE k = ?").run(
    encodeKey(["gone"]),
    encodeKey(["soon"]),
  );
  db.close();

  const imported = await openkv(["import", "deno.sqlite"], { cwd: dir, env });
  assert.equal(imported.code, 0, imported.stderr);
  assert.match(imported.stdout, /Importing Deno KV SQLite file deno\.sqlite\./);
  assert.match(imported.stdout, /✨ Imported 7 entries into namespace default/);

  const kv = await openKv(join(dir, ".openkv/openkv.sqlite"));
  const listAll = new Function(`${LIST_SCRIPT}; return listAll;`)() as (kv: unknown) => Promise<unknown[]>;
  assert.deepEqual(await listAll(kv), denoSees);
  kv.close();
});

test("importing wrangler's local state (real wrangler kv key put / bulk put --local) yields what wrangler lists and reads", { timeout: 240_000 }, async () => {
  const project = tempDir("wrangler-state");
  writeFileSync(join(project, "wrangler.toml"), 'name = "w"\n\n[[kv_namespaces]]\nbinding = "CACHE"\nid = "0123456789abcdef0123456789abcd01"\n');
  writeFileSync(join(project, "bin.dat"), Buffer.from([0, 1, 2, 0xff]));
  writeFileSync(
    join(project, "bulk.json"),
    JSON.stringify([
      { key: "bulk:1", value: "one" },
      { key: "bulk:2", value: "two", expiration_ttl: 7200, metadata: { n: 2 } },
      { key: "bulk:3", value: "dGhyZWU=", base64: true },
    ]),
  );
  const env = cleanEnv(project, { CI: "true", WRANGLER_SEND_METRICS: "false" });
  const w = (args: string[]) => wrangler(args, { cwd: project, env });
  const other = "fedcba9876543210fedcba9876543210";
  for (const args of [
    ["kv", "key", "put", "text", "hello", "--binding", "CACHE", "--local", "--metadata", '{"m":1}', "--ttl", "3600"],
    ["kv", "key", "put", "bin", "--path", "bin.dat", "--binding", "CACHE", "--local"],
    ["kv", "bulk", "put", "bulk.json", "--binding", "CACHE", "--local"],
    ["kv", "key", "put", "elsewhere", "x", "--namespace-id", other, "--local"],
  ]) {
    const r = await w(args);
    assert.equal(r.code, 0, `wrangler ${args.join(" ")}\n${r.stdout}\n${r.stderr}`);
  }
  const theirList = jsonOf((await w(["kv", "key", "list", "--binding", "CACHE", "--local"])).stdout);
  const theirOther = jsonOf((await w(["kv", "key", "list", "--namespace-id", other, "--local"])).stdout);

  const imported = await openkv(["import", "."], { cwd: project, env });
  assert.equal(imported.code, 0, imported.stderr);
  assert.match(imported.stdout, /Importing wrangler local state \.\./);
  assert.match(imported.stdout, /✨ Imported 6 entries into 2 namespaces/);

  const ourList = await openkv(["kv", "key", "list", "--binding", "CACHE"], { cwd: project, env });
  assert.equal(ourList.code, 0, ourList.stderr);
  assert.deepEqual(JSON.parse(ourList.stdout), theirList);
  assert.deepEqual(JSON.parse((await openkv(["kv", "key", "list", "--namespace-id", other], { cwd: project, env })).stdout), theirOther);
  for (const key of ["text", "bin", "bulk:1", "bulk:2", "bulk:3"]) {
    const [theirs, ours] = await Promise.all([w(["kv", "key", "get", key, "--binding", "CACHE", "--local"]), openkv(["kv", "key", "get", key, "--binding", "CACHE"], { cwd: project, env })]);
    assert.deepEqual(ours.bytes, theirs.bytes, `value of ${key}`);
  }
});

test("import checks each entry with the engine's rules: bad ones are named and skipped, the rest land, the exit code says so", async () => {
  const dir = tempDir("import-invalid");
  const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64");
  const lines = [
    { name: "good", key: b64(encodeKey(["good"])), encoding: "bytes", value: b64(new Uint8Array([1, 2])) },
    { name: "bad-v8", key: b64(encodeKey(["bad-v8"])), encoding: "v8", value: b64(new Uint8Array([0xff, 0x0f, 0x6f])) },
    { key: b64(encodeKey(["far", 1])), encoding: "bytes", value: "AA==", expiration_ms: 2 ** 62 },
    { name: "good-2", key: b64(encodeKey(["good-2"])), encoding: "le64", value: b64(new Uint8Array(8)) },
  ];
  writeFileSync(join(dir, "dump.ndjson"), lines.map((l) => JSON.stringify(l)).join("\n") + "\n");
  const run = await openkv(["import", "dump.ndjson", "--persist-to", "a"], { cwd: dir, env: cleanEnv(dir) });
  assert.equal(run.code, 1);
  assert.match(run.stderr, /Skipped entry "bad-v8": The value is not valid V8 serialized data: /);
  assert.match(run.stderr, /Skipped entry \["far",1\]: Invalid expiration 4611686018427388000: /);
  assert.match(run.stderr, /2 entries could not be stored \(listed above\): fix them in dump\.ndjson and import it again\./);
  assert.match(run.stdout + run.stderr, /Imported 2 entries into namespace default/);
  const engine = openStore(join(dir, "a"));
  try {
    const ns = await engine.getNamespace("default");
    const [rows] = await engine.read(ns.id, [{ ...ALL, limit: 10 }]);
    assert.deepEqual(rows!.map((e) => e.encoding), ["bytes", "le64"]);
  } finally {
    await engine.close();
  }
});
