/**
 * The server's connection limits end to end (the listener's own cases are in
 * src/http/connection-limits.test.ts): a connection that sends the HTTP/2 preface, or part of it, and
 * then nothing is closed — it was held for ever before — while KV Connect's long-lived streams (watch
 * and queue listen, with their keep-alive frames) outlive every idle limit over HTTP/1.1 and HTTP/2.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect as h2connect } from "node:http2";
import { connect as tcp, type Socket } from "node:net";
import { openKv } from "../../src/api/deno/index.ts";
import { encodeKey } from "../../src/core/keys.ts";
import type { ConnectionLimits } from "../../src/http/connection-limits.ts";
import { decodeWatchOutput, encodeWatch } from "../../src/wire/kv-connect/wire.ts";
import { ADMIN, auth, startTestServer } from "./harness.ts";

const LIMITS: Partial<ConnectionLimits> = { handshakeMs: 300, headersMs: 300, idleMs: 400, keepAliveMs: 400, requestMs: 500 };
const server = await startTestServer({ connectionLimits: LIMITS, kvConnect: { keepAliveMs: 100 } });
const port = server.port;

/** How long after `since` the server closed `socket`; fails if it is still open `deadlineMs` later. */
function closed(socket: Socket, deadlineMs: number, since = performance.now()): Promise<number> {
  socket.on("error", () => {});
  // Read what the server says (HTTP/2 answers SETTINGS and GOAWAY): unread bytes would hold back "close".
  socket.resume();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the server left the connection open for ${deadlineMs} ms`)), deadlineMs);
    socket.once("close", () => {
      clearTimeout(timer);
      resolve(performance.now() - since);
    });
  });
}

async function open(): Promise<Socket> {
  const socket = tcp(port, "127.0.0.1");
  await new Promise((resolve) => socket.once("connect", resolve));
  return socket;
}

for (const [name, bytes] of [
  ["no byte", ""],
  ["a partial HTTP/2 preface", "PRI * HT"],
  ["the HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"],
] as const) {
  test(`a connection that sends ${name}, then falls silent, is closed after handshakeMs`, { timeout: 30_000 }, async () => {
    const socket = await open();
    const since = performance.now();
    if (bytes) socket.write(bytes);
    const ms = await closed(socket, 10_000, since);
    assert.ok(ms >= LIMITS.handshakeMs! - 50, `closed after ${Math.round(ms)} ms`);
  });
}

test("a hundred silent preface connections are all closed, and the server still answers", { timeout: 30_000 }, async () => {
  const sockets = await Promise.all(Array.from({ length: 100 }, () => open()));
  const all = Promise.all(sockets.map((s, i) => (s.write(i % 2 ? "PRI * HTTP/2.0\r\n" : "PRI"), closed(s, 15_000))));
  assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
  await all;
});

test("watch and queue listen streams outlive idleMs and keepAliveMs, over HTTP/1.1 and HTTP/2", { timeout: 30_000 }, async () => {
  // Our client: watch and queue over HTTP/1.1 (undici).
  const kv = await openKv(`${server.url}/kv-connect/default`, { token: ADMIN });
  const watch = kv.watch([["w"]]).getReader();
  assert.equal((await watch.read()).value![0].value, null);
  const messages: unknown[] = [];
  let received!: () => void;
  const got = new Promise<void>((resolve) => (received = resolve));
  const listening = kv.listenQueue((m) => {
    messages.push(m);
    received();
  });

  // A raw HTTP/2 watch, as Deno's own client sends it, counting the keep-alive frames it gets.
  const meta = (await (
    await fetch(`${server.url}/kv-connect/default`, { method: "POST", headers: auth(), body: JSON.stringify({ supportedVersions: [3] }) })
  ).json()) as { databaseId: string; endpoints: { url: string }[] };
  const session = h2connect(server.url);
  const stream = session.request({
    ":method": "POST",
    ":path": `/kv-connect/${meta.databaseId.replaceAll("-", "")}/watch`,
    authorization: `Bearer ${ADMIN}`,
    "x-denokv-version": "3",
    "x-denokv-database-id": meta.databaseId,
  });
  stream.end(encodeWatch([encodeKey(["w"])]));
  let bytes = Buffer.alloc(0);
  let keepAlives = 0;
  const frames: Buffer[] = [];
  const waiters = new Set<() => void>();
  stream.on("data", (chunk: Buffer) => {
    bytes = Buffer.concat([bytes, chunk]);
    while (bytes.length >= 4) {
      const n = bytes.readUInt32LE(0);
      if (bytes.length < 4 + n) break;
      if (n === 0) keepAlives++;
      else frames.push(bytes.subarray(4, 4 + n));
      bytes = bytes.subarray(4 + n);
    }
    for (const w of waiters) w();
  });
  const until = (ok: () => boolean) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (!ok()) return;
        waiters.delete(check);
        resolve();
      };
      stream.once("close", () => reject(new Error(`the HTTP/2 watch was closed after ${keepAlives} keep-alives`)));
      waiters.add(check);
      check();
    });

  // Keep-alives every 100 ms: 12 of them span three times idleMs and keepAliveMs.
  const started = performance.now();
  await until(() => keepAlives >= 12);
  assert.ok(performance.now() - started > 2 * LIMITS.keepAliveMs!);

  const put = await fetch(`${server.url}/kv/w`, { method: "PUT", headers: { ...auth(), "content-type": "application/json" }, body: '{"value":"after"}' });
  assert.equal(put.status, 200);
  assert.equal((await watch.read()).value![0].value, "after", "the HTTP/1.1 watch still delivers");
  await until(() => frames.length >= 2);
  const last = decodeWatchOutput(frames.at(-1)!)[0];
  assert.ok(last, "the HTTP/2 watch still delivers");
  await kv.enqueue({ job: "late" });
  await got;
  assert.deepEqual(messages, [{ job: "late" }], "the queue listener still receives");

  stream.close();
  session.close();
  await watch.cancel();
  await kv.close();
  await listening;
});
