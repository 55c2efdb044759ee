/**
 * Tokens in a shared store's settings: several StoreTokens on one store (as several servers would be)
 * see each other's changes, lose none when they change at once, never act on a stale read, and agree on
 * one account id and one admin token. The store is the real in-memory backend; PostgreSQL runs the same
 * code end to end in test/e2e/store-tokens.test.ts.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Backend } from "../core/backend.ts";
import { MemoryBackend } from "../storage/index.ts";
import { ACCOUNT_ID_SETTING, ADMIN_TOKEN_SETTING, StoreTokens, TOKENS_SETTING, storeAccountId, storeAdminToken } from "./store-tokens.ts";
import { sha256 } from "./token-set.ts";

/** A backend method that runs on the backend itself, not on a proxy around it (its fields are private). */
function bound(target: MemoryBackend, prop: string | symbol): unknown {
  const value = Reflect.get(target, prop) as unknown;
  return typeof value === "function" ? value.bind(target) : value;
}

const names = (s: StoreTokens) => s.list().map((t) => t.name).sort();

test("a token created through one server works on another at its first request; a revocation reaches the other", async () => {
  const store = new MemoryBackend();
  const a = await StoreTokens.open(store);
  const b = await StoreTokens.open(store);
  const { token, record } = await a.create({ name: "ci", namespaces: ["ns1"], permission: "read" }, 1000);
  assert.equal(b.verify(token), null, "b has not read the store since");
  assert.deepEqual(await b.recheck(token), { kind: "token", ...record }, "a miss reads the store at once");
  assert.deepEqual(b.verify(token), { kind: "token", ...record }, "and then the hit path knows it");

  let ended = 0;
  a.onRevoked(record.id, () => ended++);
  assert.deepEqual(await b.revoke(record.id), record);
  assert.equal(b.verify(token), null, "the server that revoked refuses at once");
  assert.deepEqual(a.verify(token), { kind: "token", ...record }, "the other until it reads the store");
  assert.equal(await a.refresh(), true);
  assert.equal(a.verify(token), null);
  assert.equal(ended, 1, "streams opened with the token on the other server end");
  assert.equal(await a.refresh(), false, "an unchanged setting changes nothing");
  assert.equal(await b.revoke(record.id), null, "a second revoke finds nothing");
  assert.equal(await store.getSetting(TOKENS_SETTING), "[]");
});

test("changes made at once through stale copies all land (compare-and-set, retried)", async () => {
  const store = new MemoryBackend();
  const nodes = await Promise.all([1, 2, 3].map(() => StoreTokens.open(store)));
  const perNode = 20;
  await Promise.all(
    nodes.map(async (n, i) => {
      for (let j = 0; j < perNode; j++) await n.create({ name: `n${i}-${j}`, namespaces: null, permission: "read" }, j);
    }),
  );
  const stored = JSON.parse((await store.getSetting(TOKENS_SETTING))!) as { name: string }[];
  assert.equal(new Set(stored.map((r) => r.name)).size, 3 * perNode, `tokens lost: ${stored.map((r) => r.name).join(" ")}`);
  // Revoking through a node that never read the others' tokens removes exactly those.
  const gone = stored.filter((r) => r.name.startsWith("n0-")) as unknown as { id: string }[];
  await Promise.all(gone.map((r) => nodes[2]!.revoke(r.id)));
  await nodes[1]!.refresh();
  assert.equal(nodes[1]!.list().length, 2 * perNode);
  assert.ok(names(nodes[1]!).every((n) => !n.startsWith("n0-")));
});

test("a read that started before a change of this server never brings back what it removed", async () => {
  const real = new MemoryBackend();
  // The next reads get the value as it was when asked, but are answered only when `release` is called.
  let holdNext = 0;
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const store = new Proxy(real, {
    get(target, prop) {
      if (prop !== "getSetting") return bound(target, prop);
      return async (name: string) => {
        const value = await target.getSetting(name);
        if (holdNext > 0) {
          holdNext--;
          await gate;
        }
        return value;
      };
    },
  }) as Backend;
  const node = await StoreTokens.open(store);
  const { token, record } = await node.create({ name: "short-lived", namespaces: null, permission: "write" }, 1);
  const other = await StoreTokens.open(real);
  await other.create({ name: "made-elsewhere", namespaces: null, permission: "read" }, 2);

  holdNext = 2; // the tokens and the admin hash of the next refresh
  const slow = node.refresh();
  await node.revoke(record.id);
  assert.equal(node.verify(token), null);
  release();
  assert.equal(await slow, false, "the slow read is dropped");
  assert.equal(node.verify(token), null, "the revoked token stays refused");
  assert.deepEqual(names(node), ["made-elsewhere"], "the revoke itself took the others' changes");
  assert.equal(await node.refresh(), false);
});

