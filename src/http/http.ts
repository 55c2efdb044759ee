/** Small request/response helpers shared by every front end mounted on the server. */
export { describeError, HttpError } from "./errors.ts";
import { HttpError } from "./errors.ts";
import type { ServerResponse } from "node:http";
import type { Request, Response } from "./listener.ts";

/** Reads the whole body, refusing (413) past `limit` bytes without buffering the excess. */
export function readBody(req: Request, limit: number): Promise<Buffer> {
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > limit) {
    req.resume();
    return Promise.reject(new HttpError(413, `Request body of ${declared} bytes exceeds the limit of ${limit} bytes`));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on("data", (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > limit) {
        failed = true;
        req.resume();
        reject(new HttpError(413, `Request body exceeds the limit of ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => {
      if (!failed) resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    });
    req.on("error", (e) => {
      if (!failed) reject(e);
    });
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
