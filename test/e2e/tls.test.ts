/**
 * TLS on the one port: HTTPS with HTTP/1.1 and HTTP/2 chosen by ALPN, with a throwaway self-signed
 * certificate made by the `openssl` CLI; and the refusal to serve tokens in clear text off loopback.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request } from "node:https";
import { connect } from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startServer } from "../../src/server/server.ts";
import { ADMIN, startTestServer } from "./harness.ts";

function hasOpenssl(): boolean {
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore", timeout: 5_000 });
    return true;
  } catch {
    return false;
  }
}

const skip = hasOpenssl() ? false : "the openssl CLI is not installed";

test("HTTPS: HTTP/1.1 and HTTP/2 (ALPN) on the same port", { skip, timeout: 30_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "openkv-tls-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const cert = join(dir, "cert.pem");
  const key = join(dir, "key.pem");
  execFileSync(
    "openssl",
    ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
      "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", key, "-out", cert],
    { stdio: "ignore", timeout: 20_000 },
  );
  const ca = readFileSync(cert);
  const server = await startTestServer({ tls: { cert, key } });
  assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/);

  // HTTP/1.1 over TLS (no ALPN offered: the server falls back to HTTP/1.1).
  const h1 = await new Promise<{ status: number; version: string; body: string }>((resolve, reject) => {
    const req = request(`${server.url}/kv/tls.h1`, { method: "PUT", ca, headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" }, timeout: 10_000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode!, version: res.httpVersion, body }));
    });
    req.on("error", reject);
    req.on("timeout", () => req.destroy(new Error("HTTPS request timed out")));
    req.end(JSON.stringify({ value: "over https" }));
  });
  assert.equal(h1.status, 200, h1.body);
  assert.equal(h1.version, "1.1");

  // HTTP/2 negotiated by ALPN, reading what HTTP/1.1 wrote.
  const session = connect(server.url, { ca });
  t.after(() => session.close());
  const h2 = await new Promise<{ status: number; body: string; alpn: string | false | undefined }>((resolve, reject) => {
    const stream = session.request({ ":path": "/kv/tls.h1", authorization: `Bearer ${ADMIN}` });
    stream.setTimeout(10_000, () => stream.close());
    let status = 0;
    let body = "";
    stream.on("response", (h) => (status = Number(h[":status"])));
    stream.setEncoding("utf8");
    stream.on("data", (c: string) => (body += c));
    stream.on("end", () => resolve({ status, body, alpn: session.alpnProtocol }));
    stream.on("error", reject);
    session.on("error", reject);
  });
  assert.equal(h2.alpn, "h2");
  assert.equal(h2.status, 200, h2.body);
  assert.equal((JSON.parse(h2.body) as { value: string }).value, "over https");

  // Plain HTTP on the TLS port is not served.
  await assert.rejects(fetch(server.url.replace("https:", "http:") + "/healthz", { signal: AbortSignal.timeout(5_000) }));
});

test("a non-loopback host needs TLS, or insecure: true", { timeout: 30_000 }, async () => {
  await assert.rejects(startServer({ host: "0.0.0.0", port: 0, dataDir: null }), (e: unknown) => {
    assert.ok(e instanceof Error);
    assert.match(e.message, /^Refusing to listen on 0\.0\.0\.0 without TLS/);
    assert.match(e.message, /--tls-cert and --tls-key, or --insecure/);
    return true;
  });
  for (const host of ["127.0.0.1", "localhost"]) {
    const local = await startServer({ host, port: 0, dataDir: null, log: () => {} });
    await local.close();
  }
  const open = await startServer({ host: "0.0.0.0", port: 0, dataDir: null, insecure: true, log: () => {} });
  try {
    assert.match(open.url, /^http:\/\/0\.0\.0\.0:\d+$/);
    const r = await fetch(`http://127.0.0.1:${open.port}/healthz`, { signal: AbortSignal.timeout(5_000) });
    assert.deepEqual(await r.json(), { ok: true });
  } finally {
    await open.close();
  }
});
