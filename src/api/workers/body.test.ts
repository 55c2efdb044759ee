import { test } from "node:test";
import assert from "node:assert/strict";
import { bytesToStream, classifyBody, collectStream, toArrayBuffer } from "./body.ts";

const streamOf = (chunks: unknown[]) =>
  new ReadableStream<unknown>({
    start(c) {
      for (const x of chunks) c.enqueue(x);
      c.close();
    },
  });

test("classifyBody: strings, primitives, buffers, views and streams; other objects are TypeErrors", () => {
  assert.deepEqual(classifyBody("x"), { kind: "text", text: "x" });
  assert.deepEqual(classifyBody(1), { kind: "text", text: "1" });
  assert.deepEqual(classifyBody(undefined), { kind: "text", text: "undefined" });
  const u16 = new Uint16Array([1, 2, 3]).subarray(1, 2);
  const view = classifyBody(u16);
  assert.equal(view.kind, "bytes");
  assert.deepEqual(view.kind === "bytes" && [...view.bytes], [2, 0]);
  assert.equal(classifyBody(new ArrayBuffer(3)).kind, "bytes");
  assert.equal(classifyBody(streamOf([])).kind, "stream");
  for (const bad of [{}, [], new Date(), () => 1]) {
    assert.throws(() => classifyBody(bad), {
      name: "TypeError",
      message: "KV put() accepts only strings, ArrayBuffers, ArrayBufferViews, and ReadableStreams as values.",
    });
  }
});

test("collectStream concatenates byte, buffer and string chunks into an exact-size buffer", async () => {
  const { bytes, length } = await collectStream(streamOf([Uint8Array.of(1, 2), Uint8Array.of(3).buffer, "é", new DataView(Uint8Array.of(9, 4, 9).buffer, 1, 1)]), 100);
  assert.equal(length, 6);
  assert.deepEqual([...bytes!], [1, 2, 3, 0xc3, 0xa9, 4]);
  assert.equal(bytes!.buffer.byteLength, 6);
  assert.equal((bytes!.buffer as ArrayBuffer).resizable, false);
});

test("collectStream past the limit keeps counting and returns no bytes", async () => {
  const got = await collectStream(streamOf([new Uint8Array(6), new Uint8Array(5), new Uint8Array(1)]), 10);
  assert.deepEqual(got, { bytes: null, length: 12 });
  const exact = await collectStream(streamOf([new Uint8Array(6), new Uint8Array(4)]), 10);
  assert.equal(exact.bytes!.byteLength, 10);
});

test("collectStream rejects chunks that are not bytes, cancelling the source", async () => {
  let cancelled = false;
  const s = new ReadableStream<unknown>({ pull: (c) => c.enqueue(42), cancel: () => void (cancelled = true) });
  await assert.rejects(collectStream(s, 10), { name: "TypeError", message: "This ReadableStream did not return bytes." });
  assert.equal(cancelled, true);
});

test("bytesToStream yields copies in chunks; an empty value is an empty stream", async () => {
  const src = Uint8Array.from({ length: 10 }, (_, i) => i);
  const chunks: Uint8Array[] = [];
  for await (const c of bytesToStream(src, 4) as unknown as AsyncIterable<Uint8Array>) chunks.push(c);
  assert.deepEqual(chunks.map((c) => [...c]), [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]);
  chunks[0]!.fill(99);
  assert.equal(src[0], 0);
  const none: Uint8Array[] = [];
  for await (const c of bytesToStream(new Uint8Array(0)) as unknown as AsyncIterable<Uint8Array>) none.push(c);
  assert.deepEqual(none, []);
});

test("toArrayBuffer copies exactly the view", () => {
  const src = Uint8Array.of(1, 2, 3, 4).subarray(1, 3);
  const ab = toArrayBuffer(src);
  assert.equal(ab.byteLength, 2);
  assert.deepEqual([...new Uint8Array(ab)], [2, 3]);
});
