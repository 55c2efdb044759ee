/**
 * The shared tokens file: several stores (a server and `openkv token …` processes) on one file see each
 * other's changes, never lose one, survive a file they cannot read, and tell open streams when their
 * token goes.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TokenStore } from "./tokens.ts";

const ADMIN = "okv_admin_for_unit_tests";

function tempFile(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), "openkv-tokens-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, "tokens.json");
}

const ids = (s: TokenStore) => s.list().map((t) => t.name).sort();

test("a change made through one store reaches another on refresh, and an unknown secret looks at once", async (t) => {
  const file = tempFile(t);
  const server = new TokenStore(ADMIN, file);
  const cli = new TokenStore(ADMIN, file);
  const { token, record } = await cli.create({ name: "ci", namespaces: ["ns1"], permission: "read" }, 1000);
  assert.deepEqual(server.list(), [], "nothing is read until the server looks");
  // An unknown secret makes the store look at the file: a token made a moment ago works on first use.
  assert.deepEqual(server.verify(token), { kind: "token", ...record });
  assert.equal(server.verify("okv_never_issued"), null);

  assert.deepEqual(await cli.revoke(record.id), record);
  assert.deepEqual(server.verify(token), { kind: "token", ...record }, "a known secret does not stat the file: the poll does");
  assert.equal(server.refresh(), true);
  assert.equal(server.verify(token), null);
  assert.equal(server.refresh(), false, "an unchanged file is not read again");
  assert.equal((statSync(file).mode & 0o777).toString(8), "600");
});

test("each change edits the file as it is now: two stores with stale copies lose neither's tokens", async (t) => {
  const file = tempFile(t);
  const a = new TokenStore(ADMIN, file);
  const b = new TokenStore(ADMIN, file);
  await a.create({ name: "from-a", namespaces: null, permission: "write" }, 1);
  await b.create({ name: "from-b", namespaces: null, permission: "write" }, 2);
  const gone = await a.create({ name: "short-lived", namespaces: null, permission: "read" }, 3);
  assert.deepEqual(ids(a), ["from-a", "from-b", "short-lived"]);
  assert.equal(await b.revoke(gone.record.id) !== null, true, "b revokes a token it had never read");
  assert.equal(await b.revoke(gone.record.id), null, "a second revoke finds nothing");
  assert.deepEqual(
    (JSON.parse(readFileSync(file, "utf8")) as { name: string }[]).map((r) => r.name),
    ["from-a", "from-b"],
  );
});

test("processes creating tokens at the same moment all keep theirs (the lock orders them)", { timeout: 60_000 }, async (t) => {
  const file = tempFile(t);
  const perProcess = 30;
  const script = `
    const { TokenStore } = await import(${JSON.stringify(new URL("./tokens.ts", import.meta.url).href)});
    const store = new TokenStore("x", process.argv[1]);
    for (let i = 0; i < ${perProcess}; i++) await store.create({ name: process.argv[2] + "-" + i, namespaces: null, permission: "read" }, i);
  `;
  const run = (name: string) =>
    new Promise<void>((resolve, reject) => {
      const child = spawn(process.execPath, ["--input-type=module", "-e", script, file, name], { stdio: ["ignore", "ignore", "pipe"] });
      let err = "";
      child.stderr.on("data", (c: Buffer) => (err += c));
      child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`child ${name} exited ${code}: ${err}`))));
    });
  const local = new TokenStore(ADMIN, file);
  await Promise.all([
    run("p1"),
    run("p2"),
    run("p3"),
    (async () => {
      for (let i = 0; i < perProcess; i++) await local.create({ name: `here-${i}`, namespaces: null, permission: "read" }, i);
    })(),
  ]);
  const names = (JSON.parse(readFileSync(file, "utf8")) as { name: string }[]).map((r) => r.name);
  assert.equal(names.length, 4 * perProcess, `tokens lost: ${names.join(" ")}`);
  assert.equal(new Set(names).size, 4 * perProcess);
});

test("a file that cannot be read keeps the tokens read before, said once, and is never overwritten", async (t) => {
  const file = tempFile(t);
  const lines: string[] = [];
  const server = new TokenStore(ADMIN, file, { log: (l) => lines.push(l) });
  const { token } = await server.create({ name: "kept", namespaces: null, permission: "write" }, 1);
  const good = readFileSync(file, "utf8");

  writeFileSync(file, good.slice(0, 40));
  assert.equal(server.refresh(), false);
  assert.equal(server.verify(token)?.kind, "token", "the old set still answers");
  writeFileSync(file, '[{"id": "x"}]');
  server.refresh();
  assert.equal(lines.length, 1, lines.join("\n"));
  assert.match(lines[0]!, /^openkv: The tokens file .*tokens\.json is not valid JSON \(.*\); keeping the 1 tokens read before\.$/);

  await assert.rejects(server.create({ name: "lost?", namespaces: null, permission: "read" }, 2), {
    message: /The tokens file .*tokens\.json: entry 0 is not a token record \(id, name, hash, permission, namespaces, createdAt\)/,
  });
  assert.equal(readFileSync(file, "utf8"), '[{"id": "x"}]', "a file it cannot read is left for a person to fix");

  writeFileSync(file, "[]");
  assert.equal(server.refresh(), true);
  assert.equal(server.verify(token), null);
  assert.match(lines[1]!, /^openkv: the tokens file .*tokens\.json is readable again \(0 tokens\)\.$/);
  // A missing file means no tokens, as when a server starts without one.
  rmSync(file);
  assert.equal(server.refresh(), true);
  assert.deepEqual(server.list(), []);
});

test("onRevoked fires once when the token goes or is narrowed, whoever changed the file", async (t) => {
  const file = tempFile(t);
  const server = new TokenStore(ADMIN, file);
  const cli = new TokenStore(ADMIN, file);
  const a = await server.create({ name: "a", namespaces: null, permission: "write" }, 1);
  const b = await server.create({ name: "b", namespaces: ["ns1", "ns2"], permission: "write" }, 1);
  const fired: string[] = [];
  server.onRevoked(a.record.id, () => fired.push("a"));
  server.onRevoked(b.record.id, () => fired.push("b"));
  const off = server.onRevoked(b.record.id, () => fired.push("b-unsubscribed"));
  off();

  // Narrowed by hand: b loses ns2.
  const stored = JSON.parse(readFileSync(file, "utf8")) as { id: string; namespaces: string[] | null }[];
  stored.find((r) => r.id === b.record.id)!.namespaces = ["ns1"];
  writeFileSync(file, JSON.stringify(stored));
  server.refresh();
  assert.deepEqual(fired, ["b"]);

  await cli.revoke(a.record.id);
  await server.create({ name: "c", namespaces: null, permission: "read" }, 2);
  assert.deepEqual(fired, ["b", "a"], "the server's own write reads the revocation from disk");
  server.refresh();
  assert.deepEqual(fired, ["b", "a"], "each listener fires once");
});

test("polling picks up another process's change without a request", async (t) => {
  const file = tempFile(t);
  const server = new TokenStore(ADMIN, file, { pollMs: 20 });
  t.after(() => server.close());
  const cli = new TokenStore(ADMIN, file);
  const { record } = await cli.create({ name: "polled", namespaces: null, permission: "read" }, 1);
  const deadline = Date.now() + 5000;
  while (server.list().length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(server.list(), [record]);
});

test("in memory (no file) tokens work the same, and a bad record is refused", async () => {
  const store = new TokenStore(ADMIN, null);
  assert.deepEqual(store.verify(ADMIN), { kind: "admin" });
  const { token, record } = await store.create({ name: "m", namespaces: null, permission: "read" }, 5);
  assert.deepEqual(store.verify(token), { kind: "token", ...record });
  let fired = 0;
  store.onRevoked(record.id, () => fired++);
  assert.deepEqual(await store.revoke(record.id), record);
  assert.equal(fired, 1);
  assert.equal(store.verify(token), null);
  await assert.rejects(store.create({ name: " ", namespaces: null, permission: "read" }, 1), { message: "A token needs a non-empty name" });
  await assert.rejects(store.create({ name: "x", namespaces: null, permission: "all" as "read" }, 1), { message: 'permission must be "read" or "write"' });
});
