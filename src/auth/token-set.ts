/**
 * What every token source shares: the records as a source last read them, matching a secret against
 * them in constant time, and telling open streams when their token goes. Where the records live and how
 * a change lands is the source's business: a data directory's tokens.json (./tokens.ts) or the settings
 * of a shared store (./store-tokens.ts).
 *
 * A token is shown once at creation and kept only as its SHA-256 (tokens are 256 random bits, so a fast
 * hash is enough).
 */
import { hash, randomBytes, timingSafeEqual } from "node:crypto";
import { KvError } from "../core/errors.ts";

export type Permission = "read" | "write";

export interface TokenRecord {
  readonly id: string;
  readonly name: string;
  /** Namespace ids the token may use; null = every namespace. */
  readonly namespaces: readonly string[] | null;
  readonly permission: Permission;
  readonly createdAt: number;
  /**
   * May query the GraphQL Analytics API (`/client/v4/graphql`) for the namespaces it may read — Cloudflare's
   * "Account Analytics: Read". Absent (every token made before it existed) means no.
   */
  readonly analytics?: boolean;
}

export type Principal = { readonly kind: "admin" } | ({ readonly kind: "token" } & TokenRecord);

/** A token as a source keeps it: its record and the SHA-256 of its secret, never the secret. */
export interface Stored extends TokenRecord {
  readonly hash: string;
}

export interface NewToken {
  name: string;
  namespaces: readonly string[] | null;
  permission: Permission;
  analytics?: boolean;
}

/** What the server needs from a token source, whichever it is. */
export interface Tokens {
  /**
   * The principal a secret stands for among the tokens this process has read, or null. Synchronous and
   * cheap: every request calls it.
   */
  verify(secret: string): Principal | null;
  /**
   * For a secret `verify` did not know: looks at the source now (rate-limited, so bad secrets sent in a
   * loop cost no more than a poll) and tries again, so a token created a moment ago elsewhere works on
   * its first request here.
   */
  recheck(secret: string): Promise<Principal | null>;
  create(input: NewToken, now: number): Promise<{ token: string; record: TokenRecord }>;
  /** Removes the token; the record it had, or null when there was none with that id. */
  revoke(id: string): Promise<TokenRecord | null>;
  /** The tokens as this process last read them. */
  list(): TokenRecord[];
  /** The tokens as the source holds them now (read again first). */
  listLatest(): Promise<TokenRecord[]>;
  /**
   * Calls `listener` once when token `id` is revoked, or changed to allow less, by this process or
   * another: a stream opened with it must not outlive it. Returns the function that stops listening.
   */
  onRevoked(id: string, listener: () => void): () => void;
  /** Stops polling. */
  close(): void;
}

// One-shot hashing: every request hashes its token, and this is several times cheaper than createHash.
export const sha256 = (s: string): Buffer => hash("sha256", s, "buffer");

/** An unknown secret looks at the source at most this often: bad tokens sent in a loop cost no more than a poll. */
export const MISS_CHECK_MS = 50;

export function generateSecret(): string {
  return "okv_" + randomBytes(32).toString("base64url");
}

function isStored(t: unknown): t is Stored {
  if (typeof t !== "object" || t === null) return false;
  const r = t as Record<string, unknown>;
  return (
    typeof r.id === "string" &&
    typeof r.name === "string" &&
    typeof r.hash === "string" &&
    /^[0-9a-f]{64}$/.test(r.hash) &&
    (r.permission === "read" || r.permission === "write") &&
    (r.namespaces === null || (Array.isArray(r.namespaces) && r.namespaces.every((n) => typeof n === "string"))) &&
    typeof r.createdAt === "number" &&
    (r.analytics === undefined || typeof r.analytics === "boolean")
  );
}

/** The records in `text`, or an error starting with `what` ("The tokens file /x") that says what is wrong. */
export function parseTokens(text: string, what: string): Stored[] {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new Error(`${what} is not valid JSON (${(e as Error).message})`);
  }
  if (!Array.isArray(data)) throw new Error(`${what} must hold a JSON array of token records`);
  const bad = data.findIndex((t) => !isStored(t));
  if (bad !== -1) throw new Error(`${what}: entry ${bad} is not a token record (id, name, hash, permission, namespaces, createdAt)`);
  return data as Stored[];
}

