/**
 * The real Deno against our server over KV Connect: the Deno KV conformance suite runs twice under the
 * deno binary — on `Deno.openKv(":memory:")` and on `Deno.openKv("http://127.0.0.1:PORT/kv-connect/<ns>")`
 * (HTTP/2 cleartext, a fresh namespace per case) — and the outcomes must be equal case by case, except
 * the deliberate differences below.
 */
import { test } from "node:test";
import { compareRuns, DENO_RUN_TIMEOUT_MS, haveDeno, runDenoSuite, type DifferenceGroup } from "./kv-connect-compare.ts";
import { ADMIN, startTestServer } from "./harness.ts";

/** Deno's client reports a 4xx from the server as an Error naming the call, not as the TypeError its local store throws. */
const SERVER_ERROR = /^fail: expected TypeError\(.*\), got Error\("KV Connect failed to call 'http:\/\/127\.0\.0\.1:\d+\/kv-connect\/[0-9a-f]{32}\/atomic_write' \(status=400 Bad Request\): /;

const DIFFERENCES: DifferenceGroup[] = [
  {
    reason: "Deno's KV Connect client refuses enqueue ('Enqueue operations are not supported in KV Connect'), so no queue case can run remotely",
    remote: /Enqueue operations are not supported in KV Connect/,
    cases: [
      "every kind of commit gets a strictly larger versionstamp",
      "enqueue resolves to { ok, versionstamp }",
      "listenQueue receives an enqueued message",
      "queue messages round-trip value types",
      "an atomic enqueue is delivered with its commit",
      "an enqueue in a failed atomic operation is never delivered",
      "a handler can do atomic work and the message is retried when it throws",
      "a message whose handler throws goes to keysIfUndelivered",
      "a failing message is retried per its backoffSchedule",
      "several listenQueue handlers share the messages",
      "a delayed message waits for its delay",
      "queue delay must be within 0 ms and 30 days",
      "backoffSchedule has at most 5 intervals of at most an hour",
    ],
  },
  {
    reason: "Deno's remote listenQueue never resolves, not even when the database closes (denokv: 'KV Connect does not support queues')",
    remote: /timed out after 2000 ms waiting for listenQueue to resolve/,
    cases: ["listenQueue resolves when the database closes"],
  },
  {
    reason: "sum/min/max errors are raised by the server: Deno's client throws Error('KV Connect failed to call … (status=400 Bad Request): <the same message>') instead of a TypeError",
    remote: SERVER_ERROR,
    cases: [
      "sum, min and max on a non-U64 stored value fail",
      "min and max with a non-U64 operand fail",
      "mutate sum of mismatched kinds fails",
      "mutate sum with a non-numeric operand fails",
      "mutate sum onto a non-numeric stored value fails",
      // Deno's local store also fails this case (it keeps the mutations before the failing sum); over the
      // wire our server commits all-or-nothing, and the case fails only on the error class.
      "a failed sum leaves the whole operation unapplied",
    ],
  },
  {
    reason: "Deno's remote watch reconnects forever instead of ending a watch of no keys",
    remote: /timed out after 2000 ms waiting for the end/,
    cases: ["watch of no keys ends at once"],
  },
  {
    reason: "our server hides an entry the moment it expires; Deno's local store keeps returning it until a sweep",
    remote: "pass",
    cases: ["an expired entry is no longer returned"],
  },
];

test("the Deno KV suite: real Deno over KV Connect vs real Deno on :memory:", { skip: haveDeno ? false : "no deno binary", timeout: DENO_RUN_TIMEOUT_MS + 60_000 }, async (t) => {
  const server = await startTestServer({ kvConnect: { keepAliveMs: 250 } });
  const host = new URL(server.url).host;
  const [memory, remote] = await Promise.all([
    runDenoSuite([], []),
    runDenoSuite([`--allow-net=${host}`, "--allow-env=DENO_KV_ACCESS_TOKEN"], ["--url", `${server.url}/kv-connect/deno-case-`], { DENO_KV_ACCESS_TOKEN: ADMIN }),
  ]);
  await compareRuns(t, memory, remote, DIFFERENCES);
});
