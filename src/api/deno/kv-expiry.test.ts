/** Expiry through the Deno API, on a manual clock: no sleeps. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { ManualClock } from "../../core/clock.ts";
import { Engine } from "../../core/engine.ts";
import { MemoryBackend } from "../../storage/index.ts";
import { KvU64, openKv } from "./index.ts";

async function setup() {
  const clock = new ManualClock();
  const engine = new Engine(new MemoryBackend(), { clock });
  const kv = await openKv(undefined, { engine });
  return {
    clock,
    engine,
    kv,
    [Symbol.asyncDispose]: async () => {
      await kv.close();
      await engine.close();
    },
  };
}

test("an entry is visible until expireIn has passed, then gone from get, getMany and list", async () => {
  await using t = await setup();
  const { kv, clock } = t;
  await kv.set(["e"], "v", { expireIn: 1000 });
  await kv.set(["k"], "kept");
  clock.advance(999);
  assert.equal((await kv.get(["e"])).value, "v");
  clock.advance(1);
  assert.deepEqual(await kv.get(["e"]), { key: ["e"], value: null, versionstamp: null });
  assert.deepEqual((await kv.getMany([["e"], ["k"]])).map((e) => e.value), [null, "kept"]);
  assert.deepEqual((await Array.fromAsync(kv.list({ prefix: [] }))).map((e) => e.key), [["k"]]);
});

test("atomic set with expireIn expires too; overwriting without expireIn keeps the entry", async () => {
  await using t = await setup();
  const { kv, clock } = t;
  await kv.atomic().set(["a"], 1, { expireIn: 100 }).mutate({ key: ["b"], type: "set", value: 2, expireIn: 100 }).commit();
  await kv.set(["c"], 3, { expireIn: 100 });
  await kv.set(["c"], 4);
  clock.advance(100);
  assert.deepEqual((await kv.getMany([["a"], ["b"], ["c"]])).map((e) => e.value), [null, null, 4]);
});

test("expireIn 0 expires at once", async () => {
  await using t = await setup();
  assert.ok((await t.kv.set(["z"], 1, { expireIn: 0 })).ok);
  assert.equal((await t.kv.get(["z"])).versionstamp, null);
});

test("an expired key counts as missing for checks and sums", async () => {
  await using t = await setup();
  const { kv, clock } = t;
  await kv.set(["n"], new KvU64(10n), { expireIn: 50 });
  const stale = await kv.get(["n"]);
  clock.advance(50);
  assert.deepEqual(await kv.atomic().check(stale).set(["x"], 1).commit(), { ok: false });
  assert.ok((await kv.atomic().check({ key: ["n"], versionstamp: null }).sum(["n"], 1n).commit()).ok);
  assert.deepEqual((await kv.get(["n"])).value, new KvU64(1n));
});

test("a versionstamped key with expireIn expires", async () => {
  await using t = await setup();
  const { kv, clock } = t;
  await kv.set(["log", kv.commitVersionstamp()], "line", { expireIn: 10 });
  assert.equal((await Array.fromAsync(kv.list({ prefix: ["log"] }))).length, 1);
  clock.advance(10);
  assert.equal((await Array.fromAsync(kv.list({ prefix: ["log"] }))).length, 0);
});

test("a watch reports the expiry once the engine purges", async () => {
  await using t = await setup();
  const { kv, clock, engine } = t;
  const r = await kv.set(["w"], "soon gone", { expireIn: 500 });
  const reader = kv.watch([["w"]]).getReader();
  assert.deepEqual((await reader.read()).value, [{ key: ["w"], value: "soon gone", versionstamp: r.versionstamp }]);
  clock.advance(500);
  await engine.tick();
  assert.deepEqual((await reader.read()).value, [{ key: ["w"], value: null, versionstamp: null }]);
  await reader.cancel();
});

test("expireIn is limited to what Deno can represent, measured from the engine clock", async () => {
  await using t = await setup();
  const { kv, clock } = t;
  const max = 8210266876799999 - clock.now();
  assert.ok((await kv.set(["e"], 1, { expireIn: max })).ok);
  await assert.rejects(kv.set(["e"], 1, { expireIn: max + 1 }), {
    name: "TypeError",
    message: `Invalid mutation: expireIn is too large: ${max + 1}`,
  });
});
