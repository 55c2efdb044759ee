/**
 * Every route the server mounts × every kind of caller: the status says who may do what, and a refused
 * write leaves the data exactly as it was. Routes come from `builtinRoutes()`, so a new route is in the
 * matrix the day it is mounted (with a generic request until it gets a recipe below).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { builtinRoutes } from "../../src/server/server.ts";
import type { Method, Route } from "../../src/http/route.ts";
import { versionstampToHex } from "../../src/core/versionstamp.ts";
import { ADMIN, auth, startTestServer } from "./harness.ts";

const server = await startTestServer();
const admin = { ...auth(), "content-type": "application/json" };

/** Where a request points: the namespace the caller may use, one it may not, `default`, or none. */
type Target = "A" | "B" | "default" | null;

interface Caller {
  name: string;
  /** Request headers carrying the credentials (made once the token exists). */
  headers: (secret: string) => Record<string, string>;
  /** A token to create through POST /admin/tokens, or the secret to send as is. */
  token: { permission: "read" | "write"; scoped: boolean } | { secret: string };
  /** What the caller should be allowed: null = not authenticated at all. */
  caps: { admin: boolean; write: boolean; scoped: boolean } | null;
}

const bearer = (secret: string) => ({ authorization: `Bearer ${secret}` });
const xAuth = (secret: string) => ({ "x-auth-key": secret, "x-auth-email": "ops@example.com" });

const CALLERS: Caller[] = [
  { name: "no token", headers: () => ({}), token: { secret: "" }, caps: null },
  { name: "wrong token", headers: bearer, token: { secret: "okv_not_a_real_token_at_all" }, caps: null },
  { name: "X-Auth-Key without X-Auth-Email", headers: (s) => ({ "x-auth-key": s }), token: { secret: ADMIN }, caps: null },
  { name: "admin token", headers: bearer, token: { secret: ADMIN }, caps: { admin: true, write: true, scoped: false } },
  { name: "admin token via X-Auth-Key", headers: xAuth, token: { secret: ADMIN }, caps: { admin: true, write: true, scoped: false } },
  { name: "read-write token", headers: bearer, token: { permission: "write", scoped: false }, caps: { admin: false, write: true, scoped: false } },
  { name: "read-only token", headers: bearer, token: { permission: "read", scoped: false }, caps: { admin: false, write: false, scoped: false } },
  { name: "read-write token scoped to A", headers: bearer, token: { permission: "write", scoped: true }, caps: { admin: false, write: true, scoped: true } },
  { name: "read-only token scoped to A", headers: bearer, token: { permission: "read", scoped: true }, caps: { admin: false, write: false, scoped: true } },
  { name: "read-write token scoped to A via X-Auth-Key", headers: xAuth, token: { permission: "write", scoped: true }, caps: { admin: false, write: true, scoped: true } },
  { name: "read-only token via X-Auth-Key", headers: xAuth, token: { permission: "read", scoped: false }, caps: { admin: false, write: false, scoped: false } },
];

/** 401, 403, or "allowed" — restated from the access rules, not computed by the server's own code. */
function expected(route: Route, target: Target, caps: Caller["caps"]): 401 | 403 | "allowed" {
  if (route.access === "public") return "allowed";
  if (!caps) return 401;
  if (caps.admin) return "allowed";
  const inScope = !caps.scoped || target === "A";
  switch (route.access) {
    case "admin":
      return 403;
    case "authenticated":
      return "allowed";
    case "analytics":
      // None of the matrix's tokens was made with the analytics right.
      return 403;
    case "manage":
      return caps.write && !caps.scoped ? "allowed" : 403;
    case "read":
      return target === null ? "allowed" : inScope ? "allowed" : 403;
    case "write":
      return caps.write && (target === null ? !caps.scoped : inScope) ? "allowed" : 403;
  }
}

interface Fixture {
  a: string;
  b: string;
  defaultId: string;
  /** A token that DELETE /admin/tokens/:id may revoke (not the caller's own). */
  spareTokenId: string;
  unique: string;
}

