// Deno's own KV on a file: sets with `inFlight` concurrent writers for `seconds`; prints ops and ops/s as JSON.
// Usage: deno run --unstable-kv -A bench/deno-set.deno.ts <file> <seconds> <inFlight>
const [path, seconds, inFlight] = Deno.args;
const kv = await Deno.openKv(path);
const value = { user: "someone", score: 42, tags: ["a", "b"], active: true };
const deadline = performance.now() + Number(seconds) * 1000;
let ops = 0;
let next = 0;
const start = performance.now();
await Promise.all(
  Array.from({ length: Number(inFlight) }, async () => {
    while (performance.now() < deadline) {
      await kv.set(["bench", next++], value);
      ops++;
    }
  }),
);
const elapsed = (performance.now() - start) / 1000;
kv.close();
console.log(JSON.stringify({ ops, seconds: elapsed, opsPerSec: ops / elapsed }));
