/**
 * API tokens. A token is shown once at creation and stored only as its SHA-256 (tokens are 256 random
 * bits, so a fast hash is enough); lookups compare hashes in constant time. The admin token may do
 * anything; other tokens are limited to some namespaces (or all) and to read or read-write.
 *
 * The tokens file is shared: a running server and `openkv token …` on the same data directory both
 * change it. Every change happens under a lock (./file-lock.ts) on the file as it is on disk now, and
 * lands with one rename; a server that polls (`pollMs`) picks up another process's change within that
 * many milliseconds, and an unknown secret makes it look at once (rate-limited), so a token just created
 * works on its first request.
 */
import { hash, randomBytes, timingSafeEqual } from "node:crypto";
import { chmodSync, closeSync, fsyncSync, openSync, readFileSync, renameSync, statSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { KvError } from "../core/errors.ts";
import { withFileLock } from "./file-lock.ts";

export type Permission = "read" | "write";

export interface TokenRecord {
  readonly id: string;
  readonly name: string;
  /** Namespace ids the token may use; null = every namespace. */
  readonly namespaces: readonly string[] | null;
  readonly permission: Permission;
  readonly createdAt: number;
}

export type Principal = { readonly kind: "admin" } | ({ readonly kind: "token" } & TokenRecord);

interface Stored extends TokenRecord {
  readonly hash: string;
}

export interface TokenStoreOptions {
  /** Look for changes other processes made to the file every this many ms; 0 (default) = only on an unknown secret or `refresh()`. */
  pollMs?: number;
  /** Where a tokens file that cannot be read is reported (once, until it can be read again). */
  log?: (line: string) => void;
}

// One-shot hashing: every request hashes its token, and this is several times cheaper than createHash.
const sha256 = (s: string) => hash("sha256", s, "buffer");

/** An unknown secret looks at the file at most this often: bad tokens sent in a loop cost no more than a poll. */
const MISS_CHECK_MS = 50;
const ABSENT = "absent";

export function generateSecret(): string {
  return "okv_" + randomBytes(32).toString("base64url");
}

/**
 * What identifies one version of the file without reading it. Writers replace the file by rename, so
 * the inode changes on every write; size and nanosecond times catch an editor writing in place.
 */
function signature(file: string): string {
  const s = statSync(file, { bigint: true, throwIfNoEntry: false });
  return s ? `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}` : ABSENT;
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
    typeof r.createdAt === "number"
  );
}