interface Recipe {
  params?: Record<string, string>;
  query?: string;
  body?: (f: Fixture, target: Target) => { type: string; text: string };
}

const CF_NS = "/client/v4/accounts/:account_id/storage/kv/namespaces";
const json = (value: unknown) => ({ type: "application/json", text: JSON.stringify(value) });
const restRecipes = (prefix: string): Record<string, Recipe> => ({
  [`GET ${prefix}/*`]: { params: { "*": "seed.k" } },
  [`GET ${prefix}`]: { query: "list=true" },
  [`PUT ${prefix}/*`]: { params: { "*": "written.k" }, body: () => json({ value: { by: "matrix" } }) },
  [`DELETE ${prefix}/*`]: { params: { "*": "victim.k" } },
});

const DASH = "/_openkv/v1/dashboard";
const str = (value: string) => ({ type: "string", value });
const dashboardRecipes = (): Record<string, Recipe> => ({
  [`GET /`]: {},
  [`GET /_openkv/ui/:file`]: { params: { file: "app.js" } },
  [`GET /_openkv/ui/vendor/:file`]: { params: { file: "preact.mjs" } },
  [`GET ${DASH}/session`]: {},
  [`POST ${DASH}/ns/:namespace/list`]: { body: () => json({ prefix: [] }) },
  [`POST ${DASH}/ns/:namespace/children`]: { body: () => json({ prefix: [] }) },
  [`POST ${DASH}/ns/:namespace/count`]: { body: () => json({ prefix: [], startsWith: "seed" }) },
  [`POST ${DASH}/ns/:namespace/get`]: { body: () => json({ key: [str("seed")] }) },
  [`POST ${DASH}/ns/:namespace/export`]: { body: () => json({ prefix: [str("seed")] }) },
  [`POST ${DASH}/ns/:namespace/set`]: { body: () => json({ key: [str("dash-written")], value: { type: "Map", value: [[str("a"), { type: "bigint", value: "1" }]] } }) },
  [`POST ${DASH}/ns/:namespace/delete`]: { body: () => json({ keys: [[str("victim-dash")]] }) },
  [`POST ${DASH}/ns/:namespace/delete-prefix`]: { body: () => json({ prefix: [str("victim-dash-prefix")], dryRun: false }) },
  [`POST ${DASH}/ns/:namespace/import`]: {
    body: () => ({ type: "application/x-ndjson", text: JSON.stringify({ name: "dash-imported", encoding: "bytes", value: "aGk=" }) }),
  },
});

/**
 * A valid request per known route. Reads, writes and deletes touch different keys, so one caller's
 * requests can run in parallel and every allowed one must succeed (2xx).
 */
const RECIPES: Record<string, Recipe> = {
  [`GET ${CF_NS}`]: {},
  [`POST ${CF_NS}`]: { body: (f) => json({ title: `${f.unique}-created` }) },
  [`GET ${CF_NS}/:namespace_id`]: {},
  [`PUT ${CF_NS}/:namespace_id`]: { body: (f, t) => json({ title: `${f.unique}-renamed-${t}` }) },
  [`DELETE ${CF_NS}/:namespace_id`]: {},
  [`GET ${CF_NS}/:namespace_id/values/:key_name`]: { params: { key_name: "seed" } },
  [`PUT ${CF_NS}/:namespace_id/values/:key_name`]: { params: { key_name: "written" }, body: () => ({ type: "text/plain", text: "by matrix" }) },
  [`DELETE ${CF_NS}/:namespace_id/values/:key_name`]: { params: { key_name: "victim" } },
  [`GET ${CF_NS}/:namespace_id/metadata/:key_name`]: { params: { key_name: "seed" } },
  [`GET ${CF_NS}/:namespace_id/keys`]: {},
  [`PUT ${CF_NS}/:namespace_id/bulk`]: { body: () => json([{ key: "bulk-written", value: "v" }]) },
  [`POST ${CF_NS}/:namespace_id/bulk/delete`]: { body: () => json(["victim-bulk"]) },
  [`DELETE ${CF_NS}/:namespace_id/bulk`]: { body: () => json(["victim-bulk2"]) },
  [`POST ${CF_NS}/:namespace_id/bulk/get`]: { body: () => json({ keys: ["seed"] }) },
  ["GET /client/v4/accounts"]: {},
  ["GET /client/v4/accounts/:account_id"]: {},
  ["GET /client/v4/memberships"]: {},
  ["GET /client/v4/user/tokens/verify"]: {},
  ["GET /client/v4/user"]: {},
  ["GET /healthz"]: {},
  ["GET /metrics"]: {},
  ["POST /admin/tokens"]: { body: (f) => json({ name: `${f.unique}-made`, permission: "read" }) },
  ["GET /admin/tokens"]: {},
  ["DELETE /admin/tokens/:id"]: {},
  ...dashboardRecipes(),
  ["POST /client/v4/graphql"]: { body: () => json({ query: "{ cost }" }) },
  ...restRecipes("/kv"),
  ...restRecipes("/ns/:namespace/kv"),
};

