/**
 * API tokens kept in a data directory's tokens.json (or in memory): the source `openkv serve --data DIR`
 * uses. What every source shares (records, matching, revocation listeners) is in ./token-set.ts; tokens
 * of a shared store (`--store postgres://…`) live in its settings instead (./store-tokens.ts).
 *
 * The tokens file is shared: a running server and `openkv token …` on the same data directory both
 * change it. Every change happens under a lock (./file-lock.ts) on the file as it is on disk now, and
 * lands with one rename; a server that polls (`pollMs`) picks up another process's change within that
 * many milliseconds, and an unknown secret makes it look at once (rate-limited), so a token just created
 * works on its first request.
 */
import { chmodSync, closeSync, fsyncSync, openSync, readFileSync, renameSync, statSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { withFileLock } from "./file-lock.ts";
import { MISS_CHECK_MS, newToken, parseTokens, recordOf, sha256, TokenSet, type NewToken, type Principal, type Stored, type TokenRecord, type Tokens } from "./token-set.ts";

export { allows, generateSecret, type NewToken, type Permission, type Principal, type TokenRecord, type Tokens } from "./token-set.ts";

export interface TokenStoreOptions {
  /** Look for changes other processes made to the file every this many ms; 0 (default) = only on an unknown secret or `refresh()`. */
  pollMs?: number;
  /** Where a tokens file that cannot be read is reported (once, until it can be read again). */
  log?: (line: string) => void;
}

const ABSENT = "absent";

/**
 * What identifies one version of the file without reading it. Writers replace the file by rename, so
 * the inode changes on every write; size and nanosecond times catch an editor writing in place.
 */
function signature(file: string): string {
  const s = statSync(file, { bigint: true, throwIfNoEntry: false });
  return s ? `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}` : ABSENT;
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
  return parseTokens(text, `The tokens file ${file}`);
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

export class TokenStore implements Tokens {
  #file: string | null;
  #set: TokenSet;
  /** The signature of the file version the tokens were read from. */
  #seen = ABSENT;
  #failing = false;
  #lastMissCheck = -Infinity;
  #log: (line: string) => void;
  #timer: NodeJS.Timeout | null = null;

  /** `file` null keeps tokens in memory only (`--memory`). A file that cannot be read is an error here. */
  constructor(adminToken: string, file: string | null, options: TokenStoreOptions = {}) {
    this.#file = file;
    this.#set = new TokenSet(sha256(adminToken));
    this.#log = options.log ?? ((line) => process.stderr.write(line + "\n"));
    if (file) {
      this.#seen = signature(file);
      this.#set.replace(readTokens(file));
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
      if (!this.#failing) this.#log(`openkv: ${(e as Error).message}; keeping the ${this.#set.size} tokens read before.`);
      this.#failing = true;
      return false;
    }
    this.#seen = seen;
    if (this.#failing) this.#log(`openkv: the tokens file ${file} is readable again (${next.length} tokens).`);
    this.#failing = false;
    this.#set.replace(next);
    return true;
  }

  close(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  /**
   * Applies `edit` to the tokens as they are on disk now (another process may have changed them since
   * this store read them), under the file's lock, and writes the result. A file that cannot be read is
   * never overwritten: that would drop every token in it.
   */
  async #change<T>(edit: (tokens: Stored[]) => { tokens: Stored[]; result: T }): Promise<T> {
    const file = this.#file;
    if (!file) {
      const { tokens, result } = edit(this.#set.stored());
      this.#set.replace(tokens);
      return result;
    }
    return withFileLock(`${file}.lock`, () => {
      const { tokens, result } = edit(readTokens(file));
      writeTokens(file, tokens);
      this.#seen = signature(file);
      this.#failing = false;
      this.#set.replace(tokens);
      return result;
    });
  }

  async create(input: NewToken, now: number): Promise<{ token: string; record: TokenRecord }> {
    const { token, record, stored } = newToken(input, now);
    await this.#change((tokens) => ({ tokens: [...tokens, stored], result: undefined }));
    return { token, record };
  }

  list(): TokenRecord[] {
    return this.#set.list();
  }

  async listLatest(): Promise<TokenRecord[]> {
    this.refresh();
    return this.list();
  }

  async revoke(id: string): Promise<TokenRecord | null> {
    return this.#change((tokens) => {
      const found = tokens.find((t) => t.id === id);
      if (!found) return { tokens, result: null };
      return { tokens: tokens.filter((t) => t !== found), result: recordOf(found) };
    });
  }

  onRevoked(id: string, listener: () => void): () => void {
    return this.#set.onRevoked(id, listener);
  }

  /**
   * The principal a secret stands for, or null. Every comparison takes the same time. An unknown secret
   * makes it look at the file (a stat, rate-limited) before answering: a token made a moment ago by
   * another process works at once.
   */
  verify(secret: string): Principal | null {
    const found = this.#set.match(secret);
    if (found || !this.#file) return found;
    const now = performance.now();
    if (now - this.#lastMissCheck < MISS_CHECK_MS) return null;
    this.#lastMissCheck = now;
    return this.refresh() ? this.#set.match(secret) : null;
  }

  /** `verify` already looked at the file on a miss; this asks again (the look is rate-limited). */
  async recheck(secret: string): Promise<Principal | null> {
    return this.verify(secret);
  }
}
