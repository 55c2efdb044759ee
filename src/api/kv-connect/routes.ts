/**
 * KV Connect on the server: what `Deno.openKv("http://host:port/kv-connect/<namespace>")`, @deno/kv and
 * our own remote client (src/client/kv-connect.ts) talk to.
 *
 * - `POST /kv-connect` (the `default` namespace) and `POST /kv-connect/:namespace` (id or title, created on
 *   first use by a token that may create namespaces): the metadata exchange (./metadata.ts). The token
 *   handed back is the caller's own API token, so revoking it cuts the data path at once.
 * - `POST /kv-connect/<namespace id>/{snapshot_read,atomic_write,watch}`: the data path (./wire.ts).
 * - `POST /kv-connect/<namespace id>/eventual/{snapshot_read,watch}`: the eventual endpoint. Reads there
 *   are eventual (an edge may answer them from its cache, `read_is_strongly_consistent` false). An edge
 *   (`strongEndpoint` set) lists it in its metadata with its core as the strong endpoint.
 * - `POST /kv-connect/<namespace id>/queue/{listen,ack,nack}`: OpenKV's queue extension
 *   (proto/openkv-queue.proto, ./queue-leases.ts).
 *
 * Auth is the server's: bearer tokens, scoped to namespaces, read or read-write. A read-only token reads
 * and watches; its writes are answered `AW_WRITE_DISABLED` (Deno: "Writes are disabled for this
 * database"). Errors are plain text: 4xx for the caller's mistakes (both clients throw), 503 only for
 * transient trouble (Deno retries those forever).
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { ServerResponse } from "node:http";
import type { TLSSocket } from "node:tls";
import { KV_ERROR_CODES, KvError } from "../../core/errors.ts";
import type { ReadOptions } from "../../core/types.ts";
import type { StatusTable } from "../../http/errors.ts";
import { HttpError, parseJson, readBody, sendAtTurnEnd, sendJson, sendText } from "../../http/http.ts";
import type { Request, Response } from "../../http/listener.ts";
import { sendCached } from "../../http/response-cache.ts";
import type { ErrorEncoder, Route, RouteContext } from "../../http/route.ts";
import { allows } from "../../auth/tokens.ts";
import { frame, KEEP_ALIVE } from "../../wire/kv-connect/frames.ts";
import { QueueListenSchema, QueueSettleOutputSchema, QueueSettleSchema } from "../../wire/kv-connect/gen/openkv-queue_pb.ts";
import { databaseIdOf, databaseMetadata, negotiateVersion } from "../../wire/kv-connect/metadata.ts";
import { QueueLeases } from "./queue-leases.ts";
import { decodeAtomicWrite, decodeSnapshotRead, decodeWatch, encodeAtomicWriteOutput, encodeSnapshotReadOutput, encodeWatchOutput } from "../../wire/kv-connect/wire.ts";

export interface KvConnectOptions {
  /** Keep-alive frames on watch and queue streams, every this many ms. Default 5000 (as denokv). */
  keepAliveMs?: number;
  /** How far ahead the metadata's `expiresAt` lies. Default 6 hours. */
  metadataTtlMs?: number;
  /** How long a remote queue listener may take to ack a message. Default 50 s (under the engine's 60 s lease). */
  queueLeaseMs?: number;
  /**
   * On an edge node: the public base URL of its core (e.g. `https://core.example:8787`). The metadata
   * then lists the core as the strong endpoint and this server's eventual path as the eventual one.
   */
  strongEndpoint?: string;
  /** How old an eventual KV Connect read may be, in ms. Default 60 s (Workers KV's cacheTtl). */
  eventualMaxAgeMs?: number;
}

const PROTOBUF = "application/x-protobuf";
const STREAM = "application/octet-stream";
/** Deno caps a write at 800 KiB of keys and values; protobuf framing adds a little. */
const MAX_DATA_BODY = 4 * 1024 * 1024;

