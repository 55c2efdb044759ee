/**
 * Queue delivery for Deno handles. The engine runs one listener per namespace; Deno allows any number of
 * `listenQueue` calls (on one handle or several handles sharing an engine), so one dispatcher per engine
 * and namespace hands each message to one registered handler, round robin. With no handler registered,
 * a message waits (it stays leased, then becomes visible to other processes again) rather than failing.
 */
import type { Engine } from "../../core/engine.ts";
import { deserializeV8 } from "../../core/v8.ts";

export type QueueHandlerFn = (message: unknown) => unknown;

interface Registration {
  readonly handler: QueueHandlerFn;
  readonly onError: (error: unknown) => void;
}

class QueueDispatcher {
  #registrations: Registration[] = [];
  #next = 0;
  #waiters: (() => void)[] = [];

  constructor(engine: Engine, namespaceId: string, onEnd: () => void) {
    engine
      .listenQueue(namespaceId, (payload) => this.#deliver(payload))
      .then(onEnd, onEnd);
  }

  add(r: Registration): () => void {
    this.#registrations.push(r);
    for (const w of this.#waiters.splice(0)) w();
    return () => {
      const i = this.#registrations.indexOf(r);
      if (i >= 0) this.#registrations.splice(i, 1);
    };
  }

  async #deliver(payload: Uint8Array): Promise<void> {
    while (this.#registrations.length === 0) await new Promise<void>((resolve) => this.#waiters.push(resolve));
    const r = this.#registrations[this.#next++ % this.#registrations.length]!;
    try {
      await r.handler(deserializeV8(payload));
    } catch (e) {
      r.onError(e);
      throw e;
    }
  }
}

const dispatchers = new WeakMap<Engine, Map<string, QueueDispatcher>>();

/** Registers `handler` for the namespace's messages; the returned function unregisters it. */
export function addQueueHandler(
  engine: Engine,
  namespaceId: string,
  handler: QueueHandlerFn,
  onError: (error: unknown) => void,
): () => void {
  let byNamespace = dispatchers.get(engine);
  if (!byNamespace) dispatchers.set(engine, (byNamespace = new Map()));
  let d = byNamespace.get(namespaceId);
  if (!d) {
    const map = byNamespace;
    d = new QueueDispatcher(engine, namespaceId, () => map.delete(namespaceId));
    byNamespace.set(namespaceId, d);
  }
  return d.add({ handler, onError });
}

/** What Deno does with an exception thrown by a queue handler: log it (the message is then retried). */
export function logQueueHandlerError(error: unknown): void {
  console.error("Exception in queue handler", error);
}
