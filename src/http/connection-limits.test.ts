/**
 * Every kind of connection the listener accepts ends when a limit of ./connection-limits.ts says so:
 * a silent socket, a partial or bare HTTP/2 preface, HTTP/1.1 heads and bodies that never finish, idle
 * keep-alive connections and sessions, silent handlers, silent TLS — while a response that keeps
 * streaming outlives every idle limit. Limits are shortened here; each check measures that the server,
 * not the test, closed the connection, and not before its limit.
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import type { ServerResponse } from "node:http";
import { connect as h2connect, constants as h2c, type ClientHttp2Session } from "node:http2";
import { connect as tcp, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import type { ConnectionLimits } from "./connection-limits.ts";
import { createListener, type Handler } from "./listener.ts";

/** Distinct values, so the limit that closed a connection is the one the elapsed time points at. */
const LIMITS: Partial<ConnectionLimits> = { handshakeMs: 200, keepAliveMs: 300, headersMs: 400, idleMs: 500, requestMs: 800 };
/** A closed connection must have closed by its limit plus this (a loaded machine is slow to schedule). */
const SLACK_MS = 5_000;
const PREFACE = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

const echo: Handler = (req, res) => {
  req.resume();
  req.on("end", () => res.end("ok"));
};

async function serve(t: TestContext, handler: Handler = echo, extra: Partial<ConnectionLimits> = {}, tls?: { key: Buffer; cert: Buffer }) {
  const listener = createListener({ handler, limits: { ...LIMITS, ...extra }, ...(tls ? { tls } : {}) });
  const { port } = await listener.listen(0, "127.0.0.1");
  t.after(() => listener.close(100));
  return port;
}

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = tcp(port, "127.0.0.1", () => resolve(s));
    s.on("error", reject);
  });
}

/**
 * Resolves with what the server sent and how long after `since` it closed the connection; rejects if it
 * is still open `limit + SLACK_MS` later, and if it closed more than a scheduling jitter before `limit`.
 */
function closedByServer(socket: Socket | ClientHttp2Session, limit: number, since = performance.now()): Promise<{ ms: number; text: string }> {
  let text = "";
  if ("setEncoding" in socket) socket.on("data", (c: Buffer) => (text += c.toString("latin1")));
  (socket as Socket).on("error", () => {});
  return new Promise((resolve, reject) => {
    const deadline = setTimeout(() => reject(new Error(`still open ${limit + SLACK_MS} ms later`)), limit + SLACK_MS);
    socket.once("close", () => {
      clearTimeout(deadline);
      const ms = performance.now() - since;
      if (ms < limit - 100) reject(new Error(`closed after ${Math.round(ms)} ms, before its ${limit} ms limit`));
      else resolve({ ms, text });
    });
  });
}

test("a cleartext connection that sends nothing is closed after handshakeMs", async (t) => {
  const socket = await open(await serve(t));
  await closedByServer(socket, LIMITS.handshakeMs!);
});

test("a partial HTTP/2 preface, then silence, is closed after handshakeMs", async (t) => {
  const socket = await open(await serve(t));
  const since = performance.now();
  socket.write("PRI * HT");
  const { text } = await closedByServer(socket, LIMITS.handshakeMs!, since);
  assert.equal(text, "", "no protocol server answered a connection that never said which protocol it speaks");
});

test("the whole HTTP/2 preface without SETTINGS, then silence, is closed after handshakeMs", async (t) => {
  const socket = await open(await serve(t));
  const since = performance.now();
  socket.write(PREFACE);
  await closedByServer(socket, LIMITS.handshakeMs!, since);
});

test("an HTTP/2 session with no stream open is closed after keepAliveMs; one in use is not", async (t) => {
  const port = await serve(t);
  const session = h2connect(`http://127.0.0.1:${port}`);
  const closed = closedByServer(session as unknown as Socket, LIMITS.keepAliveMs!);
  const goaway = new Promise<number>((resolve) => session.once("goaway", (code: number) => resolve(code)));
  // Requests one after another, each inside keepAliveMs, for longer than keepAliveMs in all: the
  // session stays (frames restart its clock).
  const started = performance.now();
  let lastSent = started;
  for (let i = 0; performance.now() - started < 2 * LIMITS.keepAliveMs!; i++) {
    lastSent = performance.now();
    const stream = session.request({ ":path": `/r${i}` });
    stream.resume();
    await new Promise((resolve) => stream.on("close", resolve));
  }
  assert.equal(session.closed, false);
  // The server's clock restarted with the last request's frames, which it saw after they were sent: the
  // close comes keepAliveMs after that at the earliest (timed from when the client saw the stream end, a
  // busy machine made it look early).
  const { ms } = await closedByServer(session as unknown as Socket, LIMITS.keepAliveMs!, lastSent);
  assert.ok(ms >= LIMITS.keepAliveMs! - 50);
  assert.equal(await goaway, h2c.NGHTTP2_NO_ERROR, "a graceful GOAWAY");
  await closed.catch(() => {});
});

