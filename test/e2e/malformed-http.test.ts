/**
 * Thousands of malformed and hostile requests (seeded fast-check generators, ./malformed-requests.ts)
 * across every route of `builtinRoutes()` against a real `openkv serve` process, over HTTP/1.1 (raw
 * bytes, the head itself sometimes broken) and HTTP/2. For every answer: never a 5xx, never a stack
 * trace, SQL or a JavaScript engine message in the body; the process never exits; nothing logged as an
 * internal error. Phase by phase, with no token, a read-only token and a write token scoped to one
 * namespace, nothing the token may not change changes (a snapshot of the store before and after). After
 * the admin phase, whatever the requests stored can still be listed and read on every API and exported.
 *
 * CI runs MALFORMED_RUNS (default 5,000) requests; `npm run test:malformed` runs 100,000.
 * Reproduce a failure with the seed it prints: MALFORMED_SEED=<seed> node --test test/e2e/malformed-http.test.ts
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { connect as h2connect } from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import fc from "fast-check";
import { builtinRoutes } from "../../src/server/server.ts";
import { anyRequest, describe, http1Bytes, http2Headers, knownHostile, type FuzzContext, type FuzzRequest } from "./malformed-requests.ts";
import { sendHttp1, sendHttp2, UnsendableError, type Answer } from "./raw-http.ts";
import { startChildServer, type ChildServer } from "./serve-child.ts";

const RUNS = Number(process.env.MALFORMED_RUNS ?? 5_000);
const SEED = Number(process.env.MALFORMED_SEED ?? 20_261_130);
const ADMIN = "okv_malformed_admin_token_0123456789";
const ACCOUNT = "0123456789abcdef0123456789abcdef";
/** A request the server has not answered within this is a hang (the framing is always complete). */
const ANSWER_TIMEOUT_MS = 15_000;

/** What must never reach a client: stack frames, source positions, SQL and SQLite, JavaScript engine messages. */
const LEAKS = [
  /^\s*at .*(?:file:|node:|\/)[^\s)]*:\d+:\d+\)?$/m,
  /\.[cm]?[jt]s:\d+:\d+/,
  /SQLITE_[A-Z]+|no such (?:table|column)|SQL logic error|UNIQUE constraint|database is locked|near ".*": syntax error/i,
  /\b(?:SELECT\b[\s\S]*\bFROM|INSERT INTO|DELETE FROM|CREATE TABLE|WITHOUT ROWID)\b/,
  /Cannot read propert|is not a function|is not iterable|Maximum call stack|Converting circular structure|Invalid array length|Unexpected end of JSON|in JSON at position/,
];

interface Tally {
  sent: number;
  byClass: Record<string, number>;
  http2: number;
  unsendable: number;
  streams: number;
}

const failures: string[] = [];
const tally: Tally = { sent: 0, byClass: {}, http2: 0, unsendable: 0, streams: 0 };

/** Inputs can be echoed in error messages ("Key not found: …"): a leak is a match the request did not carry. */
function leakIn(body: string, req: FuzzRequest): string | null {
  const sent = Buffer.concat([http1Bytes(req)]).toString("latin1");
  const echoable = [sent, Buffer.from(sent, "latin1").toString("utf8"), sent.replace(/%([0-9a-f]{2})/gi, (_, h: string) => String.fromCharCode(parseInt(h, 16)))];
  for (const pattern of LEAKS) {
    const m = pattern.exec(body);
    if (m && !echoable.some((e) => e.includes(m[0]))) return m[0];
  }
  return null;
}

async function send(server: ChildServer, session: ReturnType<typeof h2connect>, req: FuzzRequest): Promise<Answer | null> {
  if (req.transport === "h2") {
    const headers = http2Headers(req);
    if (headers === null || session.closed || session.destroyed) {
      tally.unsendable++;
      return null;
    }
    try {
      const answer = await sendHttp2(session, headers, req.body, ANSWER_TIMEOUT_MS);
      tally.http2++;
      return answer;
    } catch (e) {
      if (!(e instanceof UnsendableError)) throw e;
      tally.unsendable++;
      return null;
    }
  }
  return sendHttp1(server.port, http1Bytes(req), { headRequest: req.method === "HEAD", timeoutMs: ANSWER_TIMEOUT_MS });
}

function check(req: FuzzRequest, answer: Answer | null, phase: string, index: number): void {
  tally.sent++;
  if (answer === null) return;
  const cls = answer.status === null ? "closed" : `${Math.floor(answer.status / 100)}xx`;
  tally.byClass[cls] = (tally.byClass[cls] ?? 0) + 1;
  if (answer.streamed) tally.streams++;
  const problems: string[] = [];
  if (answer.status !== null && answer.status >= 500) problems.push(`status ${answer.status}`);
  const leak = leakIn(answer.body.toString("utf8"), req);
  if (leak) problems.push(`leaks ${JSON.stringify(leak)}`);
  if (problems.length > 0) {
    failures.push(`[${phase} #${index}] ${problems.join(", ")}: ${answer.body.toString("utf8").slice(0, 300)}\n${describe(req)}`);
  }
}

