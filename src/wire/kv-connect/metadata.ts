/**
 * The KV Connect metadata exchange: `POST <url given to openKv>` with `{"supportedVersions":[…]}` →
 * `{version, databaseId, endpoints, token, expiresAt}` and nothing else (@deno/kv rejects extra fields).
 */
import { KvError } from "../../core/errors.ts";
import type { NamespaceInfo } from "../../core/types.ts";

export const SUPPORTED_VERSIONS = [3, 2, 1] as const;
export type ProtocolVersion = (typeof SUPPORTED_VERSIONS)[number];

export interface DatabaseMetadata {
  version: ProtocolVersion;
  databaseId: string;
  endpoints: { url: string; consistency: "strong" | "eventual" }[];
  token: string;
  expiresAt: string;
}

/** The database id of a namespace: its 32-hex id as a lowercase UUID, stable for the namespace's life. */
export function databaseIdOf(namespaceId: string): string {
  const h = namespaceId;
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** The namespace id behind a database id (the reverse of databaseIdOf). */
export function namespaceIdOf(databaseId: string): string {
  return databaseId.replace(/-/g, "").toLowerCase();
}

/** The data path of a namespace, relative to the server root (no trailing slash). */
export function endpointPath(namespace: NamespaceInfo): string {
  return `/kv-connect/${namespace.id}`;
}

/** The path of a namespace's eventual endpoint: reads there may be answered from an edge's cache. */
export function eventualEndpointPath(namespace: NamespaceInfo): string {
  return `${endpointPath(namespace)}/eventual`;
}

/** The highest protocol version both sides speak. */
export function negotiateVersion(body: unknown): ProtocolVersion {
  const supported = (body as { supportedVersions?: unknown } | null)?.supportedVersions;
  if (!Array.isArray(supported)) {
    throw new KvError("invalid_argument", 'The metadata request must be a JSON object like {"supportedVersions":[1,2,3]}');
  }
  const version = SUPPORTED_VERSIONS.find((v) => supported.includes(v));
  if (version === undefined) {
    throw new KvError("invalid_argument", `The server could not negotiate a protocol version: it speaks versions ${[...SUPPORTED_VERSIONS].reverse().join(", ")}.`);
  }
  return version;
}

/**
 * The response body. `origin` (e.g. `http://127.0.0.1:8787`) is only used for version 1, whose endpoint
 * URLs must be absolute; versions 2 and 3 get a URL relative to the metadata URL.
 *
 * `strongBase` is set on an edge node: the public URL of its core. The core is then listed as the
 * `strong` endpoint (writes, strong reads; Deno's own client sends everything there) and this server's
 * eventual path as the `eventual` one (@deno/kv sends eventual reads and watch there). Strong comes
 * first: clients that look only for "the first strong endpoint" must find the core.
 */
export function databaseMetadata(
  namespace: NamespaceInfo,
  version: ProtocolVersion,
  token: string,
  expiresAt: number,
  origin: string,
  strongBase?: string,
): DatabaseMetadata {
  const local = (path: string) => (version === 1 ? origin + path : path);
  const endpoints: DatabaseMetadata["endpoints"] = strongBase
    ? [
        { url: strongBase.replace(/\/+$/, "") + endpointPath(namespace), consistency: "strong" },
        { url: local(eventualEndpointPath(namespace)), consistency: "eventual" },
      ]
    : [{ url: local(endpointPath(namespace)), consistency: "strong" }];
  return {
    version,
    databaseId: databaseIdOf(namespace.id),
    endpoints,
    token,
    expiresAt: new Date(expiresAt).toISOString(),
  };
}
