/** `openkv serve`: start the server (what `npm start` runs). */
import { parseArgs } from "node:util";
import { loadEncryptionKey } from "../../config/encryption-key.ts";
import { KvError } from "../../core/errors.ts";
import { CacheFileError } from "../../client/spill-file.ts";
import type { RawCommandDefinition } from "../command.ts";

const HELP = `openkv serve — start the OpenKV server

Usage: openkv serve [options]

Options:
  --host HOST          Address to listen on (default 127.0.0.1)
  --port PORT          Port (default 8787; 0 picks a free one)
  --data DIR           Data directory, SQLite inside (default ./.openkv)
  --memory             Keep everything in memory instead (lost on exit)
  --store URL          A shared store instead of --data: postgres://user@host:port/db (or env
                       OPENKV_STORE). Several hosts (postgres://u@h1:5432,h2:5432/db) find the
                       writable one, again after a failover. Any number of servers may share it:
                       the account id, the admin token (its hash only) and the API tokens then live
                       in the store, the same on every server (\`openkv token … --store URL\`).
  --account-id ID      Cloudflare account id to answer to (32 hex; default generated once, kept in DIR;
                       with --store, kept in the store, and a different ID is refused)
  --admin-token TOKEN  Admin token (or env OPENKV_ADMIN_TOKEN; default generated once, kept in DIR).
                       With --store: the first server to start without one generates it and prints it
                       once (the store keeps only its hash); later servers accept that same token.
                       A token given here replaces the store's for every server on it (the old one
                       stops working everywhere within a second): also how to replace a lost one.
  --tls-cert FILE      TLS certificate (PEM); with --tls-key serves HTTPS and HTTP/2 via ALPN
  --tls-key FILE       TLS private key (PEM)
  --insecure           Allow a non-loopback --host without TLS
  --durability MODE    fsync (default: a write survives a power cut) or process (survives a crash only)
  --rate-limit N       Requests per second per token (default unlimited)
  --no-analytics       Count nothing for the GraphQL Analytics API (/client/v4/graphql answers 404)
  --no-response-cache  Read the store for every GET (default: hot GETs' answers are kept until the
                       next commit, by this process or another, on a SQLite store; on an edge, the
                       answers to eventual reads until its cache forgets the key)
  --audit-log FILE     Append a JSON line per namespace create/rename/delete, token create/revoke and
                       bulk delete to FILE (or env OPENKV_AUDIT_LOG; never a token secret or a value)
  --edge-of URL        Run as an edge node of the OpenKV server at URL (the core; or env
                       OPENKV_EDGE_OF): no data here, every API served by forwarding to the core,
                       clients' tokens checked against the core (a revocation bites within 1 s)
  --token TOKEN        With --edge-of: the token this edge acts with on the core (or env
                       OPENKV_EDGE_TOKEN); give it at least the rights of the clients it serves
  --cache-bytes N      With --edge-of: memory for cached reads, in bytes (default 67108864 = 64 MiB;
                       0 turns the cache off: every read goes to the core, unless --cache-file)
  --cache-file PATH    With --edge-of: entries evicted from memory spill to this local SQLite file,
                       and the cache survives a restart (resumed from the core's change feed, or
                       cleared when the core no longer has the position it stopped at). Values are
                       kept in plaintext: the file is created readable by its owner only
  --cache-file-bytes N With --cache-file: the most the file holds, in bytes (default 1073741824 =
                       1 GiB); entries over 1 MiB are not spilled
  --core-public-url URL
                       With --edge-of: the core's URL as KV Connect clients reach it, when it is not
                       the --edge-of URL (default; or env OPENKV_CORE_PUBLIC_URL). The metadata
                       exchange lists it as the strong endpoint (writes, strong reads, and every call
                       of Deno's own client) and this edge as the eventual one (@deno/kv's eventual reads)
  --edge-fence-ms N    On a core: hold each write's acknowledgement until the edge nodes following
                       this server have applied it, for at most N ms (default 200; 0 turns it off).
                       Gives read-your-writes to clients that write here and read through an edge
                       (@deno/kv's eventual reads); an edge that misses it is not waited for again
                       until it catches up
  --encryption-key-file FILE
                       Encrypt values, metadata and queue payloads at rest with the 256-bit key in FILE
                       (base64, e.g. from \`openssl rand -base64 32\`; or env OPENKV_ENCRYPTION_KEY)
  --help               Show this help`;

