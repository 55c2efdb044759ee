/**
 * The Deno side of test/e2e/kv-connect-cross-api.test.ts, over KV Connect (token in DENO_KV_ACCESS_TOKEN):
 *   deno run --unstable-kv --allow-net --allow-env cross-api.deno.ts write <url>   writes a fixed set of values
 *   deno run --unstable-kv --allow-net --allow-env cross-api.deno.ts read <url> <key>…   prints them as JSON
 * (bytes as {"bytes": [...]}, KvU64 as {"u64": "n"}, bigint as {"bigint": "n"}).
 */
const [mode, url, ...keys] = Deno.args;
const kv = await Deno.openKv(url);
if (mode === "write") {
  await kv.set(["str"], "hello from deno");
  await kv.set(["num"], 42.5);
  await kv.set(["obj"], { a: 1, b: [true, null, "x"] });
  await kv.set(["bytes"], new Uint8Array([1, 2, 3, 250]));
  await kv.set(["u64"], new Deno.KvU64(7n));
  console.log("{}");
} else {
  const out: Record<string, unknown> = {};
  for (const k of keys) out[k] = (await kv.get([k])).value;
  console.log(
    JSON.stringify(out, (_k, v) =>
      v instanceof Uint8Array ? { bytes: [...v] } : v instanceof Deno.KvU64 ? { u64: String(v.value) } : typeof v === "bigint" ? { bigint: String(v) } : v,
    ),
  );
}
kv.close();
