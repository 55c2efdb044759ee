/**
 * A Backend whose store is another OpenKV server — the core of an edge node (`openkv serve --edge-of
 * <core> --token <token>`). An Engine over it runs every API unchanged; each Backend call becomes one
 * request to the core's edge protocol (src/wire/edge-rpc.ts), made with the edge's own token, and the
 * core does the work through its own Engine (validation, group commit, sealing). So the edge holds no
 * data and no key: it reads plaintext from the core and never sees the encryption key.
 *
 * - Lazy: nothing is connected until the first call; every call is an independent request (undici
 *   keeps the connections alive), so a core that comes back is used again at the next call.
 * - Errors: a core KvError arrives with its code and exact message and is thrown again as the same
 *   KvError; a core that cannot be reached is KvError "unavailable"; a write whose request was lost
 *   after it may have reached the core is "outcome_unknown", never retried.
 * - `onCommit` is a long poll on the core's doorbell, so a watch on the edge sees a write made on the
 *   core (or on another edge) within milliseconds.
 * - Store administration (settings, key rotation, backup, purging and pruning) runs on the core: those
 *   calls are refused here, or do nothing where the engine calls them in the background.
 *
 * @example
 * const engine = await Engine.open(new CoreBackend("http://core:8787", process.env.OPENKV_EDGE_TOKEN!));
 */
import type { AppliedWrite } from "../core/atomic.ts";
import type { Backend, BatchItem, ChangePage, DumpRecord, ExpiredKey, MessageReseal, Reseal } from "../core/backend.ts";
import { randomUUID } from "node:crypto";
import { rowToPlain, type AnalyticsStore, type NamespaceStats } from "../core/analytics/types.ts";
import { KvError } from "../core/errors.ts";
import { versionstampToHex } from "../core/versionstamp.ts";
import type { Entry, NamespaceInfo, QueueMessage, ReadRange } from "../core/types.ts";
import {
  decodeRpc,
  EDGE_FEED_WAIT_PATH,
  EDGE_RPC_CONTENT_TYPE,
  EDGE_RPC_PATH,
  encodeRpc,
  FEED_WAIT_MAX_MS,
  kvErrorOf,
  type EdgeOp,
  type WireCommitOutcome,
  type WirePrincipal,
} from "../wire/edge-rpc.ts";

export interface CoreBackendOptions {
  /** Transport; default the global fetch. */
  fetch?: typeof fetch;
  /** How long one doorbell request waits on the core (ms). Default 25 s. */
  feedWaitMs?: number;
}

/** Said when the core cannot be reached: public, so it names no address (the edge's log does). */
export const CORE_UNAVAILABLE = "The core is unavailable";
const OUTCOME_UNKNOWN =
  "The connection to the core was lost while this write was committing: it may or may not have been applied. Read the keys before retrying.";
/** Ops that change the store: a lost answer leaves their outcome unknown. */
const WRITES: ReadonlySet<EdgeOp> = new Set(["commit", "createNamespace", "renameNamespace", "deleteNamespace", "ackMessage", "retryMessage", "claimMessages"]);

function refused(what: string): KvError {
  return new KvError("invalid_argument", `${what} runs on the core, not on an edge node: run it against the core's store`);
}

/** True when the request never left: the core was not listening, so nothing can have been applied. */
function neverSent(e: unknown): boolean {
  const code = (e as { cause?: { code?: unknown } }).cause?.code;
  return code === "ECONNREFUSED" || code === "ENOTFOUND" || code === "EAI_AGAIN" || code === "EHOSTUNREACH";
}

/** Feed entries a doorbell answer may carry (the follower's page size). */
const PREFETCH_PAGE = 1000;
/** The longest a doorbell waits for its listeners before it polls again (ms). */
const BELL_SETTLE_MS = 5_000;

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    t.unref();
    signal.addEventListener("abort", () => (clearTimeout(t), resolve()), { once: true });
  });

