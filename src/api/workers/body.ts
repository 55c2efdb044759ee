/**
 * Value bodies: what `put` accepts, how a stream is collected (each chunk copied once into one growing
 * buffer, never several full copies), and how `get(k, "stream")` hands bytes back.
 */
import { KV_LIMITS, KV_MESSAGES } from "./messages.ts";

const utf8 = new TextEncoder();

/** A `put` value, classified the way workerd's binding does. */
export type PutBody =
  | { readonly kind: "text"; readonly text: string }
  | { readonly kind: "bytes"; readonly bytes: Uint8Array }
  | { readonly kind: "stream"; readonly stream: ReadableStream<unknown> };

function isArrayBuffer(v: object): v is ArrayBuffer {
  // Not `instanceof`: a buffer from another realm (vm, worker) is still an ArrayBuffer.
  return Object.prototype.toString.call(v) === "[object ArrayBuffer]";
}

function isReadableStream(v: object): v is ReadableStream<unknown> {
  return typeof (v as { getReader?: unknown }).getReader === "function";
}

/**
 * Strings, ArrayBuffers, ArrayBufferViews and ReadableStreams are values; other primitives are
 * converted to strings (workerd stores `put(k, 1)` as "1"); any other object is a TypeError.
 * Bytes are not copied here: the caller copies them once it has validated everything else.
 */
export function classifyBody(value: unknown): PutBody {
  if (typeof value === "string") return { kind: "text", text: value };
  if (value === null || (typeof value !== "object" && typeof value !== "function")) {
    return { kind: "text", text: `${value as string}` };
  }
  if (ArrayBuffer.isView(value)) {
    return { kind: "bytes", bytes: new Uint8Array(value.buffer, value.byteOffset, value.byteLength) };
  }
  if (isArrayBuffer(value)) return { kind: "bytes", bytes: new Uint8Array(value) };
  if (isReadableStream(value)) return { kind: "stream", stream: value };
  throw new TypeError(KV_MESSAGES.putValueType);
}

/** One chunk of a `put` stream as bytes: strings as UTF-8, buffers and views as they are, else TypeError. */
export function chunkBytes(chunk: unknown): Uint8Array {
  if (typeof chunk === "string") return utf8.encode(chunk);
  if (chunk !== null && typeof chunk === "object") {
    if (ArrayBuffer.isView(chunk)) return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (isArrayBuffer(chunk)) return new Uint8Array(chunk);
  }
  throw new TypeError(KV_MESSAGES.streamChunk);
}

export interface CollectedStream {
  /** The whole body, or null when it was longer than `maxBytes`. */
  readonly bytes: Uint8Array | null;
  /** The body's full length (counted to the end even past the limit, to report it). */
  readonly length: number;
}

/**
 * Reads a stream into one buffer of exactly its length. The buffer is a resizable ArrayBuffer that
 * grows in place, so each chunk is copied once and the caller's chunks can be collected as we go;
 * past `maxBytes` the rest is counted and dropped.
 *
 * @example
 * const { bytes, length } = await collectStream(request.body!, 25 * 1024 * 1024);
 */
export async function collectStream(stream: ReadableStream<unknown>, maxBytes: number): Promise<CollectedStream> {
  const reader = stream.getReader();
  const buffer = new ArrayBuffer(0, { maxByteLength: maxBytes });
  let length = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      const chunk = chunkBytes(value);
      const end = length + chunk.byteLength;
      if (end <= maxBytes && length === buffer.byteLength) {
        buffer.resize(end);
        new Uint8Array(buffer, length, chunk.byteLength).set(chunk);
      }
      length = end;
    }
  } catch (e) {
    await reader.cancel(e).catch(() => {});
    throw e;
  } finally {
    reader.releaseLock();
  }
  if (length > maxBytes) return { bytes: null, length };
  return { bytes: new Uint8Array(buffer.transferToFixedLength()), length };
}

/**
 * A stream over `bytes`, in chunks of 64 KiB copied as they are pulled: the consumer owns what it
 * reads and can never write through to the stored value.
 */
export function bytesToStream(bytes: Uint8Array, chunkBytes: number = KV_LIMITS.streamChunkBytes): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (offset >= bytes.byteLength) {
          controller.close();
          return;
        }
        const end = Math.min(offset + chunkBytes, bytes.byteLength);
        controller.enqueue(bytes.slice(offset, end));
        offset = end;
      },
    },
    { highWaterMark: 0 },
  );
}

/** A fresh ArrayBuffer holding exactly `bytes`. */
export function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  const out = new ArrayBuffer(bytes.byteLength);
  new Uint8Array(out).set(bytes);
  return out;
}
