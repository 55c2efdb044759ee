/**
 * `openkv serve`: the embedded store as a network service. Everything on one port: the Cloudflare REST
 * API v4, the /kv REST API, KV Connect, admin and metrics, and the web dashboard at `/`.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { randomBytes } from "node:crypto";
import { Analytics } from "../core/analytics/collector.ts";
import { graphqlRoutes } from "../api/graphql/routes.ts";
import type { OperationNote } from "../http/route.ts";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { systemClock, type Clock } from "../core/clock.ts";
import { Engine } from "../core/engine.ts";
import { DEFAULT_FENCE_MS, WriteFence } from "../core/fence.ts";
import { holdShared, openBackend, type Durability } from "../storage/index.ts";
import { cloudflareRoutes } from "../api/cloudflare/index.ts";
import { kvConnectRoutes, type KvConnectOptions } from "../api/kv-connect/index.ts";
import { restRoutes } from "../api/rest/routes.ts";
import { edgeRpcRoutes } from "../api/edge-rpc/index.ts";
import { dashboard } from "../api/dashboard/index.ts";
import { createApp } from "./app.ts";
import type { ConnectionLimits } from "../http/connection-limits.ts";
import { createListener, type Listener } from "../http/listener.ts";
import { Metrics } from "../http/metrics.ts";
import type { Route, ServerDeps } from "../http/route.ts";
import { systemRoutes } from "./system-routes.ts";
import { AuditLog } from "../auth/audit-log.ts";
import { generateSecret, TokenStore, type Tokens } from "../auth/tokens.ts";
import { StoreTokens, storeAccountId, storeAdminToken } from "../auth/store-tokens.ts";
import { RemoteTokens } from "../auth/remote-tokens.ts";
import { CoreBackend } from "../client/core-backend.ts";
import { CachedBackend, DEFAULT_CACHE_BYTES, FEED_DEGRADED_AFTER_MS } from "../client/cached-backend.ts";
import { ResponseCache } from "../http/response-cache.ts";

export interface ServerConfig {
  host: string;
  port: number;
  /** Data directory (SQLite inside), or null for memory or a `store`. */
  dataDir: string | null;
  /**
   * A shared store instead of the data directory: a PostgreSQL URL (several hosts allowed; the writable
   * one is found, again after a failover). Many servers may use one store: they behave as one. The
   * account id, the admin token's hash and the tokens then live in the store (src/auth/store-tokens.ts).
   */
  store?: string;
  /**
   * Makes this server an edge node of another OpenKV server (the core): no store of its own, every
   * Backend call forwarded to the core with `token` (src/client/core-backend.ts), clients' tokens
   * checked against the core (src/auth/remote-tokens.ts), the core's account id answered.
   */
  edgeOf?: {
    url: string;
    token: string;
    cacheBytes?: number;
    /** A local SQLite file memory spills to, kept across restarts (src/client/spill-file.ts). */
    cacheFile?: string;
    /** The most the cache file holds, in bytes. Default 1 GiB. */
    cacheFileBytes?: number;
    feedPollMs?: number;
    /**
     * The core's URL as KV Connect clients reach it, when it differs from `url` (which the edge uses):
     * listed as the strong endpoint in the metadata exchange. Default `url`.
     */
    publicUrl?: string;
  };
  /**
   * How long a write's acknowledgement may wait for the edge nodes following this server to apply it
   * (src/core/fence.ts), in ms: read-your-writes for clients that write here and read through an edge.
   * Default 200; 0 turns the fence off (writes never wait; edges then learn of writes within ms).
   */
  edgeFenceMs?: number;
  /** With a store: must match the store's account id, or is stored as it when the store has none yet. */
  accountId?: string;
  /** With a store: replaces the store's admin token (its hash) for every server on it. */
  adminToken?: string;
  tls?: { cert: string; key: string };
  insecure?: boolean;
  durability?: Durability;
  rateLimit?: number;
  maxBodyBytes?: number;
  clock?: Clock;
  /** Overrides of the connection timeouts and caps (`CONNECTION_LIMITS`); tests shorten them. */
  connectionLimits?: Partial<ConnectionLimits>;
  /** KV Connect tuning (keep-alive interval, metadata expiry, queue lease). */
  kvConnect?: KvConnectOptions;
  /** Append one JSON line per namespace create/rename/delete, token create/revoke and bulk delete to this file. */
  auditLog?: string;
  /** How often tokens.json (or a store's tokens) is checked for changes made elsewhere, in ms. Default 250. */
  tokenPollMs?: number;
  /** The store's 256-bit encryption key (encryption at rest); see Engine.open for what it checks. */
  encryptionKey?: Uint8Array;
  /**
   * Analytics for the GraphQL Analytics API (on by default; `false` turns counting off): how often the
   * per-minute aggregates go to the store, and the clock that measures latency (ms; tests inject one).
   */
  analytics?: false | { flushMs?: number; latencyClock?: Clock };
  /**
   * Keep hot GETs' exact answers (src/http/response-cache.ts) when the store can say at once whether
   * anything changed (SQLite). Default true; `false` (`--no-response-cache`) reads the store every time.
   */
  responseCache?: boolean;
  /** Extra routes (e.g. other front ends), mounted after the built-in ones. */
  routes?: Route[];
  log?: (line: string) => void;
}