export class CoreBackend implements Backend {
  readonly kind = "core";
  /** The core's base URL, for the operator's banner and logs. */
  readonly url: string;
  readonly #token: string;
  readonly #fetch: typeof fetch;
  readonly #feedWaitMs: number;
  readonly #closing = new AbortController();
  readonly #bells = new Set<() => void | Promise<void>>();
  #doorbell: { stop: AbortController } | null = null;
  /** Names this node to the core's write fence (src/core/fence.ts) for as long as it runs. */
  readonly #edgeId = randomUUID();
  #applied: (() => Uint8Array) | null = null;
  /** The feed page the last doorbell answer carried, for the follower's next read (`changes`). */
  #prefetched: { after: string; page: ChangePage } | null = null;

  constructor(url: string, token: string, options: CoreBackendOptions = {}) {
    this.url = url.replace(/\/+$/, "");
    this.#token = token;
    this.#fetch = options.fetch ?? fetch;
    this.#feedWaitMs = Math.min(options.feedWaitMs ?? 25_000, FEED_WAIT_MAX_MS);
  }

  async #call<T>(op: EdgeOp, args: readonly unknown[]): Promise<T> {
    if (this.#closing.signal.aborted) throw new KvError("closed", "The database is closed");
    let res: Response;
    let body: Uint8Array;
    try {
      res = await this.#fetch(this.url + EDGE_RPC_PATH, {
        method: "POST",
        headers: { authorization: `Bearer ${this.#token}`, "content-type": EDGE_RPC_CONTENT_TYPE },
        body: encodeRpc({ op, args }) as Uint8Array<ArrayBuffer>,
        signal: this.#closing.signal,
      });
      body = new Uint8Array(await res.arrayBuffer());
    } catch (e) {
      if (this.#closing.signal.aborted) throw new KvError("closed", "The database is closed");
      if (WRITES.has(op) && !neverSent(e)) throw new KvError("outcome_unknown", OUTCOME_UNKNOWN, { cause: e });
      throw new KvError("unavailable", CORE_UNAVAILABLE, { cause: e });
    }
    const decoded = decodeRpc(body, (m) => new Error(`The core answered ${op} with ${res.status} and a body that is not OpenKV's: ${m}`)) as {
      ok?: unknown;
      error?: { message?: unknown };
    };
    if (res.ok && decoded && "ok" in decoded) return decoded.ok as T;
    const kv = kvErrorOf(decoded?.error);
    if (kv) throw kv;
    const message = typeof decoded?.error?.message === "string" ? decoded.error.message : `status ${res.status}`;
    // A core that no longer accepts this edge's token: the edge cannot serve until it is restarted
    // with one that works, which is the operator's to fix — said so, naming nothing secret.
    if (res.status === 401) throw new KvError("unavailable", `The core refused this edge's token (${message})`);
    if (res.status === 503) throw new KvError("unavailable", CORE_UNAVAILABLE);
    // The edge's token allows less than the client's: a misconfigured edge. The client gets a 403 that
    // says so (and the edge logs it), not a bare 500.
    if (res.status === 403) {
      throw new KvError("forbidden", `The core refused this edge's token for that (${message}): start the edge with a token that allows what its clients do.`);
    }
    throw new Error(`The core refused ${op} from this edge: ${res.status} ${message}`);
  }

  /**
   * What this edge counts goes to the core's store (`appendAnalytics`); reading analytics is the core's:
   * query its GraphQL endpoint.
   */
  readonly analytics: AnalyticsStore = {
    appendOperations: async (rows) => void (await this.#call("appendAnalytics", [rows.map(rowToPlain)])),
    readOperations: async () => {
      throw refused("Reading analytics");
    },
    sampleStorage: async () => {},
    readStorage: async () => {
      throw refused("Reading analytics");
    },
    pruneAnalytics: async () => {},
    allNamespaceStats: async () => new Map(),
  };

  namespaceStats(namespaceId: string): Promise<NamespaceStats> {
    return this.#call("namespaceStats", [namespaceId]);
  }

  // ---- namespaces ----

  createNamespace(info: NamespaceInfo): Promise<NamespaceInfo> {
    return this.#call("createNamespace", [info]);
  }
  listNamespaces(): Promise<NamespaceInfo[]> {
    return this.#call("listNamespaces", []);
  }
  getNamespace(id: string): Promise<NamespaceInfo | null> {
    return this.#call("getNamespace", [id]);
  }
  getNamespaceByTitle(title: string): Promise<NamespaceInfo | null> {
    return this.#call("getNamespaceByTitle", [title]);
  }
  renameNamespace(id: string, title: string): Promise<NamespaceInfo> {
    return this.#call("renameNamespace", [id, title]);
  }
  deleteNamespace(id: string): Promise<boolean> {
    return this.#call("deleteNamespace", [id]);
  }

  // ---- data ----

  /** `now` is not sent: the core's clock decides what has expired, the same for every edge. */
  read(namespaceId: string, ranges: readonly ReadRange[], _now: number): Promise<Entry[][]> {
    return this.#call("read", [namespaceId, ranges]);
  }
  count(namespaceId: string, start: Uint8Array, end: Uint8Array, _now: number): Promise<number> {
    return this.#call("count", [namespaceId, start, end]);
  }

  /**
   * The batch goes as one request; the core commits each item through its own engine (so its own group
   * commit folds them with every other write in flight). `changed` is left empty: it feeds a local
   * store's change feed, and this edge has none — the core's feed records the write.
   */
  async commit(batch: readonly BatchItem[], _now: number): Promise<(AppliedWrite | KvError)[]> {
    const items = batch.map((b) => (b.consumeMessage === undefined ? { namespaceId: b.namespaceId, write: b.write } : { namespaceId: b.namespaceId, write: b.write, consumeMessage: b.consumeMessage }));
    const outcomes = await this.#call<WireCommitOutcome[]>("commit", [items]);
    return outcomes.map((o) => ("applied" in o ? { result: o.applied, changed: [] } : (kvErrorOf(o.error) ?? new KvError("invalid_mutation", o.error.message))));
  }

  /** The core purges (and its feed tells this edge's watchers). */
  async purgeExpired(_now: number, _limit: number): Promise<ExpiredKey[]> {
    return [];
  }

  // ---- queues (payloads arrive opened) ----

  /** `now` is the core's: messages are due by the clock that scheduled them. */
  claimMessages(namespaceId: string, _now: number, limit: number, leaseMs: number): Promise<QueueMessage[]> {
    return this.#call("claimMessages", [namespaceId, limit, leaseMs]);
  }
  async ackMessage(id: number): Promise<void> {
    await this.#call("ackMessage", [id]);
  }
  async retryMessage(id: number, readyAt: number): Promise<void> {
    await this.#call("retryMessage", [id, readyAt]);
  }
  nextMessageAt(namespaceId: string): Promise<number | null> {
    return this.#call("nextMessageAt", [namespaceId]);
  }

  // ---- administration: the core's ----

  /** The edge sees plaintext, so it has no keyring: its engine runs unencrypted. */
  async getSetting(_name: string): Promise<string | null> {
    return null;
  }
  async putSetting(): Promise<boolean> {
    throw refused("Changing store settings");
  }
  async reseal(): Promise<boolean[]> {
    throw refused("Key rotation");
  }
  async listMessages(): Promise<QueueMessage[]> {
    throw refused("Key rotation");
  }
  async resealMessages(): Promise<boolean[]> {
    throw refused("Key rotation");
  }
  async scrub(): Promise<void> {}
  async *dump(): AsyncIterable<DumpRecord> {
    throw refused("A backup");
  }
  async load(): Promise<void> {
    throw refused("A restore");
  }

  // ---- the change feed ----

  /**
   * The first read that starts where the last doorbell answer's page starts is answered from that page,
   * which the core read a network hop ago; every other read goes to the core. Used once: a follower
   * polling while the doorbell is cut must not take an old page for the feed's present.
   */
  changes(after: Uint8Array, limit: number): Promise<ChangePage> {
    const p = this.#prefetched;
    if (p && PREFETCH_PAGE <= limit && p.after === versionstampToHex(after)) {
      this.#prefetched = null;
      return Promise.resolve(p.page);
    }
    return this.#call("changes", [after, limit]);
  }
  /** The core prunes its own feed. */
  async pruneChanges(): Promise<number> {
    return 0;
  }

  /**
   * Each doorbell request will tell the core how far this node has applied its feed, so the core's
   * write fence can hold a write's acknowledgement until this node has it (src/core/fence.ts).
   */
  reportApplied(applied: () => Uint8Array): void {
    this.#applied = applied;
  }

  /**
   * Rings `listener` soon after anything is committed on the core: one long poll while anyone listens.
   * The next poll waits for what the listeners return (a follower reading the feed, at most
   * BELL_SETTLE_MS), so the position it reports includes what that bell brought.
   */
  onCommit(listener: () => void | Promise<void>): () => void {
    this.#bells.add(listener);
    if (!this.#doorbell) {
      const doorbell = { stop: new AbortController() };
      this.#doorbell = doorbell;
      void this.#ring(doorbell.stop.signal);
    }
    return () => {
      this.#bells.delete(listener);
      if (this.#bells.size === 0 && this.#doorbell) {
        this.#doorbell.stop.abort();
        this.#doorbell = null;
      }
    };
  }

  async #ringAll(): Promise<void> {
    const pending: Promise<void>[] = [];
    for (const l of [...this.#bells]) {
      try {
        const p = l();
        if (p) pending.push(p);
      } catch {
        // One broken listener must not silence the others.
      }
    }
    if (pending.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled(pending), new Promise<void>((resolve) => (timer = setTimeout(resolve, BELL_SETTLE_MS)))]);
    clearTimeout(timer);
  }

  async #ring(stop: AbortSignal): Promise<void> {
    const signal = AbortSignal.any([stop, this.#closing.signal]);
    let after: string | null = null;
    let backoff = 50;
    while (!signal.aborted) {
      try {
        const position = this.#applied ? versionstampToHex(this.#applied()) : null;
        const applied = position ? `edge=${this.#edgeId}&applied=${position}&page=${PREFETCH_PAGE}&` : "";
        const query = `${after === null ? "" : `after=${after}&`}${applied}timeoutMs=${this.#feedWaitMs}`;
        const res = await this.#fetch(`${this.url}${EDGE_FEED_WAIT_PATH}?${query}`, { headers: { authorization: `Bearer ${this.#token}` }, signal });
        if (!res.ok) throw new Error(`status ${res.status}`);
        let latest: string;
        if (res.headers.get("content-type") === EDGE_RPC_CONTENT_TYPE) {
          const body = decodeRpc(new Uint8Array(await res.arrayBuffer()), (m) => new Error(m)) as { latest: Uint8Array; page: ChangePage };
          latest = versionstampToHex(body.latest);
          this.#prefetched = { after: position!, page: body.page };
        } else {
          latest = ((await res.json()) as { latest: string }).latest;
        }
        if (after !== null && latest !== after) await this.#ringAll();
        after = latest;
        backoff = 50;
      } catch {
        if (signal.aborted) return;
        await sleep(backoff, signal);
        backoff = Math.min(backoff * 2, 2000);
        // Back after a break: whatever was committed meanwhile is in the feed; let followers read it.
        after = null;
        await this.#ringAll();
      }
    }
  }

  /** Resolves when the core answers (its own store included), throws KvError "unavailable" when not. */
  async ping(): Promise<void> {
    await this.#call("ping", []);
  }

  /** The principal a client's token stands for on the core, or null (edge auth: src/auth/remote-tokens.ts). */
  verify(secret: string): Promise<WirePrincipal | null> {
    return this.#call("verify", [secret]);
  }

  /** The core's account id: an edge answers the Cloudflare API under the same one. */
  accountId(): Promise<string> {
    return this.#call("account", []);
  }

  /** The core's store id (src/core/store-id.ts): what an edge's cache file is tied to. */
  storeId(): Promise<string> {
    return this.#call("storeId", []);
  }

  async close(): Promise<void> {
    this.#closing.abort();
    this.#bells.clear();
    this.#doorbell = null;
  }
}
