/**
 * The server side of OpenKV's queue extension (proto/openkv-queue.proto): remote listeners are consumers
 * of the engine's queue like embedded `listenQueue` handlers (core/queue-dispatcher.ts), so delivery,
 * retries on the backoff schedule and keysIfUndelivered are the engine's, unchanged. A message handed
 * to a remote listener is "leased" to it until the client acks (delivered), nacks (a failed attempt) or
 * the lease lapses (a failed attempt). A listener that disconnects gives its unsettled messages back
 * (QueueDeclined): they go to another listener without counting an attempt.
 */
import { randomUUID } from "node:crypto";
import { create, toBinary } from "@bufbuild/protobuf";
import type { Clock } from "../../core/clock.ts";
import type { Engine } from "../../core/engine.ts";
import { addQueueConsumer, QueueDeclined } from "../../core/queue-dispatcher.ts";
import { QueueDeliverySchema } from "../../wire/kv-connect/gen/openkv-queue_pb.ts";

interface Lease {
  readonly namespaceId: string;
  readonly session: QueueSession;
  /** The session's unsettled lease ids. */
  readonly mine: Set<string>;
  readonly timer: NodeJS.Timeout;
  resolve(): void;
  reject(e: unknown): void;
}

/** A lease that lapsed: the attempt failed. */
export class LeaseExpired extends Error {
  constructor() {
    super("The queue lease expired before the message was acknowledged");
    this.name = "LeaseExpired";
  }
}

/** A nack from the client: the attempt failed. */
export class Nacked extends Error {
  constructor() {
    super("The queue listener reported a failed delivery");
    this.name = "Nacked";
  }
}

/** One connected remote listener. */
export interface QueueSession {
  /** Stops taking messages and gives back the unsettled ones. */
  close(): void;
}

export class QueueLeases {
  #leases = new Map<string, Lease>();
  #leaseMs: number;
  #clock: Clock;

  constructor(leaseMs: number, clock: Clock) {
    this.#leaseMs = leaseMs;
    this.#clock = clock;
  }

  /** Registers a remote listener; `send` writes one QueueDelivery message to its stream. */
  open(engine: Engine, namespaceId: string, send: (delivery: Uint8Array) => void): QueueSession {
    let closed = false;
    const mine = new Set<string>();
    const session: QueueSession = {
      close: () => {
        if (closed) return;
        closed = true;
        unregister();
        for (const id of mine) {
          const lease = this.#leases.get(id);
          if (!lease) continue;
          this.#leases.delete(id);
          clearTimeout(lease.timer);
          lease.reject(new QueueDeclined());
        }
        mine.clear();
      },
    };
    const unregister = addQueueConsumer(engine, namespaceId, (payload, message) => {
      if (closed) return Promise.reject(new QueueDeclined());
      const leaseId = randomUUID();
      const expires = this.#clock.now() + this.#leaseMs;
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          if (this.#leases.get(leaseId)?.session !== session) return;
          this.#leases.delete(leaseId);
          mine.delete(leaseId);
          reject(new LeaseExpired());
        }, this.#leaseMs);
        timer.unref();
        this.#leases.set(leaseId, { namespaceId, session, mine, timer, resolve, reject });
        mine.add(leaseId);
        send(toBinary(QueueDeliverySchema, create(QueueDeliverySchema, { leaseId, payload, attempt: message.attempts, leaseExpiresMs: BigInt(expires) })));
      });
    });
    return session;
  }

  /** Acks (`ok`) or nacks a lease of the namespace; false when it is unknown or lapsed. */
  settle(namespaceId: string, leaseId: string, ok: boolean): boolean {
    const lease = this.#leases.get(leaseId);
    if (!lease || lease.namespaceId !== namespaceId) return false;
    this.#leases.delete(leaseId);
    lease.mine.delete(leaseId);
    clearTimeout(lease.timer);
    if (ok) lease.resolve();
    else lease.reject(new Nacked());
    return true;
  }
}
