/**
 * Queue delivery for Deno handles. Deno allows any number of `listenQueue` calls; each registers a
 * consumer with the handle's backend (embedded: one dispatcher per engine and namespace, shared with
 * remote listeners, see core/queue-dispatcher.ts; remote: the KV Connect queue stream), which hands each
 * message to one of them. Here the message is decoded and the user's handler's outcome reported.
 */
import { deserializeV8 } from "../../core/v8.ts";

export type QueueHandlerFn = (message: unknown) => unknown;

/** The consumer for a user handler: a throw or rejection is logged via `onError` and means "retry". */
export function queueConsumer(handler: QueueHandlerFn, onError: (error: unknown) => void): (payload: Uint8Array) => Promise<void> {
  return async (payload) => {
    try {
      await handler(deserializeV8(payload));
    } catch (e) {
      onError(e);
      throw e;
    }
  };
}

/** What Deno does with an exception thrown by a queue handler: log it (the message is then retried). */
export function logQueueHandlerError(error: unknown): void {
  console.error("Exception in queue handler", error);
}
