/**
 * The edge protocol: how an edge node (`openkv serve --edge-of <core>`) reaches the core that holds the
 * data. Two routes on the core, both authenticated with the edge's own token:
 *
 * - `POST /_openkv/v1/rpc`: one call of the core's Backend contract (plus `verify`, `account` and `storeId`), the
 *   body `{ op, args }` and the answer `{ ok: result }` or `{ error: { code, message } }`, both in
 *   OpenKV's own V8 codec (src/core/v8.ts: fuzzed, safe on network input; Uint8Array and bigint survive);
 * - `GET /_openkv/v1/feed/wait?after=<20 hex>&timeoutMs=N`: a doorbell that answers `{"latest": "<20 hex>"}`
 *   as soon as the core has committed anything after `after` (at once without `after`), or at the timeout.
 *
 * The core does the real work at the engine level (validation, group commit, sealing), so what crosses
 * is plaintext entries and the core's KvError codes with their exact messages.
 */
import { KV_ERROR_CODES, KvError, type KvErrorCode } from "../core/errors.ts";
import { deserializeV8, serializeV8 } from "../core/v8.ts";
import type { CommitResult } from "../core/types.ts";

export const EDGE_RPC_PATH = "/_openkv/v1/rpc";
export const EDGE_FEED_WAIT_PATH = "/_openkv/v1/feed/wait";
export const EDGE_RPC_CONTENT_TYPE = "application/x-openkv-v8";
/** The longest a doorbell request is held open; longer asks are cut to it. */
export const FEED_WAIT_MAX_MS = 30_000;

export type EdgeOp =
  | "listNamespaces"
  | "getNamespace"
  | "getNamespaceByTitle"
  | "createNamespace"
  | "renameNamespace"
  | "deleteNamespace"
  | "read"
  | "count"
  | "commit"
  | "claimMessages"
  | "ackMessage"
  | "retryMessage"
  | "nextMessageAt"
  | "changes"
  | "ping"
  | "verify"
  | "account"
  | "storeId"
  | "namespaceStats"
  | "appendAnalytics";

export interface RpcRequest {
  readonly op: EdgeOp;
  readonly args: readonly unknown[];
}

export interface WireError {
  /** A core KvError code, or null for an HTTP-level refusal (401, 403, 413…). */
  readonly code: KvErrorCode | null;
  readonly message: string;
}

/** One commit item's outcome: what `Engine.atomic` resolved with, or the KvError it threw. */
export type WireCommitOutcome = { readonly applied: CommitResult } | { readonly error: WireError };

/** What `verify` answers: the token's principal, shaped as src/auth's Principal. */
export type WirePrincipal =
  | { readonly kind: "admin" }
  | {
      readonly kind: "token";
      readonly id: string;
      readonly name: string;
      readonly namespaces: readonly string[] | null;
      readonly permission: "read" | "write";
      readonly createdAt: number;
      readonly analytics?: boolean;
    };

export function encodeRpc(value: unknown): Uint8Array {
  return serializeV8(value);
}

/** Decodes a body; bytes the codec refuses become `onBad`'s error. */
export function decodeRpc(bytes: Uint8Array, onBad: (message: string) => Error): unknown {
  try {
    return deserializeV8(bytes);
  } catch (e) {
    throw onBad(`The body is not an OpenKV V8 value (${(e as Error).message})`);
  }
}

export function wireError(code: KvErrorCode | null, message: string): { error: WireError } {
  return { error: { code, message } };
}

/** The KvError a wire error stands for, when its code is one of core's. */
export function kvErrorOf(error: unknown): KvError | null {
  if (typeof error !== "object" || error === null) return null;
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (typeof message !== "string" || !KV_ERROR_CODES.includes(code as KvErrorCode)) return null;
  return new KvError(code as KvErrorCode, message);
}
