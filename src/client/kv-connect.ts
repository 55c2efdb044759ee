/**
 * Our remote Deno KV: a `KvBackend` that speaks KV Connect to a server (`openkv serve`, or any KV Connect
 * server for everything but queues). `openKv("http(s)://…", { token })` wraps it in the same `Kv` as the
 * embedded store, so Deno's validation and error messages stay in src/api/deno.
 *
 * - metadata exchange on open (and again before the metadata expires);
 * - `snapshot_read` / `atomic_write` over HTTP/1.1 fetch (Node's undici, keep-alive);
 * - `watch`: one streaming request per watch, reconnected if the stream drops;
 * - queues: OpenKV's extension (proto/openkv-queue.proto): one `queue/listen` stream per handle while
 *   it has handlers, each delivery acked or nacked after the handler ran.
 *
 * @example
 * ```ts
 * const kv = await openKv("http://127.0.0.1:8787/kv-connect/app", { token: process.env.OPENKV_TOKEN });
 * await kv.set(["a"], 1);
 * for await (const [e] of kv.watch([["a"]])) console.log(e.value);
 * ```
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { KvError } from "../core/errors.ts";
import { DEFAULT_BACKOFF_SCHEDULE, type AtomicWrite, type CommitResult, type Entry, type NamespaceInfo, type ReadRange } from "../core/types.ts";
import type { KvBackend, WatchFeed } from "../api/deno/backend.ts";
import { readFrames } from "../wire/kv-connect/frames.ts";
import { QueueDeliverySchema, QueueListenSchema, QueueSettleSchema } from "../wire/kv-connect/gen/openkv-queue_pb.ts";
import { namespaceIdOf, type DatabaseMetadata } from "../wire/kv-connect/metadata.ts";
import {
  decodeAtomicWriteOutput,
  decodeSnapshotReadOutput,
  decodeWatchOutput,
  encodeAtomicWrite,
  encodeSnapshotRead,
  encodeWatch,
} from "../wire/kv-connect/wire.ts";

export interface KvConnectClientOptions {
  /** The access token (a bearer token of the server). */
  token: string | undefined;
  /** Transport; default the global fetch. */
  fetch?: typeof fetch;
}

/** Refresh the metadata this long before it expires. */
const REFRESH_MARGIN_MS = 60_000;
/** Attempts for a call that failed transiently (network error, 503). */
const MAX_ATTEMPTS = 5;
/** A stream that was silent this long (the server pings every 5 s) is presumed dead and reopened. */
const STREAM_IDLE_MS = 20_000;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

/** A failed call to the server that is not the caller's mistake (network, auth, server trouble). */
export class KvConnectError extends Error {
  readonly status: number | null;
  constructor(message: string, status: number | null = null) {
    super(message);
    this.name = "KvConnectError";
    this.status = status;
  }
}

interface Metadata {
  version: number;
  databaseId: string;
  endpoint: string;
  token: string;
  expiresAt: number;
}

