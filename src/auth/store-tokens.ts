/**
 * The tokens, the admin token and the account id of a shared store (`openkv serve --store postgres://…`):
 * they live in the store's settings (Backend.getSetting/putSetting), not in a server's data directory,
 * so every server on the store answers to the same account id, admin token and tokens.
 *
 * - `tokens`: the records, the same JSON array as a data directory's tokens.json (hashes, never secrets).
 *   A change is a compare-and-set on the text it was made from, retried on the text as it is now when
 *   another process changed it first, so concurrent changes on different servers all land. Every server
 *   polls it (`pollMs`), so a revocation anywhere refuses the token everywhere within a poll and ends the
 *   streams it opened (`onRevoked`); an unknown secret makes a server read it at once (rate-limited), so
 *   a token created on another server a moment ago works here on its first request.
 * - `admin-token-sha256`: the SHA-256 (hex) of the admin token; the secret is never stored. Polled with
 *   the tokens, so replacing it through one server changes it on all.
 * - `account-id`: created once, by the first server to start.
 *
 * @example
 * const accountId = await storeAccountId(backend);
 * const { generated } = await storeAdminToken(backend, process.env.OPENKV_ADMIN_TOKEN);
 * const tokens = await StoreTokens.open(backend, { pollMs: 250 });
 */
import { randomBytes } from "node:crypto";
import type { Backend } from "../core/backend.ts";
import {
  generateSecret,
  MISS_CHECK_MS,
  newToken,
  parseTokens,
  recordOf,
  sha256,
  TokenSet,
  type NewToken,
  type Principal,
  type Stored,
  type TokenRecord,
  type Tokens,
} from "./token-set.ts";

export const TOKENS_SETTING = "tokens";
export const ADMIN_TOKEN_SETTING = "admin-token-sha256";
export const ACCOUNT_ID_SETTING = "account-id";

const ACCOUNT_ID = /^[0-9a-f]{32}$/;
const SHA256_HEX = /^[0-9a-f]{64}$/;
const WHAT = `The store's "${TOKENS_SETTING}" setting`;
/** Compare-and-set attempts before a change gives up: each lost attempt means another change landed. */
const MAX_ATTEMPTS = 100;

/**
 * The store's account id: the one stored, else `wanted` (or a random one) stored now by compare-and-set,
 * so servers starting together agree. A `wanted` id that differs from the stored one is refused: servers
 * of one store must answer to one account id.
 */
export async function storeAccountId(backend: Backend, wanted?: string): Promise<string> {
  for (;;) {
    const current = await backend.getSetting(ACCOUNT_ID_SETTING);
    if (current !== null) {
      if (!ACCOUNT_ID.test(current)) throw new Error(`The store's account id "${current}" is not 32 lowercase hex characters`);
      if (wanted !== undefined && wanted !== current) {
        throw new Error(
          `This store's account id is ${current}, not ${wanted}: every server on a store answers to the same account id. Pass --account-id ${current}, or leave it out.`,
        );
      }
      return current;
    }
    const id = wanted ?? randomBytes(16).toString("hex");
    if (await backend.putSetting(ACCOUNT_ID_SETTING, id, null)) return id;
  }
}

export interface StoreAdminToken {
  /** The admin token this call generated (the store had none): to be shown once, it is nowhere else. */
  generated: string | null;
  /** True when `explicit` replaced a different admin token. */
  replaced: boolean;
}

/**
 * Makes sure the store has an admin token. With `explicit`, that one (its hash replaces any other); without,
 * the stored one, or — when there is none yet — a new one, generated here and returned once. Servers
 * starting together agree: the first compare-and-set wins and the others adopt its hash.
 */
