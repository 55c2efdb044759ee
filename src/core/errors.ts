/**
 * One error type for the whole engine. `code` decides the HTTP status at every boundary (see
 * `statusFor`); `message` is the exact user-facing text. Anything that is not a KvError is internal:
 * front ends log it and answer a generic 500.
 */
export const ERROR_STATUS = {
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
  closed: 500,
  busy: 503,
} as const;

export type KvErrorCode = keyof typeof ERROR_STATUS;

export class KvError extends Error {
  readonly code: KvErrorCode;
  constructor(code: KvErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "KvError";
    this.code = code;
  }
  get status(): number {
    return ERROR_STATUS[this.code];
  }
}