/**
 * KvErrors are the caller's (400) unless the store is going away (503, which clients retry). An entry
 * that fails to decrypt, or a store whose key cannot open it, is the store's trouble but permanent:
 * Deno retries every 5xx forever, so these answer 400 too — the client throws with the message at once
 * — and are logged like a 500 (src/http/errors.ts). So is a write whose outcome is unknown: a blind retry
 * could apply it twice.
 */
export const KV_CONNECT_STATUS: StatusTable = {
  ...Object.fromEntries(KV_ERROR_CODES.map((code) => [code, 400])),
  closed: 503,
  busy: 503,
  // Nothing was committed: Deno's retry is what we want.
  unavailable: 503,
  forbidden: 403,
  rate_limited: 429,
  namespace_not_found: 404,
} as StatusTable;

export const kvConnectErrors: ErrorEncoder = (res, status, message, headers) => sendText(res, status, message, headers);

function header(req: Request, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** The secret the caller authenticated with: handed back as the data path token. */
function callerToken(req: Request): string {
  const m = /^Bearer\s+(.+)$/i.exec((header(req, "authorization") ?? "").trim());
  return m ? m[1]!.trim() : (header(req, "x-auth-key") ?? "").trim();
}

function origin(req: Request): string {
  const secure = (req.socket as TLSSocket | undefined)?.encrypted === true;
  return `${secure ? "https" : "http"}://${header(req, "host") ?? header(req, ":authority") ?? "localhost"}`;
}

/** Every data path request names its database; versions 2 and 3 also say which version they speak. */
function checkDataPathHeaders(ctx: RouteContext): void {
  const version = header(ctx.req, "x-denokv-version");
  if (version !== undefined && version !== "2" && version !== "3") {
    throw new HttpError(400, `Unsupported KV Connect protocol version ${JSON.stringify(version)}: expected 2 or 3.`);
  }
  const id = version !== undefined ? header(ctx.req, "x-denokv-database-id") : header(ctx.req, "x-transaction-domain-id");
  if (id?.toLowerCase() !== databaseIdOf(ctx.namespace!.id)) throw new HttpError(400, "Invalid database id.");
}

async function body(ctx: RouteContext): Promise<Uint8Array> {
  checkDataPathHeaders(ctx);
  return readBody(ctx.req, MAX_DATA_BODY);
}

function sendProtobuf(response: Response, bytes: Uint8Array): void {
  // Both protocol versions' responses have these methods; the union's overloads do not unify.
  const res = response as ServerResponse;
  res.writeHead(200, { "content-type": PROTOBUF, "content-length": bytes.byteLength });
  res.end(bytes);
}

/**
 * A snapshot_read, through the response cache (src/http/response-cache.ts) when the server has one: the
 * request's bytes name the answer (the same ranges read the same entries), so a hit skips decoding,
 * the store and encoding. Only answers that found something are kept, until their first entry expires.
 */
async function snapshotRead(ctx: RouteContext, consistency: "strong" | "eventual", options?: ReadOptions): Promise<void> {
  const bytes = await body(ctx);
  // An edge's cache keeps eventual answers only, and only for a bound it can vouch for.
  const cache = ctx.deps.responses?.keeps(options) ? ctx.deps.responses : undefined;
  const slot = cache ? `kvc\0${ctx.namespace!.id}\0${consistency}\0${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1")}` : "";
  const hit = await cache?.lookup(slot);
  if (hit) return sendCached(ctx, cache!, hit);
  const version = cache?.version() ?? 0;
  const rows = await ctx.deps.engine.read(ctx.namespace!.id, decodeSnapshotRead(bytes), options);
  ctx.op.found = rows.some((r) => r.length > 0);
  const out = encodeSnapshotReadOutput(rows, consistency === "strong");
  if (cache && ctx.op.found) {
    let expiresAt: number | null = null;
    for (const e of rows.flat()) if (e.expiresAt !== null && (expiresAt === null || e.expiresAt < expiresAt)) expiresAt = e.expiresAt;
    const kept = Buffer.from(out.buffer, out.byteOffset, out.byteLength);
    cache.set(slot, version, { headers: { "content-type": PROTOBUF, "content-length": kept.byteLength }, body: kept, expiresAt });
  }
  await sendAtTurnEnd(ctx.res, 200, { "content-type": PROTOBUF, "content-length": out.byteLength }, out);
}

/**
 * Starts a framed stream and calls `run` with a writer; keep-alive frames go out every `keepAliveMs`.
 * The stream ends when `run` resolves (or fails), when the server stops, or when the caller's token is
 * revoked; the returned promise resolves when the client has gone
 * (after `onClose`). `done` is that same moment, for a `run` that only waits.
 */
function stream(
  ctx: RouteContext,
  keepAliveMs: number,
  run: (write: (message: Uint8Array) => Promise<void>, closed: () => boolean, done: Promise<void>) => Promise<void>,
  onClose: () => void,
): Promise<void> {
  const res = ctx.res as ServerResponse;
  const shutdown = ctx.deps.shutdown;
  res.writeHead(200, { "content-type": STREAM, "cache-control": "no-store" });
  let closed = false;
  let drained: (() => void) | null = null;
  const done = new Promise<void>((resolve) => {
    res.on("close", () => {
      closed = true;
      clearInterval(ping);
      onClose();
      drained?.();
      resolve();
    });
  });
  const ping = setInterval(() => {
    if (!closed) res.write(KEEP_ALIVE);
  }, keepAliveMs);
  ping.unref();
  // A stopping server ends the stream; clients reconnect (to the next server) as after any drop.
  const stop = () => {
    if (!closed) res.end();
  };
  if (shutdown.aborted) queueMicrotask(stop);
  else shutdown.addEventListener("abort", stop, { once: true });
  // The stream lives no longer than the token it was opened with: a revoked token's client reconnects
  // and is turned away. (The token was checked once, when the stream began.)
  const unwatch = ctx.principal.kind === "token" ? ctx.deps.tokens.onRevoked(ctx.principal.id, stop) : () => {};
  void done.then(() => {
    shutdown.removeEventListener("abort", stop);
    unwatch();
  });
  // Send the headers now: a watch's first frame may take a read, a queue's first message much longer.
  (res as { flushHeaders?: () => void }).flushHeaders?.();
  const write = async (message: Uint8Array) => {
    if (closed) return;
    // A slow reader: wait for the socket to drain rather than buffer unboundedly.
    if (!res.write(frame(message))) {
      await new Promise<void>((resolve) => {
        drained = resolve;
        res.once("drain", resolve);
      });
    }
  };
  void (async () => {
    try {
      await run(write, () => closed, done);
    } catch {
      // The store went away mid-stream: end it; clients reconnect.
    }
    if (!closed) res.end();
  })();
  return done;
}

export function kvConnectRoutes(options: KvConnectOptions = {}): Route[] {
  const keepAliveMs = options.keepAliveMs ?? 5000;
  const metadataTtlMs = options.metadataTtlMs ?? 6 * 60 * 60 * 1000;
  let leases: QueueLeases | null = null;
  const base = { api: "kv-connect", errors: kvConnectErrors, statuses: KV_CONNECT_STATUS } as const;
  const ns = { param: "namespace" } as const;

  const metadata = async (ctx: RouteContext) => {
    const version = negotiateVersion(parseJson(await readBody(ctx.req, 64 * 1024), "metadata request"));
    const expiresAt = ctx.deps.clock.now() + metadataTtlMs;
    sendJson(ctx.res, 200, databaseMetadata(ctx.namespace!, version, callerToken(ctx.req), expiresAt, origin(ctx.req), options.strongEndpoint));
  };
  const eventual = { consistency: "eventual", ...(options.eventualMaxAgeMs === undefined ? {} : { maxAgeMs: options.eventualMaxAgeMs }) } as const;

  const watch = async (ctx: RouteContext) => {
    const keys = decodeWatch(await body(ctx));
    const feed = ctx.deps.engine.watch(ctx.namespace!.id, keys);
    // Every frame reports every key as changed, with its current entry: the protocol allows it (the
    // clients compare versionstamps), and Deno 2.9.6 reads a `changed: false` key as absent.
    const allChanged = keys.map(() => true);
    await stream(
      ctx,
      keepAliveMs,
      async (write, closed) => {
        for (;;) {
          const rows = await feed.next();
          if (rows === null || closed()) return;
          await write(encodeWatchOutput(rows, allChanged));
        }
      },
      () => feed.stop(),
    );
  };

  return [
    { ...base, method: "POST", path: "/kv-connect", access: "read", namespace: "default", handle: metadata },
    { ...base, method: "POST", path: "/kv-connect/:namespace", access: "read", namespace: { param: "namespace", createIfMissing: true }, handle: metadata },
    {
      ...base,
      method: "POST",
      path: "/kv-connect/:namespace/snapshot_read",
      access: "read",
      namespace: ns,
      kind: "read",
      handle: (ctx) => snapshotRead(ctx, "strong"),
    },
    {
      ...base,
      method: "POST",
      path: "/kv-connect/:namespace/atomic_write",
      // Read-only tokens get in, and are answered AW_WRITE_DISABLED: the protocol's word for it.
      access: "read",
      namespace: ns,
      kind: "write",
      handle: async (ctx) => {
        const write = decodeAtomicWrite(await body(ctx));
        if (!allows(ctx.principal, "write", ctx.namespace!.id)) return sendProtobuf(ctx.res, encodeAtomicWriteOutput("write_disabled"));
        sendProtobuf(ctx.res, encodeAtomicWriteOutput(await ctx.deps.engine.atomic(ctx.namespace!.id, write)));
      },
    },
    { ...base, method: "POST", path: "/kv-connect/:namespace/watch", access: "read", namespace: ns, handle: watch },
    {
      ...base,
      method: "POST",
      path: "/kv-connect/:namespace/eventual/snapshot_read",
      access: "read",
      namespace: ns,
      kind: "read",
      handle: (ctx) => snapshotRead(ctx, "eventual", eventual),
    },
    // @deno/kv watches through the eventual endpoint; a watch is as current as the node's feed either way.
    { ...base, method: "POST", path: "/kv-connect/:namespace/eventual/watch", access: "read", namespace: ns, handle: watch },
    {
      ...base,
      method: "POST",
      path: "/kv-connect/:namespace/queue/listen",
      access: "write",
      namespace: ns,
      handle: async (ctx) => {
        const bytes = await body(ctx);
        parse(() => fromBinary(QueueListenSchema, bytes));
        leases ??= new QueueLeases(options.queueLeaseMs ?? 50_000, ctx.deps.clock);
        const session = { close: () => {} };
        await stream(
          ctx,
          keepAliveMs,
          (write, _closed, done) => {
            session.close = leases!.open(ctx.deps.engine, ctx.namespace!.id, (delivery) => void write(delivery)).close;
            return done;
          },
          () => session.close(),
        );
      },
    },
    ...(["ack", "nack"] as const).map(
      (verb): Route => ({
        ...base,
        method: "POST",
        path: `/kv-connect/:namespace/queue/${verb}`,
        access: "write",
        namespace: ns,
        handle: async (ctx) => {
          const bytes = await body(ctx);
          const { leaseId } = parse(() => fromBinary(QueueSettleSchema, bytes));
          const settled = leases?.settle(ctx.namespace!.id, leaseId, verb === "ack") ?? false;
          sendProtobuf(ctx.res, toBinary(QueueSettleOutputSchema, create(QueueSettleOutputSchema, { settled })));
        },
      }),
    ),
  ];
}

function parse<T>(decode: () => T): T {
  try {
    return decode();
  } catch (e) {
    throw new HttpError(400, `Request protobuf is invalid: ${e instanceof Error ? e.message : String(e)}.`);
  }
}
