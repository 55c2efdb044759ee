// Runs bench/workload.ts against Deno's own KV on a SQLite file; prints JSON results on stdout.
// Usage: deno run --unstable-kv -A bench/deno-kv.deno.ts <file> <seconds>
import { runWorkload, type KvLike } from "./workload.ts";

const [path, seconds] = Deno.args;
const kv = await Deno.openKv(path);
const results = await runWorkload(kv as unknown as KvLike, Number(seconds));
kv.close();
console.log(JSON.stringify(results));