/** A new token for `input`: its secret (shown once), its record, and what a source keeps. */
export function newToken(input: NewToken, now: number): { token: string; record: TokenRecord; stored: Stored } {
  if (typeof input.name !== "string" || input.name.trim() === "") throw new KvError("invalid_argument", "A token needs a non-empty name");
  if (input.analytics !== undefined && typeof input.analytics !== "boolean") throw new KvError("invalid_argument", "analytics must be true or false");
  if (input.permission !== "read" && input.permission !== "write") {
    throw new KvError("invalid_argument", 'permission must be "read" or "write"');
  }
  const token = generateSecret();
  const record: TokenRecord = {
    id: randomBytes(16).toString("hex"),
    name: input.name,
    namespaces: input.namespaces ? [...input.namespaces] : null,
    permission: input.permission,
    createdAt: now,
    ...(input.analytics === true ? { analytics: true } : {}),
  };
  return { token, record, stored: { ...record, hash: sha256(token).toString("hex") } };
}

export function recordOf({ hash: _hash, ...record }: Stored): TokenRecord {
  return record;
}

/** Whether `after` lets its holder do less than `before` did (or is gone): open streams must end. */
function narrowed(before: Stored, after: Stored | undefined): boolean {
  return (
    !after ||
    after.hash !== before.hash ||
    after.permission !== before.permission ||
    JSON.stringify(after.namespaces) !== JSON.stringify(before.namespaces) ||
    (before.analytics === true && after.analytics !== true)
  );
}

/** Compared against when there is no admin token, so a miss takes as long as a hit. */
const NO_ADMIN = randomBytes(32);

/** The tokens a source last read, and who listens for their revocation. */
export class TokenSet {
  #tokens: Stored[] = [];
  #adminHash: Buffer;
  #digests = new WeakMap<Stored, Buffer>();
  #revokeListeners = new Map<string, Set<() => void>>();

  /** `adminHash`: the SHA-256 of the admin token; null: no secret is the admin. */
  constructor(adminHash: Buffer | null) {
    this.#adminHash = adminHash ?? NO_ADMIN;
  }

  get size(): number {
    return this.#tokens.length;
  }

  setAdminHash(adminHash: Buffer | null): void {
    this.#adminHash = adminHash ?? NO_ADMIN;
  }

  /** Takes `next` as the tokens; fires the listeners of every token it removes or narrows. */
  replace(next: Stored[]): void {
    const before = new Map(this.#tokens.map((t) => [t.id, t]));
    const after = new Map(next.map((t) => [t.id, t]));
    this.#tokens = next;
    for (const [id, listeners] of [...this.#revokeListeners]) {
      const was = before.get(id);
      if (!was || !narrowed(was, after.get(id))) continue;
      this.#revokeListeners.delete(id);
      for (const listener of listeners) listener();
    }
  }

  /** A copy of the records as held now, for an edit. */
  stored(): Stored[] {
    return [...this.#tokens];
  }

  list(): TokenRecord[] {
    return this.#tokens.map(recordOf);
  }

  onRevoked(id: string, listener: () => void): () => void {
    let set = this.#revokeListeners.get(id);
    if (!set) this.#revokeListeners.set(id, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.#revokeListeners.get(id) === set) this.#revokeListeners.delete(id);
    };
  }

  /** The principal a secret stands for, or null. Every comparison takes the same time. */
  match(secret: string): Principal | null {
    const h = sha256(secret);
    let found: Principal | null = timingSafeEqual(h, this.#adminHash) ? { kind: "admin" } : null;
    for (const t of this.#tokens) {
      let digest = this.#digests.get(t);
      if (!digest) this.#digests.set(t, (digest = Buffer.from(t.hash, "hex")));
      const match = timingSafeEqual(h, digest);
      if (match && !found) found = { kind: "token", ...recordOf(t) };
    }
    return found;
  }
}

/** May `p` do `need` on namespace `namespaceId` (undefined = account-wide, e.g. creating a namespace)? */
export function allows(p: Principal, need: Permission, namespaceId?: string): boolean {
  if (p.kind === "admin") return true;
  if (need === "write" && p.permission !== "write") return false;
  if (namespaceId === undefined) return need === "read" || p.namespaces === null;
  return p.namespaces === null || p.namespaces.includes(namespaceId);
}
