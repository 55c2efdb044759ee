import { test } from "node:test";
import assert from "node:assert/strict";
import { apiBase } from "./cloudflare-api.ts";
import { CappedUpload, putRequestBody } from "./put-body.ts";

const utf8 = new TextEncoder();

async function form(body: ReturnType<typeof putRequestBody>): Promise<FormData> {
  const bytes = new Uint8Array(await new Response(body.body).arrayBuffer());
  return new Response(bytes, { headers: { "content-type": body.contentType } }).formData();
}

function streamOf(chunks: unknown[]): ReadableStream<unknown> {
  return new ReadableStream({ start: (c) => (chunks.forEach((x) => c.enqueue(x)), c.close()) });
}

test("without metadata the body is raw: text as text/plain, bytes and streams as octets", async () => {
  const text = putRequestBody({ kind: "text", text: "a\nb" }, undefined, 100);
  assert.equal(text.contentType, "text/plain;charset=utf-8");
  assert.equal(await new Response(text.body).text(), "a\nb");
  const bytes = putRequestBody({ kind: "bytes", bytes: Uint8Array.of(0, 255) }, undefined, 100);
  assert.equal(bytes.contentType, "application/octet-stream");
  assert.equal(bytes.upload, undefined);
  const stream = putRequestBody({ kind: "stream", stream: streamOf(["x", Uint8Array.of(1)]) }, undefined, 100);
  assert.deepEqual(new Uint8Array(await new Response(stream.body).arrayBuffer()), Uint8Array.of(0x78, 1));
  assert.deepEqual(await stream.upload!.outcome(), { kind: "sent" });
});

test("with metadata: text is a field kept byte for byte (no CRLF normalisation), bytes and streams are files", async () => {
  const text = "line\nline\r\n--not-a-boundary\u0000é";
  const f = await form(putRequestBody({ kind: "text", text }, '{"m":"é"}', 100));
  assert.equal(f.get("value"), text);
  assert.equal(f.get("metadata"), '{"m":"é"}');

  const b = (await form(putRequestBody({ kind: "bytes", bytes: utf8.encode("\r\n--x") }, "1", 100))).get("value");
  assert.ok(b instanceof Blob);
  assert.equal(await b.text(), "\r\n--x");

  const s = putRequestBody({ kind: "stream", stream: streamOf([utf8.encode("ab"), "c"]) }, "[1]", 100);
  const sv = (await form(s)).get("value") as Blob;
  assert.equal(await sv.text(), "abc");
  assert.deepEqual(await s.upload!.outcome(), { kind: "sent" });
});

test("a capped upload stops at the limit and counts the rest; bad chunks and stream errors are reported", async () => {
  const over = new CappedUpload(streamOf([new Uint8Array(3), new Uint8Array(3), new Uint8Array(4)]), 5);
  await assert.rejects(new Response(over.stream).arrayBuffer());
  assert.deepEqual(await over.outcome(), { kind: "too-large", length: 10 });

  const bad = new CappedUpload(streamOf([Uint8Array.of(1), 42]), 5);
  await assert.rejects(new Response(bad.stream).arrayBuffer());
  const outcome = await bad.outcome();
  assert.equal(outcome.kind, "failed");
  assert.deepEqual((outcome as { error: Error }).error, new TypeError("This ReadableStream did not return bytes."));

  const boom = new Error("boom");
  const failing = new CappedUpload(new ReadableStream({ pull: (c) => c.error(boom) }), 5);
  await assert.rejects(new Response(failing.stream).arrayBuffer());
  assert.deepEqual(await failing.outcome(), { kind: "failed", error: boom });
});

test("apiBase: the server URL with or without /client/v4 and trailing slashes", () => {
  for (const url of ["http://h:1", "http://h:1/", "http://h:1/client/v4", "http://h:1/client/v4/", "http://h:1/?x=1"]) {
    assert.equal(apiBase(url), "http://h:1/client/v4", url);
  }
  assert.equal(apiBase("https://kv.example.com/openkv/"), "https://kv.example.com/openkv/client/v4");
});
