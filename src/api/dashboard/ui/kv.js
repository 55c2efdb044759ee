// The KV pairs tab: walk tuple keys by prefix (breadcrumb and tree), page to the end, view and edit
// values by encoding, delete (one, selected, by prefix after a dry-run count), export and import NDJSON.
import { useEffect, useRef, useState } from "preact/hooks";
import { dash, guarded, request } from "./api.js";
import { html } from "./html.js";
import { bytesToHex, editorOf, formatBytes, hexToBytes, keyLabel, MODES, partLabel, partOf, valueOf } from "./typed.js";

const PAGE = 1000;
/** Hex shown in the editor at most; larger byte values are downloaded or replaced by a file. */
const MAX_HEX_CHARS = 128 * 1024;
const PART_TYPES = ["string", "number", "bigint", "boolean", "Uint8Array"];

const idOf = (key) => JSON.stringify(key);

function download(name, blob) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function Progress({ progress }) {
  if (!progress) return null;
  return html`<div class="progress" data-testid="progress">
    <span>${progress.label}</span>
    <progress value=${progress.done} max=${progress.total || 1}></progress>
    <span>${progress.done} / ${progress.total ?? "?"}</span>
  </div>`;
}

function Editor({ me, ns, entry, prefix, onClose, onSaved }) {
  const initial = entry ? editorOf(entry.value) : { mode: "text", text: "" };
  const [parts, setParts] = useState(entry ? null : [...prefix.map((p) => ({ type: p.type, text: String(p.value) })), { type: "string", text: "" }]);
  const [mode, setMode] = useState(initial.mode);
  const [text, setText] = useState(initial.text);
  const [metadata, setMetadata] = useState(entry && entry.metadata !== null ? JSON.stringify(entry.metadata) : "");
  const [expires, setExpires] = useState(entry && entry.expiresAt !== null ? new Date(entry.expiresAt).toISOString() : "");
  const [error, setError] = useState(null);
  const [conflict, setConflict] = useState(null);
  const readOnly = !me.canWrite;
  const bigBytes = mode === "bytes" && text.length > MAX_HEX_CHARS;

  const keyOf = () => (entry ? entry.key : parts.map((p) => partOf(p.type, p.type === "string" ? p.text : p.text.trim())));
  const save = async (versionstamp) => {
    setError(null);
    try {
      const key = keyOf();
      const value = valueOf(mode, text);
      const body = {
        key,
        value,
        metadata: metadata.trim() === "" ? null : JSON.parse(metadata),
        expiresAt: expires.trim() === "" ? null : Date.parse(expires.trim()),
        versionstamp,
      };
      if (Number.isNaN(body.expiresAt)) throw new Error("Expires must be a date like 2030-01-01T00:00:00Z, or empty");
      const res = await dash(ns.id, "set", body);
      setConflict(null);
      onSaved(key, `Saved ${keyLabel(key)} (versionstamp ${res.versionstamp}).`);
    } catch (e) {
      if (e.status === 409) {
        // Someone wrote (or deleted) the entry since it was opened: show what it is now and ask.
        let current = null;
        try {
          current = await dash(ns.id, "get", { key: keyOf() });
        } catch (err) {
          if (err.status !== 404) throw err;
        }
        setConflict({ message: e.message, current });
      } else setError(e.message);
    }
  };
  const remove = async () => {
    if (!confirm(`Delete ${keyLabel(entry.key)}?`)) return;
    try {
      await dash(ns.id, "delete", { keys: [entry.key] });
      onSaved(null, `Deleted ${keyLabel(entry.key)}.`);
    } catch (e) {
      setError(e.message);
    }
  };
  const upload = async (e) => {
    const file = e.target.files[0];
    if (!file) return;
    setMode("bytes");
    setText(bytesToHex(new Uint8Array(await file.arrayBuffer())));
  };
  const downloadBytes = () => download(`${entry ? keyLabel(entry.key) : "value"}.bin`, new Blob([hexToBytes(text.replace(/\s+/g, ""))]));
  const setPart = (i, field, v) => setParts(parts.map((p, j) => (j === i ? { ...p, [field]: v } : p)));

  return html`<div class="editor" data-testid="editor">
    <h3>${entry ? (readOnly ? "View entry" : "Edit entry") : "Add entry"}</h3>
    ${entry
      ? html`<p class="key">Key <code data-testid="editor-key">${keyLabel(entry.key)}</code> · versionstamp <code>${entry.versionstamp}</code> · ${entry.encoding} · ${formatBytes(entry.size)}</p>`
      : html`<fieldset class="parts"><legend>Key parts</legend>
          ${parts.map(
            (p, i) => html`<div class="row" key=${i}>
              <select aria-label=${`Key part ${i + 1} type`} value=${p.type} onChange=${(e) => setPart(i, "type", e.target.value)}>
                ${PART_TYPES.map((t) => html`<option value=${t}>${t}</option>`)}
              </select>
              <input aria-label=${`Key part ${i + 1}`} value=${p.text} onInput=${(e) => setPart(i, "text", e.target.value)} />
              ${parts.length > 1 && html`<button type="button" onClick=${() => setParts(parts.filter((_, j) => j !== i))}>Remove part</button>`}
            </div>`,
          )}
          <button type="button" onClick=${() => setParts([...parts, { type: "string", text: "" }])}>Add key part</button>
        </fieldset>`}
    <div class="row">
      <label>Type
        <select name="value-type" value=${mode} disabled=${readOnly} onChange=${(e) => setMode(e.target.value)}>
          ${MODES.map(([id, label]) => html`<option value=${id}>${label}</option>`)}
        </select>
      </label>
      ${!readOnly && html`<label class="file">Upload a file as the value <input type="file" name="value-file" onChange=${upload} /></label>`}
      ${mode === "bytes" && text !== "" && html`<button type="button" onClick=${downloadBytes}>Download bytes</button>`}
    </div>
    ${bigBytes
      ? html`<p class="hint">${formatBytes(text.length / 2)} of bytes: too large to show as hex. Download it, or upload a file to replace it.</p>`
      : html`<textarea name="value" aria-label="Value" rows="10" readonly=${readOnly} value=${text} onInput=${(e) => setText(e.target.value)}></textarea>`}
    ${mode === "structured" && html`<p class="hint">Each value is {"type", "value"}: string, number, bigint ("12"), boolean, null, undefined, Date (ISO), RegExp, Array, object, Map ([[k, v]…]), Set, Uint8Array (hex).</p>`}
    <div class="row">
      <label>Metadata (JSON) <input name="metadata" value=${metadata} readonly=${readOnly} onInput=${(e) => setMetadata(e.target.value)} /></label>
      <label>Expires (ISO time, empty = never) <input name="expires" value=${expires} readonly=${readOnly} onInput=${(e) => setExpires(e.target.value)} /></label>
    </div>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    ${conflict &&
    html`<div class="conflict" role="alert" data-testid="conflict">
      <p>${conflict.message}. ${conflict.current ? html`It now holds: <code>${conflict.current.preview}</code> (versionstamp ${conflict.current.versionstamp}).` : "It has been deleted."}</p>
      <button class="danger" onClick=${() => save(conflict.current ? conflict.current.versionstamp : null)}>Overwrite</button>
      <button onClick=${() => setConflict(null)}>Keep editing</button>
    </div>`}
    <div class="row">
      ${!readOnly && html`<button class="primary" onClick=${() => save(entry ? entry.versionstamp : null)}>Save</button>`}
      ${!readOnly && entry && html`<button class="danger" onClick=${remove}>Delete</button>`}
      <button onClick=${onClose}>Close</button>
    </div>
  </div>`;
}