export async function storeAdminToken(backend: Backend, explicit?: string): Promise<StoreAdminToken> {
  for (;;) {
    const current = await backend.getSetting(ADMIN_TOKEN_SETTING);
    if (explicit !== undefined) {
      const wanted = sha256(explicit).toString("hex");
      if (current === wanted) return { generated: null, replaced: false };
      if (await backend.putSetting(ADMIN_TOKEN_SETTING, wanted, current)) return { generated: null, replaced: current !== null };
      continue;
    }
    if (current !== null) {
      if (!SHA256_HEX.test(current)) {
        throw new Error(`The store's admin token hash is damaged ("${ADMIN_TOKEN_SETTING}" is not 64 hex characters): start a server with --admin-token to replace it.`);
      }
      return { generated: null, replaced: false };
    }
    const secret = generateSecret();
    if (await backend.putSetting(ADMIN_TOKEN_SETTING, sha256(secret).toString("hex"), null)) return { generated: secret, replaced: false };
  }
}

export interface StoreTokensOptions {
  /** Read the store's tokens every this many ms (0: only on an unknown secret or `refresh()`). */
  pollMs?: number;
  /** Where a store that cannot be read is reported (once, until it can be read again). */
  log?: (line: string) => void;
}

export class StoreTokens implements Tokens {
  readonly #backend: Backend;
  readonly #set = new TokenSet(null);
  readonly #log: (line: string) => void;
  #timer: NodeJS.Timeout | null = null;
  /** The texts the tokens and the admin hash were last taken from. */
  #tokensText: string | null = null;
  #adminText: string | null = null;
  /**
   * Reads are numbered as they start and writes once they have landed; a result is taken only if
   * nothing numbered later was taken first, so a slow read never brings back a token that a newer read
   * or a write of this process removed.
   */
  #started = 0;
  #taken = 0;
  #polling = false;
  #failing = false;
  #closed = false;
  #lastMissCheck = -Infinity;
  /** The read that misses wait for, while it has not started: it will see every token made before them. */
  #nextMissRead: Promise<void> | null = null;

  private constructor(backend: Backend, options: StoreTokensOptions) {
    this.#backend = backend;
    this.#log = options.log ?? ((line) => process.stderr.write(line + "\n"));
  }

  /** Reads the store's tokens (an error if it cannot) and starts polling. */
  static async open(backend: Backend, options: StoreTokensOptions = {}): Promise<StoreTokens> {
    const tokens = new StoreTokens(backend, options);
    const read = await tokens.#read();
    if (read instanceof Error) throw read;
    tokens.#take(read.seq, read.tokensText, read.tokens, read.adminText);
    if (options.pollMs) {
      tokens.#timer = setInterval(() => void tokens.#poll(), options.pollMs);
      tokens.#timer.unref();
    }
    return tokens;
  }

