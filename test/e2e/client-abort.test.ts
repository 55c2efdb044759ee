/**
 * A client that goes away mid-body is its own event: nothing is stored, nothing is logged as an internal
 * error, and it is counted as `openkv_http_errors_total{status="499"}`, never as a 500. Over HTTP/2 the
 * truncated body used to be handed on as if complete (and stored); over HTTP/1.1 the reset was logged
 * with a stack and counted as a 500.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect as h2connect } from "node:http2";
import { connect as tcp } from "node:net";
import { encodeKey } from "../../src/core/keys.ts";
import { auth, startTestServer } from "./harness.ts";

const logged: string[] = [];
const server = await startTestServer({ log: (line) => logged.push(line) });
const ns = (await server.engine.findNamespace("default"))!;
const cfValues = `/client/v4/accounts/${server.accountId}/storage/kv/namespaces/${ns.id}/values`;

async function errorCounts(): Promise<Record<string, number>> {
  const text = await (await fetch(`${server.url}/metrics`, { headers: auth() })).text();
  return Object.fromEntries([...text.matchAll(/^openkv_http_errors_total\{status="(\d+)"\} (\d+)$/gm)].map((m) => [m[1]!, Number(m[2])]));
}

/** Polls /metrics until `status` reaches `count` (the server finds out about the reset on its own time). */
async function untilCounted(status: string, count: number): Promise<Record<string, number>> {
  const deadline = performance.now() + 10_000;
  for (;;) {
    const counts = await errorCounts();
    if ((counts[status] ?? 0) >= count) return counts;
    assert.ok(performance.now() < deadline, `status ${status} counted ${counts[status] ?? 0} times, expected ${count}: ${JSON.stringify(counts)}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** Sends a request head and half its declared body over a raw socket, then closes the connection. */
function halfBodyHttp1(method: string, path: string, contentType: string, half: string, declared: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = tcp(server.port, "127.0.0.1", () => {
      socket.write(
        `${method} ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: ${auth().authorization}\r\nContent-Type: ${contentType}\r\nContent-Length: ${declared}\r\n\r\n${half}`,
        () => socket.destroy(),
      );
    });
    socket.on("close", () => resolve());
    socket.on("error", reject);
  });
}

test("HTTP/1.1: a client that closes mid-body stores nothing, logs nothing and counts a 499", { timeout: 30_000 }, async () => {
  const before = (await errorCounts())["499"] ?? 0;
  await halfBodyHttp1("PUT", "/kv/aborted.h1", "application/json", '{"value":"' + "x".repeat(500), 1000);
  await halfBodyHttp1("PUT", `${cfValues}/aborted-h1`, "text/plain", "y".repeat(500), 1000);
  const counts = await untilCounted("499", before + 2);
  assert.equal(counts["500"], undefined, "no 500 counted");
  assert.deepEqual(logged, [], "nothing logged");
  assert.equal(await server.engine.get(ns.id, encodeKey(["aborted", "h1"])), null);
  assert.equal(await server.engine.get(ns.id, encodeKey(["aborted-h1"])), null);
  // The server is fine: the same writes, whole, are answered.
  const whole = await fetch(`${server.url}${cfValues}/aborted-h1`, { method: "PUT", headers: { ...auth(), "content-type": "text/plain" }, body: "whole" });
  assert.equal(whole.status, 200);
});

test("HTTP/2: a stream reset mid-body stores nothing (it used to store the truncated value) and counts a 499", { timeout: 30_000 }, async () => {
  const before = (await errorCounts())["499"] ?? 0;
  const session = h2connect(server.url);
  session.on("error", () => {});
  const stream = session.request({
    ":method": "PUT",
    ":path": `${cfValues}/aborted-h2`,
    authorization: auth().authorization,
    "content-type": "text/plain",
    "content-length": "1000",
  });
  stream.on("error", () => {});
  stream.write("z".repeat(500), () => session.destroy());
  await new Promise((resolve) => session.once("close", resolve));
  const counts = await untilCounted("499", before + 1);
  assert.equal(counts["500"], undefined);
  assert.deepEqual(logged, []);
  assert.equal(await server.engine.get(ns.id, encodeKey(["aborted-h2"])), null, "no truncated value stored");
});

test("a client gone before the handler reads the body: the read fails at once instead of waiting for ever", { timeout: 30_000 }, async () => {
  const { createListener } = await import("../../src/http/listener.ts");
  const { readBody, ClientGoneError } = await import("../../src/http/http.ts");
  let outcome!: (v: unknown) => void;
  const result = new Promise((resolve) => (outcome = resolve));
  const listener = createListener({
    handler: (req) => {
      // The handler reaches for the body only once the client has already gone (an await on a slow
      // lookup, say).
      req.once("close", () => readBody(req, 1 << 20).then(() => outcome("resolved"), (e: unknown) => outcome(e)));
    },
  });
  const { port } = await listener.listen(0, "127.0.0.1");
  try {
    const socket = tcp(port, "127.0.0.1", () => socket.write("PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc", () => socket.destroy()));
    socket.on("error", () => {});
    assert.ok((await result) instanceof ClientGoneError);
  } finally {
    await listener.close(100);
  }
});
