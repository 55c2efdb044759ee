import { after, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Engine } from "../../core/engine.ts";
import { MemoryBackend } from "../../storage/index.ts";
import { Kv, KvU64, openKv } from "./index.ts";

const dir = mkdtempSync(join(tmpdir(), "openkv-deno-open-"));
after(() => rmSync(dir, { recursive: true, force: true }));

test("data written through openKv(path) is there after reopening", async () => {
  const path = join(dir, "data.sqlite");
  const kv1 = await openKv(path);
  const r = await kv1.set(["users", 1], { name: "Ada", tags: new Set(["x"]) });
  await kv1.set(["count"], new KvU64(3n));
  await kv1.close();
  const kv2 = await openKv(path);
  assert.deepEqual(await kv2.get(["users", 1]), { key: ["users", 1], value: { name: "Ada", tags: new Set(["x"]) }, versionstamp: r.versionstamp });
  assert.deepEqual((await kv2.get(["count"])).value, new KvU64(3n));
  const r2 = await kv2.set(["users", 2], 1);
  assert.ok(r2.versionstamp > r.versionstamp, "versionstamps keep growing across reopen");
  await kv2.close();
});

test("namespaces are separate databases in one store", async () => {
  const engine = new Engine(new MemoryBackend());
  const a = await openKv(undefined, { engine, namespace: "a" });
  const b = await openKv(undefined, { engine, namespace: "b" });
  await a.set(["k"], "in a");
  assert.equal((await b.get(["k"])).value, null);
  assert.equal((await a.get(["k"])).value, "in a");
  assert.equal(a.namespace.title, "a");
  const again = await openKv(undefined, { engine, namespace: "a" });
  assert.equal((await again.get(["k"])).value, "in a");
  await Promise.all([a.close(), b.close(), again.close()]);
  assert.equal(engine.closed, false);
  await engine.close();
});

test("Deno's filename rule: a path may not start with ':' other than ':memory:'", async () => {
  await assert.rejects(openKv(":foo"), { name: "TypeError", message: "Filename cannot start with ':' unless prefixed with './'" });
});

test("Kv cannot be constructed directly", () => {
  assert.throws(() => new Kv(Symbol("nope"), undefined as never), {
    name: "TypeError",
    message: "Deno.Kv can not be constructed: use Deno.openKv instead",
  });
});

test("await using closes the handle and its engine", async () => {
  let kv: Kv;
  {
    await using opened = await openKv(":memory:");
    kv = opened;
    await opened.set(["a"], 1);
  }
  await assert.rejects(kv.get(["a"]), { name: "BadResource", message: "Bad resource ID" });
});

test("a handle on a shared engine fails with BadResource once the engine is closed", async () => {
  const engine = new Engine(new MemoryBackend());
  const kv = await openKv(undefined, { engine });
  await engine.close();
  await assert.rejects(kv.set(["a"], 1), { name: "BadResource" });
  assert.throws(() => kv.watch([["a"]]), { name: "BadResource" });
});

test("the generic signatures type results like Deno's", async () => {
  await using kv = await openKv(":memory:");
  await kv.atomic().set(["s"], "text").set(["n"], 1).commit();
  const one = await kv.get<string>(["s"]);
  const text: string | null = one.value;
  const [s, n] = await kv.getMany<[string, number]>([["s"], ["n"]]);
  const pair: [string | null, number | null] = [s.value, n.value];
  assert.deepEqual([text, ...pair], ["text", "text", 1]);
  for await (const e of kv.list<number>({ prefix: [] }, { limit: 1 })) {
    const v: number = e.value;
    assert.equal(typeof v, "number");
  }
  const reader = kv.watch<[string]>([["s"]]).getReader();
  const first = await reader.read();
  const watched: string | null | undefined = first.value?.[0].value;
  assert.equal(watched, "text");
  await reader.cancel();
});