  async #read(): Promise<{ seq: number; tokensText: string | null; tokens: Stored[] | null; adminText: string | null } | Error> {
    const seq = ++this.#started;
    try {
      const [tokensText, adminText] = await Promise.all([this.#backend.getSetting(TOKENS_SETTING), this.#backend.getSetting(ADMIN_TOKEN_SETTING)]);
      const tokens = tokensText === this.#tokensText ? null : tokensText === null ? [] : parseTokens(tokensText, WHAT);
      if (adminText !== null && !SHA256_HEX.test(adminText)) throw new Error(`The store's admin token hash ("${ADMIN_TOKEN_SETTING}") is not 64 hex characters`);
      return { seq, tokensText, tokens, adminText };
    } catch (e) {
      return e as Error;
    }
  }

  /** Takes what read (or write) number `seq` found, unless something newer was taken; true if anything changed. */
  #take(seq: number, tokensText: string | null, tokens: Stored[] | null, adminText: string | null): boolean {
    if (seq < this.#taken) return false;
    this.#taken = seq;
    let changed = false;
    if (adminText !== this.#adminText) {
      this.#adminText = adminText;
      this.#set.setAdminHash(adminText === null ? null : Buffer.from(adminText, "hex"));
      changed = true;
    }
    if (tokens && tokensText !== this.#tokensText) {
      this.#tokensText = tokensText;
      this.#set.replace(tokens);
      changed = true;
    }
    return changed;
  }

  /**
   * Reads the store's tokens and admin hash now; true when they changed. A store that cannot be read
   * (unreachable, a setting damaged by hand) leaves them as they were, and is reported once.
   */
  async refresh(): Promise<boolean> {
    const read = await this.#read();
    // A server stopping closes the store under reads still in flight: nothing to report or take.
    if (this.#closed) return false;
    if (read instanceof Error) {
      if (!this.#failing) this.#log(`openkv: ${read.message}; keeping the ${this.#set.size} tokens read before.`);
      this.#failing = true;
      return false;
    }
    if (this.#failing) this.#log(`openkv: the store's tokens are readable again (${(read.tokens ?? this.#set.stored()).length} tokens).`);
    this.#failing = false;
    return this.#take(read.seq, read.tokensText, read.tokens, read.adminText);
  }

  async #poll(): Promise<void> {
    // A store slower than the interval gets one read at a time, not a pile of them.
    if (this.#polling) return;
    this.#polling = true;
    try {
      await this.refresh();
    } finally {
      this.#polling = false;
    }
  }

  close(): void {
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  verify(secret: string): Principal | null {
    return this.#set.match(secret);
  }

  /**
   * Waits for a read that starts after this call (so it sees any token created before the request came
   * in) and matches again. Misses share reads, at most one per MISS_CHECK_MS: a miss waits that long at
   * most, and secrets that match nothing, sent in a loop, cost the store no more than a poll.
   */
  async recheck(secret: string): Promise<Principal | null> {
    if (!this.#nextMissRead) {
      const wait = Math.max(0, this.#lastMissCheck + MISS_CHECK_MS - performance.now());
      this.#nextMissRead = (async () => {
        // Always a turn of the event loop first: the field is set by then, so this clears it, not a later read.
        await new Promise((resolve) => setTimeout(resolve, wait));
        // From here on, a miss may be for a token this read is too early to see: it waits for the next.
        this.#nextMissRead = null;
        this.#lastMissCheck = performance.now();
        await this.refresh();
      })();
    }
    await this.#nextMissRead;
    return this.#set.match(secret);
  }

  /**
   * Applies `edit` to the tokens as the store holds them now and stores the result if the text is still
   * the one read (compare-and-set); when another process changed it first, does it again on the new
   * text. A setting that cannot be read is never overwritten: that would drop every token in it.
   */
  async #change<T>(edit: (tokens: Stored[]) => { tokens: Stored[]; result: T }): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const text = await this.#backend.getSetting(TOKENS_SETTING);
      const current = text === null ? [] : parseTokens(text, WHAT);
      const { tokens, result } = edit(current);
      if (tokens === current) return result;
      const next = JSON.stringify(tokens);
      if (await this.#backend.putSetting(TOKENS_SETTING, next, text)) {
        // Numbered once it has landed: a read that started before then may have missed it, and is dropped.
        this.#take(++this.#started, next, tokens, this.#adminText);
        return result;
      }
      if (attempt === MAX_ATTEMPTS) throw new Error(`${WHAT} changed under each of ${MAX_ATTEMPTS} attempts to change it; try again.`);
    }
  }

  async create(input: NewToken, now: number): Promise<{ token: string; record: TokenRecord }> {
    const { token, record, stored } = newToken(input, now);
    await this.#change((tokens) => ({ tokens: [...tokens, stored], result: undefined }));
    return { token, record };
  }

  async revoke(id: string): Promise<TokenRecord | null> {
    return this.#change((tokens) => {
      const found = tokens.find((t) => t.id === id);
      if (!found) return { tokens, result: null };
      return { tokens: tokens.filter((t) => t !== found), result: recordOf(found) };
    });
  }

  list(): TokenRecord[] {
    return this.#set.list();
  }

  async listLatest(): Promise<TokenRecord[]> {
    await this.refresh();
    return this.list();
  }

  onRevoked(id: string, listener: () => void): () => void {
    return this.#set.onRevoked(id, listener);
  }
}
