/**
 * The GraphQL Analytics API's rules, on one memory server: filters (AND/OR and every operator), orderBy,
 * limit, the 31-day rule with Cloudflare's text, errors shaped as GraphQL errors, introspection, the
 * variables leniency real clients need, who may query, and what a scoped token sees.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { buildClientSchema, getIntrospectionQuery, printSchema } from "graphql";
import { openKv } from "@deno/kv";
import { ManualClock } from "../../src/core/clock.ts";
import { ADMIN, auth, startTestServer } from "./harness.ts";

const clock = new ManualClock(Date.UTC(2030, 5, 1, 12, 0));
const server = await startTestServer({ clock });
const accountTag = server.accountId;

async function gql(query: string, variables: object = {}, token = ADMIN): Promise<{ status: number; body: { data: any; errors: any } }> {
  const r = await fetch(`${server.url}/client/v4/graphql`, { method: "POST", headers: { ...auth(token), "content-type": "application/json" }, body: JSON.stringify({ query, variables }) });
  return { status: r.status, body: (await r.json()) as { data: any; errors: any } };
}

async function call(method: string, path: string, body?: string): Promise<number> {
  const r = await fetch(`${server.url}${path}`, { method, headers: { ...auth(), "content-type": "application/json" }, ...(body === undefined ? {} : { body }) });
  await r.arrayBuffer();
  return r.status;
}

// Two namespaces: a (3 writes, 2 reads, 1 missing read, 1 delete), b (1 write, 1 read).
const a = (await (await fetch(`${server.url}/client/v4/accounts/${accountTag}/storage/kv/namespaces`, { method: "POST", headers: auth(), body: JSON.stringify({ title: "gq-a" }) })).json()) as { result: { id: string } };
const b = (await (await fetch(`${server.url}/client/v4/accounts/${accountTag}/storage/kv/namespaces`, { method: "POST", headers: auth(), body: JSON.stringify({ title: "gq-b" }) })).json()) as { result: { id: string } };
const A = a.result.id;
const B = b.result.id;
for (const k of ["x", "y", "z"]) assert.equal(await call("PUT", `/ns/${A}/kv/${k}`, JSON.stringify({ value: k })), 200);
assert.equal(await call("GET", `/ns/${A}/kv/x`), 200);
assert.equal(await call("GET", `/ns/${A}/kv/y`), 200);
assert.equal(await call("GET", `/ns/${A}/kv/nope`), 404);
assert.equal(await call("DELETE", `/ns/${A}/kv/z`), 200);
assert.equal(await call("PUT", `/ns/${B}/kv/k`, JSON.stringify({ value: 1 })), 200);
assert.equal(await call("GET", `/ns/${B}/kv/k`), 200);

const groups = (filter: string, dims = "namespaceId actionType result responseStatusCode", extra = "") =>
  `{ viewer { accounts(filter: {accountTag: "${accountTag}"}) { kvOperationsAdaptiveGroups(filter: ${filter}, limit: 100${extra}) { count sum { requests } dimensions { ${dims} } } } } }`;
const rows = (body: { data: any }) => body.data.viewer.accounts[0].kvOperationsAdaptiveGroups as { count: number; sum: { requests: number }; dimensions: Record<string, unknown> }[];

test("results: uploaded, cold_read, not_found (404), deleted — with their status codes", async () => {
  const { status, body } = await gql(groups(`{namespaceId: "${A}"}`));
  assert.equal(status, 200);
  assert.deepEqual(
    rows(body).map((g) => [g.dimensions.actionType, g.dimensions.result, g.dimensions.responseStatusCode, g.sum.requests]),
    [
      ["delete", "deleted", 200, 1],
      ["read", "cold_read", 200, 2],
      ["read", "not_found", 404, 1],
      ["write", "uploaded", 200, 3],
    ],
  );
});

test("filters: AND, OR, _in, _notin, _neq, _like, _notlike, _geq/_gt/_leq/_lt on status codes and dates", async () => {
  const count = async (filter: string) => rows((await gql(groups(filter, "namespaceId"))).body).reduce((n, g) => n + g.sum.requests, 0);
  assert.equal(await count(`{OR: [{actionType: "delete"}, {result: "not_found"}]}`), 2);
  assert.equal(await count(`{AND: [{namespaceId: "${A}"}, {actionType_in: ["read", "write"]}]}`), 6);
  assert.equal(await count(`{namespaceId: "${A}", actionType_notin: ["read", "write"]}`), 1);
  assert.equal(await count(`{actionType_neq: "write"}`), 5);
  assert.equal(await count(`{result_like: "%read"}`), 3);
  assert.equal(await count(`{result_notlike: "%read"}`), 6);
  assert.equal(await count(`{namespaceId_like: "${B.slice(0, 5)}%"}`), 2);
  assert.equal(await count(`{responseStatusCode_geq: 400}`), 1);
  assert.equal(await count(`{responseStatusCode_lt: 400, responseStatusCode_gt: 100}`), 8);
  assert.equal(await count(`{responseStatusCode_leq: 200}`), 8);
  const today = new Date(clock.now()).toISOString().slice(0, 10);
  assert.equal(await count(`{date: "${today}"}`), 9);
  assert.equal(await count(`{date_gt: "${today}"}`), 0);
  assert.equal(await count(`{date_lt: "${today}"}`), 0);
  assert.equal(await count(`{datetimeHour_geq: "${today}T12:00:00Z", datetimeMinute_leq: "${today}T12:00:00Z"}`), 9);
  assert.equal(await count(`{datetime_lt: "${today}T12:00:00Z"}`), 0);
});

test("orderBy, then the group keys; limit; every aggregate", async () => {
  const { body } = await gql(groups("{}", "actionType", ", orderBy: [sum_requests_DESC]"));
  assert.deepEqual(rows(body).map((g) => [g.dimensions.actionType, g.sum.requests]), [["read", 4], ["write", 4], ["delete", 1]]);
  const limited = await gql(groups("{}", "actionType", ", orderBy: [count_ASC]").replace("limit: 100", "limit: 2"));
  assert.deepEqual(rows(limited.body).map((g) => g.dimensions.actionType), ["delete", "read"]);
  const all = await gql(
    `{ viewer { accounts(filter: {accountTag: "${accountTag}"}) { kvOperationsAdaptiveGroups(filter: {namespaceId: "${A}", actionType: "write"}, limit: 1) {
      count sum { requests objectBytes } avg { sampleInterval } max { latencyMs objectBytes } min { latencyMs objectBytes }
      quantiles { latencyMsP50 } confidence(level: 0.95) { level count { estimate isValid } }
      dimensions { date datetime datetimeHour datetimeMinute } } } } }`,
  );
  assert.equal(all.status, 200);
  const [g] = rows(all.body) as any[];
  assert.equal(g.count, 3);
  assert.equal(g.avg.sampleInterval, 1);
  // The request bodies: {"value":"x"} is 13 bytes.
  assert.equal(g.sum.objectBytes, 39);
  assert.equal(g.max.objectBytes, 13);
  assert.equal(g.min.objectBytes, 13);
  assert.ok(g.max.latencyMs >= g.min.latencyMs);
  assert.deepEqual(g.confidence, { level: 0.95, count: { estimate: 3, isValid: true } });
  assert.equal(g.dimensions.datetimeMinute, "2030-06-01T12:00:00Z");
  assert.equal(g.dimensions.datetimeHour, "2030-06-01T12:00:00Z");
});

test("the 31-day rule with Cloudflare's text; limit bounds; GraphQL-shaped errors with both keys", async () => {
  const old = new Date(clock.now() - 40 * 86_400_000).toISOString().slice(0, 10);
  const r = await gql(groups(`{date_geq: "${old}"}`));
  assert.equal(r.status, 400);
  assert.equal(r.body.data, null);
  assert.equal(r.body.errors[0].message, "cannot request data older than 2678400s");
  assert.deepEqual(r.body.errors[0].path, ["viewer", "accounts", "0", "kvOperationsAdaptiveGroups"]);
  assert.match(r.body.errors[0].extensions.timestamp, /^\d{4}-/);
  const thirty = new Date(clock.now() - 30 * 86_400_000).toISOString().slice(0, 10);
  assert.equal((await gql(groups(`{date_geq: "${thirty}"}`))).status, 200);

  const zero = await gql(groups("{}").replace("limit: 100", "limit: 0"));
  assert.equal(zero.status, 400);
  assert.equal(zero.body.errors[0].message, "limit must be positive number and not greater than 10000");
  const unknown = await gql(`{ viewer { accounts(filter: {accountTag: "${accountTag}"}) { kvOperationsAdaptiveGroups(filter: {}, limit: 1) { nope } } } }`);
  assert.equal(unknown.status, 400);
  assert.equal(unknown.body.data, null);
  assert.match(unknown.body.errors[0].message, /Cannot query field "nope"/);
  const unparsable = await gql("{ viewer {");
  assert.equal(unparsable.status, 400);
  assert.match(unparsable.body.errors[0].message, /^error parsing query: Syntax Error/);
  const other = await gql(groups("{}").replace(accountTag, "f".repeat(32)));
  assert.equal(other.status, 403);
  assert.equal(other.body.errors[0].message, "not authorized for that account");
  const ok = await gql(groups("{}"));
  assert.equal(ok.body.errors, null);
});

test("leniency: undeclared variables, String!/string declarations, a wrong filter type name, Date declared as string, variables as JSON text, enums from variables", async () => {
  const q = `query Q($filter: ZoneWorkersRequestsFilter_InputObject, $accountTag: String!, $order: [string]) {
    viewer { accounts(filter: {accountTag: $accountTag}) {
      kvOperationsAdaptiveGroups(filter: $filter, limit: $limit, orderBy: $order) { sum { requests } dimensions { actionType } } } } }`;
  const { status, body } = await gql(q, { accountTag, filter: { namespaceId: A, date_geq: new Date(clock.now()).toISOString().slice(0, 10) }, limit: 10, order: ["actionType_DESC"] });
  assert.equal(status, 200, JSON.stringify(body));
  assert.deepEqual(rows(body).map((g) => g.dimensions.actionType), ["write", "read", "delete"]);
  const text = await fetch(`${server.url}/client/v4/graphql`, {
    method: "POST",
    headers: { ...auth(), "content-type": "application/json" },
    body: JSON.stringify({ query: `{ viewer { accounts(filter: {accountTag: $accountTag}) { kvStorageAdaptiveGroups(filter: {namespaceId: $ns}, limit: 1) { max { keyCount } } } } }`, variables: JSON.stringify({ accountTag, ns: A }) }),
  });
  const storage = (await text.json()) as { data: any };
  assert.deepEqual(storage.data.viewer.accounts[0].kvStorageAdaptiveGroups, [{ max: { keyCount: 2 } }]);
});

test("introspection: GraphiQL's query builds a client schema with Cloudflare's type names; __type probes work", async () => {
  const { body } = await gql(getIntrospectionQuery());
  assert.equal(body.errors, null);
  const sdl = printSchema(buildClientSchema(body.data));
  assert.match(sdl, /kvOperationsAdaptiveGroups\(filter: AccountKvOperationsAdaptiveGroupsFilter_InputObject!, limit: uint64!, orderBy: \[AccountKvOperationsAdaptiveGroupsOrderBy!\]\): \[AccountKvOperationsAdaptiveGroups!\]!/);
  assert.match(sdl, /scalar Date/);
  const probe = await gql(`{ __type(name: "AccountKvOperationsAdaptiveGroupsSum") { fields { name } } }`);
  assert.deepEqual(probe.body.data.__type.fields.map((f: { name: string }) => f.name), ["objectBytes", "requests"]);
});

test("who may query: the admin and tokens made with analytics; a scoped token sees only its namespaces; no GET", async () => {
  const make = async (body: object) => ((await (await fetch(`${server.url}/admin/tokens`, { method: "POST", headers: auth(), body: JSON.stringify(body) })).json()) as { token: string; analytics?: boolean }).token;
  const plain = await make({ name: "plain", permission: "read" });
  const denied = await gql(groups("{}"), {}, plain);
  assert.equal(denied.status, 403);
  assert.equal(denied.body.data, null);
  assert.match(denied.body.errors[0].message, /^This token may not read analytics/);
  const anon = await fetch(`${server.url}/client/v4/graphql`, { method: "POST", body: JSON.stringify({ query: "{ cost }" }) });
  assert.equal(anon.status, 401);
  assert.equal(((await anon.json()) as { data: unknown }).data, null);

  const scoped = await make({ name: "scoped", namespaces: [A], permission: "read", analytics: true });
  const seen = rows((await gql(groups("{}", "namespaceId"), {}, scoped)).body);
  assert.deepEqual(seen.map((g) => g.dimensions.namespaceId), [A]);
  // Asking for another namespace outright finds nothing, rather than its figures.
  assert.deepEqual(rows((await gql(groups(`{namespaceId: "${B}"}`, "namespaceId"), {}, scoped)).body), []);
  const storage = await gql(`{ viewer { accounts(filter: {accountTag: "${accountTag}"}) { kvStorageAdaptiveGroups(filter: {}, limit: 10) { dimensions { namespaceId } } } } }`, {}, scoped);
  assert.deepEqual(storage.body.data.viewer.accounts[0].kvStorageAdaptiveGroups, [{ dimensions: { namespaceId: A } }]);
  const everything = await make({ name: "all", analytics: true });
  assert.deepEqual(rows((await gql(groups("{}", "namespaceId"), {}, everything)).body).map((g) => g.dimensions.namespaceId), [A, B].sort());
  assert.equal((await fetch(`${server.url}/client/v4/graphql?query={cost}`, { headers: auth() })).status, 404);
  const bad = await fetch(`${server.url}/admin/tokens`, { method: "POST", headers: auth(), body: JSON.stringify({ name: "x", analytics: "yes" }) });
  assert.equal(bad.status, 400);
  assert.equal(((await bad.json()) as { error: { message: string } }).error.message, "analytics must be true or false");
});

test("KV Connect reads: a key found is a cold_read, a key missing is not_found (KV Connect answers 200 either way)", async () => {
  const c = await server.engine.createNamespace("gq-kvc");
  const kv = await openKv(`${server.url}/kv-connect/${c.id}`, { accessToken: ADMIN });
  try {
    await kv.set(["here"], 1);
    assert.equal((await kv.get(["here"])).value, 1);
    assert.equal((await kv.get(["missing"])).value, null);
    assert.equal((await kv.get(["missing"])).value, null);
  } finally {
    kv.close();
  }
  const { body } = await gql(groups(`{namespaceId: "${c.id}", actionType: "read"}`, "result responseStatusCode"));
  assert.deepEqual(
    rows(body).map((g) => [g.dimensions.result, g.dimensions.responseStatusCode, g.sum.requests]).sort(),
    [
      ["cold_read", 200, 1],
      ["not_found", 200, 2],
    ],
  );
});
