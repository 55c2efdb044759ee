/**
 * Errors on the HTTP side: `HttpError` for what only HTTP knows (401, 405, a malformed body), and the one
 * table that turns core's error codes into statuses. An API whose clients need other statuses (KV Connect:
 * Deno retries 503 forever and throws on 4xx) passes its own table through its routes.
 */
import { KvError, type KvErrorCode } from "../core/errors.ts";

export class HttpError extends Error {
  readonly status: number;
  readonly headers: Record<string, string>;
  constructor(status: number, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.status = status;
    this.headers = headers;
  }
}

/**
 * The client went away before its request arrived whole (it closed the connection or reset the stream
 * mid-body). Its event, not our trouble: never logged, nothing is answered (no one is listening), and it
 * is counted as status 499, nginx's "client closed request".
 */
export class ClientGoneError extends Error {
  constructor() {
    super("The client closed the connection before its request body was complete");
  }
}

/** The status counted for a request whose client went away (`ClientGoneError`). */
export const CLIENT_GONE_STATUS = 499;

export type StatusTable = Readonly<Record<KvErrorCode, number>>;

/** Core's codes as HTTP statuses. 500 means "our trouble": logged, and answered with a generic message. */
export const KV_ERROR_STATUS: StatusTable = {
  invalid_key: 400,
  invalid_value: 400,
  invalid_argument: 400,
  invalid_mutation: 400,
  key_too_large: 414,
  value_too_large: 413,
  metadata_too_large: 413,
  limit_exceeded: 400,
  invalid_expiration: 400,
  key_not_found: 404,
  namespace_not_found: 404,
  namespace_exists: 400,
  rate_limited: 429,
  // A closed store is the server's trouble, not the caller's: answered like any other internal error.
  closed: 500,
  busy: 503,
  // Neither is the caller's doing, and retrying will not help: a 500, logged, whose message (the entry,
  // the data key id, what to do; nothing secret) is answered too, so the report reaches whoever can act.
  decrypt_failed: 500,
  encryption_key: 500,
  unavailable: 503,
  // Not the caller's doing, and not safely retried by a client that does not read first: a 500 whose
  // message says what happened and what to do.
  outcome_unknown: 500,
  forbidden: 403,
};

/** Codes whose message is answered even though the status is 500 (it names no secret and says what to do). */
const SAID_ALOUD: ReadonlySet<KvErrorCode> = new Set(["decrypt_failed", "encryption_key", "outcome_unknown", "unavailable", "forbidden"]);

export interface DescribedError {
  status: number;
  message: string;
  headers: Record<string, string>;
  /** Not meant for the caller: log it, answer a generic message. */
  internal: boolean;
}

/** Status and message for any error: KvError and HttpError are meant for users; anything else is not. */
export function describeError(e: unknown, table: StatusTable = KV_ERROR_STATUS): DescribedError {
  if (e instanceof ClientGoneError) return { status: CLIENT_GONE_STATUS, message: e.message, headers: {}, internal: false };
  if (e instanceof HttpError) return { status: e.status, message: e.message, headers: e.headers, internal: false };
  if (e instanceof KvError) {
    const status = table[e.code];
    if (SAID_ALOUD.has(e.code)) return { status, message: e.message, headers: {}, internal: true };
    if (status !== 500) return { status, message: e.message, headers: {}, internal: false };
  }
  return { status: 500, message: "Internal server error", headers: {}, internal: true };
}
