/**
 * How long a connection may take, stay quiet or hold, frozen in one place (README, "Server"). Every
 * kind of connection the listener accepts — HTTP/1.1, cleartext HTTP/2, TLS with either via ALPN, and a
 * socket whose protocol is not known yet — is bounded by these, so a client that connects and then says
 * nothing, or says it slowly, is closed instead of holding a file descriptor for ever.
 *
 * The numbers follow what a client of Workers KV or Deno Deploy meets in production, never tighter: the
 * Cloudflare edge closes an idle HTTP/1.1 or HTTP/2 client connection after 400 s and gives a TLS
 * handshake 10 s, and answers 524 when an origin is silent for 120 s
 * (https://developers.cloudflare.com/fundamentals/reference/connection-limits/). KV Connect's watch and
 * queue streams send a keep-alive frame every 5 s, far inside every idle limit here.
 */
export const CONNECTION_LIMITS = {
  /**
   * From accept until the protocol is known: the TLS handshake, the first bytes of a cleartext
   * connection (which pick HTTP/1.1 or HTTP/2), and HTTP/2's connection preface with its SETTINGS.
   */
  handshakeMs: 10_000,
  /** Receiving one request's head (method, path, headers); HTTP/1.1 answers 408 past it. */
  headersMs: 30_000,
  /** Receiving one whole request, body included: 300 s carries 100 MiB at 350 KB/s. */
  requestMs: 300_000,
  /** No byte either way while a request or stream is open (a stuck handler, a client that stopped reading). */
  idleMs: 120_000,
  /** A connection (HTTP/1.1) or session (HTTP/2) with no request open is closed after this. */
  keepAliveMs: 400_000,
  /** Streams one HTTP/2 session may have open at once (advertised in SETTINGS; nginx's default is 128). */
  maxConcurrentStreams: 128,
  /** A request's head, all headers together: HTTP/1.1 answers 431 past it, HTTP/2 resets the stream. */
  maxHeaderBytes: 32 * 1024,
  /**
   * Open connections, all kinds together; more are closed on accept. Lowered at start to the process's
   * open-file limit less `reservedFiles`, so sockets can never starve the store of file descriptors.
   */
  maxConnections: 10_000,
  /** File descriptors kept for the store (database, WAL, backups) and the process itself. */
  reservedFiles: 256,
  /**
   * Connections the kernel may complete and queue while the server has not accepted them yet (the
   * listen backlog; Linux caps it at net.core.somaxconn, 4096 by default). Node's default, 511, is
   * outrun whenever the event loop is busy for a moment under load — a 25 MiB value, a slow disk —
   * while clients open connections for the requests queued meanwhile: past the backlog the kernel drops
   * their SYNs, and each drop costs that client a retransmission timeout of 1 s, then 3 s, 7 s…,
   * long after the server is free again.
   */
  listenBacklog: 4096,
} as const;

export type ConnectionLimits = { -readonly [K in keyof typeof CONNECTION_LIMITS]: number };