function edgeCacheLine(cache: { maxBytes: number; spill: { path: string; maxBytes: number } | null } | undefined): string {
  if (!cache) return "no cache: every call goes to the core";
  const file = cache.spill ? `, spilling to ${cache.spill.path} (up to ${Math.round(cache.spill.maxBytes / 1048576)} MiB)` : "";
  return `reads cached in up to ${Math.round(cache.maxBytes / 1048576)} MiB${file}, invalidated from the core's change feed`;
}

/** Parses its own flags (node:util parseArgs): its messages are relied on by scripts and tests. */
export const serveCommand: RawCommandDefinition = {
  kind: "raw",
  command: ["serve"],
  description: "Start the server (Cloudflare REST API v4, /kv REST API, KV Connect) on one port",
  async run(args, ctx) {
    const { values } = parseArgs({
      args,
      options: {
        host: { type: "string", default: "127.0.0.1" },
        port: { type: "string", default: "8787" },
        data: { type: "string", default: "./.openkv" },
        memory: { type: "boolean", default: false },
        store: { type: "string" },
        "account-id": { type: "string" },
        "admin-token": { type: "string" },
        "tls-cert": { type: "string" },
        "tls-key": { type: "string" },
        insecure: { type: "boolean", default: false },
        durability: { type: "string", default: "fsync" },
        "rate-limit": { type: "string" },
        "no-analytics": { type: "boolean", default: false },
        "no-response-cache": { type: "boolean", default: false },
        "audit-log": { type: "string" },
        "encryption-key-file": { type: "string" },
        "edge-of": { type: "string" },
        token: { type: "string" },
        "cache-bytes": { type: "string" },
        "cache-file": { type: "string" },
        "cache-file-bytes": { type: "string" },
        "core-public-url": { type: "string" },
        "edge-fence-ms": { type: "string" },
        help: { type: "boolean", default: false },
      },
    });
    if (values.help) {
      ctx.stdout.write(HELP + "\n");
      return 0;
    }
    const port = Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      ctx.stderr.write(`Invalid --port "${values.port}": use a number from 0 to 65535.\n`);
      return 1;
    }
    if (Boolean(values["tls-cert"]) !== Boolean(values["tls-key"])) {
      ctx.stderr.write("--tls-cert and --tls-key go together: pass both.\n");
      return 1;
    }
    if (values.durability !== "fsync" && values.durability !== "process") {
      ctx.stderr.write(`Invalid --durability "${values.durability}": use fsync or process.\n`);
      return 1;
    }
    const rateLimit = values["rate-limit"] === undefined ? 0 : Number(values["rate-limit"]);
    if (!(rateLimit >= 0)) {
      ctx.stderr.write(`Invalid --rate-limit "${values["rate-limit"]}": use a positive number of requests per second.\n`);
      return 1;
    }
    const store = values.store ?? (ctx.env.OPENKV_STORE || undefined);
    if (store !== undefined && !/^postgres(ql)?:\/\//.test(store)) {
      ctx.stderr.write(`Invalid --store "${store}": use a PostgreSQL URL such as postgres://user@host:5432/db (for SQLite, use --data DIR).\n`);
      return 1;
    }
    if (store !== undefined && values.memory) {
      ctx.stderr.write("--store and --memory are two different stores: pass one.\n");
      return 1;
    }
    const edgeOf = values["edge-of"] ?? (ctx.env.OPENKV_EDGE_OF || undefined);
    const edgeToken = values.token ?? (ctx.env.OPENKV_EDGE_TOKEN || undefined);
    const corePublicUrl = values["core-public-url"] ?? (ctx.env.OPENKV_CORE_PUBLIC_URL || undefined);
    if (edgeOf !== undefined) {
      if (!/^https?:\/\/[^/]/.test(edgeOf)) {
        ctx.stderr.write(`Invalid --edge-of "${edgeOf}": use the core's URL, e.g. http://core.internal:8787\n`);
        return 1;
      }
      if (!edgeToken) {
        ctx.stderr.write("--edge-of needs --token (or OPENKV_EDGE_TOKEN): the token this edge acts with on the core.\n");
        return 1;
      }
      // An edge keeps nothing: these belong to the core.
      for (const flag of ["store", "memory", "admin-token", "account-id", "encryption-key-file", "audit-log"] as const) {
        if (values[flag]) {
          ctx.stderr.write(`--${flag} and --edge-of do not go together: an edge node keeps no store, tokens or keys; set it on the core.\n`);
          return 1;
        }
      }
      if (corePublicUrl !== undefined && !/^https?:\/\/[^/]/.test(corePublicUrl)) {
        ctx.stderr.write(`Invalid --core-public-url "${corePublicUrl}": use the core's URL as clients reach it, e.g. https://core.example.com\n`);
        return 1;
      }
      if (values["cache-bytes"] !== undefined && !/^\d+$/.test(values["cache-bytes"])) {
        ctx.stderr.write(`Invalid --cache-bytes "${values["cache-bytes"]}": use a number of bytes (0 turns the cache off).\n`);
        return 1;
      }
      if (values["edge-fence-ms"] !== undefined) {
        ctx.stderr.write("--edge-fence-ms sets how long a core waits for its edges: set it on the core, not on an edge.\n");
        return 1;
      }
      if (values["cache-file"] === "") {
        ctx.stderr.write("Invalid --cache-file \"\": use a path for the edge's cache file, e.g. ./edge-cache.sqlite\n");
        return 1;
      }
      if (values["cache-file-bytes"] !== undefined) {
        if (values["cache-file"] === undefined) {
          ctx.stderr.write("--cache-file-bytes sizes the edge's cache file: it goes with --cache-file.\n");
          return 1;
        }
        if (!/^\d+$/.test(values["cache-file-bytes"]) || Number(values["cache-file-bytes"]) === 0) {
          ctx.stderr.write(`Invalid --cache-file-bytes "${values["cache-file-bytes"]}": use a number of bytes above 0.\n`);
          return 1;
        }
      }
    } else if (values["core-public-url"] !== undefined) {
      ctx.stderr.write("--core-public-url names an edge node's core for KV Connect clients: it goes with --edge-of.\n");
      return 1;
    } else if (values["cache-bytes"] !== undefined) {
      ctx.stderr.write("--cache-bytes sizes an edge node's cache: it goes with --edge-of.\n");
      return 1;
    } else if (values["cache-file"] !== undefined || values["cache-file-bytes"] !== undefined) {
      ctx.stderr.write(`--${values["cache-file"] !== undefined ? "cache-file" : "cache-file-bytes"} is an edge node's cache file: it goes with --edge-of.\n`);
      return 1;
    } else if (values.token !== undefined) {
      ctx.stderr.write("--token is the edge's token on its core: it goes with --edge-of (the admin token is --admin-token).\n");
      return 1;
    }
    if (values["edge-fence-ms"] !== undefined && !/^\d+$/.test(values["edge-fence-ms"])) {
      ctx.stderr.write(`Invalid --edge-fence-ms "${values["edge-fence-ms"]}": use a number of milliseconds (0 turns the fence off).\n`);
      return 1;
    }
    const adminToken = values["admin-token"] ?? (ctx.env.OPENKV_ADMIN_TOKEN || undefined);
    const auditLog = values["audit-log"] ?? (ctx.env.OPENKV_AUDIT_LOG || undefined);
    let encryptionKey: Uint8Array | undefined;
    try {
      encryptionKey = loadEncryptionKey(values["encryption-key-file"], ctx.env);
    } catch (e) {
      ctx.stderr.write(`${(e as Error).message}\n`);
      return 1;
    }
    // Loaded on demand: the server (and its protocol stacks) would slow every other command's start.
    const { startServer } = await import("../../server/server.ts");
    let server: Awaited<ReturnType<typeof startServer>>;
    try {
      server = await startServer({
        host: values.host!,
        port,
        dataDir: values.memory || store || edgeOf ? null : values.data!,
        ...(edgeOf ? { edgeOf: { url: edgeOf, token: edgeToken!, ...(values["cache-bytes"] !== undefined ? { cacheBytes: Number(values["cache-bytes"]) } : {}), ...(values["cache-file"] ? { cacheFile: values["cache-file"] } : {}), ...(values["cache-file-bytes"] !== undefined ? { cacheFileBytes: Number(values["cache-file-bytes"]) } : {}), ...(corePublicUrl ? { publicUrl: corePublicUrl } : {}) } } : {}),
        ...(store ? { store } : {}),
        ...(values["edge-fence-ms"] !== undefined ? { edgeFenceMs: Number(values["edge-fence-ms"]) } : {}),
        ...(values["account-id"] ? { accountId: values["account-id"] } : {}),
        ...(adminToken ? { adminToken } : {}),
        ...(values["tls-cert"] ? { tls: { cert: values["tls-cert"], key: values["tls-key"]! } } : {}),
        insecure: values.insecure!,
        durability: values.durability,
        rateLimit,
        ...(values["no-analytics"] ? { analytics: false as const } : {}),
        ...(values["no-response-cache"] ? { responseCache: false } : {}),
        ...(auditLog ? { auditLog } : {}),
        ...(encryptionKey ? { encryptionKey } : {}),
      });
    } catch (e) {
      // A store the key cannot open, or cannot reach, is refused at start, with what to do.
      if ((e instanceof KvError && (e.code === "encryption_key" || e.code === "unavailable")) || e instanceof CacheFileError) {
        ctx.stderr.write(edgeOf ? `Cannot start an edge of ${edgeOf}: ${e.message}\n` : `${e.message}\n`);
        return 1;
      }
      throw e;
    }
    const out = ctx.stdout;
    const adminLine = (): string => {
      if (edgeOf) return "Authenticate with a token of the core (this edge checks every token against the core).";
      if (server.adminTokenGenerated) {
        const kept = store ? "only its hash is kept in the store" : values.memory ? "kept in memory only" : `kept in ${values.data}/admin-token`;
        return `Admin token (shown once; ${kept}):\n  ${server.adminToken}`;
      }
      if (adminToken) {
        return server.adminTokenReplaced
          ? "Authenticate with the admin token you passed: it replaced the store's admin token, on every server of this store."
          : "Authenticate with the admin token you passed.";
      }
      return store
        ? "Authenticate with the store's admin token, shown once by the server that generated it (the store keeps only its hash; to replace a lost one, start a server with --admin-token)."
        : `Authenticate with the admin token in ${values.data}/admin-token.`;
    };
    const { keyring } = server.engine;
    const encryption = keyring.encrypted
      ? `on (AES-256-GCM; data key ${keyring.activeKeyId}, key fingerprint ${keyring.fingerprint})`
      : "off (pass --encryption-key-file to turn it on)";
    const where = edgeOf
      ? `edge of ${server.edgeOf} (${edgeCacheLine((server.engine.backend as { cache?: { maxBytes: number; spill: { path: string; maxBytes: number } | null } }).cache)})`
      : values.memory
      ? "memory (nothing is kept after exit)"
      : store
        ? `${server.engine.backend.kind === "postgres" ? (server.engine.backend as { display?: string }).display : store} (PostgreSQL)`
        : `${values.data} (SQLite)`;
    out.write(
      [
        `OpenKV listening on ${server.url}  — ${edgeOf ? "" : "data: "}${where}`,
        ``,
        `  Cloudflare REST API v4  ${server.url}/client/v4   (account id ${server.accountId})`,
        `  KV REST API             ${server.url}/kv/{keypath}  and  ${server.url}/ns/{namespace}/kv/{keypath}`,
        `  KV Connect (Deno)       ${server.url}/kv-connect/{namespace}`,
        `  Dashboard               ${server.url}/   (sign in with a token)`,
        `  Health / metrics        ${server.url}/healthz   ${server.url}/metrics`,
        ...(auditLog ? [`  Audit log               ${auditLog}`] : []),
        ...(edgeOf ? [] : [`  Encryption at rest      ${encryption}`]),
        ``,
        adminLine(),
        `Send it as "Authorization: Bearer <token>", e.g.:`,
        `  curl -H "Authorization: Bearer $OPENKV_TOKEN" ${server.url}/kv/users.john.settings`,
        ``,
      ].join("\n"),
    );
    await new Promise<void>((resolve) => {
      const stop = (signal: string) => {
        out.write(`\n${signal}: finishing in-flight requests and closing the store…\n`);
        process.off("SIGTERM", onTerm);
        process.off("SIGINT", onInt);
        server.close().then(() => {
          out.write("OpenKV stopped cleanly.\n");
          resolve();
        });
      };
      const onTerm = () => stop("SIGTERM");
      const onInt = () => stop("SIGINT");
      process.on("SIGTERM", onTerm);
      process.on("SIGINT", onInt);
    });
    return 0;
  },
};
