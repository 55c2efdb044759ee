// The Metrics tab and the namespace list's storage figures, both from the Cloudflare GraphQL Analytics
// API (`POST /client/v4/graphql`, datasets kvOperationsAdaptiveGroups and kvStorageAdaptiveGroups) —
// the same queries a Cloudflare client sends. A server without that endpoint answers 404: then the tab
// says so and the list shows "—".
import { useEffect, useRef, useState } from "preact/hooks";
import uPlot from "uplot";
import { request } from "./api.js";
import { html } from "./html.js";
import { formatBytes } from "./typed.js";

const NOT_AVAILABLE = "Analytics are not available on this server";
const DAY = 86_400_000;

/** Window → its length and the time dimension its points are grouped by. */
export const WINDOWS = {
  "1h": { ms: 3_600_000, dim: "datetimeMinute", step: 60_000 },
  "24h": { ms: DAY, dim: "datetimeHour", step: 3_600_000 },
  "7d": { ms: 7 * DAY, dim: "datetimeHour", step: 3_600_000 },
  // Cloudflare refuses anything older than 2678400 s (31 days): start a minute inside it.
  "31d": { ms: 31 * DAY - 60_000, dim: "date", step: DAY },
};

class Unavailable extends Error {}

async function graphql(query, variables) {
  let res;
  try {
    res = await request("POST", "/client/v4/graphql", { query, variables });
  } catch (e) {
    if (e.status === 404) throw new Unavailable(NOT_AVAILABLE);
    throw e;
  }
  const body = await res.json();
  if (body.errors?.length) throw new Error(body.errors.map((e) => e.message).join("; "));
  return body.data;
}

/** The newest keyCount/byteCount of every namespace the token sees, or null without analytics. */
export async function storageByNamespace(accountTag) {
  const query = `query Storage($accountTag: string!, $since: Date!) {
  viewer { accounts(filter: {accountTag: $accountTag}) {
    kvStorageAdaptiveGroups(filter: {date_geq: $since}, limit: 10000, orderBy: [date_DESC]) {
      max { keyCount byteCount }
      dimensions { namespaceId date }
    }
  } }
}`;
  const since = new Date(Date.now() - 30 * DAY).toISOString().slice(0, 10);
  try {
    const data = await graphql(query, { accountTag, since });
    const out = new Map();
    for (const row of data.viewer.accounts[0]?.kvStorageAdaptiveGroups ?? []) {
      if (!out.has(row.dimensions.namespaceId)) out.set(row.dimensions.namespaceId, row.max);
    }
    return out;
  } catch {
    return null;
  }
}

function metricsQuery(dim) {
  const timeType = dim === "date" ? "Date" : "Time";
  return `query NamespaceMetrics($accountTag: string!, $namespaceId: string!, $start: ${timeType}!, $end: ${timeType}!) {
  viewer { accounts(filter: {accountTag: $accountTag}) {
    operations: kvOperationsAdaptiveGroups(filter: {namespaceId: $namespaceId, ${dim}_geq: $start, ${dim}_leq: $end}, limit: 10000, orderBy: [${dim}_ASC]) {
      sum { requests }
      dimensions { ${dim} actionType }
    }
    latency: kvOperationsAdaptiveGroups(filter: {namespaceId: $namespaceId, ${dim}_geq: $start, ${dim}_leq: $end}, limit: 10000, orderBy: [${dim}_ASC]) {
      quantiles { latencyMsP50 latencyMsP90 latencyMsP99 }
      dimensions { ${dim} }
    }
    storage: kvStorageAdaptiveGroups(filter: {namespaceId: $namespaceId, ${dim}_geq: $start, ${dim}_leq: $end}, limit: 10000, orderBy: [${dim}_ASC]) {
      max { keyCount byteCount }
      dimensions { ${dim} }
    }
  } }
}`;
}

const toTime = (dim, ms) => (dim === "date" ? new Date(ms).toISOString().slice(0, 10) : new Date(ms).toISOString().replace(/\.\d+Z$/, "Z"));

/** The rows as uPlot columns on one time axis (seconds), one point per step, gaps as 0 or null. */
function series(rows, dim, step, start, end, pick) {
  const t0 = Math.floor(start / step) * step;
  const xs = [];
  for (let t = t0; t <= end; t += step) xs.push(t / 1000);
  const index = new Map(xs.map((x, i) => [x * 1000, i]));
  const cols = pick.names.map(() => xs.map(() => pick.fill));
  for (const row of rows) {
    const at = Date.parse(row.dimensions[dim]);
    const i = index.get(Math.floor(at / step) * step);
    if (i === undefined) continue;
    pick.values(row).forEach(([name, v]) => {
      const c = pick.names.indexOf(name);
      if (c !== -1) cols[c][i] = (cols[c][i] ?? 0) + Number(v);
    });
  }
  // A gauge (keys, bytes) holds its value until the next sample: carry it forward.
  if (pick.carry) {
    for (const col of cols) {
      for (let i = 1; i < col.length; i++) if (col[i] === null) col[i] = col[i - 1];
    }
  }
  return [xs, ...cols];
}