interface Planned {
  label: string;
  route: Route;
  target: Target;
  known: boolean;
  url: string;
  init: RequestInit & { headers: Record<string, string> };
}

function plan(route: Route, method: Method, target: Target, f: Fixture): Planned {
  const id = `${method} ${route.path}`;
  const recipe = RECIPES[id];
  const nsParam = typeof route.namespace === "object" ? route.namespace.param : null;
  const fill: Record<string, string> = {
    account_id: server.accountId,
    id: f.spareTokenId,
    key_name: "seed",
    "*": "seed.k",
    ...recipe?.params,
    ...(nsParam ? { [nsParam]: target === "A" ? f.a : f.b } : {}),
  };
  const path = route.path
    .replace(/:(\w+)/g, (_, name: string) => {
      assert.ok(fill[name] !== undefined, `${id}: no value for the path parameter :${name}`);
      return encodeURIComponent(fill[name]!);
    })
    .replace(/\*$/, fill["*"]!);
  const body = recipe?.body?.(f, target);
  return {
    label: `${id} [${target ?? "no namespace"}]`,
    route,
    target,
    known: recipe !== undefined,
    url: `${server.url}${path}${recipe?.query ? `?${recipe.query}` : ""}`,
    init: { method, headers: body ? { "content-type": body.type } : {}, ...(body ? { body: body.text } : {}) },
  };
}

/** Everything a caller could change: entries (with versionstamps), namespaces, tokens. */
async function snapshot(namespaceIds: string[]) {
  const entries: Record<string, string[]> = {};
  for (const id of namespaceIds) {
    const [rows] = await server.engine.read(id, [{ start: new Uint8Array(0), end: Uint8Array.of(0xff), limit: 10_000 }]);
    entries[id] = rows!.map((e) => `${Buffer.from(e.key).toString("hex")}@${versionstampToHex(e.versionstamp)}`);
  }
  const namespaces = (await server.engine.listNamespaces()).map((n) => `${n.id}=${n.title}`).sort();
  return { entries, namespaces, tokens: server.tokens.list().map((t) => t.id).sort() };
}

async function call(method: string, path: string, body?: unknown): Promise<Response> {
  const r = await fetch(`${server.url}${path}`, { method, headers: admin, ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }) });
  assert.ok(r.ok, `${method} ${path}: ${r.status} ${await r.clone().text()}`);
  return r;
}

async function seed(nsId: string): Promise<void> {
  const cf = `/client/v4/accounts/${server.accountId}/storage/kv/namespaces/${nsId}`;
  for (const key of ["seed", "victim", "victim-bulk", "victim-bulk2", "victim-dash"]) {
    await fetch(`${server.url}${cf}/values/${key}`, { method: "PUT", headers: { ...auth(), "content-type": "text/plain" }, body: `seeded ${key}` });
  }
  for (const key of ["seed.k", "victim.k", "victim-dash-prefix.x"]) await call("PUT", `/ns/${nsId}/kv/${key}`, { value: `seeded ${key}` });
}

