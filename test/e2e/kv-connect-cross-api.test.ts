/**
 * Values cross between APIs through KV Connect: what the real Deno writes over the wire (strings, numbers,
 * objects, Uint8Array, KvU64 — V8 format 16 from Deno 2.9) reads correctly through the embedded Workers
 * binding and through /ns/{namespace}/kv/…, and what those write reads correctly in Deno.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { workersNamespace } from "../../src/api/workers/kv-namespace.ts";
import { denoBin, haveDeno } from "./kv-connect-compare.ts";
import { ADMIN, auth, startTestServer } from "./harness.ts";

const server = await startTestServer();
const script = fileURLToPath(new URL("../deno/cross-api.deno.ts", import.meta.url));
const url = `${server.url}/kv-connect/cross`;

function deno(...args: string[]): Promise<unknown> {
  const host = new URL(server.url).host;
  return new Promise((resolve, reject) => {
    execFile(
      denoBin,
      ["run", "--unstable-kv", `--allow-net=${host}`, "--allow-env=DENO_KV_ACCESS_TOKEN", script, ...args],
      { timeout: 60_000, env: { ...process.env, NO_COLOR: "1", DENO_KV_ACCESS_TOKEN: ADMIN } },
      (error, stdout, stderr) => (error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(JSON.parse(stdout))),
    );
  });
}

const rest = async (path: string) => ((await (await fetch(`${server.url}/ns/cross/kv/${path}`, { headers: auth() })).json()) as { value: unknown }).value;

test("what Deno writes over KV Connect reads the same through the Workers binding and /kv", { skip: haveDeno ? false : "no deno binary" }, async () => {
  await deno("write", url);
  const ns = await server.engine.getNamespace("cross");
  const kv = workersNamespace(server.engine, ns.id);
  assert.equal(await kv.get("str"), "hello from deno");
  assert.equal(await kv.get("num", "json"), 42.5);
  assert.deepEqual(await kv.get("obj", "json"), { a: 1, b: [true, null, "x"] });
  assert.deepEqual([...new Uint8Array((await kv.get("bytes", "arrayBuffer"))!)], [1, 2, 3, 250]);
  assert.equal(await kv.get("u64"), "7");

  assert.equal(await rest("str"), "hello from deno");
  assert.equal(await rest("num"), 42.5);
  assert.deepEqual(await rest("obj"), { a: 1, b: [true, null, "x"] });
  assert.deepEqual(await rest("bytes"), [1, 2, 3, 250]);
  assert.equal(await rest("u64"), "7");
});

test("what the Workers binding and /kv write reads the same in Deno over KV Connect", { skip: haveDeno ? false : "no deno binary" }, async () => {
  const ns = await server.engine.ensureNamespace("cross");
  const kv = workersNamespace(server.engine, ns.id);
  await kv.put("w-str", "text from workers");
  await kv.put("w-bytes", new Uint8Array([9, 8, 7]));
  await kv.put("w-json", JSON.stringify({ j: 1 }));
  const put = (path: string, value: unknown) =>
    fetch(`${server.url}/ns/cross/kv/${path}`, { method: "PUT", headers: { ...auth(), "content-type": "application/json" }, body: JSON.stringify({ value }) });
  assert.equal((await put("r-obj", { x: [1, "two"] })).status, 200);
  assert.equal((await put("r-num", 5)).status, 200);
  assert.equal((await put("r-str", "text from rest")).status, 200);
  assert.deepEqual(await deno("read", url, "w-str", "w-bytes", "w-json", "r-obj", "r-num", "r-str"), {
    "w-str": "text from workers",
    "w-bytes": { bytes: [9, 8, 7] },
    "w-json": '{"j":1}',
    "r-obj": { x: [1, "two"] },
    "r-num": 5,
    "r-str": "text from rest",
  });
});