export function KvBrowser({ me, ns }) {
  const [prefix, setPrefix] = useState([]);
  const [search, setSearch] = useState("");
  const [startsWith, setStartsWith] = useState("");
  const [entries, setEntries] = useState([]);
  const [cursor, setCursor] = useState(null);
  const [children, setChildren] = useState({ parts: [], cursor: null });
  const [selected, setSelected] = useState(new Map());
  const [editing, setEditing] = useState(null);
  const [error, setError] = useState(null);
  const [notice, setNotice] = useState(null);
  const [progress, setProgress] = useState(null);
  const [prefixCount, setPrefixCount] = useState(null);
  const [loading, setLoading] = useState(false);
  /** The prefix (and search) whose entries the table shows now. */
  const [shown, setShown] = useState(null);

  const scope = { prefix, startsWith: startsWith || undefined };
  const scopeLabel = `${keyLabel(prefix)}${startsWith ? ` starting with "${startsWith}"` : ""}`;
  // Only the latest load may set the list: an older one answering late (the prefix changed meanwhile)
  // would show another prefix's keys.
  const latest = useRef(0);
  const load = async (after) => {
    const mine = ++latest.current;
    setLoading(true);
    setError(null);
    try {
      const page = await dash(ns.id, "list", { ...scope, limit: PAGE, cursor: after ?? undefined });
      const c = after ? null : await dash(ns.id, "children", scope);
      if (mine !== latest.current) return;
      setEntries((old) => (after ? [...old, ...page.entries] : page.entries));
      setCursor(page.cursor);
      if (c) {
        setChildren({ parts: c.children, cursor: c.cursor });
        setSelected(new Map());
        setShown(scopeLabel);
      }
    } catch (e) {
      setError(e.message);
    } finally {
      setLoading(false);
    }
  };
  useEffect(() => void load(null), [prefix, startsWith]);

  const moreChildren = async () => {
    const c = await dash(ns.id, "children", { ...scope, cursor: children.cursor });
    setChildren({ parts: [...children.parts, ...c.children], cursor: c.cursor });
  };
  const walk = (parts) => {
    setSearch("");
    setStartsWith("");
    setPrefixCount(null);
    setNotice(null);
    setPrefix(parts);
  };
  const open = async (key) => {
    setError(null);
    try {
      setEditing({ entry: await dash(ns.id, "get", { key }) });
    } catch (e) {
      setError(e.message);
    }
  };
  const toggle = (e) =>
    setSelected((old) => {
      const next = new Map(old);
      if (next.has(idOf(e.key))) next.delete(idOf(e.key));
      else next.set(idOf(e.key), e.key);
      return next;
    });
  const deleteSelected = guarded(setError, async () => {
    if (!confirm(`Delete ${selected.size} selected entries?`)) return;
    const res = await dash(ns.id, "delete", { keys: [...selected.values()] });
    await load(null);
    setNotice(`Deleted ${res.deleted} entries.`);
  });
  const dryRun = guarded(setError, async () => setPrefixCount((await dash(ns.id, "delete-prefix", { ...scope, dryRun: true })).count));
  const deletePrefix = guarded(setError, async () => {
    const res = await dash(ns.id, "delete-prefix", { ...scope, dryRun: false });
    setPrefixCount(null);
    await load(null);
    setNotice(`Deleted ${res.deleted} entries.`);
  });
  const exportAll = async () => {
    try {
      const total = (await dash(ns.id, "count", scope)).count;
      setProgress({ label: "Exporting", done: 0, total });
      const res = await request("POST", `/_openkv/v1/dashboard/ns/${encodeURIComponent(ns.id)}/export`, scope);
      const reader = res.body.getReader();
      const chunks = [];
      let done = 0;
      for (;;) {
        const r = await reader.read();
        if (r.done) break;
        chunks.push(r.value);
        for (const b of r.value) if (b === 10) done++;
        setProgress({ label: "Exporting", done, total });
      }
      download(`${ns.title}.ndjson`, new Blob(chunks, { type: "application/x-ndjson" }));
      setNotice(`Exported ${done} entries.`);
    } catch (e) {
      setError(e.message);
    } finally {
      setProgress(null);
    }
  };
  const importFile = async (e) => {
    const file = e.target.files[0];
    e.target.value = "";
    if (!file) return;
    const lines = (await file.text()).split("\n").filter((l) => l.trim() !== "");
    let imported = 0;
    try {
      for (let i = 0; i < lines.length; ) {
        let size = 0;
        let j = i;
        while (j < lines.length && j - i < 1000 && size < 8 * 1024 * 1024) size += lines[j++].length + 1;
        setProgress({ label: "Importing", done: i, total: lines.length });
        const res = await request("POST", `/_openkv/v1/dashboard/ns/${encodeURIComponent(ns.id)}/import`, lines.slice(i, j).join("\n"), { raw: true, contentType: "application/x-ndjson" });
        imported += (await res.json()).imported;
        i = j;
      }
      await load(null);
      setNotice(`Imported ${imported} entries.`);
    } catch (err) {
      setError(`Import stopped after ${imported} entries: ${err.message}`);
    } finally {
      setProgress(null);
    }
  };

  return html`<div class="kv">
    <nav class="breadcrumb" aria-label="Key prefix">
      <button class="crumb" onClick=${() => walk([])}>(all keys)</button>
      ${prefix.map((p, i) => html`<span> › </span><button class="crumb" onClick=${() => walk(prefix.slice(0, i + 1))}>${partLabel(p)}</button>`)}
    </nav>
    <form class="row" onSubmit=${(e) => (e.preventDefault(), setStartsWith(search))}>
      <input aria-label="Key prefix search" placeholder="Key starts with…" value=${search} onInput=${(e) => setSearch(e.target.value)} />
      <button type="submit">Search</button>
      ${startsWith && html`<button type="button" onClick=${() => (setSearch(""), setStartsWith(""))}>Clear</button>`}
    </form>
    <div class="toolbar row">
      ${me.canWrite &&
      html`<button class="primary" onClick=${() => setEditing({ entry: null })}>Add entry</button>
        <button class="danger" disabled=${selected.size === 0} onClick=${deleteSelected}>Delete selected (${selected.size})</button>
        <button class="danger" onClick=${dryRun}>Delete by prefix…</button>`}
      <button onClick=${exportAll}>Export NDJSON</button>
      ${me.canWrite && html`<label class="file">Import NDJSON <input type="file" name="import-file" accept=".ndjson,.jsonl,application/x-ndjson" onChange=${importFile} /></label>`}
    </div>
    ${prefixCount !== null &&
    html`<div class="confirm" data-testid="prefix-delete">
      <p>Dry run: <strong data-testid="prefix-count">${prefixCount}</strong> entries under ${scopeLabel} would be deleted.</p>
      <button class="danger" disabled=${prefixCount === 0} onClick=${deletePrefix}>Delete ${prefixCount} entries</button>
      <button onClick=${() => setPrefixCount(null)}>Cancel</button>
    </div>`}
    <${Progress} progress=${progress} />
    ${notice && html`<p class="ok" role="status">${notice}</p>`}
    ${error && html`<p class="error" role="alert">${error}</p>`}
    ${editing &&
    html`<${Editor}
      key=${editing.entry ? idOf(editing.entry.key) + editing.entry.versionstamp : "new"}
      me=${me}
      ns=${ns}
      entry=${editing.entry}
      prefix=${prefix}
      onClose=${() => setEditing(null)}
      onSaved=${async (key, message) => {
        await load(null);
        if (key) await open(key);
        else setEditing(null);
        // Said once the list and the editor show the result.
        setNotice(message);
      }}
    />`}
    <div class="browser">
      <aside class="tree" aria-label="Key tree">
        <h4>Under ${keyLabel(prefix)}</h4>
        <ul>
          ${children.parts.map((p) => html`<li><button class="node" onClick=${() => walk([...prefix, p])}>${partLabel(p)} <small>${p.type}</small></button></li>`)}
        </ul>
        ${children.cursor && html`<button onClick=${moreChildren}>More…</button>`}
      </aside>
      <div class="entries" data-shown=${shown} aria-busy=${loading}>
        <table>
          <thead><tr>${me.canWrite && html`<th></th>`}<th>Key</th><th>Type</th><th>Value</th><th>Metadata</th><th>Expires</th></tr></thead>
          <tbody>
            ${entries.map(
              (e) => html`<tr key=${idOf(e.key)} data-key=${keyLabel(e.key)}>
                ${me.canWrite && html`<td><input type="checkbox" aria-label=${`Select ${keyLabel(e.key)}`} checked=${selected.has(idOf(e.key))} onChange=${() => toggle(e)} /></td>`}
                <td class="keyparts">
                  ${e.key.map((p, i) =>
                    i < e.key.length - 1
                      ? html`<button class="part" title=${`List under this prefix (${p.type})`} onClick=${() => walk(e.key.slice(0, i + 1))}>${partLabel(p)}</button>`
                      : html`<a href="#" class="part last" onClick=${(ev) => (ev.preventDefault(), open(e.key))}>${partLabel(p)}</a>`,
                  )}
                </td>
                <td>${e.type}</td>
                <td class="preview">${e.preview}</td>
                <td class="meta">${e.metadata === null ? "" : JSON.stringify(e.metadata)}</td>
                <td>${e.expiresAt === null ? "" : new Date(e.expiresAt).toISOString()}</td>
              </tr>`,
            )}
          </tbody>
        </table>
        <p class="count">${entries.length} entries shown${cursor ? "; more below" : ""}.</p>
        ${cursor && html`<button disabled=${loading} onClick=${() => load(cursor)}>Load more</button>`}
      </div>
    </div>
  </div>`;
}