async function api(server: ChildServer, path: string): Promise<unknown> {
  const r = await fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${ADMIN}` } });
  const text = await r.text();
  assert.equal(r.status, 200, `GET ${path}: ${r.status} ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

/** Every namespace, token and entry (values, versionstamps, expiry) as the server reports them. */
async function snapshot(server: ChildServer, without: string[] = []): Promise<Record<string, unknown>> {
  const namespaces: { id: string; title: string }[] = [];
  for (let page = 1; ; page++) {
    const r = (await api(server, `/client/v4/accounts/${ACCOUNT}/storage/kv/namespaces?per_page=1000&page=${page}`)) as { result: { id: string; title: string }[] };
    if (r.result.length === 0) break;
    namespaces.push(...r.result);
  }
  const entries: Record<string, unknown[]> = {};
  for (const ns of namespaces) {
    if (without.includes(ns.id)) continue;
    entries[ns.id] = [];
    let cursor: string | null = null;
    do {
      const page = (await api(server, `/ns/${ns.id}/kv?list=true&limit=1000${cursor ? `&cursor=${cursor}` : ""}`)) as { entries: unknown[]; cursor: string | null };
      entries[ns.id]!.push(...page.entries);
      cursor = page.cursor;
    } while (cursor);
  }
  return { namespaces: namespaces.map((n) => ({ id: n.id, title: n.title })).sort((a, b) => a.id.localeCompare(b.id)), tokens: await api(server, "/admin/tokens"), entries };
}

async function seed(server: ChildServer): Promise<FuzzContext & { scoped: string; reader: string }> {
  const call = async (method: string, path: string, body: string | FormData, type?: string) => {
    const r = await fetch(`${server.url}${path}`, { method, headers: { authorization: `Bearer ${ADMIN}`, ...(type ? { "content-type": type } : {}) }, body });
    const text = await r.text();
    assert.ok(r.status < 300, `${method} ${path}: ${r.status} ${text}`);
    return JSON.parse(text) as Record<string, unknown>;
  };
  const NS = `/client/v4/accounts/${ACCOUNT}/storage/kv/namespaces`;
  const created = await Promise.all(["fuzz-a", "fuzz-b"].map((title) => call("POST", NS, JSON.stringify({ title }), "application/json")));
  const ids = created.map((c) => (c.result as { id: string }).id);
  const def = ((await api(server, `${NS}?per_page=1000`)) as { result: { id: string; title: string }[] }).result.find((n) => n.title === "default")!;
  const keys = ["k1", "k2", "héllo", "a/b", "users"];
  for (const id of [def.id, ...ids]) {
    for (const k of keys) {
      const form = new FormData();
      form.set("value", `value of ${k}`);
      form.set("metadata", JSON.stringify({ k }));
      await call("PUT", `${NS}/${id}/values/${encodeURIComponent(k)}`, form);
      await call("PUT", `/ns/${id}/kv/${encodeURIComponent(k)}.child`, JSON.stringify({ value: { k, n: [1, 2] } }), "application/json");
    }
  }
  const token = async (body: object) => (await call("POST", "/admin/tokens", JSON.stringify(body), "application/json")).token as string;
  return {
    accountId: ACCOUNT,
    namespaces: [def, ...ids.map((id, i) => ({ id, title: ["fuzz-a", "fuzz-b"][i]! }))],
    token: null,
    keys,
    reader: await token({ name: "reader", permission: "read" }),
    scoped: await token({ name: "scoped", namespaces: ["fuzz-a"], permission: "write" }),
  };
}

async function runPhase(server: ChildServer, ctx: FuzzContext, name: string, runs: number, seed: number, first: FuzzRequest[] = []): Promise<void> {
  const requests = [...first, ...fc.sample(anyRequest(builtinRoutes(), ctx), { seed, numRuns: runs })];
  const session = h2connect(server.url);
  session.on("error", () => {});
  try {
    // A few in flight at once, in a fixed order, so a run is reproducible from its seed.
    const inFlight = 4;
    for (let i = 0; i < requests.length; i += inFlight) {
      const batch = requests.slice(i, i + inFlight);
      const answers = await Promise.all(
        batch.map((req, j) =>
          send(server, session, req).catch((e: unknown) => {
            failures.push(`[${name} #${i + j}] ${e instanceof Error ? e.message : String(e)}\n${describe(req)}`);
            return null;
          }),
        ),
      );
      batch.forEach((req, j) => check(req, answers[j]!, name, i + j));
      assert.ok(server.alive(), `the server exited during the ${name} phase, near request #${i}:\n${server.stderr()}\n${batch.map(describe).join("\n")}`);
      if (failures.length >= 20) break;
    }
  } finally {
    session.destroy();
  }
}

test(`${RUNS} malformed requests on every route: no 5xx, no crash, no leak, no change a token may not make`, { timeout: 600_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "openkv-malformed-"));
  const server = await startChildServer({ dataDir: dir, adminToken: ADMIN, accountId: ACCOUNT, durability: "process" });
  t.after(async () => {
    await server.kill();
    rmSync(dir, { recursive: true, force: true });
  });
  const started = performance.now();
  const ctx = await seed(server);
  const fuzzA = ctx.namespaces[1]!.id;
  const phases = [
    { name: "no or a bad token", token: null, share: 0.1, keep: [] as string[] | null },
    { name: "read-only token", token: ctx.reader, share: 0.25, keep: [] },
    { name: "write token scoped to fuzz-a", token: ctx.scoped, share: 0.2, keep: [fuzzA] },
    { name: "admin token", token: ADMIN, share: 0.45, keep: null },
  ];
  for (const [i, phase] of phases.entries()) {
    const before = phase.keep ? await snapshot(server, phase.keep) : null;
    const phaseCtx = { ...ctx, token: phase.token };
    await runPhase(server, phaseCtx, phase.name, Math.round(RUNS * phase.share), SEED + i, phase.token === ADMIN ? knownHostile(phaseCtx) : []);
    assert.deepEqual(failures, [], `seed ${SEED}: ${failures.length} failures\n\n${failures.join("\n\n")}`);
    if (before) assert.deepEqual(await snapshot(server, phase.keep!), before, `the ${phase.name} phase changed data it may not`);
  }

  // Whatever the admin phase stored can be listed and read on every API (snapshot lists it over /kv),
  // and exported.
  const after = await snapshot(server);
  const NS = `/client/v4/accounts/${ACCOUNT}/storage/kv/namespaces`;
  for (const ns of after.namespaces as { id: string }[]) {
    const names: string[] = [];
    let cursor = "";
    do {
      const page = (await api(server, `${NS}/${ns.id}/keys?limit=1000${cursor ? `&cursor=${cursor}` : ""}`)) as { result: { name: string }[]; result_info: { cursor: string } };
      names.push(...page.result.map((k) => k.name));
      cursor = page.result_info.cursor;
    } while (cursor);
    for (const name of names.slice(0, 300)) {
      const r = await fetch(`${server.url}${NS}/${ns.id}/values/${encodeURIComponent(name)}`, { headers: { authorization: `Bearer ${ADMIN}` } });
      const text = await r.text();
      assert.ok(r.status < 500, `REST v4 GET ${JSON.stringify(name)} in ${ns.id}: ${r.status} ${text}`);
    }
    for (let i = 0; i < Math.min(names.length, 300); i += 100) {
      for (const type of ["text", "json"]) {
        const r = await fetch(`${server.url}${NS}/${ns.id}/bulk/get`, {
          method: "POST",
          headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
          body: JSON.stringify({ keys: names.slice(i, i + 100), type, withMetadata: true }),
        });
        const text = await r.text();
        assert.ok(r.status < 500, `bulk get (${type}) in ${ns.id}: ${r.status} ${text.slice(0, 300)}`);
        assert.equal(leakIn(text, { route: "", broken: [], method: "", path: "", headers: [], body: new Uint8Array(0), transport: "h1", headMutations: [] }), null, text.slice(0, 300));
      }
    }
  }
  assert.ok(server.alive());
  assert.doesNotMatch(server.stderr(), /internal error/, "nothing was logged as an internal error");
  const stopped = await server.stop();
  assert.equal(stopped.code, 0, `a clean stop after the run:\n${server.stderr()}`);
  const exported = await promisify(execFile)(process.execPath, ["--no-warnings=ExperimentalWarning", join(import.meta.dirname, "..", "..", "src", "cli", "main.ts"), "export", "--persist-to", dir, "--output", join(dir, "all.ndjson")]).then(
    () => "ok",
    (e: Error & { stderr?: string }) => e.stderr ?? e.message,
  );
  assert.equal(exported, "ok", "openkv export reads everything that was stored");

  const seconds = (performance.now() - started) / 1000;
  t.diagnostic(
    `malformed-http: seed ${SEED}, ${tally.sent} requests (${tally.http2} over HTTP/2, ${tally.unsendable} not sendable over HTTP/2) in ${seconds.toFixed(1)} s; ` +
      `answers ${JSON.stringify(tally.byClass)}; ${tally.streams} streams; 0 × 5xx, 0 crashes, 0 leaks`,
  );
});
