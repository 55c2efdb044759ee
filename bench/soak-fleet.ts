/**
 * The client side of `npm run soak`: a fleet of `size` clients, each with one keep-alive connection,
 * taking requests in turn. That is how many independent clients load a server — a fixed set of warm
 * connections, each used every fraction of a second — and what fetch's default pool is not: it opens a
 * connection for every request that finds none idle, so each pause of the server (a 25 MiB value) made
 * the generator open hundreds at once, and Node takes one new connection from the accept queue per turn
 * of its event loop (libuv ≥ 1.45): requests on those connections waited seconds after the server was
 * free again. Its connections then sat idle and, after the server's 400 s keep-alive, closed, so a later
 * pause opened them afresh. A request waits behind the earlier ones on its connection; that wait counts
 * in its latency, as a client's own queue does.
 */
import { Agent, Client, Dispatcher } from "undici";

class Fleet extends Dispatcher {
  #clients: Client[];
  #next = 0;

  constructor(origin: string | URL, size: number) {
    super();
    this.#clients = Array.from({ length: size }, () => new Client(origin, { pipelining: 1 }));
  }

  override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    const client = this.#clients[this.#next++ % this.#clients.length]!;
    return client.dispatch(options, handler);
  }

  // The Agent closes and destroys the dispatchers it made through the promise forms only.
  override close(): Promise<void> {
    return Promise.all(this.#clients.map((c) => c.close())).then(() => {});
  }

  // @ts-expect-error the callback overloads are not implemented
  override destroy(err: Error | null = null): Promise<void> {
    return Promise.all(this.#clients.map((c) => c.destroy(err))).then(() => {});
  }
}

/** The dispatcher for fetch: per origin, `size` one-connection clients in turn. */
export function fleetDispatcher(size: number): Dispatcher {
  return new Agent({ factory: (origin) => new Fleet(origin, size) as unknown as Dispatcher });
}
