// The dashboard: sign in with a token, then namespaces (with their KV pairs, metrics and connect
// snippets) and, for the admin token, tokens. Every value is rendered as text (htm/Preact children are
// text nodes); nothing here builds HTML from strings.
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { html } from "./html.js";
import { allNamespaces, cf, getJson, guarded, request, session } from "./api.js";
import { KvBrowser } from "./kv.js";
import { Metrics, storageByNamespace } from "./metrics.js";
import { Connect } from "./connect.js";
import { formatBytes } from "./typed.js";

function SignIn({ onSignedIn, error }) {
  const [token, setToken] = useState("");
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState(error ?? null);
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    session.token = token.trim();
    try {
      onSignedIn(await getJson("/_openkv/v1/dashboard/session"));
    } catch (err) {
      session.token = null;
      setMessage(err.message);
    } finally {
      setBusy(false);
    }
  };
  return html`<main class="signin">
    <h1>OpenKV</h1>
    <form onSubmit=${submit}>
      <label>API token <input type="password" name="token" autocomplete="off" value=${token} onInput=${(e) => setToken(e.target.value)} /></label>
      <button type="submit" disabled=${busy || token.trim() === ""}>Sign in</button>
      ${message && html`<p class="error" role="alert">${message}</p>`}
      <p class="hint">The admin token is in <code>.openkv/admin-token</code>. It stays in this tab's session storage and is sent only as an Authorization header.</p>
    </form>
  </main>`;
}

function ConfirmDelete({ ns, onDone, onCancel }) {
  const [typed, setTyped] = useState("");
  const [error, setError] = useState(null);
  const remove = async () => {
    try {
      await cf("DELETE", `/accounts/${ns.accountId}/storage/kv/namespaces/${ns.id}`);
      onDone();
    } catch (e) {
      setError(e.message);
    }
  };
  return html`<div class="confirm" data-testid="confirm-delete-namespace">
    <p>Delete the namespace <strong>${ns.title}</strong> and every entry in it? Type its name to confirm.</p>
    <input aria-label="Type the namespace name" value=${typed} onInput=${(e) => setTyped(e.target.value)} />
    <button class="danger" disabled=${typed !== ns.title} onClick=${remove}>Delete namespace</button>
    <button onClick=${onCancel}>Cancel</button>
    ${error && html`<p class="error" role="alert">${error}</p>`}
  </div>`;
}

