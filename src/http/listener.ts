/**
 * One port for HTTP/1.1 and HTTP/2. Real Deno speaks only h2c with prior knowledge to a KV Connect URL
 * while @deno/kv, wrangler and the Cloudflare SDK speak HTTP/1.1, and Node's http2 server does not fall
 * back to HTTP/1.1 on cleartext: so a plain TCP server looks at the first bytes of each connection and
 * hands it to the right protocol server. With TLS, ALPN does the same job.
 */
import { createServer as createHttp1Server, type IncomingMessage, type ServerResponse } from "node:http";
import {
  createServer as createHttp2Server,
  createSecureServer,
  type Http2ServerRequest,
  type Http2ServerResponse,
} from "node:http2";
import { createServer as createNetServer, type AddressInfo, type Server, type Socket } from "node:net";
import { Duplex } from "node:stream";

export type Request = IncomingMessage | Http2ServerRequest;
export type Response = ServerResponse | Http2ServerResponse;
export type Handler = (req: Request, res: Response) => void;

export interface ListenerOptions {
  handler: Handler;
  tls?: { key: Buffer | string; cert: Buffer | string };
}

export interface Listener {
  listen(port: number, host: string): Promise<AddressInfo>;
  /** Stops accepting, lets in-flight requests finish (up to `graceMs`), then closes what is left. */
  close(graceMs?: number): Promise<void>;
}

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
const SNIFF_TIMEOUT_MS = 30_000;

/** Re-emits bytes already read from a socket, then the socket's own stream, as one Duplex. */
class ReplaySocket extends Duplex {
  #socket: Socket;
  constructor(socket: Socket, head: Buffer) {
    super();
    this.#socket = socket;
    this.push(head);
    socket.on("data", (chunk: Buffer) => {
      if (!this.push(chunk)) socket.pause();
    });
    socket.on("end", () => this.push(null));
    socket.on("error", (e) => this.destroy(e));
    socket.on("close", () => this.destroy());
  }
  override _read(): void {
    this.#socket.resume();
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.#socket.write(chunk, cb);
  }
  override _final(cb: (e?: Error | null) => void): void {
    this.#socket.end(cb);
  }
  override _destroy(e: Error | null, cb: (e?: Error | null) => void): void {
    this.#socket.destroy(e ?? undefined);
    cb(e);
  }
  get remoteAddress() {
    return this.#socket.remoteAddress;
  }
  get remotePort() {
    return this.#socket.remotePort;
  }
  setNoDelay(v?: boolean) {
    this.#socket.setNoDelay(v);
    return this;
  }
  setKeepAlive(e?: boolean, d?: number) {
    this.#socket.setKeepAlive(e, d);
    return this;
  }
  setTimeout(ms: number, cb?: () => void) {
    this.#socket.setTimeout(ms, cb);
    return this;
  }
}

export function createListener(options: ListenerOptions): Listener {
  const handler = options.handler;
  const sockets = new Set<Socket | Duplex>();
  const unsniffed = new Set<Socket>();
  const track = (s: Socket | Duplex) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  };
  let outer: Server;
  const h2 = options.tls
    ? createSecureServer({ key: options.tls.key, cert: options.tls.cert, allowHTTP1: true }, handler)
    : createHttp2Server({}, handler);
  const h1 = createHttp1Server({ keepAliveTimeout: 65_000 }, handler);
  const sessions = new Set<{ close(): void; on(e: "close", f: () => void): unknown }>();
  h2.on("session", (session) => {
    sessions.add(session);
    session.on("close", () => sessions.delete(session));
  });
  if (options.tls) {
    outer = h2 as unknown as Server;
    outer.on("connection", track);
  } else {
    outer = createNetServer({ noDelay: true }, (socket) => {
      track(socket);
      // Until its first bytes arrive a connection belongs to no protocol server: close() ends it
      // directly, and one that stays silent is dropped after a while.
      unsniffed.add(socket);
      socket.setTimeout(SNIFF_TIMEOUT_MS, () => socket.destroy());
      socket.once("close", () => unsniffed.delete(socket));
      socket.once("readable", function sniff() {
        const head = socket.read() as Buffer | null;
        if (head === null) return socket.once("readable", sniff);
        unsniffed.delete(socket);
        socket.setTimeout(0);
        const probe = head.subarray(0, PREFACE.length);
        if (PREFACE.subarray(0, probe.length).equals(probe) && head.length >= 3) {
          h2.emit("connection", new ReplaySocket(socket, head));
        } else {
          socket.unshift(head);
          h1.emit("connection", socket);
        }
      });
    });
  }
  return {
    listen(port, host) {
      return new Promise((resolve, reject) => {
        outer.once("error", reject);
        outer.listen(port, host, () => {
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
      for (const s of unsniffed) s.destroy();
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
