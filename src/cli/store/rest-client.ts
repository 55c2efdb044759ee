/**
 * A small client of an OpenKV server's Cloudflare REST API v4 (`/client/v4`) and admin endpoints, for
 * the calls the CLI makes that a `KVNamespace` has no method for: namespaces, bulk writes and deletes,
 * tokens. Errors come back as RemoteApiError (the server's `{code, message}` list) or a UserError
 * saying the server could not be reached.
 */
import { RemoteApiError, UserError, type ApiErrorItem } from "../errors.ts";

export interface RequestOptions {
  method?: string;
  query?: Record<string, string | number | undefined>;
  body?: NonNullable<RequestInit["body"]>;
  json?: unknown;
  headers?: Record<string, string>;
}

interface Envelope {
  success?: boolean;
  errors?: ApiErrorItem[];
  result?: unknown;
  result_info?: Record<string, unknown>;
}

export class RestClient {
  /** The server's base URL, e.g. `http://127.0.0.1:8787`. */
  readonly url: string;
  readonly #token: string;
  #accountId: Promise<string> | null = null;

  constructor(url: string, token: string, accountId?: string) {
    this.url = url.replace(/\/+$/, "");
    this.#token = token;
    if (accountId) this.#accountId = Promise.resolve(accountId);
  }

  async #fetch(path: string, options: RequestOptions): Promise<Response> {
    const url = new URL(this.url + path);
    for (const [k, v] of Object.entries(options.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const headers: Record<string, string> = { authorization: `Bearer ${this.#token}`, ...options.headers };
    let body = options.body;
    if (options.json !== undefined) {
      body = JSON.stringify(options.json);
      headers["content-type"] = "application/json";
    }
    try {
      return await fetch(url, { method: options.method ?? "GET", headers, ...(body !== undefined ? { body } : {}) });
    } catch (e) {
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      throw new UserError(
        [
          `Could not reach the OpenKV server at ${this.url}: ${cause?.code ?? cause?.message ?? (e as Error).message}`,
          "Is `openkv serve` running there? The URL comes from OPENKV_URL (or the config file's openkv.url).",
        ].join("\n"),
      );
    }
  }

  /** A `/client/v4` call that answers with an envelope; returns it, or throws RemoteApiError. */
  async v4(path: string, options: RequestOptions = {}): Promise<Envelope> {
    const res = await this.#fetch(`/client/v4${path}`, options);
    const text = await res.text();
    let envelope: Envelope | null = null;
    try {
      envelope = JSON.parse(text) as Envelope;
    } catch {
      envelope = null;
    }
    if (!res.ok || !envelope || envelope.success === false) {
      throw new RemoteApiError(this.url, path, res.status, envelope?.errors ?? []);
    }
    return envelope;
  }

  /** A `/client/v4` call whose answer is raw bytes (a value read); null for 404 "key not found". */
  async v4Bytes(path: string): Promise<{ status: number; bytes: Uint8Array | null; errors: ApiErrorItem[] }> {
    const res = await this.#fetch(`/client/v4${path}`, {});
    const bytes = new Uint8Array(await res.arrayBuffer());
    if (res.ok) return { status: res.status, bytes, errors: [] };
    let errors: ApiErrorItem[] = [];
    try {
      errors = (JSON.parse(new TextDecoder().decode(bytes)) as Envelope).errors ?? [];
    } catch {
      errors = [];
    }
    return { status: res.status, bytes: null, errors };
  }

  /** A call to the server's own JSON endpoints (`/admin/tokens`); errors are `{error: {status, message}}`. */
  async admin(path: string, options: RequestOptions = {}): Promise<unknown> {
    const res = await this.#fetch(path, options);
    const text = await res.text();
    let body: unknown = null;
    try {
      body = JSON.parse(text);
    } catch {
      body = null;
    }
    if (!res.ok) {
      const message = (body as { error?: { message?: string } } | null)?.error?.message ?? `HTTP ${res.status}`;
      throw new RemoteApiError(this.url, path, res.status, [{ code: res.status, message }]);
    }
    return body;
  }

  /** The account the token belongs to (OpenKV has one): OPENKV_ACCOUNT_ID, else `GET /accounts`. */
  accountId(): Promise<string> {
    this.#accountId ??= this.v4("/accounts", { query: { page: 1 } }).then((env) => {
      const first = (env.result as { id?: string }[] | undefined)?.[0]?.id;
      if (!first) throw new UserError(`The server at ${this.url} lists no account for this token.`);
      return first;
    });
    return this.#accountId;
  }
}