function Namespaces({ me, onOpen }) {
  const [list, setList] = useState(null);
  const [storage, setStorage] = useState(null);
  const [title, setTitle] = useState("");
  const [error, setError] = useState(null);
  const [renaming, setRenaming] = useState(null);
  const [deleting, setDeleting] = useState(null);
  const base = `/accounts/${me.accountId}/storage/kv/namespaces`;
  const load = guarded(setError, async () => {
    setList(await allNamespaces(me.accountId));
    setStorage(await storageByNamespace(me.accountId));
  });
  useEffect(() => void load(), []);
  const create = guarded(setError, async (e) => {
    e.preventDefault();
    await cf("POST", base, { title: title.trim() });
    setTitle("");
    await load();
  });
  const rename = guarded(setError, async (e) => {
    e.preventDefault();
    await cf("PUT", `${base}/${renaming.id}`, { title: renaming.title.trim() });
    setRenaming(null);
    await load();
  });
  const stat = (id, field) => {
    const s = storage?.get(id);
    if (!s) return "—";
    return field === "keyCount" ? String(s.keyCount) : formatBytes(Number(s.byteCount));
  };
  return html`<section>
    <h2>Namespaces</h2>
    ${me.canManage &&
    html`<form class="row" onSubmit=${create}>
      <input aria-label="New namespace title" placeholder="New namespace title" value=${title} onInput=${(e) => setTitle(e.target.value)} />
      <button type="submit" disabled=${title.trim() === ""}>Create namespace</button>
    </form>`}
    ${error && html`<p class="error" role="alert">${error}</p>`}
    ${list === null
      ? html`<p>Loading…</p>`
      : html`<table class="namespaces">
          <thead><tr><th>Title</th><th>ID</th><th>Keys</th><th>Size</th><th></th></tr></thead>
          <tbody>
            ${list.map(
              (ns) => html`<tr key=${ns.id} data-namespace=${ns.title}>
                <td>
                  ${renaming?.id === ns.id
                    ? html`<form class="row" onSubmit=${rename}>
                        <input aria-label="New title" value=${renaming.title} onInput=${(e) => setRenaming({ ...renaming, title: e.target.value })} />
                        <button type="submit">Save</button><button type="button" onClick=${() => setRenaming(null)}>Cancel</button>
                      </form>`
                    : html`<a href="#" class="ns-title" onClick=${(e) => (e.preventDefault(), onOpen(ns, "kv"))}>${ns.title}</a>`}
                </td>
                <td><code>${ns.id}</code></td>
                <td class="num">${stat(ns.id, "keyCount")}</td>
                <td class="num">${stat(ns.id, "byteCount")}</td>
                <td class="actions">
                  <button onClick=${() => onOpen(ns, "kv")}>KV pairs</button>
                  <button onClick=${() => onOpen(ns, "metrics")}>Metrics</button>
                  <button onClick=${() => onOpen(ns, "connect")}>Connect</button>
                  ${me.canManage &&
                  html`<button onClick=${() => setRenaming({ id: ns.id, title: ns.title })}>Rename</button>
                    <button class="danger" onClick=${() => setDeleting(ns)}>Delete</button>`}
                </td>
              </tr>
              ${deleting?.id === ns.id &&
              html`<tr key=${ns.id + "-confirm"}><td colspan="5">
                <${ConfirmDelete} ns=${{ ...ns, accountId: me.accountId }} onCancel=${() => setDeleting(null)} onDone=${() => (setDeleting(null), load())} />
              </td></tr>`}`,
            )}
          </tbody>
        </table>`}
  </section>`;
}

function Copy({ text, label = "Copy" }) {
  const [done, setDone] = useState(false);
  const copy = async () => {
    await navigator.clipboard.writeText(text);
    setDone(true);
  };
  return html`<button type="button" onClick=${copy}>${done ? "Copied" : label}</button>`;
}

function Tokens({ me }) {
  const [tokens, setTokens] = useState(null);
  const [namespaces, setNamespaces] = useState([]);
  const [form, setForm] = useState({ name: "", permission: "read", namespaces: [] });
  const [created, setCreated] = useState(null);
  const [error, setError] = useState(null);
  const load = guarded(setError, async () => {
    setTokens((await getJson("/admin/tokens")).tokens);
    setNamespaces(await allNamespaces(me.accountId));
  });
  useEffect(() => void load(), []);
  const create = guarded(setError, async (e) => {
    e.preventDefault();
    const body = { name: form.name.trim(), permission: form.permission, namespaces: form.namespaces.length ? form.namespaces : null };
    const res = await (await request("POST", "/admin/tokens", body)).json();
    setCreated(res);
    setForm({ name: "", permission: "read", namespaces: [] });
    await load();
  });
  const revoke = guarded(setError, async (t) => {
    if (!confirm(`Revoke the token "${t.name}"? Programs using it stop working within a second.`)) return;
    await request("DELETE", `/admin/tokens/${encodeURIComponent(t.id)}`);
    await load();
  });
  const title = (id) => namespaces.find((n) => n.id === id)?.title ?? id;
  const selected = (e) => Array.from(e.target.selectedOptions, (o) => o.value);
  return html`<section>
    <h2>Tokens</h2>
    <form class="token-form" onSubmit=${create}>
      <label>Name <input name="token-name" value=${form.name} onInput=${(e) => setForm({ ...form, name: e.target.value })} /></label>
      <label>Permission
        <select name="token-permission" value=${form.permission} onChange=${(e) => setForm({ ...form, permission: e.target.value })}>
          <option value="read">read</option><option value="write">read-write</option>
        </select>
      </label>
      <label>Namespaces (none selected = all)
        <select name="token-namespaces" multiple onChange=${(e) => setForm({ ...form, namespaces: selected(e) })}>
          ${namespaces.map((n) => html`<option value=${n.id} selected=${form.namespaces.includes(n.id)}>${n.title}</option>`)}
        </select>
      </label>
      <button type="submit" disabled=${form.name.trim() === ""}>Create token</button>
    </form>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    ${created &&
    html`<div class="created" data-testid="created-token">
      <p>The token <strong>${created.name}</strong> — shown once; copy it now:</p>
      <code class="secret">${created.token}</code> <${Copy} text=${created.token} />
      <button onClick=${() => setCreated(null)}>Done</button>
    </div>`}
    ${tokens &&
    html`<table class="tokens">
      <thead><tr><th>Name</th><th>ID</th><th>Permission</th><th>Namespaces</th><th>Created</th><th></th></tr></thead>
      <tbody>
        ${tokens.map(
          (t) => html`<tr key=${t.id} data-token=${t.name}>
            <td>${t.name}</td><td><code>${t.id}</code></td><td>${t.permission === "write" ? "read-write" : "read"}</td>
            <td>${t.namespaces === null ? "all" : t.namespaces.map(title).join(", ")}</td>
            <td>${new Date(t.createdAt).toISOString()}</td>
            <td><button class="danger" onClick=${() => revoke(t)}>Revoke</button></td>
          </tr>`,
        )}
      </tbody>
    </table>`}
  </section>`;
}

