/**
 * The Deno KV conformance suite (test/conformance/deno-kv.case.ts) against OpenKV's own `openKv`, on
 * the memory backend (plain and encrypted at rest), on SQLite files and on a real PostgreSQL. test/deno-kv-real.test.ts checks
 * the same cases against the real Deno.
 */
import { after, describe, test } from "node:test";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AtomicOperation, KvU64, openKv } from "../src/api/deno/index.ts";
import { defineDenoKvSuite, type KvLike, type SuiteEnv } from "./conformance/deno-kv.case.ts";
import { freshStoreUrl } from "./fixtures/postgres.ts";

const quiet = { onQueueHandlerError: () => {} };

function env(open: () => Promise<unknown>): SuiteEnv {
  return { open: async () => (await open()) as KvLike, KvU64, AtomicOperation };
}

describe("openKv(':memory:')", () => {
  defineDenoKvSuite({ test: (name, fn) => test(name, fn) }, env(() => openKv(":memory:", quiet)));
});

// Every case again with every value, metadata and queue payload sealed: encryption changes nothing seen.
describe("openKv(':memory:', { encryptionKey })", () => {
  defineDenoKvSuite({ test: (name, fn) => test(name, fn) }, env(() => openKv(":memory:", { ...quiet, encryptionKey: randomBytes(32) })));
});

describe("openKv(postgres://…)", () => {
  // A real PostgreSQL started for this file; each case a store (schema) of its own.
  defineDenoKvSuite({ test: (name, fn) => test(name, fn) }, env(async () => openKv(await freshStoreUrl(), quiet)));
});

describe("openKv(<sqlite file>)", () => {
  const dir = mkdtempSync(join(tmpdir(), "openkv-deno-kv-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  let n = 0;
  defineDenoKvSuite({ test: (name, fn) => test(name, fn) }, env(() => openKv(join(dir, `case-${n++}.sqlite`), { ...quiet, durability: "process" })));
});
