import { test } from "node:test";
import assert from "node:assert/strict";
import { KvError } from "../core/errors.ts";
import { RemoteTokens } from "./remote-tokens.ts";
import type { Principal } from "./token-set.ts";

const reader: Principal = { kind: "token", id: "t1", name: "r", namespaces: null, permission: "read", createdAt: 0 };

/** A core that knows `known` and counts how often it is asked. */
function fakeCore(known: Map<string, Principal>) {
  const calls: string[] = [];
  return { calls, ask: async (secret: string) => (calls.push(secret), known.get(secret) ?? null) };
}

test("answers from its cache for ttlMs, then asks the core again: a revocation bites within ttlMs", async () => {
  let now = 0;
  const known = new Map([["s", reader]]);
  const core = fakeCore(known);
  const tokens = new RemoteTokens(core.ask, { ttlMs: 1000, now: () => now });
  assert.equal(tokens.verify("s"), null, "nothing cached yet");
  assert.deepEqual(await tokens.recheck("s"), reader);
  now = 999;
  assert.deepEqual(tokens.verify("s"), reader);
  known.delete("s");
  assert.deepEqual(tokens.verify("s"), reader, "still within the second");
  now = 1000;
  assert.equal(tokens.verify("s"), null);
  assert.equal(await tokens.recheck("s"), null);
  assert.deepEqual(core.calls, ["s", "s"]);
  tokens.close();
});

test("unknown secrets are remembered for ttlMs; concurrent checks of one secret ask once", async () => {
  let now = 0;
  const core = fakeCore(new Map([["good", reader]]));
  const tokens = new RemoteTokens(core.ask, { ttlMs: 1000, now: () => now });
  await Promise.all([tokens.recheck("bad"), tokens.recheck("bad"), tokens.recheck("good"), tokens.recheck("good")]);
  assert.equal(await tokens.recheck("bad"), null);
  assert.deepEqual(core.calls.sort(), ["bad", "good"]);
  now = 1000;
  await tokens.recheck("bad");
  assert.deepEqual(core.calls.sort(), ["bad", "bad", "good"]);
  tokens.close();
});

test("tokens are managed on the core only", async () => {
  const tokens = new RemoteTokens(async () => null);
  await assert.rejects(tokens.create({ name: "x", namespaces: null, permission: "read" }, 0), /created and revoked on the core/);
  await assert.rejects(tokens.revoke("x"), /created and revoked on the core/);
  assert.deepEqual(tokens.list(), []);
  tokens.close();
});

test("while the core is unreachable, a secret it accepted within staleMs still stands; unknown ones and older ones do not", async () => {
  let now = 0;
  let down = false;
  const known = new Map([["s", reader]]);
  const ask = async (secret: string) => {
    if (down) throw new KvError("unavailable", "The core is unavailable");
    return known.get(secret) ?? null;
  };
  const tokens = new RemoteTokens(ask, { ttlMs: 1000, staleMs: 60_000, now: () => now });
  assert.deepEqual(await tokens.recheck("s"), reader);
  assert.equal(await tokens.recheck("nobody"), null);
  down = true;
  now = 59_999;
  assert.equal(tokens.verify("s"), null, "past ttlMs the cache alone does not answer");
  assert.deepEqual(await tokens.recheck("s"), reader, "the core cannot be asked: the recent answer stands");
  await assert.rejects(tokens.recheck("nobody"), /unavailable/, "an unknown secret is not let in");
  await assert.rejects(tokens.recheck("never-seen"), /unavailable/);
  now = 60_000;
  await assert.rejects(tokens.recheck("s"), /unavailable/, "older than staleMs: refused");
  // Back up: the core's answer counts again, revocations included.
  down = false;
  known.delete("s");
  assert.equal(await tokens.recheck("s"), null);
  tokens.close();
});
