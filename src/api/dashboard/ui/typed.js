// The dashboard API's tagged JSON ({type, value}, see ../typed.ts) and the editor's modes over it.

export function partLabel(p) {
  switch (p.type) {
    case "string":
      return p.value;
    case "bigint":
      return `${p.value}n`;
    case "Uint8Array":
      return `0x${p.value}`;
    default:
      return String(p.value);
  }
}

/** A key as text, e.g. ["users", 42, 7n]. */
export const keyLabel = (key) => `[${key.map((p) => (p.type === "string" ? JSON.stringify(p.value) : partLabel(p))).join(", ")}]`;

export const samePart = (a, b) => a.type === b.type && a.value === b.value;

function isPlainJson(t) {
  switch (t.type) {
    case "string":
    case "boolean":
    case "null":
      return true;
    case "number":
      return typeof t.value === "number";
    case "Array":
      return t.value.every(isPlainJson);
    case "object":
      return Object.values(t.value).every(isPlainJson);
    default:
      return false;
  }
}

function typedToJson(t) {
  switch (t.type) {
    case "null":
      return null;
    case "Array":
      return t.value.map(typedToJson);
    case "object": {
      const out = {};
      for (const [k, v] of Object.entries(t.value)) Object.defineProperty(out, k, { value: typedToJson(v), enumerable: true });
      return out;
    }
    default:
      return t.value;
  }
}

function jsonToTyped(v) {
  if (v === null) return { type: "null" };
  if (Array.isArray(v)) return { type: "Array", value: v.map(jsonToTyped) };
  if (typeof v === "object") {
    const out = {};
    for (const [k, x] of Object.entries(v)) Object.defineProperty(out, k, { value: jsonToTyped(x), enumerable: true });
    return { type: "object", value: out };
  }
  return { type: typeof v, value: v };
}

export const MODES = [
  ["text", "Text"],
  ["json", "JSON"],
  ["structured", "Deno value (Map, Set, Date, bigint…)"],
  ["bytes", "Bytes (hex)"],
  ["KvU64", "KvU64"],
];

/** The editor mode and text that show a value. */
export function editorOf(t) {
  if (t.type === "string") return { mode: "text", text: t.value };
  if (t.type === "Uint8Array") return { mode: "bytes", text: t.value };
  if (t.type === "KvU64") return { mode: "KvU64", text: t.value };
  if (isPlainJson(t)) return { mode: "json", text: JSON.stringify(typedToJson(t), null, 2) };
  return { mode: "structured", text: JSON.stringify(t, null, 2) };
}

/** What the editor holds as a tagged value; throws an Error that says what is wrong with the text. */
export function valueOf(mode, text) {
  switch (mode) {
    case "text":
      return { type: "string", value: text };
    case "json":
      try {
        return jsonToTyped(JSON.parse(text));
      } catch (e) {
        throw new Error(`Not valid JSON: ${e.message}`);
      }
    case "structured":
      try {
        return JSON.parse(text);
      } catch (e) {
        throw new Error(`Not valid JSON: ${e.message}`);
      }
    case "bytes": {
      const hex = text.replace(/\s+/g, "");
      if (!/^(?:[0-9a-fA-F]{2})*$/.test(hex)) throw new Error("Bytes must be hex digits in pairs");
      return { type: "Uint8Array", value: hex };
    }
    case "KvU64":
      if (!/^\d+$/.test(text.trim())) throw new Error("A KvU64 is an unsigned integer (digits only)");
      return { type: "KvU64", value: text.trim() };
  }
  throw new Error(`Unknown mode ${mode}`);
}

export const bytesToHex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

export function hexToBytes(hex) {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** A key part typed in the add form: type and text. */
export function partOf(type, text) {
  switch (type) {
    case "string":
      return { type, value: text };
    case "number": {
      const n = Number(text);
      if (text.trim() === "" || Number.isNaN(n)) throw new Error(`Not a number: ${text}`);
      return { type, value: n };
    }
    case "bigint":
      if (!/^-?\d+$/.test(text.trim())) throw new Error(`Not a bigint: ${text}`);
      return { type, value: text.trim() };
    case "boolean":
      if (text !== "true" && text !== "false") throw new Error("A boolean part is true or false");
      return { type, value: text === "true" };
    case "Uint8Array":
      return valueOf("bytes", text);
  }
  throw new Error(`Unknown key part type ${type}`);
}

export function formatBytes(n) {
  if (n === null || n === undefined) return "—";
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(1)} GiB`;
}