async function prepare(caller: Caller, index: number): Promise<{ fixture: Fixture; secret: string }> {
  const unique = `matrix-${index}`;
  const a = await server.engine.createNamespace(`${unique}-a`);
  const b = await server.engine.createNamespace(`${unique}-b`);
  const defaultId = (await server.engine.findNamespace("default"))!.id;
  await Promise.all([seed(a.id), seed(b.id), seed(defaultId)]);
  const spare = (await (await call("POST", "/admin/tokens", { name: `${unique}-spare`, permission: "read" })).json()) as { id: string };
  let secret: string;
  if ("secret" in caller.token) secret = caller.token.secret;
  else {
    const created = await call("POST", "/admin/tokens", {
      name: unique,
      permission: caller.token.permission,
      // By title: the endpoint resolves titles to ids.
      namespaces: caller.token.scoped ? [`${unique}-a`] : null,
    });
    secret = ((await created.json()) as { token: string }).token;
  }
  return { fixture: { a: a.id, b: b.id, defaultId, spareTokenId: spare.id, unique }, secret };
}

for (const [index, caller] of CALLERS.entries()) {
  test(`route × scope matrix: ${caller.name}`, { timeout: 30_000 }, async (t) => {
    const { fixture, secret } = await prepare(caller, index);
    const requests: Planned[] = [];
    for (const route of builtinRoutes()) {
      const targets: Target[] = typeof route.namespace === "object" ? ["A", "B"] : route.namespace === "default" ? ["default"] : [null];
      for (const method of Array.isArray(route.method) ? route.method : [route.method]) {
        for (const target of targets) requests.push(plan(route, method, target, fixture));
      }
    }
    const before = await snapshot([fixture.a, fixture.b, fixture.defaultId]);

    // Namespace management renames and deletes A and B: it goes last, one request at a time.
    const send = async (p: Planned) => {
      const r = await fetch(p.url, { ...p.init, headers: { ...p.init.headers, ...caller.headers(secret) }, signal: AbortSignal.timeout(10_000) });
      return { p, status: r.status, text: await r.text() };
    };
    const order = { POST: 0, PUT: 1, PATCH: 1, GET: 2, HEAD: 2, DELETE: 3 } as const;
    const manage = requests.filter((p) => p.route.access === "manage").sort((x, y) => order[x.init.method as Method] - order[y.init.method as Method]);
    const results = await Promise.all(requests.filter((p) => p.route.access !== "manage").map(send));
    for (const p of manage) results.push(await send(p));

    const failures: string[] = [];
    for (const { p, status, text } of results) {
      const want = expected(p.route, p.target, caller.caps);
      const ok =
        want === "allowed"
          ? status !== 401 && status !== 403 && status < 500 && (!p.known || (status >= 200 && status < 300))
          : status === want;
      if (!ok) failures.push(`${p.label}: expected ${want}, got ${status} ${text.slice(0, 200)}`);
      if (status >= 400) assert.doesNotMatch(text, /\bat .+\.ts:\d+|SQLITE|SELECT /i, `${p.label} leaks internals: ${text}`);
    }
    assert.deepEqual(failures, [], `${caller.name}:\n  ${failures.join("\n  ")}`);
    assert.ok(results.length >= builtinRoutes().length, "every route was called");
    const generic = [...new Set(requests.filter((p) => !p.known).map((p) => `${p.init.method} ${p.route.path}`))];
    if (index === 0 && generic.length > 0) t.diagnostic(`generic requests (no recipe; checked for 401/403/5xx only): ${generic.join(", ")}`);

    // Whatever was refused changed nothing.
    const after = await snapshot([fixture.a, fixture.b, fixture.defaultId]);
    const caps = caller.caps;
    if (!caps?.admin) assert.deepEqual(after.tokens, before.tokens, "tokens unchanged");
    if (!caps || !caps.write) {
      assert.deepEqual(after, before, "a caller that may not write changed nothing");
    } else if (caps.scoped) {
      assert.deepEqual(after.namespaces, before.namespaces, "no namespace created, renamed or deleted");
      assert.deepEqual(after.entries[fixture.b], before.entries[fixture.b], "namespace B unchanged");
      assert.deepEqual(after.entries[fixture.defaultId], before.entries[fixture.defaultId], "default unchanged");
      assert.notDeepEqual(after.entries[fixture.a], before.entries[fixture.a], "namespace A was written");
    } else {
      assert.notDeepEqual(after.namespaces, before.namespaces, "namespaces were managed");
    }
  });
}

