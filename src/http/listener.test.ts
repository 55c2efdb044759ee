import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "node:http2";
import { createListener } from "./listener.ts";

test("one port answers HTTP/1.1 and cleartext HTTP/2 with prior knowledge", async () => {
  const listener = createListener({
    handler: (req, res) => {
      res.setHeader("content-type", "text/plain");
      res.end(`${req.httpVersion} ${req.method} ${req.url}`);
    },
  });
  const { port } = await listener.listen(0, "127.0.0.1");
  try {
    const h1 = await fetch(`http://127.0.0.1:${port}/one`);
    assert.equal(await h1.text(), "1.1 GET /one");

    const session = connect(`http://127.0.0.1:${port}`);
    const body = await new Promise<string>((resolve, reject) => {
      const stream = session.request({ ":path": "/two", ":method": "POST" });
      let text = "";
      stream.setEncoding("utf8");
      stream.on("data", (c: string) => (text += c));
      stream.on("end", () => resolve(text));
      stream.on("error", reject);
      stream.end("x");
    });
    session.close();
    assert.equal(body, "2.0 POST /two");
  } finally {
    await listener.close(1000);
  }
});

test("close waits for an in-flight request to finish", async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let entered!: () => void;
  const inHandler = new Promise<void>((r) => (entered = r));
  const listener = createListener({
    handler: (_req, res) => {
      entered();
      void gate.then(() => res.end("done"));
    },
  });
  const { port } = await listener.listen(0, "127.0.0.1");
  const response = fetch(`http://127.0.0.1:${port}/slow`).then((r) => r.text());
  await inHandler;
  const closing = listener.close(5000);
  release();
  assert.equal(await response, "done");
  await closing;
});

test("a connection that never sends a byte does not hold up close", async () => {
  const listener = createListener({ handler: (_req, res) => res.end() });
  const { port } = await listener.listen(0, "127.0.0.1");
  const { connect: tcp } = await import("node:net");
  const silent = tcp(port, "127.0.0.1");
  await new Promise((r) => silent.once("connect", r));
  const closedByServer = new Promise((r) => silent.once("close", r));
  const started = performance.now();
  await listener.close(5000);
  await closedByServer;
  assert.ok(performance.now() - started < 2000, "closed without waiting for the grace period");
});