export async function openKvConnectBackend(url: string, options: KvConnectClientOptions): Promise<KvConnectBackend> {
  if (!options.token) {
    throw new TypeError("Missing access token: pass { token } to openKv, or set DENO_KV_ACCESS_TOKEN or OPENKV_TOKEN");
  }
  const backend = new KvConnectBackend(url, options.token, options.fetch ?? fetch);
  try {
    await backend.refreshMetadata();
  } catch (e) {
    throw new Error(`Could not open Deno KV database: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  return backend;
}

export class KvConnectBackend implements KvBackend {
  #url: string;
  #token: string;
  #fetch: typeof fetch;
  #metadata: Metadata | null = null;
  #refreshing: Promise<Metadata> | null = null;
  #closed = false;
  /** Aborts every open stream and in-flight call on close. */
  #abort = new AbortController();
  #queue: RemoteQueue | null = null;

  constructor(url: string, token: string, fetcher: typeof fetch) {
    this.#url = url;
    this.#token = token;
    this.#fetch = fetcher;
  }

  get namespace(): NamespaceInfo {
    const m = this.#metadata!;
    const last = new URL(this.#url).pathname.split("/").filter(Boolean).pop();
    return { id: namespaceIdOf(m.databaseId), title: last && last !== "kv-connect" ? decodeURIComponent(last) : "default", createdAt: 0 };
  }

  get closed(): boolean {
    return this.#closed;
  }

  now(): number {
    return Date.now();
  }

  /** The metadata exchange: `POST <url>` with the access token. */
  async refreshMetadata(): Promise<Metadata> {
    this.#refreshing ??= (async () => {
      try {
        const res = await this.#fetch(this.#url, {
          method: "POST",
          headers: { authorization: `Bearer ${this.#token}`, "content-type": "application/json" },
          body: JSON.stringify({ supportedVersions: [2, 3] }),
          signal: this.#abort.signal,
        });
        const text = await res.text();
        if (res.status !== 200) throw new KvConnectError(`Failed to fetch metadata (status=${res.status}): ${text}`, res.status);
        const m = JSON.parse(text) as DatabaseMetadata;
        const endpoint = m.endpoints.find((e) => e.consistency === "strong");
        if ((m.version !== 2 && m.version !== 3) || !endpoint || typeof m.token !== "string") {
          throw new KvConnectError(`Unsupported metadata: ${text}`);
        }
        this.#metadata = {
          version: m.version,
          databaseId: m.databaseId,
          endpoint: new URL(endpoint.url, res.url || this.#url).toString().replace(/\/$/, ""),
          token: m.token,
          expiresAt: Date.parse(m.expiresAt),
        };
        return this.#metadata;
      } finally {
        this.#refreshing = null;
      }
    })();
    return this.#refreshing;
  }

  async #currentMetadata(): Promise<Metadata> {
    const m = this.#metadata;
    if (m && m.expiresAt - Date.now() > REFRESH_MARGIN_MS) return m;
    return this.refreshMetadata();
  }

  /**
   * POSTs to `<endpoint>/<method>`. Retries what is transient (network errors for idempotent calls,
   * 503 for any); a 400 is the caller's mistake and becomes a KvError with the server's message.
   */
  async #post(method: string, body: Uint8Array, idempotent: boolean, signal: AbortSignal = this.#abort.signal): Promise<Response> {
    for (let attempt = 1; ; attempt++) {
      if (this.#closed) throw new KvError("closed", "The database is closed");
      const m = await this.#currentMetadata();
      let res: Response;
      try {
        res = await this.#fetch(`${m.endpoint}/${method}`, {
          method: "POST",
          headers: {
            authorization: `Bearer ${m.token}`,
            "content-type": "application/x-protobuf",
            "x-denokv-database-id": m.databaseId,
            "x-denokv-version": String(m.version),
          },
          body,
          signal,
        });
      } catch (e) {
        if (this.#closed || signal.aborted) throw new KvError("closed", "The database is closed");
        if (!idempotent || attempt >= MAX_ATTEMPTS) throw new KvConnectError(`KV Connect failed to call '${method}': ${e instanceof Error ? e.message : String(e)}`);
        await sleep(50 * 2 ** attempt);
        continue;
      }
      if (res.status === 200) return res;
      const text = await res.text();
      if (res.status === 503 && attempt < MAX_ATTEMPTS) {
        await sleep(50 * 2 ** attempt);
        continue;
      }
      if (res.status === 400) throw new KvError("invalid_argument", text);
      throw new KvConnectError(`KV Connect failed to call '${method}' (status=${res.status}): ${text}`, res.status);
    }
  }

  async snapshotRead(ranges: readonly ReadRange[]): Promise<Entry[][]> {
    const res = await this.#post("snapshot_read", encodeSnapshotRead(ranges), true);
    return decodeSnapshotReadOutput(new Uint8Array(await res.arrayBuffer()));
  }

  async atomicWrite(write: AtomicWrite): Promise<CommitResult> {
    const res = await this.#post("atomic_write", encodeAtomicWrite(write, DEFAULT_BACKOFF_SCHEDULE), false);
    const out = decodeAtomicWriteOutput(new Uint8Array(await res.arrayBuffer()));
    // What Deno's own client says for AW_WRITE_DISABLED (e.g. a read-only token).
    if (out === "write_disabled") throw new KvConnectError("Writes are disabled for this database");
    return out;
  }

  /**
   * Opens `<endpoint>/<method>` as a stream of frames and calls `onFrame` for each until `signal` aborts;
   * reopens the stream after a transient failure (backing off). Rejects on a permanent error.
   */
  async #stream(method: string, body: Uint8Array, signal: AbortSignal, onFrame: (frame: Uint8Array) => void): Promise<void> {
    let failures = 0;
    while (!signal.aborted && !this.#closed) {
      const idle = new AbortController();
      const both = AbortSignal.any([signal, idle.signal]);
      try {
        const res = await this.#post(method, body, true, both);
        failures = 0;
        let timer = setTimeout(() => idle.abort(), STREAM_IDLE_MS);
        const chunks = (async function* () {
          for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
            clearTimeout(timer);
            timer = setTimeout(() => idle.abort(), STREAM_IDLE_MS);
            yield chunk;
          }
        })();
        try {
          for await (const frame of readFrames(chunks)) onFrame(frame);
        } finally {
          clearTimeout(timer);
        }
      } catch (e) {
        if (signal.aborted || this.#closed) return;
        // The caller's mistake, or a refusal (auth, scope): no point in retrying.
        if (e instanceof KvError && e.code !== "closed") throw e;
        if (e instanceof KvConnectError && e.status !== null && e.status < 500) throw e;
      }
      if (signal.aborted || this.#closed) return;
      await sleep(Math.min(5000, 100 * 2 ** failures++));
    }
  }

  watch(keys: readonly Uint8Array[]): WatchFeed {
    const abort = new AbortController();
    const signal = AbortSignal.any([abort.signal, this.#abort.signal]);
    let state: (Entry | null)[] | null = null;
    let dirty = false;
    let failure: unknown = null;
    let wake: (() => void) | null = null;
    const notify = () => {
      const w = wake;
      wake = null;
      w?.();
    };
    void this.#stream("watch", encodeWatch(keys), signal, (frame) => {
      const outs = decodeWatchOutput(frame);
      const next = state ?? keys.map(() => null);
      outs.forEach((o, i) => {
        if (o !== undefined) next[i] = o;
      });
      state = next;
      dirty = true;
      notify();
    }).then(
      () => notify(),
      (e) => {
        failure = e;
        notify();
      },
    );
    return {
      next: async () => {
        for (;;) {
          if (signal.aborted) return null;
          if (failure !== null) throw failure;
          if (dirty && state !== null) {
            dirty = false;
            return [...state];
          }
          await new Promise<void>((resolve) => (wake = resolve));
        }
      },
      stop: () => {
        abort.abort();
        notify();
      },
    };
  }

  listenQueue(consumer: (payload: Uint8Array) => Promise<void>): () => void {
    if (this.#closed) throw new KvError("closed", "The database is closed");
    this.#queue ??= new RemoteQueue(
      (signal, onFrame) => this.#stream("queue/listen", toBinary(QueueListenSchema, create(QueueListenSchema)), AbortSignal.any([signal, this.#abort.signal]), onFrame),
      async (verb, leaseId) => {
        await this.#post(`queue/${verb}`, toBinary(QueueSettleSchema, create(QueueSettleSchema, { leaseId })), true);
      },
    );
    return this.#queue.add(consumer);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#abort.abort();
  }
}

