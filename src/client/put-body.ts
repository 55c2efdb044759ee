/**
 * Request bodies for `PUT …/values/{key}`: a raw body without metadata, else multipart/form-data with a
 * `metadata` part and a `value` part. Text is sent as text (a raw `text/plain` body, or a multipart
 * field) so the server stores a string that Deno reads as a string; bytes and streams as bytes.
 *
 * Multipart is written by hand rather than with `FormData`: FormData turns "\n" in a text field into
 * "\r\n" (as HTML forms must), and cannot carry a stream without buffering it first.
 */
import { randomBytes } from "node:crypto";
import { chunkBytes, type PutBody } from "../api/workers/body.ts";

const utf8 = new TextEncoder();

export interface PutRequestBody {
  readonly body: NonNullable<RequestInit["body"]>;
  readonly contentType: string;
  /** Present for a stream value: what happened to it once the request is over. */
  readonly upload?: CappedUpload;
}

/** A boundary that does not occur in `inside` (random, so a stream cannot contain it either in practice). */
function boundaryFor(inside: Uint8Array | null): string {
  for (;;) {
    const boundary = `openkv-${randomBytes(16).toString("hex")}`;
    if (inside === null || Buffer.from(inside.buffer, inside.byteOffset, inside.byteLength).indexOf(boundary) === -1) return boundary;
  }
}

/**
 * The body of a put of `value` with `metadata` (JSON text, or undefined for none). A stream value is
 * streamed through a `CappedUpload` that stops sending at `maxValueBytes`.
 */
export function putRequestBody(value: PutBody, metadata: string | undefined, maxValueBytes: number): PutRequestBody {
  const bytes = value.kind === "text" ? utf8.encode(value.text) : value.kind === "bytes" ? value.bytes : null;
  if (metadata === undefined) {
    if (value.kind === "stream") {
      const upload = new CappedUpload(value.stream, maxValueBytes);
      return { body: upload.stream, contentType: "application/octet-stream", upload };
    }
    return { body: bytes!, contentType: value.kind === "text" ? "text/plain;charset=utf-8" : "application/octet-stream" };
  }

  const boundary = boundaryFor(bytes);
  const contentType = `multipart/form-data; boundary=${boundary}`;
  // A field (no filename) for text, so the server stores a string; a file part for bytes.
  const valueHeaders =
    value.kind === "text"
      ? 'Content-Disposition: form-data; name="value"'
      : 'Content-Disposition: form-data; name="value"; filename="value"\r\nContent-Type: application/octet-stream';
  const head = utf8.encode(
    `--${boundary}\r\nContent-Disposition: form-data; name="metadata"\r\n\r\n${metadata}\r\n` + `--${boundary}\r\n${valueHeaders}\r\n\r\n`,
  );
  const tail = utf8.encode(`\r\n--${boundary}--\r\n`);
  if (value.kind !== "stream") return { body: Buffer.concat([head, bytes!, tail]), contentType };

  const upload = new CappedUpload(value.stream, maxValueBytes);
  const reader = upload.stream.getReader();
  let started = false;
  const body = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        if (!started) {
          started = true;
          controller.enqueue(head);
          return;
        }
        const { done, value: chunk } = await reader.read();
        if (!done) return controller.enqueue(chunk);
        controller.enqueue(tail);
        controller.close();
      },
      cancel: (reason) => reader.cancel(reason),
    },
    { highWaterMark: 0 },
  );
  return { body, contentType, upload };
}

/** How a streamed value ended. */
export type UploadOutcome =
  | { readonly kind: "sent" }
  /** Longer than the limit: sending stopped there; `length` is the whole stream's, counted to its end. */
  | { readonly kind: "too-large"; readonly length: number }
  /** The caller's stream failed, or gave a chunk that is not bytes (the binding's TypeError). */
  | { readonly kind: "failed"; readonly error: unknown };

/**
 * A caller's stream as request body bytes: each chunk converted as the binding converts it (strings as
 * UTF-8, anything else not bytes a TypeError), sending stopped once the value passes `maxBytes`. The
 * request then fails; `outcome()` says why, counting the rest of the stream to report its full length
 * as the embedded binding does.
 */
export class CappedUpload {
  readonly stream: ReadableStream<Uint8Array>;
  readonly #reader: ReadableStreamDefaultReader<unknown>;
  readonly #maxBytes: number;
  #length = 0;
  #state: "reading" | "done" | "too-large" | "failed" = "reading";
  #error: unknown = null;

  constructor(source: ReadableStream<unknown>, maxBytes: number) {
    this.#reader = source.getReader();
    this.#maxBytes = maxBytes;
    this.stream = new ReadableStream<Uint8Array>(
      {
        pull: async (controller) => {
          try {
            const { done, value } = await this.#reader.read();
            if (done) {
              this.#state = "done";
              return controller.close();
            }
            const bytes = chunkBytes(value);
            this.#length += bytes.byteLength;
            if (this.#length > this.#maxBytes) {
              this.#state = "too-large";
              return controller.error(new RangeError("value too large"));
            }
            controller.enqueue(bytes);
          } catch (e) {
            this.#fail(e);
            controller.error(e);
          }
        },
        // The request stopped reading (closed namespace, an early answer): let the caller's stream go
        // too. The request's own outcome says what happened.
        cancel: async (reason) => {
          if (this.#state !== "reading") return;
          this.#state = "done";
          await this.#reader.cancel(reason).catch(() => {});
        },
      },
      { highWaterMark: 0 },
    );
  }

  #fail(error: unknown): void {
    this.#state = "failed";
    this.#error = error;
    this.#reader.cancel(error).catch(() => {});
  }

  /** Settles the caller's stream once the request is over, and says how it went. */
  async outcome(): Promise<UploadOutcome> {
    if (this.#state === "failed") return { kind: "failed", error: this.#error };
    if (this.#state === "too-large") {
      try {
        for (;;) {
          const { done, value } = await this.#reader.read();
          if (done) break;
          this.#length += chunkBytes(value).byteLength;
        }
      } catch (e) {
        this.#fail(e);
        return { kind: "failed", error: e };
      }
      return { kind: "too-large", length: this.#length };
    }
    if (this.#state === "reading") {
      // The request ended before the stream did (the server answered early): release the caller's stream.
      this.#state = "done";
      await this.#reader.cancel().catch(() => {});
    }
    return { kind: "sent" };
  }
}
