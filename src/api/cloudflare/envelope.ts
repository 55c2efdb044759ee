/**
 * The Cloudflare API v4 envelope and error codes. Every answer (errors included) is a JSON envelope:
 * the SDK crashes on an empty body and retries 409/429/5xx, so statuses follow Cloudflare's.
 */
import { KvError } from "../../core/errors.ts";
import { HttpError, sendJson } from "../../http/http.ts";
import type { Response } from "../../http/listener.ts";
import type { ErrorEncoder } from "../../http/route.ts";

/** Cloudflare's codes where they are known; 10001 for any other bad request. */
export const CF_CODES = {
  authentication: 10000,
  badRequest: 10001,
  keyNotFound: 10009,
  namespaceNotFound: 10013,
  namespaceExists: 10014,
  titleMissing: 10019,
  noRoute: 7003,
  internal: 10002,
} as const;

export function ok(res: Response, result: unknown, resultInfo?: Record<string, unknown>): void {
  sendJson(res, 200, { success: true, errors: [], messages: [], result, ...(resultInfo ? { result_info: resultInfo } : {}) });
}

/** An error that carries its own Cloudflare code. */
export class CfError extends HttpError {
  readonly code: number;
  constructor(status: number, code: number, message: string) {
    super(status, message);
    this.code = code;
  }
}

function codeFor(status: number, cause: unknown): number {
  if (cause instanceof CfError) return cause.code;
  if (cause instanceof KvError) {
    if (cause.code === "namespace_not_found") return CF_CODES.namespaceNotFound;
    if (cause.code === "namespace_exists") return CF_CODES.namespaceExists;
    if (cause.code === "key_not_found") return CF_CODES.keyNotFound;
  }
  if (status === 401 || status === 403) return CF_CODES.authentication;
  if (status === 404 && cause === null) return CF_CODES.noRoute;
  if (status >= 500) return CF_CODES.internal;
  return CF_CODES.badRequest;
}

export const cfErrors: ErrorEncoder = (res, status, message, headers, cause) =>
  sendJson(res, status, { success: false, errors: [{ code: codeFor(status, cause), message }], messages: [], result: null }, headers);

/**
 * The Workers validation functions throw what the binding throws: a TypeError (checked in the binding,
 * a 400 over HTTP) or `Error("KV <OP> failed: <status> <message>")` (the service's own answer). Over
 * REST the service answers directly, so unwrap to the status and message.
 */
export function fromBindingError(e: unknown): unknown {
  if (e instanceof TypeError) return new HttpError(400, e.message);
  if (e instanceof Error) {
    const m = /^KV \w+ failed: (\d{3}) ([\s\S]*)$/.exec(e.message);
    if (m) return new HttpError(Number(m[1]), m[2]!);
  }
  return e;
}

/** Runs `fn`, turning binding-style validation errors into HTTP errors. */
export function validated<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw fromBindingError(e);
  }
}