/**
 * Node checks the head deadline on a beat (a quarter of it here, 100 ms), so the 408 can come as late as
 * headersMs + 100 — the same instant as idleMs, whose close sends nothing. Tests that look for the 408
 * move the idle limit out of its way, as the defaults are (30 s against 120 s).
 */
const IDLE_AFTER_HEADERS: Partial<ConnectionLimits> = { idleMs: LIMITS.headersMs! + 2_000 };

test("HTTP/1.1: a head that never ends is answered 408 and closed after headersMs", async (t) => {
  const socket = await open(await serve(t, echo, IDLE_AFTER_HEADERS));
  const since = performance.now();
  socket.write("GET / HTTP/1.1\r\nHost: x\r\n");
  const { text } = await closedByServer(socket, LIMITS.headersMs!, since);
  assert.match(text, /^HTTP\/1\.1 408 Request Timeout/);
});

test("HTTP/1.1: a body that never ends is answered 408 and closed after requestMs", async (t) => {
  const socket = await open(await serve(t));
  const since = performance.now();
  socket.write("PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nsome");
  // Keep bytes coming, inside every idle limit: it is the whole request's deadline that ends it.
  const trickle = setInterval(() => socket.writable && socket.write("x"), 100);
  t.after(() => clearInterval(trickle));
  const { text } = await closedByServer(socket, LIMITS.requestMs!, since);
  assert.match(text, /^HTTP\/1\.1 408 Request Timeout/);
});

test("HTTP/1.1: an idle keep-alive connection is closed after keepAliveMs", async (t) => {
  const socket = await open(await serve(t));
  socket.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  const answered = new Promise<number>((resolve) => socket.once("data", () => resolve(performance.now())));
  const closed = closedByServer(socket, LIMITS.keepAliveMs!);
  const since = await answered;
  await closed.catch(() => {});
  const ms = performance.now() - since;
  assert.ok(ms >= LIMITS.keepAliveMs! - 50 && ms < LIMITS.keepAliveMs! + SLACK_MS, `closed ${Math.round(ms)} ms after the answer`);
});

test("HTTP/1.1: a request whose handler never answers is closed after idleMs", async (t) => {
  const socket = await open(await serve(t, () => {}));
  const since = performance.now();
  socket.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  const { text } = await closedByServer(socket, LIMITS.idleMs!, since);
  assert.equal(text, "");
});

test("HTTP/2: a stream whose handler never answers is reset after idleMs, the session stays", async (t) => {
  const port = await serve(t, () => {}, { keepAliveMs: 5_000 });
  const session = h2connect(`http://127.0.0.1:${port}`);
  t.after(() => session.destroy());
  const since = performance.now();
  const stream = session.request({ ":path": "/" });
  stream.on("error", () => {});
  const { ms } = await closedByServer(stream as unknown as Socket, LIMITS.idleMs!, since);
  assert.ok(ms < LIMITS.idleMs! + SLACK_MS);
  assert.equal(stream.rstCode, h2c.NGHTTP2_CANCEL);
  assert.equal(session.closed, false);
});

test("HTTP/2: a request body that never ends is reset after requestMs", async (t) => {
  const port = await serve(t, () => {}, { keepAliveMs: 5_000 });
  const session = h2connect(`http://127.0.0.1:${port}`);
  t.after(() => session.destroy());
  const since = performance.now();
  const stream = session.request({ ":path": "/", ":method": "PUT" });
  stream.on("error", () => {});
  const trickle = setInterval(() => !stream.closed && stream.write("x"), 100);
  t.after(() => clearInterval(trickle));
  await closedByServer(stream as unknown as Socket, LIMITS.requestMs!, since);
  assert.equal(stream.rstCode, h2c.NGHTTP2_CANCEL);
});

test("responses that keep streaming outlive idleMs, keepAliveMs and requestMs (HTTP/1.1 and HTTP/2)", async (t) => {
  const chunks = 12;
  const port = await serve(t, (_req, response) => {
    const res = response as ServerResponse;
    let sent = 0;
    res.writeHead(200, { "content-type": "application/octet-stream" });
    // Like KV Connect's keep-alive frames: a few bytes well inside idleMs, for longer than every limit.
    const beat = setInterval(() => {
      res.write("k");
      if (++sent === chunks) {
        clearInterval(beat);
        res.end();
      }
    }, 100);
  });
  const started = performance.now();
  const h1 = fetch(`http://127.0.0.1:${port}/stream`).then((r) => r.text());
  const session = h2connect(`http://127.0.0.1:${port}`);
  t.after(() => session.destroy());
  const h2 = new Promise<string>((resolve, reject) => {
    const stream = session.request({ ":path": "/stream" });
    let text = "";
    stream.setEncoding("utf8");
    stream.on("data", (c: string) => (text += c));
    stream.on("end", () => resolve(text));
    stream.on("error", reject);
  });
  assert.deepEqual(await Promise.all([h1, h2]), ["k".repeat(chunks), "k".repeat(chunks)]);
  assert.ok(performance.now() - started > LIMITS.requestMs!, "the streams lasted longer than every limit");
});