/**
 * The client side of the queue extension: while at least one consumer is registered, one listen stream
 * is open; each delivery goes to one consumer (round robin) and is acked or nacked by its outcome.
 */
class RemoteQueue {
  #consumers: ((payload: Uint8Array) => Promise<void>)[] = [];
  #next = 0;
  #listening: AbortController | null = null;
  #open: (signal: AbortSignal, onFrame: (frame: Uint8Array) => void) => Promise<void>;
  #settle: (verb: "ack" | "nack", leaseId: string) => Promise<void>;

  constructor(
    open: (signal: AbortSignal, onFrame: (frame: Uint8Array) => void) => Promise<void>,
    settle: (verb: "ack" | "nack", leaseId: string) => Promise<void>,
  ) {
    this.#open = open;
    this.#settle = settle;
  }

  add(consumer: (payload: Uint8Array) => Promise<void>): () => void {
    this.#consumers.push(consumer);
    if (!this.#listening) {
      const listening = new AbortController();
      this.#listening = listening;
      void this.#open(listening.signal, (frame) => this.#deliver(frame)).catch(() => {
        // A refused listen (e.g. a read-only token) ends listening; handlers stay registered and idle.
      });
    }
    return () => {
      const i = this.#consumers.indexOf(consumer);
      if (i >= 0) this.#consumers.splice(i, 1);
      if (this.#consumers.length === 0) {
        // The server gives the unsettled messages to other listeners.
        this.#listening?.abort();
        this.#listening = null;
      }
    };
  }

  #deliver(frame: Uint8Array): void {
    const delivery = fromBinary(QueueDeliverySchema, frame);
    const consumer = this.#consumers[this.#next++ % Math.max(1, this.#consumers.length)];
    void (async () => {
      let ok = false;
      if (consumer) {
        try {
          await consumer(delivery.payload);
          ok = true;
        } catch {
          ok = false;
        }
      }
      // A lost ack means the message is delivered again: at least once.
      await this.#settle(ok ? "ack" : "nack", delivery.leaseId).catch(() => {});
    })();
  }
}
