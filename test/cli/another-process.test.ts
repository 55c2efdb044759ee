/**
 * The real `openkv` in another process beside an engine that keeps running on the same data directory.
 * The SQLite store keeps what a commit reads under the write lock and seldom changes — the commit counter,
 * namespace seqs, the keyring setting — between commits (src/storage/sqlite/sqlite-backend.ts,
 * CommitCache); a commit after another process's must still see everything that process did.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { latestVersionstamp } from "../../src/core/changes.ts";
import { openDataDir } from "../../src/config/data-dir.ts";
import { compareBytes, encodeKey } from "../../src/core/keys.ts";
import type { AtomicWrite } from "../../src/core/types.ts";
import { cleanEnv, openkv, tempDir } from "./helpers.ts";

const cwd = tempDir("another-process");
const env = cleanEnv(cwd);
const run = async (args: string[]) => {
  const r = await openkv(args, { cwd, env });
  assert.equal(r.code, 0, r.stderr);
};
const set = (key: string): AtomicWrite => ({
  checks: [],
  mutations: [{ type: "set", key: encodeKey([key]), value: { encoding: "bytes", data: Uint8Array.of(1) } }],
  enqueues: [],
});

test("a commit after another process's comes after it and sees its renamed and deleted namespaces and its new keyring", { timeout: 120_000 }, async () => {
  const engine = await openDataDir(join(cwd, "data"));
  try {
    const ns = await engine.createNamespace("shared");
    const first = await engine.atomic(ns.id, set("mine-1"));
    assert.ok(first.ok);

    await run(["kv", "key", "put", "theirs", "v", "--namespace-id", ns.id, "--persist-to", "data"]);
    const theirs = await latestVersionstamp(engine.backend);
    assert.ok(compareBytes(theirs, first.versionstamp) > 0, "the other process committed");
    const second = await engine.atomic(ns.id, set("mine-2"));
    assert.ok(second.ok && compareBytes(second.versionstamp, theirs) > 0, "this commit's versionstamp is after the other process's");

    await run(["kv", "namespace", "rename", "--namespace-id", ns.id, "--new-name", "renamed", "--persist-to", "data"]);
    assert.ok((await engine.atomic(ns.id, set("mine-3"))).ok, "a renamed namespace keeps its id");
    assert.equal((await engine.namespaceStats(ns.id)).keyCount, 4);

    await run(["kv", "namespace", "delete", "--namespace-id", ns.id, "-y", "--persist-to", "data"]);
    await assert.rejects(engine.atomic(ns.id, set("mine-4")), { code: "namespace_not_found" });

    const other = await engine.createNamespace("other");
    assert.ok((await engine.atomic(other.id, set("plain"))).ok);
    writeFileSync(join(cwd, "k.key"), randomBytes(32).toString("base64") + "\n");
    await run(["key", "rotate", "--persist-to", "data", "--encryption-key-file", "k.key"]);
    // This process has no key: writing plaintext into a store that is encrypted now would be a leak.
    await assert.rejects(engine.atomic(other.id, set("after")), { code: "encryption_key" });
  } finally {
    await engine.close();
  }
});
