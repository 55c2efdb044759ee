/** Small request/response helpers shared by every front end mounted on the server. */
export { ClientGoneError, describeError, HttpError } from "./errors.ts";
import { ClientGoneError, HttpError } from "./errors.ts";
import type { ServerResponse } from "node:http";
import type { Request, Response } from "./listener.ts";

/** True once the client reset the stream or closed the connection before the request arrived whole. */
export function clientGone(req: Request): boolean {
  return (req as { aborted?: boolean }).aborted === true || req.readableAborted;
}

/**
 * Reads the whole body, refusing (413) past `limit` bytes without buffering the excess. A client that
 * goes away mid-body (or went away before this was called) rejects it with `ClientGoneError`: HTTP/2
 * ends such a request as if it were complete, so "end" alone would hand a truncated body on.
 */
export function readBody(req: Request, limit: number): Promise<Buffer> {
  if (clientGone(req)) return Promise.reject(new ClientGoneError());
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > limit) {
    req.resume();
    return Promise.reject(new HttpError(413, `Request body of ${declared} bytes exceeds the limit of ${limit} bytes`));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const fail = (e: Error) => {
      if (settled) return;
      settled = true;
      reject(e);
    };
    // Every stream closes once it is answered: build the error (its stack trace costs) only when it is news.
    const gone = () => {
      if (!settled) fail(new ClientGoneError());
    };
    req.on("data", (chunk: Buffer) => {
      if (settled) return;
      size += chunk.length;
      if (size > limit) {
        req.resume();
        fail(new HttpError(413, `Request body exceeds the limit of ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.on("aborted", gone);
    req.on("end", () => {
      if (settled) return;
      if (clientGone(req)) return fail(new ClientGoneError());
      settled = true;
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    });
    req.on("error", (e) => fail(clientGone(req) ? new ClientGoneError() : e));
    req.on("close", gone);
  });
}

export function sendJson(res: Response, status: number, body: unknown, headers: Record<string, string | number> = {}): void {
  sendJsonText(res, status, JSON.stringify(body), headers);
}

/** Sends JSON that is already text (e.g. spliced together without a parse/serialise round trip). */
export function sendJsonText(res: Response, status: number, text: string, headers: Record<string, string | number> = {}): void {
  (res as ServerResponse).writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers });
  res.end(text);
}

let turnEnd: (() => void)[] = [];

function flushTurnEnd(): void {
  const sends = turnEnd;
  turnEnd = [];
  for (const send of sends) send();
}

/**
 * Sends a whole response at the end of this event-loop turn (its check phase), together with every
 * other response sent so in the turn; resolves once it is written. Writing each answer the moment it is
 * ready lets a closed-loop load (50 connections, each waiting for its answer) settle into small batches
 * with a sleep and a wake-up of this thread between them: `perf stat` on the server's main thread under
 * wrk counted 0.56 context switches per GET written at once and 0.005 written at the turn's end, and
 * twice the CPU per request (bench:cpu, README "Benchmarks").
 */
export function sendAtTurnEnd(res: Response, status: number, headers: Record<string, string | number>, body: string | Uint8Array): Promise<void> {
  return new Promise((resolve) => {
    turnEnd.push(() => {
      (res as ServerResponse).writeHead(status, headers);
      res.end(body);
      resolve();
    });
    if (turnEnd.length === 1) setImmediate(flushTurnEnd);
  });
}

export function sendText(res: Response, status: number, text: string, headers: Record<string, string | number> = {}): void {
  (res as ServerResponse).writeHead(status, { "content-type": "text/plain; charset=utf-8", "content-length": Buffer.byteLength(text), ...headers });
  res.end(text);
}

export function parseJson(body: Buffer, what = "request body"): unknown {
  try {
    return JSON.parse(body.toString("utf8"));
  } catch {
    throw new HttpError(400, `The ${what} is not valid JSON`);
  }
}
