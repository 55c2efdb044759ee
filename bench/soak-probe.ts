/**
 * Loaded into the `openkv serve` child of `npm run soak -- --trace FILE` with `--import`: one JSON line a
 * second to `$OPENKV_SOAK_PROBE` with what the server itself saw — its event loop's worst delay, its
 * garbage collections, and the requests it finished (how many, the slowest from its 'request' event to
 * the response's end). Next to the generator's own line for the same second this tells a stall of the
 * server from a stall of the process that measures it.
 */
import { appendFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { monitorEventLoopDelay, PerformanceObserver } from "node:perf_hooks";

const file = process.env.OPENKV_SOAK_PROBE;
if (file) {
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  let gcMs = 0;
  let gcMaxMs = 0;
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      gcMs += e.duration;
      gcMaxMs = Math.max(gcMaxMs, e.duration);
    }
  }).observe({ entryTypes: ["gc"] });
  let finished = 0;
  let slowest = 0;
  let slowestUrl = "";
  let open = 0;
  // Connections taken from the kernel's accept queue (the listener's own net.Server; the HTTP/1.1
  // server it hands sockets to is a net.Server too, and is not counted).
  let accepted = 0;
  const netEmit = net.Server.prototype.emit;
  net.Server.prototype.emit = function (this: net.Server, event: string, ...args: unknown[]) {
    if (event === "connection" && !(this instanceof http.Server)) accepted++;
    return Reflect.apply(netEmit, this, [event, ...args]) as boolean;
  } as typeof netEmit;
  const emit = http.Server.prototype.emit;
  http.Server.prototype.emit = function (this: http.Server, event: string, ...args: unknown[]) {
    if (event === "request") {
      const [req, res] = args as [http.IncomingMessage, http.ServerResponse];
      const at = performance.now();
      open++;
      res.once("close", () => {
        open--;
        finished++;
        const ms = performance.now() - at;
        if (ms > slowest) {
          slowest = ms;
          // Account and namespace ids (32 hex digits) say nothing here and make the line long.
          slowestUrl = `${req.method} ${req.url?.replace(/[0-9a-f]{32}/g, "…").slice(0, 80)}`;
        }
      });
    }
    return Reflect.apply(emit, this, [event, ...args]) as boolean;
  } as typeof emit;
  let last = performance.now();
  setInterval(() => {
    const now = performance.now();
    const mem = process.memoryUsage();
    appendFileSync(
      file,
      JSON.stringify({
        t: Date.now(),
        tickMs: Math.round(now - last),
        lagMaxMs: Math.round(loop.max / 1e6),
        gcMs: Math.round(gcMs),
        gcMaxMs: Math.round(gcMaxMs),
        finished,
        open,
        accepted,
        slowestMs: Math.round(slowest),
        slowestUrl,
        heapMiB: Math.round(mem.heapUsed / 2 ** 20),
        extMiB: Math.round((mem.external + mem.arrayBuffers) / 2 ** 20),
        rssMiB: Math.round(mem.rss / 2 ** 20),
      }) + "\n",
    );
    last = now;
    loop.reset();
    gcMs = gcMaxMs = finished = slowest = accepted = 0;
    slowestUrl = "";
  }, 1000).unref();
}
