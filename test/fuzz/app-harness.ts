/**
 * The server's request handler (`createApp` over every built-in route, a memory engine, a fixed clock),
 * driven in-process: a request is a readable stream with headers, the response a recorder. Decoders that
 * live inside route handlers (bulk bodies, `/kv` bodies, multipart, KV Connect's queue messages) are
 * fuzzed through the very code a socket would reach, minus the sockets, so a run takes microseconds.
 * Whatever the handler does not answer as a user error shows up as a 5xx or a logged internal error.
 */
import { EventEmitter } from "node:events";
import { Readable } from "node:stream";
import { ManualClock } from "../../src/core/clock.ts";
import { Engine } from "../../src/core/engine.ts";
import type { NamespaceInfo } from "../../src/core/types.ts";
import { TokenStore } from "../../src/auth/tokens.ts";
import type { Handler, Request, Response } from "../../src/http/listener.ts";
import { Metrics } from "../../src/http/metrics.ts";
import type { ServerDeps } from "../../src/http/route.ts";
import { createApp } from "../../src/server/app.ts";
import { builtinRoutes } from "../../src/server/server.ts";
import { MemoryBackend } from "../../src/storage/memory/memory-backend.ts";
import { databaseIdOf } from "../../src/wire/kv-connect/metadata.ts";

export const ACCOUNT_ID = "0123456789abcdef0123456789abcdef";
const ADMIN_TOKEN = "fuzz-admin-token";

export interface FuzzRequest {
  method: string;
  /** Path and query, sent as is (no encoding added). */
  url: string;
  headers?: Record<string, string>;
  body?: Uint8Array;
}

export interface FuzzResponse {
  status: number;
  headers: Record<string, unknown>;
  body: string;
  /** Lines the app logged as internal errors while answering. */
  internal: string[];
}

/** What a response recorder needs of node's ServerResponse (and nothing the handlers do not call). */
class Recorder extends EventEmitter {
  statusCode = 200;
  headersSent = false;
  headers: Record<string, unknown> = {};
  chunks: Buffer[] = [];
  done: Promise<void>;
  #finish!: () => void;

  constructor() {
    super();
    this.done = new Promise((resolve) => (this.#finish = resolve));
  }
  writeHead(status: number, headers: Record<string, unknown> = {}): this {
    this.statusCode = status;
    Object.assign(this.headers, headers);
    this.headersSent = true;
    return this;
  }
  setHeader(name: string, value: unknown): void {
    this.headers[name.toLowerCase()] = value;
  }
  getHeader(name: string): unknown {
    return this.headers[name.toLowerCase()];
  }
  /** A streaming answer (watch, queue listen) has begun: the client goes away at once, ending it. */
  flushHeaders(): void {
    this.headersSent = true;
    setImmediate(() => this.close());
  }
  write(chunk: Uint8Array | string): boolean {
    this.headersSent = true;
    this.chunks.push(Buffer.from(chunk));
    return true;
  }
  end(chunk?: Uint8Array | string): this {
    if (chunk !== undefined) this.write(chunk);
    this.headersSent = true;
    this.#finish();
    return this;
  }
  destroy(): void {
    this.close();
  }
  close(): void {
    this.emit("close");
    this.#finish();
  }
}

/** One server's worth of state; `reset()` starts over with an empty store (long fuzz runs stay small). */
export class InProcessApp {
  #engine!: Engine;
  #handler!: Handler;
  #internal: string[] = [];
  #namespace: NamespaceInfo | null = null;
  #shutdown = new AbortController();

  constructor() {
    this.#build();
  }

  #build(): void {
    const clock = new ManualClock();
    // No background purge: every input sees the store as the previous ones left it, and nothing runs between them.
    this.#engine = new Engine(new MemoryBackend(), { clock, purgeIntervalMs: 2 ** 30 });
    const deps: ServerDeps = {
      engine: this.#engine,
      tokens: new TokenStore(ADMIN_TOKEN, null),
      metrics: new Metrics(),
      clock,
      accountId: ACCOUNT_ID,
      limits: { maxBodyBytes: 1024 * 1024 },
      shutdown: this.#shutdown.signal,
    };
    this.#handler = createApp(deps, builtinRoutes({ keepAliveMs: 2 ** 30 }), { log: (line) => this.#internal.push(line) });
    this.#namespace = null;
  }

  async reset(): Promise<void> {
    await this.#engine.close();
    this.#build();
  }

  async close(): Promise<void> {
    this.#shutdown.abort();
    await this.#engine.close();
  }

  /** The namespace the Cloudflare and KV Connect routes are fuzzed against (created on first use). */
  async namespace(): Promise<NamespaceInfo> {
    this.#namespace ??= await this.#engine.ensureNamespace("fuzz");
    return this.#namespace;
  }

  async cloudflarePath(rest: string): Promise<string> {
    return `/client/v4/accounts/${ACCOUNT_ID}/storage/kv/namespaces/${(await this.namespace()).id}${rest}`;
  }

  /** The KV Connect data path prefix and the headers a version-3 client sends with it. */
  async kvConnect(): Promise<{ path: string; headers: Record<string, string> }> {
    const ns = await this.namespace();
    return { path: `/kv-connect/${ns.id}`, headers: { "x-denokv-version": "3", "x-denokv-database-id": databaseIdOf(ns.id) } };
  }

  async request(r: FuzzRequest): Promise<FuzzResponse> {
    const headers: Record<string, string> = { authorization: `Bearer ${ADMIN_TOKEN}` };
    for (const [k, v] of Object.entries(r.headers ?? {})) headers[k.toLowerCase()] = v;
    if (r.body !== undefined) headers["content-length"] = String(r.body.length);
    const req = Object.assign(Readable.from(r.body && r.body.length > 0 ? [Buffer.from(r.body)] : []), {
      method: r.method,
      url: r.url,
      headers,
      socket: {},
    });
    const res = new Recorder();
    const before = this.#internal.length;
    this.#handler(req as unknown as Request, res as unknown as Response);
    await res.done;
    return {
      status: res.statusCode,
      headers: res.headers,
      body: Buffer.concat(res.chunks).toString("utf8"),
      internal: this.#internal.slice(before),
    };
  }
}
