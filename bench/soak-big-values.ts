/**
 * The worker thread of `npm run soak` that moves the 25 MiB values: for each number it is sent, one value
 * written through REST v4 and then read back whole and checked, each timed here. Filling, sending,
 * receiving and comparing 25 MiB costs a client tens to hundreds of milliseconds of its own event loop;
 * done on the thread that times every other request, that cost was counted as the server's latency.
 */
import { parentPort, workerData } from "node:worker_threads";

export interface BigValuesData {
  /** The namespace's REST v4 URL, …/storage/kv/namespaces/{id}. */
  values: string;
  token: string;
  bytes: number;
}

/** One request's outcome: how long it took, and what went wrong if it failed. */
export interface BigResult {
  ms: number;
  error?: string;
}

export interface BigReport {
  n: number;
  put: BigResult;
  /** Absent when the write failed. */
  get?: BigResult;
}

const { values, token, bytes } = workerData as BigValuesData;
const auth = { authorization: `Bearer ${token}` };

async function timed(run: () => Promise<void>): Promise<BigResult> {
  const started = performance.now();
  try {
    await run();
    return { ms: performance.now() - started };
  } catch (e) {
    const cause = e instanceof Error && e.cause instanceof Error ? ` (${(e.cause as NodeJS.ErrnoException).code ?? e.cause.message})` : "";
    return { ms: performance.now() - started, error: `${e instanceof Error ? e.message : String(e)}${cause}` };
  }
}

async function put(n: number): Promise<void> {
  const body = Buffer.alloc(bytes, n & 0xff);
  const r = await fetch(`${values}/values/soak-big-${n % 4}`, { method: "PUT", headers: { ...auth, "content-type": "application/octet-stream" }, body });
  const text = await r.text();
  if (r.status !== 200) throw new Error(`25 MiB PUT: ${r.status} ${text.slice(0, 200)}`);
}

async function get(n: number): Promise<void> {
  const r = await fetch(`${values}/values/soak-big-${n % 4}`, { headers: auth });
  const back = Buffer.from(await r.arrayBuffer());
  if (r.status !== 200 || back.length !== bytes || back[0] !== (n & 0xff) || back[bytes - 1] !== (n & 0xff)) {
    throw new Error(`25 MiB GET: ${r.status}, ${back.length} bytes`);
  }
}

parentPort!.on("message", (n: number) => {
  void (async () => {
    const report: BigReport = { n, put: await timed(() => put(n)) };
    if (!report.put.error) report.get = await timed(() => get(n));
    parentPort!.postMessage(report);
  })();
});