test("a setting that cannot be read keeps the tokens read before, said once, and is never overwritten", async () => {
  const store = new MemoryBackend();
  const lines: string[] = [];
  const node = await StoreTokens.open(store, { log: (l) => lines.push(l) });
  const { token } = await node.create({ name: "kept", namespaces: null, permission: "write" }, 1);
  const good = (await store.getSetting(TOKENS_SETTING))!;
  assert.equal(await store.putSetting(TOKENS_SETTING, good.slice(0, 30), good), true);
  assert.equal(await node.refresh(), false);
  assert.equal(await node.refresh(), false);
  assert.equal(node.verify(token)?.kind, "token", "the old set still answers");
  assert.deepEqual(lines, [`openkv: The store's "tokens" setting is not valid JSON (${jsonError(good.slice(0, 30))}); keeping the 1 tokens read before.`]);
  await assert.rejects(node.create({ name: "lost?", namespaces: null, permission: "read" }, 2), { message: /^The store's "tokens" setting is not valid JSON/ });
  assert.equal(await store.getSetting(TOKENS_SETTING), good.slice(0, 30), "left for a person to fix");

  assert.equal(await store.putSetting(TOKENS_SETTING, "[]", good.slice(0, 30)), true);
  assert.equal(await node.refresh(), true);
  assert.equal(node.verify(token), null);
  assert.equal(lines[1], "openkv: the store's tokens are readable again (0 tokens).");
  await assert.rejects(StoreTokens.open(withSetting(TOKENS_SETTING, '{"id": 1}')), { message: `The store's "tokens" setting must hold a JSON array of token records` });
});

function jsonError(text: string): string {
  try {
    JSON.parse(text);
  } catch (e) {
    return (e as Error).message;
  }
  return "";
}

function withSetting(name: string, value: string): Backend {
  const b = new MemoryBackend();
  void b.putSetting(name, value, null);
  return b;
}

test("unknown secrets share one read per 50 ms, each read started after the misses it answers", async () => {
  const real = new MemoryBackend();
  let reads = 0;
  const store = new Proxy(real, {
    get(target, prop) {
      if (prop !== "getSetting") return bound(target, prop);
      return (name: string) => {
        if (name === TOKENS_SETTING) reads++;
        return target.getSetting(name);
      };
    },
  }) as Backend;
  const node = await StoreTokens.open(store);
  const maker = await StoreTokens.open(real);
  reads = 0;
  const bad = await Promise.all(Array.from({ length: 200 }, (_, i) => node.recheck(`okv_never_issued_${i}`)));
  assert.ok(bad.every((p) => p === null));
  assert.equal(reads, 1, "200 misses at once cost one read");

  // A token made after that read is found by the next one, which waits out the 50 ms.
  const { token, record } = await maker.create({ name: "fresh", namespaces: null, permission: "read" }, 1);
  const started = performance.now();
  assert.deepEqual(await node.recheck(token), { kind: "token", ...record });
  assert.equal(reads, 2);
  // Bounded by the 50 ms spacing, not by some longer wait (10 s: room for a stalled machine).
  assert.ok(performance.now() - started < 10_000);
});

test("servers starting together agree on one account id and one admin token, generated once", async () => {
  const store = new MemoryBackend();
  const ids = await Promise.all([1, 2, 3, 4].map(() => storeAccountId(store)));
  assert.equal(new Set(ids).size, 1);
  assert.match(ids[0]!, /^[0-9a-f]{32}$/);
  assert.equal(await storeAccountId(store, ids[0]), ids[0]);
  await assert.rejects(storeAccountId(store, "0".repeat(32)), {
    message: `This store's account id is ${ids[0]}, not ${"0".repeat(32)}: every server on a store answers to the same account id. Pass --account-id ${ids[0]}, or leave it out.`,
  });
  assert.equal(await storeAccountId(withSetting(ACCOUNT_ID_SETTING, "x"), undefined).catch((e: Error) => e.message), `The store's account id "x" is not 32 lowercase hex characters`);

  const admins = await Promise.all([1, 2, 3, 4].map(() => storeAdminToken(store)));
  const generated = admins.map((a) => a.generated).filter((g) => g !== null);
  assert.equal(generated.length, 1, "exactly one server generates (and prints) it");
  assert.equal(await store.getSetting(ADMIN_TOKEN_SETTING), sha256(generated[0]!).toString("hex"), "the store keeps only its hash");
  const node = await StoreTokens.open(store);
  assert.deepEqual(node.verify(generated[0]!), { kind: "admin" });

  // An explicit one replaces it, for every server once they read the store.
  assert.deepEqual(await storeAdminToken(store, "okv_chosen"), { generated: null, replaced: true });
  assert.deepEqual(await storeAdminToken(store, "okv_chosen"), { generated: null, replaced: false }, "the same one again changes nothing");
  assert.equal(await node.refresh(), true);
  assert.equal(node.verify(generated[0]!), null);
  assert.deepEqual(node.verify("okv_chosen"), { kind: "admin" });
  assert.deepEqual(await storeAdminToken(store), { generated: null, replaced: false }, "a server without one accepts the store's");
  await assert.rejects(storeAdminToken(withSetting(ADMIN_TOKEN_SETTING, "plaintext?")), /The store's admin token hash is damaged/);
});