export interface RunningServer {
  url: string;
  port: number;
  accountId: string;
  /**
   * The admin token, or null when a store's admin token was set by an earlier server: the store keeps
   * only its hash.
   */
  adminToken: string | null;
  /** True when the admin token was generated by this start (it is printed once). */
  adminTokenGenerated: boolean;
  /** True when `adminToken` replaced a store's different admin token (for every server on the store). */
  adminTokenReplaced: boolean;
  /** The core's URL when this server is an edge node. */
  edgeOf: string | null;
  engine: Engine;
  tokens: Tokens;
  /** What the server counts for the GraphQL Analytics API; null when off. */
  analytics: Analytics | null;
  /** Hot GETs' kept answers; null when the store cannot back them or `responseCache` is false. */
  responses: ResponseCache | null;
  close(): Promise<void>;
}

const ACCOUNT_ID = /^[0-9a-f]{32}$/;
const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

function persisted(dir: string | null, file: string, make: () => string, mode?: number): { value: string; created: boolean } {
  if (!dir) return { value: make(), created: true };
  const path = join(dir, file);
  if (existsSync(path)) return { value: readFileSync(path, "utf8").trim(), created: false };
  const value = make();
  writeFileSync(path, value + "\n", mode ? { mode } : {});
  if (mode) chmodSync(path, mode);
  return { value, created: true };
}

/** Every route `startServer` mounts itself, in order (tests enumerate it to cover each route). */
export function builtinRoutes(kvConnect?: KvConnectOptions): Route[] {
  return [...cloudflareRoutes(), ...graphqlRoutes(), ...systemRoutes(), ...restRoutes(), ...kvConnectRoutes(kvConnect), ...edgeRpcRoutes(), ...dashboard()];
}