test("401 and 403 answers say why, in each API's error format", async () => {
  const ns = `/client/v4/accounts/${server.accountId}/storage/kv/namespaces`;
  const none = await fetch(`${server.url}${ns}`);
  assert.equal(none.status, 401);
  assert.equal(none.headers.get("www-authenticate"), 'Bearer realm="openkv"');
  assert.deepEqual(await none.json(), {
    success: false,
    errors: [{ code: 10000, message: "Authentication required: send Authorization: Bearer <token>" }],
    messages: [],
    result: null,
  });
  const created = await call("POST", "/admin/tokens", { name: "reader", permission: "read" });
  const reader = ((await created.json()) as { token: string }).token;
  const put = await fetch(`${server.url}/kv/x`, { method: "PUT", headers: { ...bearer(reader), "content-type": "application/json" }, body: '{"value":1}' });
  assert.deepEqual(await put.json(), { error: { status: 403, message: "This token is read-only" } });
  const metrics = await fetch(`${server.url}/metrics`, { headers: bearer(reader) });
  assert.deepEqual(await metrics.json(), { error: { status: 403, message: "This route needs the admin token" } });
  const scoped = ((await (await call("POST", "/admin/tokens", { name: "scoped", namespaces: ["default"] })).json()) as { token: string }).token;
  const other = await server.engine.createNamespace("matrix-other");
  const outside = await fetch(`${server.url}/ns/${other.id}/kv/x`, { headers: xAuth(scoped) });
  assert.deepEqual(await outside.json(), { error: { status: 403, message: "This token may not use this namespace" } });
  // Whether a namespace outside its scope exists is none of a scoped token's business.
  for (const name of ["matrix-other", "no-such-namespace"]) {
    const probe = await fetch(`${server.url}/ns/${name}/kv/x`, { headers: bearer(scoped) });
    assert.deepEqual(await probe.json(), { error: { status: 403, message: "This token may not use this namespace" } }, name);
  }
  const unscoped = await fetch(`${server.url}/ns/no-such-namespace/kv/x`, { headers: bearer(reader) });
  assert.deepEqual(await unscoped.json(), { error: { status: 404, message: "namespace not found" } });
  const manage = await fetch(`${server.url}${ns}/${other.id}`, { method: "DELETE", headers: bearer(scoped) });
  assert.equal(manage.status, 403);
  assert.ok(await server.engine.findNamespace(other.id), "the namespace is still there");
});

test("scoped tokens list only their namespaces; a revoked token stops working at once", async () => {
  const ns = await server.engine.createNamespace("matrix-listed");
  const body = (await (await call("POST", "/admin/tokens", { name: "lister", namespaces: [ns.id], permission: "read" })).json()) as { token: string; id: string };
  const list = await fetch(`${server.url}/client/v4/accounts/${server.accountId}/storage/kv/namespaces?per_page=1000`, { headers: bearer(body.token) });
  assert.deepEqual(((await list.json()) as { result: { id: string }[] }).result.map((n) => n.id), [ns.id]);
  await call("DELETE", `/admin/tokens/${body.id}`);
  assert.equal((await fetch(`${server.url}/ns/${ns.id}/kv?list=true`, { headers: bearer(body.token) })).status, 401);
});
