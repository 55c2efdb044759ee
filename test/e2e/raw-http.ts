/**
 * Clients that send exactly the bytes a test made, for malformed-request tests: HTTP/1.1 over a raw
 * socket (fetch and node:http refuse to send broken requests) and one stream of an HTTP/2 session.
 * Both read one answer and stop: a KV Connect stream (watch, queue listen) never ends, so its answer is
 * its head.
 */
import type { ClientHttp2Session } from "node:http2";
import { connect } from "node:net";

export interface Answer {
  /** null: the server closed the connection without answering. */
  status: number | null;
  headers: Record<string, string>;
  body: Buffer;
  /** An endless framed stream whose head was read and the rest left. */
  streamed: boolean;
}

const STREAM_TYPE = "application/octet-stream";

/** Sends `bytes` on a new connection and reads one response; rejects if none has arrived within `timeoutMs`. */
export function sendHttp1(port: number, bytes: Buffer, options: { headRequest: boolean; timeoutMs: number }): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    let buf = Buffer.alloc(0);
    let settled = false;
    const finish = (answer: Answer | Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (answer instanceof Error) reject(answer);
      else resolve(answer);
    };
    const timer = setTimeout(() => finish(new Error(`no answer within ${options.timeoutMs} ms`)), options.timeoutMs);
    const parse = (closed: boolean): Answer | null => {
      for (;;) {
        const end = buf.indexOf("\r\n\r\n");
        if (end === -1) return closed ? { status: null, headers: {}, body: buf, streamed: false } : null;
        const lines = buf.subarray(0, end).toString("latin1").split("\r\n");
        const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0]!)?.[1] ?? NaN);
        if (!Number.isInteger(status)) return { status: null, headers: {}, body: buf, streamed: false };
        const headers: Record<string, string> = {};
        for (const line of lines.slice(1)) {
          const i = line.indexOf(":");
          if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
        }
        const rest = buf.subarray(end + 4);
        if (status >= 100 && status < 200) {
          buf = rest;
          continue;
        }
        if (options.headRequest || status === 204 || status === 304) return { status, headers, body: Buffer.alloc(0), streamed: false };
        if (headers["content-length"] !== undefined) {
          const n = Number(headers["content-length"]);
          if (rest.length >= n) return { status, headers, body: rest.subarray(0, n), streamed: false };
          return closed ? { status, headers, body: rest, streamed: false } : null;
        }
        if (/chunked/i.test(headers["transfer-encoding"] ?? "")) {
          if (status === 200 && headers["content-type"] === STREAM_TYPE) return { status, headers, body: rest, streamed: true };
          const body = dechunk(rest);
          if (body) return { status, headers, body, streamed: false };
          return closed ? { status, headers, body: rest, streamed: false } : null;
        }
        return closed ? { status, headers, body: rest, streamed: false } : null;
      }
    };
    socket.on("data", (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const answer = parse(false);
      if (answer) finish(answer);
    });
    socket.on("close", () => finish(parse(true)!));
    // A reset after the server answered and closed is still that answer.
    socket.on("error", () => {});
    socket.write(bytes);
  });
}

/** The body of a complete chunked message, or null while the last chunk has not arrived. */
function dechunk(data: Buffer): Buffer | null {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = data.indexOf("\r\n", at);
    if (eol === -1) return null;
    const size = parseInt(data.subarray(at, eol).toString("latin1"), 16);
    if (!Number.isFinite(size)) return null;
    if (size === 0) return Buffer.concat(parts);
    if (data.length < eol + 2 + size + 2) return null;
    parts.push(data.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
}

/** Node's HTTP/2 client refused to send the request (it validates what it sends): not the server's doing. */
export class UnsendableError extends Error {}

/**
 * Sends one request on `session`; rejects with `UnsendableError` if the client refuses it, or an error
 * if it is not answered within `timeoutMs`.
 */
export function sendHttp2(
  session: ClientHttp2Session,
  headers: Record<string, string>,
  body: Uint8Array,
  timeoutMs: number,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    let stream: ReturnType<ClientHttp2Session["request"]>;
    try {
      stream = session.request(headers, { endStream: false });
    } catch (e) {
      return reject(new UnsendableError(e instanceof Error ? e.message : String(e)));
    }
    const chunks: Buffer[] = [];
    let status: number | null = null;
    let answerHeaders: Record<string, string> = {};
    let settled = false;
    const finish = (answer: Answer | Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (!stream.closed) stream.close();
      if (answer instanceof Error) reject(answer);
      else resolve(answer);
    };
    const timer = setTimeout(() => finish(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    stream.on("response", (h) => {
      status = Number(h[":status"]);
      answerHeaders = Object.fromEntries(Object.entries(h).map(([k, v]) => [k, String(v)]));
      if (status === 200 && answerHeaders["content-type"] === STREAM_TYPE && answerHeaders["content-length"] === undefined) {
        finish({ status, headers: answerHeaders, body: Buffer.alloc(0), streamed: true });
      }
    });
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("end", () => finish({ status, headers: answerHeaders, body: Buffer.concat(chunks), streamed: false }));
    stream.on("close", () => finish({ status, headers: answerHeaders, body: Buffer.concat(chunks), streamed: false }));
    stream.on("error", () => {});
    stream.end(body);
  });
}