export async function startServer(config: ServerConfig): Promise<RunningServer> {
  if (!config.tls && !config.insecure && !LOOPBACK.test(config.host)) {
    throw new Error(
      `Refusing to listen on ${config.host} without TLS: tokens would cross the network in clear text. Pass --tls-cert and --tls-key, or --insecure if you really mean it.`,
    );
  }
  if (config.accountId !== undefined && !ACCOUNT_ID.test(config.accountId)) {
    throw new Error(`Invalid --account-id "${config.accountId}": expected 32 lowercase hex characters`);
  }
  const clock = config.clock ?? systemClock;
  const edge = config.edgeOf ?? null;
  const dir = edge ? null : config.dataDir;
  // The store and the token files inside are for this user only (an existing directory is left as it is).
  if (dir) mkdirSync(dir, { recursive: true, mode: 0o700 });
  // A store keeps these itself (read once it is open); a data directory keeps them in files.
  let accountId = "";
  let admin: { value: string | null; created: boolean; replaced?: boolean } = { value: config.adminToken ?? null, created: false };
  if (!config.store && !edge) {
    accountId = config.accountId ?? persisted(dir, "account-id", () => randomBytes(16).toString("hex")).value;
    if (!config.adminToken) admin = persisted(dir, "admin-token", generateSecret, 0o600);
  }

  const log = config.log ?? ((line: string) => process.stderr.write(line + "\n"));
  // Held until close: `openkv restore` refuses to swap the store under a running server.
  const dirLock = dir ? holdShared(join(dir, "server.lock")) : null;
  if (dir && !dirLock) {
    throw new Error(`A restore is replacing the store in ${dir}: start the server once \`openkv restore\` has finished.`);
  }
  // Everything opened from here on is closed again if a later step fails.
  const opened: (() => unknown)[] = [() => dirLock?.release()];
  const unwind = async () => {
    for (const close of opened.splice(0).reverse()) await close();
  };
  // Edges following this server report how far they have applied its feed; writes wait for them.
  const fenceMs = config.edgeFenceMs ?? DEFAULT_FENCE_MS;
  const fence = !edge && fenceMs > 0 ? new WriteFence({ timeoutMs: fenceMs }) : null;
  let engine: Engine;
  let tokens: Tokens;
  let audit: AuditLog | undefined;
  let analytics: Analytics | null = null;
  // On an edge, a read the memory cache answers marks its request's note as a hot read.
  const noteScope = edge && config.analytics !== false ? new AsyncLocalStorage<OperationNote>() : undefined;
  try {
    if (edge) {
      const core = new CoreBackend(edge.url, edge.token);
      // Opening reads the core's feed position: a core that is down or refuses the token fails the start.
      const cacheBytes = edge.cacheBytes ?? DEFAULT_CACHE_BYTES;
      let backend: CachedBackend | CoreBackend = core;
      if (cacheBytes > 0 || edge.cacheFile) {
        try {
          const cacheFile = edge.cacheFile
            ? { path: edge.cacheFile, coreId: await core.storeId(), ...(edge.cacheFileBytes === undefined ? {} : { maxBytes: edge.cacheFileBytes }) }
            : undefined;
          backend = await CachedBackend.open(core, {
            maxBytes: cacheBytes,
            clock,
            log,
            ...(cacheFile ? { cacheFile } : {}),
            ...(edge.feedPollMs ? { feedPollMs: edge.feedPollMs } : {}),
            ...(noteScope ? { onHit: () => void (noteScope.getStore() && (noteScope.getStore()!.hot = true)) } : {}),
          });
        } catch (e) {
          await core.close();
          throw e;
        }
      }
      engine = await Engine.open(backend, { clock });
      opened.push(() => engine.close());
      accountId = await core.accountId();
      tokens = new RemoteTokens((secret) => core.verify(secret));
      opened.push(() => tokens.close());
    } else {
      const backend = openBackend(config.store ?? (dir ? join(dir, "openkv.sqlite") : ":memory:"), config.durability ? { durability: config.durability } : {});
      // Engine.open checks the encryption key against the store and closes the backend when it refuses.
      engine = await Engine.open(backend, { clock, ...(config.encryptionKey ? { encryptionKey: config.encryptionKey } : {}), ...(fence ? { fence } : {}) });
      opened.push(() => engine.close());
      await engine.ensureNamespace("default");
      const pollMs = config.tokenPollMs ?? 250;
      if (config.store) {
        accountId = await storeAccountId(engine.backend, config.accountId);
        const stored = await storeAdminToken(engine.backend, config.adminToken);
        admin = { value: config.adminToken ?? stored.generated, created: stored.generated !== null, replaced: stored.replaced };
        tokens = await StoreTokens.open(engine.backend, { pollMs, log });
      } else {
        tokens = new TokenStore(admin.value!, dir ? join(dir, "tokens.json") : null, { pollMs, log });
      }
      opened.push(() => tokens.close());
    }
    if (config.auditLog) {
      audit = new AuditLog(config.auditLog, () => clock.now());
      opened.push(() => audit!.close());
    }
    if (config.analytics !== false) {
      // An edge keeps no store: it flushes what it counts to its core, which samples storage itself.
      const a = new Analytics(engine.backend.analytics ?? null, {
        clock,
        sampleStorage: !edge,
        log,
        ...(config.analytics?.flushMs ? { flushMs: config.analytics.flushMs } : {}),
      });
      analytics = a;
      opened.push(() => a.close());
    }
  } catch (e) {
    await unwind();
    throw e;
  }
  const stopping = new AbortController();
  const metrics = new Metrics();
  if (engine.backend instanceof CachedBackend) {
    const cache = engine.backend.cache;
    metrics.edgeCache(() => {
      const s = cache.snapshotStats();
      return {
        memoryHits: s.hits - s.fileHits,
        fileHits: s.fileHits,
        misses: s.misses,
        memoryEntries: s.entries,
        fileEntries: s.file?.entries ?? 0,
        memoryBytes: s.bytes,
        fileBytes: s.file?.bytes ?? 0,
      };
    });
  }
  const deps: ServerDeps = {
    shutdown: stopping.signal,
    engine,
    tokens,
    metrics,
    clock,
    accountId,
    limits: { maxBodyBytes: config.maxBodyBytes ?? 100 * 1024 * 1024 },
    ...(audit ? { audit } : {}),
    ...(fence ? { fence } : {}),
    ...(analytics ? { analytics } : {}),
  };
  // Only a store that can tell at once whether anything changed (SQLite) can back a response cache; an
  // edge's memory cache can for eventual reads (Workers reads, KV Connect's eventual endpoint).
  const backend = engine.backend;
  if (config.responseCache !== false && (backend.storeVersion || backend.eventualVersion)) {
    const responses = backend.storeVersion
      ? new ResponseCache(() => backend.storeVersion!(), engine.clock)
      : new ResponseCache(() => backend.eventualVersion!(), engine.clock, { edgeBoundMs: FEED_DEGRADED_AFTER_MS });
    deps.responses = responses;
    metrics.responseCache(() => responses);
  }
  if (fence) deps.metrics.watchFence(fence);
  // An edge sends KV Connect clients to its core for writes and strong reads, to itself for eventual ones.
  const kvConnect = edge ? { ...config.kvConnect, strongEndpoint: edge.publicUrl ?? edge.url } : config.kvConnect;
  const routes = [...builtinRoutes(kvConnect), ...(config.routes ?? [])];
  const handler = createApp(deps, routes, {
    ...(config.rateLimit ? { rateLimit: config.rateLimit } : {}),
    log,
    ...(config.analytics && config.analytics.latencyClock ? { latencyClock: config.analytics.latencyClock } : {}),
    ...(noteScope ? { noteScope } : {}),
  });
  let listener: Listener;
  let address;
  try {
    listener = createListener({
      handler,
      ...(config.tls ? { tls: { cert: readFileSync(config.tls.cert), key: readFileSync(config.tls.key) } } : {}),
      ...(config.connectionLimits ? { limits: config.connectionLimits } : {}),
    });
    address = await listener.listen(config.port, config.host);
  } catch (e) {
    await unwind();
    throw e;
  }
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  const url = `${config.tls ? "https" : "http"}://${host}:${address.port}`;
  return {
    url,
    port: address.port,
    accountId,
    adminToken: admin.value,
    adminTokenGenerated: admin.created,
    adminTokenReplaced: admin.replaced ?? false,
    edgeOf: edge ? edge.url : null,
    engine,
    tokens,
    analytics,
    responses: deps.responses ?? null,
    async close() {
      // End watch and queue streams first: the drain then waits only for ordinary requests.
      stopping.abort();
      fence?.close();
      await listener.close();
      await unwind();
    },
  };
}