test("heads past maxHeaderBytes: HTTP/1.1 answers 431, HTTP/2 answers 431 on that stream", async (t) => {
  const port = await serve(t, echo, { maxHeaderBytes: 1024, keepAliveMs: 5_000 });
  const socket = await open(port);
  const answer = closedByServer(socket, 0);
  socket.write(`GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(2048)}\r\n\r\n`);
  assert.match((await answer).text, /^HTTP\/1\.1 431 Request Header Fields Too Large/);

  const small = await fetch(`http://127.0.0.1:${port}/`, { headers: { "x-small": "a".repeat(500) } });
  assert.equal(await small.text(), "ok", "a head under the limit is served");

  const session = h2connect(`http://127.0.0.1:${port}`);
  t.after(() => session.destroy());
  const h2 = (headers: Record<string, string>) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const stream = session.request({ ":path": "/", ...headers });
      let status = 0;
      let body = "";
      stream.on("response", (h) => (status = Number(h[":status"])));
      stream.setEncoding("utf8");
      stream.on("data", (c: string) => (body += c));
      stream.on("end", () => resolve({ status, body }));
      stream.on("error", reject);
      stream.end();
    });
  // 2048 + 5 + 32 for x-big, plus the pseudo-headers (":path" "/" and so on), each with its 32 bytes.
  const big = await h2({ "x-big": "a".repeat(2048) });
  assert.equal(big.status, 431);
  assert.match(big.body, /^Request header fields of \d+ bytes exceed the limit of 1024 bytes$/);
  assert.deepEqual(await h2({ "x-small": "a".repeat(500) }), { status: 200, body: "ok" }, "the session serves the next stream");
});

test("HTTP/2 sessions advertise maxConcurrentStreams", async (t) => {
  const port = await serve(t, echo, { maxConcurrentStreams: 7, keepAliveMs: 5_000 });
  const session = h2connect(`http://127.0.0.1:${port}`);
  t.after(() => session.destroy());
  const settings = await new Promise<{ maxConcurrentStreams?: number }>((resolve) => session.once("remoteSettings", resolve));
  assert.equal(settings.maxConcurrentStreams, 7);
});

test("past maxConnections a new connection is closed on accept; a freed slot is usable again", async (t) => {
  const port = await serve(t, echo, { maxConnections: 2, handshakeMs: 5_000, keepAliveMs: 5_000 });
  const held = [await open(port), await open(port)];
  const third = await open(port);
  await closedByServer(third, 0);
  held[0]!.destroy();
  await new Promise((resolve) => held[0]!.once("close", resolve));
  // The server learns of the close asynchronously: retry until the slot is free, with a deadline.
  const deadline = performance.now() + SLACK_MS;
  for (;;) {
    const r = await fetch(`http://127.0.0.1:${port}/`, { headers: { connection: "close" } }).then((res) => res.text(), () => null);
    if (r === "ok") break;
    assert.ok(performance.now() < deadline, "a slot freed by a closed connection is never reused");
  }
  held[1]!.destroy();
});

function hasOpenssl(): boolean {
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore", timeout: 5_000 });
    return true;
  } catch {
    return false;
  }
}

test("TLS: silent before, during and after the handshake, each kind is closed by its limit", { skip: hasOpenssl() ? false : "the openssl CLI is not installed" }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "openkv-limits-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  execFileSync(
    "openssl",
    ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
      "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem")],
    { stdio: "ignore", timeout: 20_000 },
  );
  const cert = readFileSync(join(dir, "cert.pem"));
  const port = await serve(t, echo, IDLE_AFTER_HEADERS, { key: readFileSync(join(dir, "key.pem")), cert });

  // No ClientHello at all.
  await closedByServer(await open(port), LIMITS.handshakeMs!);

  const handshake = (alpn: string[]) =>
    new Promise<{ socket: Socket; at: number; protocol: string | false | null }>((resolve, reject) => {
      const socket = tlsConnect({ port, host: "127.0.0.1", ca: cert, ALPNProtocols: alpn }, () =>
        resolve({ socket, at: performance.now(), protocol: socket.alpnProtocol }),
      );
      socket.on("error", reject);
    });
  // HTTP/2 chosen by ALPN, then not even the preface.
  const h2 = await handshake(["h2"]);
  assert.equal(h2.protocol, "h2");
  await closedByServer(h2.socket, LIMITS.handshakeMs!, h2.at);
  // HTTP/1.1 chosen by ALPN, then no request head.
  const h1 = await handshake(["http/1.1"]);
  assert.equal(h1.protocol, "http/1.1");
  const { text } = await closedByServer(h1.socket, LIMITS.headersMs!, h1.at);
  assert.match(text, /^HTTP\/1\.1 408 Request Timeout/);
});
