// Sequential kv.get latency with Deno's own client; prints {"p50":…,"p99":…} (ms) on stdout.
// Usage: DENO_KV_ACCESS_TOKEN=… deno run --unstable-kv -A bench/deno-get.deno.ts <KV Connect URL> <gets>
const [url, gets] = Deno.args;
const kv = await Deno.openKv(url);
await kv.set(["deno-hot"], { user: "someone", score: 42 });
for (let i = 0; i < 20; i++) await kv.get(["deno-hot"]); // warm the connection
const times: number[] = [];
for (let i = 0; i < Number(gets); i++) {
  const started = performance.now();
  await kv.get(["deno-hot"]);
  times.push(performance.now() - started);
}
kv.close();
times.sort((a, b) => a - b);
const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))];
console.log(JSON.stringify({ p50: at(0.5), p99: at(0.99) }));
