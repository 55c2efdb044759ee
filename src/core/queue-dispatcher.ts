/**
 * Fans one namespace's queue out to any number of consumers. The engine runs one listener per namespace
 * (at-least-once delivery, backoff, keysIfUndelivered); Deno allows any number of `listenQueue` calls,
 * and a KV Connect server has remote listeners too, so one dispatcher per engine and namespace hands each
 * message to one registered consumer, round robin. With no consumer registered, a message waits (it stays
 * leased, then becomes visible to other processes again) rather than failing.
 *
 * A consumer's promise decides the message's fate, as for the engine's handler: resolved = delivered,
 * rejected = a failed attempt. Rejecting with `QueueDeclined` (a consumer that went away before
 * handling the message, e.g. a disconnected remote listener) hands the message to another consumer
 * without counting an attempt.
 */
import type { Engine } from "./engine.ts";
import type { QueueMessage } from "./types.ts";

export type QueueConsumer = (payload: Uint8Array, message: QueueMessage) => Promise<void>;

/** A consumer gave a message back unhandled: deliver it to another consumer, no attempt counted. */
export class QueueDeclined extends Error {
  constructor() {
    super("The queue consumer went away before handling the message");
    this.name = "QueueDeclined";
  }
}

class QueueDispatcher {
  #consumers: QueueConsumer[] = [];
  #next = 0;
  #waiters: (() => void)[] = [];

  constructor(engine: Engine, namespaceId: string, onEnd: () => void) {
    engine.listenQueue(namespaceId, (payload, message) => this.#deliver(payload, message)).then(onEnd, onEnd);
  }

  add(consumer: QueueConsumer): () => void {
    this.#consumers.push(consumer);
    for (const w of this.#waiters.splice(0)) w();
    return () => {
      const i = this.#consumers.indexOf(consumer);
      if (i >= 0) this.#consumers.splice(i, 1);
    };
  }

  async #deliver(payload: Uint8Array, message: QueueMessage): Promise<void> {
    for (;;) {
      while (this.#consumers.length === 0) await new Promise<void>((resolve) => this.#waiters.push(resolve));
      const consumer = this.#consumers[this.#next++ % this.#consumers.length]!;
      try {
        return await consumer(payload, message);
      } catch (e) {
        if (!(e instanceof QueueDeclined)) throw e;
      }
    }
  }
}

const dispatchers = new WeakMap<Engine, Map<string, QueueDispatcher>>();

/** Registers `consumer` for the namespace's messages; the returned function unregisters it. */
export function addQueueConsumer(engine: Engine, namespaceId: string, consumer: QueueConsumer): () => void {
  let byNamespace = dispatchers.get(engine);
  if (!byNamespace) dispatchers.set(engine, (byNamespace = new Map()));
  let d = byNamespace.get(namespaceId);
  if (!d) {
    const map = byNamespace;
    d = new QueueDispatcher(engine, namespaceId, () => {
      if (map.get(namespaceId) === d) map.delete(namespaceId);
    });
    byNamespace.set(namespaceId, d);
  }
  return d.add(consumer);
}
