/**
 * @deno/kv (the npm client, HTTP/1.1 fetch from Node) against our server over KV Connect: the Deno KV
 * conformance suite runs on `openKv("http://127.0.0.1:PORT/kv-connect/<ns>", { accessToken })`, a fresh
 * namespace per case, and its outcomes are compared case by case with the real Deno on `:memory:`.
 * @deno/kv is a different client (its own argument checks, messages, cursors, key codec in JavaScript),
 * so the deliberate differences are many; each group states why, and each listed case must differ.
 * Every difference is on the client's side: @deno/kv on its own local SQLite (`openKv(":memory:")`,
 * denokv's engine) shows the same ones, apart from the server errors' wording and the expiry case.
 */
import { test } from "node:test";
import { compareRuns, DENO_RUN_TIMEOUT_MS, haveDeno, runDenoKvNpm, runDenoSuite, type DifferenceGroup } from "./kv-connect-compare.ts";
import { ADMIN, startTestServer } from "./harness.ts";

const DIFFERENCES: DifferenceGroup[] = [
  {
    reason: "errors raised by the server: @deno/kv throws Error('Unexpected response status: 400 <Deno's message>') instead of a TypeError",
    remote: /got Error\("Unexpected response status: 400 /,
    cases: [
      "getMany accepts 10 keys and rejects 11",
      "keys are limited to 2048 bytes on write and 2049 on read",
      "zero bytes count twice toward the key size",
      "sum, min and max on a non-U64 stored value fail",
      "min and max with a non-U64 operand fail",
      "a failed sum leaves the whole operation unapplied",
      "mutate sum of mismatched kinds fails",
      "mutate sum with a non-numeric operand fails",
      "mutate sum onto a non-numeric stored value fails",
      "values are limited to 65536 bytes",
      "at most 100 checks per operation",
      "at most 1000 mutations and enqueues per operation",
      "a commit's keys and values are limited to 819200 bytes in total",
      "a commit's keys are limited to 81920 bytes in total",
      "enqueue payloads are limited to 65536 bytes",
    ],
  },
  {
    reason: "@deno/kv has no commitVersionstamp()",
    remote: /commitVersionstamp is not a function/,
    cases: [
      "commitVersionstamp() returns one symbol",
      "set with commitVersionstamp() appends the commit's versionstamp to the key",
      "mutate set and expireIn work with commitVersionstamp()",
      "two versionstamped sets of one prefix in one commit write one key",
      "commitVersionstamp() is only valid as the last part of a set key",
      "commitVersionstamp, atomic and list still work on a closed database",
    ],
  },
  {
    reason: "@deno/kv's cursors are its own (base64 JSON of the last key), with its own errors",
    remote: /eyJsYXN0WWllbGRlZEtleUJ5dGVz|Invalid cursor|Cannot get cursor before first iteration/,
    cases: [
      "list with a manual cursor continues after the last entry",
      "list with a manual cursor in reverse",
      "list cursors continue prefix+start and prefix+end selectors",
      "list cursor is readable mid-iteration and empty when exhausted",
      "list cursor before the first iteration throws",
      "list range with a manual cursor",
      "list rejects malformed cursors",
      "list rejects cursors outside the selector",
    ],
  },
  {
    reason: "@deno/kv's watch withholds the first event while every watched key is absent",
    remote: /timed out after 2000 ms waiting for the first event/,
    cases: [
      "watch emits when a watched key is set",
      "watch does not emit for writes to other keys",
      "watch reports all watched keys in every event",
      "watch sees atomic sums",
      "watch accepts 10 keys and rejects 11 synchronously",
      "a cancelled watch stays cancelled",
      "closing the database ends its watch streams",
      "watch streams can be iterated with for await",
    ],
  },
  {
    reason: "@deno/kv cannot listen to a queue over KV Connect ('listenQueue' is not possible over KV Connect), so no message is ever delivered",
    remote: /timed out after 3000 ms waiting for|'listenQueue' is not possible over KV Connect/,
    cases: [
      "listenQueue receives an enqueued message",
      "queue messages round-trip value types",
      "an atomic enqueue is delivered with its commit",
      "an enqueue in a failed atomic operation is never delivered",
      "a handler can do atomic work and the message is retried when it throws",
      "a message whose handler throws goes to keysIfUndelivered",
      "a failing message is retried per its backoffSchedule",
      "several listenQueue handlers share the messages",
      "a delayed message waits for its delay",
      "listenQueue resolves when the database closes",
    ],
  },
  {
    reason: "@deno/kv checks arguments in JavaScript with its own messages and error classes (or not at all), and its closed handle throws its own Error",
    remote: /^fail: /,
    cases: [
      "getMany checks every key's parts before counting keys",
      "uncloneable values are rejected and nothing is written",
      "atomic set of an uncloneable value throws synchronously",
      "any ArrayBufferView key part reads back as a Uint8Array",
      "invalid key parts are rejected with Deno's message",
      "a key must be an array (serde_v8's message names the type)",
      "null and undefined keys fail the way Deno's wrapper does",
      "the empty key cannot be written but can be read",
      "malformed versionstamps in checks are rejected",
      "mutate rejects invalid type and value combinations synchronously",
      "mutate rejects a non-array key at commit",
      "awaiting an AtomicOperation instead of commit() throws",
      "the sum, min and max helpers validate their operand synchronously",
      "limit errors come in Deno's order",
      "expireIn must be a non-negative integer",
      "mutate set ignores a non-number expireIn",
      "expireIn beyond the representable time is rejected",
      "expireIn 0 is accepted",
      "list selectors are validated synchronously",
      "list selector keys are checked on the first next()",
      "list limit and batchSize must be positive integers",
      "list batchSize is at most 1000; a large limit is capped to 500 per batch",
      "list consistency option",
      "watch validates keys synchronously",
      "watch of no keys ends at once",
      "watch of the empty key",
      "queue delay must be within 0 ms and 30 days",
      "backoffSchedule has at most 5 intervals of at most an hour",
      "keysIfUndelivered must be valid keys",
      "enqueue of an uncloneable value fails",
      "listenQueue on a closed database rejects",
      "every method of a closed database throws BadResource",
      "argument errors win over BadResource on a closed database",
      "Symbol.dispose closes the database and is a no-op afterwards",
    ],
  },
  {
    reason: "@deno/kv's own KvU64 (not frozen, no valueOf, its own messages)",
    remote: /^fail: /,
    cases: ["KvU64 holds a bigint and unboxes", "KvU64 rejects out-of-range and non-bigint values", "KvU64 is frozen, tagged, and compares by value"],
  },
  {
    reason: "@deno/kv's key codec and list ranges in JavaScript: -0 is 0, numbers/-0 order, a reverse prefix list includes the prefix key, keys are not copied, the selector is not copied",
    remote: /^fail: /,
    cases: [
      "every kind of key part round-trips through set, get and list",
      "numbers order numerically, -0 before 0, NaN last",
      "-0 and 0 are different keys, NaN is a key",
      "returned keys are fresh arrays",
      "list prefix reverse",
      "list prefix reverse with end",
      "list copies the selector when called",
      "a list iterator is its own async iterator",
    ],
  },
  {
    reason: "Node's Buffer pool: @deno/kv returns a Uint8Array value as a view of a larger buffer",
    remote: /a fresh buffer differ/,
    cases: ["value round trip: a Uint8Array view stores only its own bytes"],
  },
  {
    reason: "our server hides an entry the moment it expires; Deno's local store keeps returning it until a sweep",
    remote: "pass",
    cases: ["an expired entry is no longer returned"],
  },
];

test("the Deno KV suite: @deno/kv over KV Connect vs real Deno on :memory:", { skip: haveDeno ? false : "no deno binary", timeout: DENO_RUN_TIMEOUT_MS + 60_000 }, async (t) => {
  const server = await startTestServer({ kvConnect: { keepAliveMs: 250 } });
  const [memory, remote] = await Promise.all([runDenoSuite([], []), runDenoKvNpm(`${server.url}/kv-connect/denokv-case-`, ADMIN)]);
  await compareRuns(t, memory, remote, DIFFERENCES);
});