const COLORS = ["#2563eb", "#16a34a", "#dc2626", "#9333ea", "#ea580c"];

function Chart({ title, data, names, format }) {
  const ref = useRef(null);
  useEffect(() => {
    const opts = {
      title,
      width: Math.min(900, (ref.current.parentElement?.clientWidth || 900) - 8),
      height: 220,
      // Points drawn too: a window with one busy minute is one point, which a line alone would hide.
      series: [{}, ...names.map((n, i) => ({ label: n, stroke: COLORS[i % COLORS.length], width: 2, points: { show: true, size: 5 }, ...(format ? { value: (_, v) => (v === null ? "—" : format(v)) } : {}) }))],
      axes: [{}, format ? { values: (_, vals) => vals.map(format) } : {}],
    };
    const plot = new uPlot(opts, data, ref.current);
    return () => plot.destroy();
  }, [data]);
  return html`<div class="chart" data-testid=${`chart-${title}`} ref=${ref}></div>`;
}

export function Metrics({ me, ns }) {
  const [win, setWin] = useState("24h");
  const [state, setState] = useState({ loading: true });
  useEffect(() => {
    const { ms, dim, step } = WINDOWS[win];
    const end = Date.now();
    const start = end - ms;
    setState({ loading: true });
    // A window picked while an earlier one was loading: the earlier answer must not replace this one.
    let current = true;
    graphql(metricsQuery(dim), { accountTag: me.accountId, namespaceId: ns.id, start: toTime(dim, start), end: toTime(dim, end) })
      .then((data) => {
        if (!current) return;
        const acc = data.viewer.accounts[0] ?? { operations: [], latency: [], storage: [] };
        const kinds = ["read", "write", "delete", "list"];
        const ops = series(acc.operations, dim, step, start, end, { names: kinds, fill: 0, values: (r) => [[r.dimensions.actionType, r.sum.requests]] });
        const qs = ["P50", "P90", "P99"];
        const latency = series(acc.latency, dim, step, start, end, { names: qs, fill: null, values: (r) => qs.map((q) => [q, r.quantiles[`latencyMs${q}`]]) });
        const keys = series(acc.storage, dim, step, start, end, { names: ["keys"], fill: null, carry: true, values: (r) => [["keys", r.max.keyCount]] });
        const bytes = series(acc.storage, dim, step, start, end, { names: ["bytes"], fill: null, carry: true, values: (r) => [["bytes", r.max.byteCount]] });
        const total = acc.operations.reduce((n, r) => n + Number(r.sum.requests), 0);
        const byKind = kinds.map((k) => [k, acc.operations.filter((r) => r.dimensions.actionType === k).reduce((n, r) => n + Number(r.sum.requests), 0)]);
        setState({ ops, latency, keys, bytes, total, byKind, win });
      })
      .catch((e) => current && setState({ error: e.message, unavailable: e instanceof Unavailable }));
    return () => {
      current = false;
    };
  }, [win]);
  return html`<div class="metrics">
    <div class="row" role="group" aria-label="Time window">
      ${Object.keys(WINDOWS).map((w) => html`<button class=${w === win ? "active" : ""} aria-pressed=${w === win} onClick=${() => setWin(w)}>${w}</button>`)}
    </div>
    ${state.loading && html`<p>Loading…</p>`}
    ${state.error && html`<p class=${state.unavailable ? "notice" : "error"} role="status" data-testid="metrics-message">${state.error}</p>`}
    ${state.ops &&
    html`<p data-testid="metrics-total" data-window=${state.win}>${state.total} operations in the last ${state.win}${state.total > 0 ? ": " + state.byKind.filter(([, n]) => n > 0).map(([k, n]) => `${n} ${k}`).join(", ") : ""}.</p>
      <${Chart} title="Operations by type" data=${state.ops} names=${["read", "write", "delete", "list"]} />
      <${Chart} title="Latency (ms)" data=${state.latency} names=${["P50", "P90", "P99"]} />
      <${Chart} title="Keys" data=${state.keys} names=${["keys"]} />
      <${Chart} title="Bytes" data=${state.bytes} names=${["bytes"]} format=${formatBytes} />`}
  </div>`;
}
