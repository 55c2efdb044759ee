/**
 * `openkv restore` and a running server: restore refuses a data directory a server (a real `openkv
 * serve` process) is running on, saying what to do; once the server is gone — even killed with -9 — it
 * works, and a server does not start while a restore holds the directory.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { holdExclusive } from "../../src/storage/index.ts";
import { startServer } from "../../src/server/server.ts";
import { cleanEnv, OPENKV, openkv, tempDir } from "../cli/helpers.ts";
import { ADMIN } from "./harness.ts";

const work = tempDir("restore-lock");
const env = cleanEnv(work);
const data = join(work, "data");

const children = new Set<ReturnType<typeof spawn>>();
after(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
});

/** A real server process on `data`; resolves with its URL once it listens. */
function serve() {
  const child = spawn(OPENKV, ["serve", "--port", "0", "--data", data, "--admin-token", ADMIN], { cwd: work, env, stdio: ["ignore", "pipe", "pipe"] });
  children.add(child);
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  const url = new Promise<string>((resolve, reject) => {
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => {
      out += c;
      const m = /^OpenKV listening on (http:\/\/\S+)/m.exec(out);
      if (m) resolve(m[1]!);
    });
    void exited.then(() => reject(new Error(`serve exited before listening:\n${out}`)));
  });
  return { child, url, exited };
}

const put = (url: string, key: string, value: string) =>
  fetch(`${url}/kv/${key}`, { method: "PUT", headers: { authorization: `Bearer ${ADMIN}` }, body: JSON.stringify({ value }) });
const get = async (url: string, key: string) => {
  const res = await fetch(`${url}/kv/${key}`, { headers: { authorization: `Bearer ${ADMIN}` } });
  return res.status === 200 ? ((await res.json()) as { value: string }).value : res.status;
};

test("restore refuses a directory a server runs on, and works once the server is gone (even by kill -9)", { timeout: 90_000 }, async () => {
  const first = serve();
  const url = await first.url;
  assert.equal((await put(url, "k", "in the backup")).status, 200);
  const backup = await openkv(["backup", "snap.sqlite", "--persist-to", data], { cwd: work, env });
  assert.equal(backup.code, 0, backup.stderr);
  assert.equal((await put(url, "k", "after the backup")).status, 200);

  const refused = await openkv(["restore", "snap.sqlite", "--persist-to", data, "--force"], { cwd: work, env });
  assert.equal(refused.code, 1);
  assert.equal(
    refused.stderr,
    "✘ [ERROR] An OpenKV server is running on ./data: restoring would replace its store underneath it.\n\n" +
      "  Stop the server, run this again, then start the server; or restore into another directory with --persist-to and start a server there.\n\n\n",
  );
  assert.equal(await get(url, "k"), "after the backup", "nothing was restored");

  // Another directory is fine while the server runs.
  const elsewhere = await openkv(["restore", "snap.sqlite", "--persist-to", "other"], { cwd: work, env });
  assert.equal(elsewhere.code, 0, elsewhere.stderr);

  // The OS drops a dead server's lock: no stale lock file to delete.
  first.child.kill("SIGKILL");
  await first.exited;
  const restored = await openkv(["restore", "snap.sqlite", "--persist-to", data, "--force"], { cwd: work, env });
  assert.equal(restored.code, 0, restored.stderr);
  assert.match(restored.stdout, /✨ Restored snap\.sqlite \(1 namespaces, 1 entries\) into \.\/data\.\n$/);

  const second = serve();
  const again = await second.url;
  assert.equal(await get(again, "k"), "in the backup");
  second.child.kill("SIGTERM");
  await second.exited;
});

test("a server does not start while a restore holds the directory", async () => {
  const dir = join(work, "held");
  const start = () => startServer({ host: "127.0.0.1", port: 0, dataDir: dir, adminToken: ADMIN, log: () => {} });
  const warmup = await start();
  await warmup.close();
  const lock = holdExclusive(join(dir, "server.lock"))!;
  assert.ok(lock, "no server holds it once closed");
  await assert.rejects(start(), { message: `A restore is replacing the store in ${dir}: start the server once \`openkv restore\` has finished.` });
  lock.release();
  const server = await start();
  assert.equal(holdExclusive(join(dir, "server.lock")), null, "a running server holds it");
  await server.close();
});
