/**
 * One error type for the whole engine. `code` says what went wrong and `message` is the exact
 * user-facing text; which HTTP status a code becomes is decided once per API in the HTTP layer
 * (`src/http/errors.ts`), never here. Anything that is not a KvError is internal: front ends log it and
 * answer a generic 500.
 */
export const KV_ERROR_CODES = [
  "invalid_key",
  "invalid_value",
  "invalid_argument",
  "invalid_mutation",
  "key_too_large",
  "value_too_large",
  "metadata_too_large",
  "limit_exceeded",
  "invalid_expiration",
  "key_not_found",
  "namespace_not_found",
  "namespace_exists",
  "rate_limited",
  "closed",
  "busy",
  /** A sealed entry or message failed to decrypt: altered, moved, or under a data key the store lacks. */
  "decrypt_failed",
  /** The encryption key cannot open this store: none given for an encrypted store, a wrong one, a bad one. */
  "encryption_key",
  /** The store cannot be reached right now (a PostgreSQL primary gone, a failover under way): retry. */
  "unavailable",
  /**
   * The connection to the store was lost while a write was committing: it may or may not have been
   * applied. Never answered as success, never retried by us; the caller reads before retrying.
   */
  "outcome_unknown",
  /** The store refused the caller's token for this (an edge whose own token allows less than its client's). */
  "forbidden",
] as const;

export type KvErrorCode = (typeof KV_ERROR_CODES)[number];

export class KvError extends Error {
  readonly code: KvErrorCode;
  constructor(code: KvErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "KvError";
    this.code = code;
  }
}