function NamespacePage({ me, ns, tab, setTab, back }) {
  return html`<section>
    <p class="crumbs"><a href="#" onClick=${(e) => (e.preventDefault(), back())}>Namespaces</a> › <strong>${ns.title}</strong> <code>${ns.id}</code></p>
    <nav class="tabs">
      ${[["kv", "KV pairs"], ["metrics", "Metrics"], ["connect", "Connect"]].map(
        ([id, label]) => html`<button class=${tab === id ? "active" : ""} aria-pressed=${tab === id} onClick=${() => setTab(id)}>${label}</button>`,
      )}
    </nav>
    ${tab === "kv" && html`<${KvBrowser} me=${me} ns=${ns} />`}
    ${tab === "metrics" && html`<${Metrics} me=${me} ns=${ns} />`}
    ${tab === "connect" && html`<${Connect} me=${me} ns=${ns} />`}
  </section>`;
}

function App() {
  const [me, setMe] = useState(null);
  const [checking, setChecking] = useState(session.token !== null);
  const [view, setView] = useState({ page: "namespaces" });
  useEffect(() => {
    if (!session.token) return;
    getJson("/_openkv/v1/dashboard/session")
      .then(setMe, () => (session.token = null))
      .finally(() => setChecking(false));
  }, []);
  if (checking) return html`<p>Loading…</p>`;
  if (!me) return html`<${SignIn} onSignedIn=${setMe} />`;
  const signOut = () => {
    session.token = null;
    setMe(null);
    setView({ page: "namespaces" });
  };
  const role = me.isAdmin ? "admin" : `${me.permission === "write" ? "read-write" : "read-only"} token${me.namespaces ? ", some namespaces" : ""}`;
  return html`<div class="shell">
    <header>
      <strong class="brand">OpenKV</strong>
      <nav>
        <button class=${view.page !== "tokens" ? "active" : ""} onClick=${() => setView({ page: "namespaces" })}>Namespaces</button>
        ${me.isAdmin && html`<button class=${view.page === "tokens" ? "active" : ""} onClick=${() => setView({ page: "tokens" })}>Tokens</button>`}
      </nav>
      <span class="who">Signed in as <strong>${me.name}</strong> (${role})</span>
      <button onClick=${signOut}>Sign out</button>
    </header>
    <main>
      ${view.page === "namespaces" && html`<${Namespaces} me=${me} onOpen=${(ns, tab) => setView({ page: "namespace", ns, tab })} />`}
      ${view.page === "namespace" &&
      html`<${NamespacePage} me=${me} ns=${view.ns} tab=${view.tab} setTab=${(tab) => setView({ ...view, tab })} back=${() => setView({ page: "namespaces" })} />`}
      ${view.page === "tokens" && html`<${Tokens} me=${me} />`}
    </main>
  </div>`;
}

render(html`<${App} />`, document.getElementById("app"));