/** The file's tokens, or an error that says what is wrong with it. Absent means none. */
function readTokens(file: string): Stored[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw new Error(`Cannot read the tokens file ${file}: ${(e as Error).message}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new Error(`The tokens file ${file} is not valid JSON (${(e as Error).message})`);
  }
  if (!Array.isArray(data)) throw new Error(`The tokens file ${file} must hold a JSON array of token records`);
  const bad = data.findIndex((t) => !isStored(t));
  if (bad !== -1) throw new Error(`The tokens file ${file}: entry ${bad} is not a token record (id, name, hash, permission, namespaces, createdAt)`);
  return data as Stored[];
}

/** Replaces `file` in one step, synced, readable by its owner only. */
function writeTokens(file: string, tokens: readonly Stored[]): void {
  const tmp = `${file}.tmp`;
  const fd = openSync(tmp, "w", 0o600);
  try {
    writeSync(fd, JSON.stringify(tokens, null, 2));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  // A tmp file left by a crash keeps the mode it was made with.
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
  // The rename itself must survive a power cut: a revoked token must not come back.
  const dir = openSync(dirname(file), "r");
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}

/** Whether `after` lets its holder do less than `before` did (or is gone): open streams must end. */
function narrowed(before: Stored, after: Stored | undefined): boolean {
  return !after || after.hash !== before.hash || after.permission !== before.permission || JSON.stringify(after.namespaces) !== JSON.stringify(before.namespaces);
}

export class TokenStore {
  #file: string | null;
  #tokens: Stored[];
  #adminHash: Buffer;
  #digests = new WeakMap<Stored, Buffer>();
  /** The signature of the file version `#tokens` was read from. */
  #seen = ABSENT;
  #failing = false;
  #lastMissCheck = -Infinity;
  #log: (line: string) => void;
  #timer: NodeJS.Timeout | null = null;
  #revokeListeners = new Map<string, Set<() => void>>();

  /** `file` null keeps tokens in memory only (`--memory`). A file that cannot be read is an error here. */
  constructor(adminToken: string, file: string | null, options: TokenStoreOptions = {}) {
    this.#file = file;
    this.#adminHash = sha256(adminToken);
    this.#log = options.log ?? ((line) => process.stderr.write(line + "\n"));
    this.#tokens = [];
    if (file) {
      this.#seen = signature(file);
      this.#tokens = readTokens(file);
      if (options.pollMs) {
        this.#timer = setInterval(() => this.refresh(), options.pollMs);
        this.#timer.unref();
      }
    }
  }

  /**
   * Reads the file again if it changed since it was last read; true when it did. A file that cannot
   * be read (half-edited by hand, wrong JSON) leaves the tokens as they were, and is reported once.
   */
  refresh(): boolean {
    const file = this.#file;
    if (!file) return false;
    let next: Stored[];
    let seen: string;
    try {
      seen = signature(file);
      if (seen === this.#seen) return false;
      next = readTokens(file);
    } catch (e) {
      if (!this.#failing) this.#log(`openkv: ${(e as Error).message}; keeping the ${this.#tokens.length} tokens read before.`);
      this.#failing = true;
      return false;
    }
    this.#seen = seen;
    if (this.#failing) this.#log(`openkv: the tokens file ${file} is readable again (${next.length} tokens).`);
    this.#failing = false;
    this.#replace(next);
    return true;
  }

  /** Stops polling. */
  close(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  #replace(next: Stored[]): void {
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

  /**
   * Applies `edit` to the tokens as they are on disk now (another process may have changed them since
   * this store read them), under the file's lock, and writes the result. A file that cannot be read is
   * never overwritten: that would drop every token in it.
   */
  async #change<T>(edit: (tokens: Stored[]) => { tokens: Stored[]; result: T }): Promise<T> {
    const file = this.#file;
    if (!file) {
      const { tokens, result } = edit(this.#tokens);
      this.#replace(tokens);
      return result;
    }
    return withFileLock(`${file}.lock`, () => {
      const { tokens, result } = edit(readTokens(file));
      writeTokens(file, tokens);
      this.#seen = signature(file);
      this.#failing = false;
      this.#replace(tokens);
      return result;
    });
  }

  async create(input: { name: string; namespaces: readonly string[] | null; permission: Permission }, now: number): Promise<{ token: string; record: TokenRecord }> {
    if (typeof input.name !== "string" || input.name.trim() === "") throw new KvError("invalid_argument", "A token needs a non-empty name");
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
    };
    const stored: Stored = { ...record, hash: sha256(token).toString("hex") };
    await this.#change((tokens) => ({ tokens: [...tokens, stored], result: undefined }));
    return { token, record };
  }

  list(): TokenRecord[] {
    return this.#tokens.map(({ hash: _hash, ...r }) => r);
  }

  /** Removes the token; the record it had, or null when there was none with that id. */
  async revoke(id: string): Promise<TokenRecord | null> {
    return this.#change((tokens) => {
      const found = tokens.find((t) => t.id === id);
      if (!found) return { tokens, result: null };
      const { hash: _hash, ...record } = found;
      return { tokens: tokens.filter((t) => t !== found), result: record };
    });
  }

  /**
   * Calls `listener` once when token `id` is revoked, or changed to allow less, by this process or
   * another: a stream opened with it must not outlive it. Returns the function that stops listening.
   */
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
  verify(secret: string): Principal | null {
    const found = this.#match(secret);
    if (found || !this.#file) return found;
    // Perhaps a token made a moment ago by another process: look now rather than at the next poll.
    const now = performance.now();
    if (now - this.#lastMissCheck < MISS_CHECK_MS) return null;
    this.#lastMissCheck = now;
    return this.refresh() ? this.#match(secret) : null;
  }

  #match(secret: string): Principal | null {
    const h = sha256(secret);
    let found: Principal | null = timingSafeEqual(h, this.#adminHash) ? { kind: "admin" } : null;
    for (const t of this.#tokens) {
      let digest = this.#digests.get(t);
      if (!digest) this.#digests.set(t, (digest = Buffer.from(t.hash, "hex")));
      const match = timingSafeEqual(h, digest);
      if (match && !found) {
        const { hash: _hash, ...record } = t;
        found = { kind: "token", ...record };
      }
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
