/**
 * The few Cloudflare REST API v4 mechanics a remote client needs: the base URL, the bearer token,
 * envelopes (`{success, errors:[{code,message}], result}`), and finding the account and a namespace
 * (by id or title, created when missing and the token may). Errors become the binding's
 * `KV <OP> failed: <status> <message>` with the envelope's first message.
 */
import { KvError } from "../core/errors.ts";
import { kvFailure, type KvOperation } from "../api/workers/messages.ts";

/** Cloudflare's error codes the client reacts to. */
export const CF_ERROR = Object.freeze({ keyNotFound: 10009, namespaceExists: 10014 } as const);

export interface ApiError {
  readonly status: number;
  readonly code: number | null;
  readonly message: string;
}

/** The API root (`…/client/v4`) of a server URL given with or without it. */
export function apiBase(url: string): string {
  const u = new URL(url);
  const path = u.pathname.replace(/\/+$/, "");
  u.pathname = /\/client\/v4$/.test(path) ? path : `${path}/client/v4`;
  u.search = "";
  u.hash = "";
  return u.href.replace(/\/+$/, "");
}

/** The first error of a failed answer: the envelope's, or the status text when there is no envelope. */
export async function apiError(res: Response): Promise<ApiError> {
  const text = await res.text().catch(() => "");
  try {
    const body = JSON.parse(text) as { errors?: { code?: unknown; message?: unknown }[] };
    const first = body.errors?.[0];
    if (first && typeof first.message === "string") {
      return { status: res.status, code: typeof first.code === "number" ? first.code : null, message: first.message };
    }
  } catch {
    // Not an envelope (a proxy's page, say): fall back to the status line.
  }
  return { status: res.status, code: null, message: text.trim().slice(0, 200) || res.statusText };
}

export class CloudflareApi {
  readonly base: string;
  readonly #token: string;
  readonly #fetch: typeof fetch;
  readonly #abort = new AbortController();

  constructor(url: string, token: string, fetchImpl: typeof fetch = fetch) {
    this.base = apiBase(url);
    this.#token = token;
    this.#fetch = fetchImpl;
  }

  get closed(): boolean {
    return this.#abort.signal.aborted;
  }

  /** Aborts every request in flight (and response bodies still streaming); later requests reject. */
  close(): void {
    this.#abort.abort(new KvError("closed", "The database is closed"));
  }

  /**
   * One request to `path` (below the API root). Resolves with any HTTP answer; rejects only when the
   * server cannot be reached (`KV <op> failed: …`) or after `close()` ("The database is closed").
   */
  async send(op: KvOperation, method: string, path: string, init: { body?: RequestInit["body"]; headers?: Record<string, string>; duplex?: "half" } = {}): Promise<Response> {
    if (this.closed) throw new KvError("closed", "The database is closed");
    try {
      return await this.#fetch(`${this.base}${path}`, {
        method,
        ...init,
        headers: { authorization: `Bearer ${this.#token}`, ...init.headers },
        signal: this.#abort.signal,
      } as RequestInit);
    } catch (e) {
      if (this.closed) throw new KvError("closed", "The database is closed");
      const cause = (e as { cause?: { message?: string } }).cause?.message ?? (e as Error).message;
      throw new Error(`KV ${op} failed: could not reach ${new URL(this.base).origin}: ${cause}`, { cause: e });
    }
  }

  /** The id of the first account the token sees. */
  async accountId(): Promise<string> {
    const res = await this.send("GET", "GET", "/accounts?page=1&per_page=1");
    if (!res.ok) throw await openFailure(`GET ${this.base}/accounts`, res);
    const accounts = ((await res.json()) as { result?: { id?: unknown }[] }).result;
    const id = accounts?.[0]?.id;
    if (typeof id !== "string") throw new Error(`openNamespace: ${this.base}/accounts lists no account for this token`);
    return id;
  }

  /**
   * The id of the namespace whose id or title is `idOrTitle`, creating it (titled so) when no namespace
   * matches, like the embedded `openNamespace` does on first use.
   */
  async namespaceId(accountId: string, idOrTitle: string): Promise<string> {
    const found = await this.#findNamespace(accountId, idOrTitle);
    if (found) return found;
    const path = `/accounts/${encodeURIComponent(accountId)}/storage/kv/namespaces`;
    const res = await this.send("PUT", "POST", path, { body: JSON.stringify({ title: idOrTitle }), headers: { "content-type": "application/json" } });
    if (res.ok) return ((await res.json()) as { result: { id: string } }).result.id;
    const error = await apiError(res);
    // Created by someone else since we looked.
    if (error.code === CF_ERROR.namespaceExists) {
      const now = await this.#findNamespace(accountId, idOrTitle);
      if (now) return now;
    }
    if (error.status === 403) {
      throw new Error(`openNamespace: there is no namespace "${idOrTitle}" and this token may not create one (${error.message}); create it first or use a read-write token for every namespace`);
    }
    throw new Error(`openNamespace: creating namespace "${idOrTitle}" failed: ${error.status} ${error.message}`);
  }

  async #findNamespace(accountId: string, idOrTitle: string): Promise<string | null> {
    const path = `/accounts/${encodeURIComponent(accountId)}/storage/kv/namespaces`;
    let byTitle: string | null = null;
    // 100 per page is Cloudflare's maximum; a page past the end is empty.
    for (let page = 1; ; page++) {
      const res = await this.send("GET", "GET", `${path}?page=${page}&per_page=100&order=id&direction=asc`);
      if (!res.ok) throw await openFailure(`GET ${this.base}${path}`, res);
      const items = ((await res.json()) as { result?: { id: string; title: string }[] }).result ?? [];
      for (const ns of items) {
        if (ns.id === idOrTitle) return ns.id;
        if (ns.title === idOrTitle) byTitle ??= ns.id;
      }
      if (items.length < 100) return byTitle;
    }
  }
}

/** The binding's error for a failed answer to `op`. */
export async function failure(op: KvOperation, res: Response): Promise<Error> {
  const { status, message } = await apiError(res);
  return kvFailure(op, status, message);
}

async function openFailure(what: string, res: Response): Promise<Error> {
  const { status, message } = await apiError(res);
  const hint = status === 401 ? " (check the token)" : "";
  return new Error(`openNamespace: ${what} failed: ${status} ${message}${hint}`);
}
