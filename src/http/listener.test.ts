import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { connect } from "node:http2";
import { Worker } from "node:worker_threads";
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
  // A grace period far longer than any machine's stall: closing within half of it did not wait for it.
  const started = performance.now();
  await listener.close(60_000);
  await closedByServer;
  assert.ok(performance.now() - started < 30_000, "closed without waiting for the grace period");
});

/** net.core.somaxconn, the kernel's cap on any listen backlog (Linux); null elsewhere. */
function somaxconn(): number | null {
  try {
    return Number(readFileSync("/proc/sys/net/core/somaxconn", "utf8").trim());
  } catch {
    return null;
  }
}

test("connections opened while the event loop is busy wait in the accept queue; none is dropped", async (t) => {
  // 1,000: more than Node's default backlog of 511 lets the kernel queue.
  const n = 1000;
  const cap = somaxconn();
  if (cap === null || cap < n) return t.skip(`needs Linux with net.core.somaxconn >= ${n} (have ${cap ?? "none"})`);
  const listener = createListener({ handler: (_req, res) => res.end("ok") });
  const { port } = await listener.listen(0, "127.0.0.1");
  const connected = new Int32Array(new SharedArrayBuffer(4));
  // A client in another thread opens the connections while this thread — the server's — is blocked, as
  // it is while it writes a 25 MiB value. A connection the kernel could not queue has its SYN dropped
  // and is retried only after 1 s, 3 s, 7 s…: it would not connect before the deadline.
  const client = new Worker(
    `const { connect } = require("node:net");
     const { workerData: { port, n, connected } } = require("node:worker_threads");
     for (let i = 0; i < n; i++) {
       const s = connect(port, "127.0.0.1", () => {
         if (Atomics.add(connected, 0, 1) + 1 === n) Atomics.notify(connected, 0);
       });
       s.on("error", () => {});
     }`,
    { eval: true, workerData: { port, n, connected } },
  );
  try {
    const deadline = performance.now() + 20_000;
    for (let seen = 0; (seen = Atomics.load(connected, 0)) < n && performance.now() < deadline; ) {
      Atomics.wait(connected, 0, seen, deadline - performance.now());
    }
    assert.equal(Atomics.load(connected, 0), n, "every connection completed its handshake while the server was busy");
    // Once free again, the server takes them all and still answers.
    assert.equal(await (await fetch(`http://127.0.0.1:${port}/`)).text(), "ok");
  } finally {
    await client.terminate();
    await listener.close(1000);
  }
});
