/**
 * One port for HTTP/1.1 and HTTP/2. Real Deno speaks only h2c with prior knowledge to a KV Connect URL
 * while @deno/kv, wrangler and the Cloudflare SDK speak HTTP/1.1, and Node's http2 server does not fall
 * back to HTTP/1.1 on cleartext: so a plain TCP server looks at the first bytes of each connection and
 * hands it to the right protocol server. With TLS, ALPN does the same job. Both protocol servers get the
 * same timeouts and caps (./connection-limits.ts), whichever way a connection reached them.
 */
import { readFileSync } from "node:fs";
import { createServer as createHttp1Server, type IncomingMessage, type ServerResponse } from "node:http";
import {
  constants as http2Constants,
  createServer as createHttp2Server,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from "node:http2";
import { createServer as createNetServer, type AddressInfo, type Server, type Socket } from "node:net";
import { createServer as createTlsServer, type TLSSocket } from "node:tls";
import { CONNECTION_LIMITS, type ConnectionLimits } from "./connection-limits.ts";

export type Request = IncomingMessage | Http2ServerRequest;
export type Response = ServerResponse | Http2ServerResponse;
export type Handler = (req: Request, res: Response) => void;

export interface ListenerOptions {
  handler: Handler;
  tls?: { key: Buffer | string; cert: Buffer | string };
  /** Overrides of `CONNECTION_LIMITS` (tests shorten the timeouts). */
  limits?: Partial<ConnectionLimits>;
}

export interface Listener {
  listen(port: number, host: string): Promise<AddressInfo>;
  /** Stops accepting, lets in-flight requests finish (up to `graceMs`), then closes what is left. */
  close(graceMs?: number): Promise<void>;
}

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

export function createListener(options: ListenerOptions): Listener {
  const handler = options.handler;
  const limits: ConnectionLimits = { ...CONNECTION_LIMITS, ...options.limits };
  /** Every accepted socket, until it closes. */
  const sockets = new Set<Socket>();
  /** Sockets not yet handed to a protocol server (sniffing, or in the TLS handshake): close() ends them at once. */
  const pending = new Set<Socket>();
  const track = (socket: Socket) => {
    sockets.add(socket);
    pending.add(socket);
    socket.once("close", () => {
      sockets.delete(socket);
      pending.delete(socket);
    });
  };

  const h1 = createHttp1Server(
    {
      keepAliveTimeout: limits.keepAliveMs,
      headersTimeout: limits.headersMs,
      requestTimeout: limits.requestMs,
      maxHeaderSize: limits.maxHeaderBytes,
      // Node checks the head and request deadlines on this beat: a fraction of the shorter one.
      connectionsCheckingInterval: Math.max(10, Math.min(5_000, Math.floor(Math.min(limits.headersMs, limits.requestMs) / 4))),
    },
    handler,
  );
  // No byte either way while a request is open: the socket is destroyed (Node's default on timeout).
  h1.timeout = limits.idleMs;

  const h2 = createHttp2Server(
    { settings: { maxConcurrentStreams: limits.maxConcurrentStreams, maxHeaderListSize: limits.maxHeaderBytes } },
    (req, res) => {
      // Node enforces only its own 64 KiB on what HTTP/2 clients send, whatever SETTINGS advertised.
      const size = headListSize(req.rawHeaders);
      if (size > limits.maxHeaderBytes) {
        return sendTooLarge(res, `Request header fields of ${size} bytes exceed the limit of ${limits.maxHeaderBytes} bytes`);
      }
      handler(req, res);
    },
  );
  const sessions = new Set<ServerHttp2Session>();
  const openStreams = new Map<ServerHttp2Session, number>();
  h2.on("session", (session: ServerHttp2Session) => {
    sessions.add(session);
    openStreams.set(session, 0);
    // The preface ends with the client's SETTINGS: a session that has not sent them is not a client.
    const preface = setTimeout(() => session.destroy(), limits.handshakeMs);
    preface.unref();
    session.once("remoteSettings", () => clearTimeout(preface));
    // Frames in either direction restart this; a session quiet with no stream open is done.
    session.setTimeout(limits.keepAliveMs);
    session.on("timeout", () => {
      if (openStreams.get(session) === 0) session.close();
    });
    session.once("close", () => {
      clearTimeout(preface);
      sessions.delete(session);
      openStreams.delete(session);
    });
  });
  h2.on("stream", (stream: ServerHttp2Stream) => {
    const session = stream.session as ServerHttp2Session;
    openStreams.set(session, (openStreams.get(session) ?? 0) + 1);
    // The request must arrive whole in time (HTTP/1.1's requestTimeout); its response may stream on.
    const receiving = setTimeout(() => {
      if (!stream.destroyed && !stream.state.remoteClose) stream.close(http2Constants.NGHTTP2_CANCEL);
    }, limits.requestMs);
    receiving.unref();
    stream.setTimeout(limits.idleMs);
    stream.on("timeout", () => stream.close(http2Constants.NGHTTP2_CANCEL));
    stream.once("close", () => {
      clearTimeout(receiving);
      if (openStreams.has(session)) openStreams.set(session, openStreams.get(session)! - 1);
    });
  });

  let outer: Server;
  if (options.tls) {
    const tls = createTlsServer({
      key: options.tls.key,
      cert: options.tls.cert,
      ALPNProtocols: ["h2", "http/1.1"],
      handshakeTimeout: limits.handshakeMs,
    });
    // tls.Server reports the raw socket on accept and the TLS socket after the handshake; the peer's
    // address and port pair them up, to know which raw sockets are still in their handshake.
    const handshaking = new Map<string, Socket>();
    const peer = (s: Socket) => `${s.remoteAddress}|${s.remotePort}`;
    tls.on("connection", (raw: Socket) => {
      track(raw);
      const id = peer(raw);
      handshaking.set(id, raw);
      raw.once("close", () => handshaking.get(id) === raw && handshaking.delete(id));
    });
    tls.on("secureConnection", (socket: TLSSocket) => {
      const raw = handshaking.get(peer(socket));
      if (raw) {
        handshaking.delete(peer(socket));
        pending.delete(raw);
      }
      (socket.alpnProtocol === "h2" ? h2 : h1).emit("connection", socket);
    });
    // A failed or timed-out handshake is only reported: without this the socket would stay open.
    tls.on("tlsClientError", (_e: Error, socket: TLSSocket) => socket.destroy());
    outer = tls;
  } else {
    outer = createNetServer({ noDelay: true }, (socket) => {
      track(socket);
      // Until its first bytes show the protocol, a connection belongs to no protocol server.
      socket.setTimeout(limits.handshakeMs, () => socket.destroy());
      let head = Buffer.alloc(0);
      socket.on("readable", function sniff() {
        for (let chunk: Buffer | null; (chunk = socket.read() as Buffer | null) !== null; ) head = Buffer.concat([head, chunk]);
        const seen = Math.min(head.length, PREFACE.length);
        const h2Preface = PREFACE.subarray(0, seen).equals(head.subarray(0, seen));
        // A prefix of the preface ("PRI * HT") could still be either: wait, within the handshake limit.
        if (head.length === 0 || (h2Preface && seen < PREFACE.length)) return;
        socket.off("readable", sniff);
        pending.delete(socket);
        socket.setTimeout(0);
        // The bytes read go back into the socket, and the protocol server gets the socket itself: Node's
        // HTTP/2 session takes the buffered bytes into its native handle, so frames are not relayed
        // through JavaScript (a Duplex relay cost about a third of KV Connect's throughput).
        socket.unshift(head);
        (h2Preface ? h2 : h1).emit("connection", socket);
      });
    });
  }
  outer.maxConnections = connectionCap(limits);

  return {
    listen(port, host) {
      return new Promise((resolve, reject) => {
        outer.once("error", reject);
        outer.listen({ port, host, backlog: limits.listenBacklog }, () => {
          outer.off("error", reject);
          // The HTTP/1.1 server never listens itself; this starts its connection tracking (idle
          // sockets, header and request timeouts) as if it did.
          h1.emit("listening");
          resolve(outer.address() as AddressInfo);
        });
      });
    },
    async close(graceMs = 10_000) {
      const closed = new Promise<void>((resolve) => outer.close(() => resolve()));
      for (const s of pending) s.destroy();
      h1.closeIdleConnections();
      const deadline = setTimeout(() => {
        for (const s of sockets) s.destroy();
      }, graceMs);
      deadline.unref();
      // HTTP/2 sessions (GOAWAY) and idle keep-alive sockets end when their streams are done.
      for (const session of sessions) session.close();
      const idle = setInterval(() => h1.closeIdleConnections(), 50);
      await closed;
      clearInterval(idle);
      h1.close(() => {});
      clearTimeout(deadline);
    },
  };
}

/** A head's size as HTTP/2 counts it against SETTINGS_MAX_HEADER_LIST_SIZE (RFC 9113 §6.5.2). */
function headListSize(raw: readonly string[]): number {
  let size = 0;
  for (let i = 0; i + 1 < raw.length; i += 2) size += Buffer.byteLength(raw[i]!) + Buffer.byteLength(raw[i + 1]!) + 32;
  return size;
}

function sendTooLarge(res: Http2ServerResponse, message: string): void {
  res.writeHead(431, { "content-type": "text/plain; charset=utf-8", "content-length": Buffer.byteLength(message) });
  res.end(message);
}

/** `maxConnections`, lowered to what the process's open-file limit leaves after the store's share. */
function connectionCap(limits: ConnectionLimits): number {
  const files = openFileLimit();
  return files === null ? limits.maxConnections : Math.max(1, Math.min(limits.maxConnections, files - limits.reservedFiles));
}

function openFileLimit(): number | null {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync("/proc/self/limits", "utf8"));
    return m ? Number(m[1]) : null;
  } catch {
    // Not Linux: the fixed cap stands.
    return null;
  }
}
