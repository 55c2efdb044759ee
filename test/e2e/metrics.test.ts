/** GET /metrics: Prometheus text whose counts are exactly the operations done through both APIs. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { auth, startTestServer } from "./harness.ts";

const server = await startTestServer();
const json = { ...auth(), "content-type": "application/json" };
const cf = `${server.url}/client/v4/accounts/${server.accountId}/storage/kv/namespaces`;

async function call(method: string, path: string, body?: string, headers: Record<string, string> = json): Promise<number> {
  const r = await fetch(path.startsWith("http") ? path : `${server.url}${path}`, { method, headers, ...(body === undefined ? {} : { body }), signal: AbortSignal.timeout(10_000) });
  await r.arrayBuffer();
  return r.status;
}

/** `name{a="1",b="2"} 3` lines → value by `name{labels sorted}`. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    const m = /^(\w+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels = [...(m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map(([, k, v]) => `${k}=${v}`).sort();
    out.set(`${m[1]}{${labels.join(",")}}`, Number(m[3]));
  }
  return out;
}
const key = (name: string, labels: Record<string, string>) =>
  `${name}{${Object.entries(labels).map(([k, v]) => `${k}=${v}`).sort().join(",")}}`;

test("operations are counted per namespace, kind and API, with latency histograms", { timeout: 30_000 }, async () => {
  const def = (await server.engine.findNamespace("default"))!.id;
  const created = await fetch(cf, { method: "POST", headers: json, body: JSON.stringify({ title: "metrics-b" }) });
  const b = ((await created.json()) as { result: { id: string } }).result.id;
  const reader = ((await (await fetch(`${server.url}/admin/tokens`, { method: "POST", headers: json, body: '{"name":"r","permission":"read"}' })).json()) as { token: string }).token;
  const text = { ...auth(), "content-type": "text/plain" };

  const statuses = await Promise.all([
    // default over /kv: 2 writes, 2 reads (a miss is a read too), 2 lists, 1 delete.
    call("PUT", "/kv/m.a", '{"value":1}'),
    call("PUT", "/kv/m.b", '{"value":2}'),
  ]);
  statuses.push(
    await call("GET", "/kv/m.a"),
    await call("GET", "/kv/m.missing"),
    await call("GET", "/kv?list=true"),
    await call("GET", "/kv/m?list=true&limit=1"),
    await call("DELETE", "/kv/m.a"),
    // default over Cloudflare: 2 writes, 3 reads, 1 list, 2 deletes.
    await call("PUT", `${cf}/${def}/values/k`, "v", text),
    await call("PUT", `${cf}/${def}/bulk`, JSON.stringify([{ key: "k2", value: "v2" }, { key: "k3", value: "v3" }])),
    await call("GET", `${cf}/${def}/values/k`),
    await call("GET", `${cf}/${def}/metadata/k`),
    await call("POST", `${cf}/${def}/bulk/get`, '{"keys":["k","k2"]}'),
    await call("GET", `${cf}/${def}/keys`),
    await call("DELETE", `${cf}/${def}/values/k`),
    await call("POST", `${cf}/${def}/bulk/delete`, '["k2","k3"]'),
    // metrics-b: 3 writes and 1 list over /ns (by title and by id), 1 read and 1 list over Cloudflare.
    await call("PUT", "/ns/metrics-b/kv/x", '{"value":"x"}'),
    await call("PUT", `/ns/${b}/kv/y`, '{"value":"y"}'),
    await call("PUT", "/ns/metrics-b/kv/x", '{"value":"x2"}'),
    await call("GET", "/ns/metrics-b/kv?list=true"),
    await call("GET", `${cf}/${b}/values/nope`),
    await call("GET", `${cf}/${b}/keys?prefix=x`),
  );
  assert.deepEqual(statuses, [200, 200, 200, 404, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 404, 200]);
  // Refused requests are not operations.
  assert.equal(await call("PUT", "/kv/m.c", '{"value":3}', { ...auth(reader), "content-type": "application/json" }), 403);
  assert.equal(await call("GET", "/kv/m.b", undefined, {}), 401);

  const r = await fetch(`${server.url}/metrics`, { headers: auth() });
  assert.equal(r.status, 200);
  assert.match(r.headers.get("content-type")!, /^text\/plain; version=0\.0\.4/);
  const body = await r.text();
  assert.match(body, /^# HELP openkv_operations_total /m);
  assert.match(body, /^# TYPE openkv_operations_total counter$/m);
  assert.match(body, /^# TYPE openkv_operation_duration_seconds histogram$/m);
  const s = samples(body);

  const expected: [string, string, string, number][] = [
    ["default", "rest", "write", 2],
    ["default", "rest", "read", 2],
    ["default", "rest", "list", 2],
    ["default", "rest", "delete", 1],
    ["default", "cloudflare", "write", 2],
    ["default", "cloudflare", "read", 3],
    ["default", "cloudflare", "list", 1],
    ["default", "cloudflare", "delete", 2],
    ["metrics-b", "rest", "write", 3],
    ["metrics-b", "rest", "list", 1],
    ["metrics-b", "cloudflare", "read", 1],
    ["metrics-b", "cloudflare", "list", 1],
  ];
  const counted = [...s.entries()].filter(([k]) => k.startsWith("openkv_operations_total{")).map(([k, v]) => `${k} ${v}`).sort();
  assert.deepEqual(counted, expected.map(([namespace, api, kind, n]) => `${key("openkv_operations_total", { namespace, kind, api })} ${n}`).sort());

  const buckets = ["0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf"];
  for (const [namespace, api, kind, n] of expected) {
    const labels = { namespace, kind, api };
    let previous = 0;
    for (const le of buckets) {
      const v = s.get(key("openkv_operation_duration_seconds_bucket", { ...labels, le }));
      assert.ok(v !== undefined, `bucket le=${le} for ${JSON.stringify(labels)}`);
      assert.ok(v >= previous, "buckets are cumulative");
      previous = v;
    }
    assert.equal(previous, n, "+Inf holds every observation");
    assert.equal(s.get(key("openkv_operation_duration_seconds_count", labels)), n);
    assert.ok(s.get(key("openkv_operation_duration_seconds_sum", labels))! > 0);
  }
  assert.equal(s.get(key("openkv_http_errors_total", { status: "404" })), 2);
  assert.equal(s.get(key("openkv_http_errors_total", { status: "403" })), 1);
  assert.equal(s.get(key("openkv_http_errors_total", { status: "401" })), 1);
});

test("/metrics needs the admin token", { timeout: 10_000 }, async () => {
  const none = await fetch(`${server.url}/metrics`);
  assert.equal(none.status, 401);
  const created = await fetch(`${server.url}/admin/tokens`, { method: "POST", headers: json, body: '{"name":"rw"}' });
  const token = ((await created.json()) as { token: string }).token;
  const rw = await fetch(`${server.url}/metrics`, { headers: auth(token) });
  assert.equal(rw.status, 403);
  assert.doesNotMatch(await rw.text(), /openkv_operations_total/);
});
