/**
 * The token source of an edge node: the core decides who a secret is. The edge keeps each answer for a
 * short while (`ttlMs`, default 1 s) so a busy client costs the core one check per second, not one per
 * request; a revoked (or narrowed) token therefore stops working on the edge within `ttlMs`, and the
 * streams it opened end within about that too. Unknown secrets are remembered as unknown for the same
 * while, so bad tokens sent in a loop cost the core at most one check per secret per `ttlMs`.
 *
 * While the core cannot be reached, a secret the core accepted within the last `staleMs` (default 60 s,
 * Workers KV's default cacheTtl — the longest an edge serves cached reads with its feed cut) is still
 * accepted: the edge's cached reads go on for its clients during an outage, and its writes fail anyway.
 * A revocation made on the core during a partition reaches the edge when it can ask again, or after
 * `staleMs`.
 *
 * Tokens are created and revoked on the core only.
 */
import { KvError } from "../core/errors.ts";
import { sha256, type NewToken, type Principal, type TokenRecord, type Tokens } from "./token-set.ts";

export interface RemoteTokensOptions {
  /** How long an answer from the core is trusted (ms). Default 1000. */
  ttlMs?: number;
  /** How long an accepted secret stays accepted while the core cannot be reached (ms). Default 60000. */
  staleMs?: number;
  /** Monotonic time in ms; injectable for tests. */
  now?: () => number;
}

type Cached = { principal: Principal | null; at: number };

const MAX_CACHED = 10_000;

function sameRights(a: Principal, b: Principal | null): boolean {
  if (!b || a.kind !== b.kind) return false;
  if (a.kind === "admin" || b.kind === "admin") return true;
  return a.id === b.id && a.permission === b.permission && JSON.stringify(a.namespaces) === JSON.stringify(b.namespaces) && a.analytics === b.analytics;
}

function managedOnCore(): KvError {
  return new KvError("invalid_argument", "Tokens are created and revoked on the core, not on an edge node: use the core's /admin/tokens or `openkv token`");
}

export class RemoteTokens implements Tokens {
  readonly #ask: (secret: string) => Promise<Principal | null>;
  readonly #ttlMs: number;
  readonly #staleMs: number;
  readonly #now: () => number;
  /** By the secret's SHA-256, so the cache holds no secret. */
  readonly #cache = new Map<string, Cached>();
  readonly #inFlight = new Map<string, Promise<Principal | null>>();
  /** Tokens with open streams: the secret to re-check them with, and who to tell when they go. */
  readonly #watched = new Map<string, { secret: string; principal: Principal; listeners: Set<() => void> }>();
  /** The last secret seen for each token id (for `onRevoked`, which is given only the id). */
  readonly #secretOf = new Map<string, string>();
  #timer: NodeJS.Timeout | null = null;

  /** `ask`: the core's answer for a secret (CoreBackend.verify). */
  constructor(ask: (secret: string) => Promise<Principal | null>, options: RemoteTokensOptions = {}) {
    this.#ask = ask;
    this.#ttlMs = options.ttlMs ?? 1000;
    this.#staleMs = options.staleMs ?? 60_000;
    this.#now = options.now ?? (() => performance.now());
  }

  verify(secret: string): Principal | null {
    const c = this.#cache.get(sha256(secret).toString("hex"));
    return c && c.principal && this.#now() - c.at < this.#ttlMs ? c.principal : null;
  }

  async recheck(secret: string): Promise<Principal | null> {
    const h = sha256(secret).toString("hex");
    const c = this.#cache.get(h);
    if (c && this.#now() - c.at < this.#ttlMs) return c.principal;
    let pending = this.#inFlight.get(h);
    if (!pending) {
      pending = this.#ask(secret).finally(() => this.#inFlight.delete(h));
      this.#inFlight.set(h, pending);
    }
    let principal: Principal | null;
    try {
      principal = await pending;
    } catch (e) {
      // The core is unreachable: a secret it accepted a short while ago still stands.
      if (e instanceof KvError && e.code === "unavailable" && c?.principal && this.#now() - c.at < this.#staleMs) return c.principal;
      throw e;
    }
    if (this.#cache.size >= MAX_CACHED) this.#cache.clear();
    this.#cache.set(h, { principal, at: this.#now() });
    if (principal?.kind === "token") this.#secretOf.set(principal.id, secret);
    return principal;
  }

  async create(_input: NewToken, _now: number): Promise<{ token: string; record: TokenRecord }> {
    throw managedOnCore();
  }

  async revoke(_id: string): Promise<TokenRecord | null> {
    throw managedOnCore();
  }

  /** An edge keeps no list of tokens. */
  list(): TokenRecord[] {
    return [];
  }

  async listLatest(): Promise<TokenRecord[]> {
    throw managedOnCore();
  }

  onRevoked(id: string, listener: () => void): () => void {
    const secret = this.#secretOf.get(id);
    const c = secret === undefined ? undefined : this.#cache.get(sha256(secret).toString("hex"));
    if (secret === undefined || !c?.principal) return () => {};
    let w = this.#watched.get(id);
    if (!w) this.#watched.set(id, (w = { secret, principal: c.principal, listeners: new Set() }));
    w.listeners.add(listener);
    this.#timer ??= setInterval(() => void this.#checkWatched(), this.#ttlMs);
    this.#timer.unref();
    return () => {
      w.listeners.delete(listener);
      if (w.listeners.size === 0 && this.#watched.get(id) === w) this.#watched.delete(id);
      this.#stopIfIdle();
    };
  }

  /** Asks the core again about every token with open streams; ends those of tokens that went. */
  async #checkWatched(): Promise<void> {
    for (const [id, w] of [...this.#watched]) {
      let now: Principal | null;
      try {
        now = await this.#ask(w.secret);
      } catch {
        // The core is unreachable for now: the streams' own requests fail anyway; ask again next time.
        continue;
      }
      if (sameRights(w.principal, now)) continue;
      this.#cache.delete(sha256(w.secret).toString("hex"));
      if (this.#watched.get(id) === w) this.#watched.delete(id);
      for (const l of w.listeners) l();
    }
    this.#stopIfIdle();
  }

  #stopIfIdle(): void {
    if (this.#watched.size > 0 || !this.#timer) return;
    clearInterval(this.#timer);
    this.#timer = null;
  }

  close(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    this.#watched.clear();
  }
}
