/**
 * What `openkv import` reads, recognised by content:
 * - an OpenKV export (NDJSON, see export-format.ts);
 * - a Deno KV SQLite file, as `Deno.openKv("./file")` writes it: table `kv (k, v, v_encoding, version,
 *   seq, expiration_ms)`, keys in the same encoding as ours, `v_encoding` 1 = V8, 2 = le64, 3 = bytes;
 * - wrangler's local state (`.wrangler/state/v3/kv`): one Miniflare SQLite file per namespace in
 *   `miniflare-KVNamespaceObject/*.sqlite` with `_mf_entries (key, blob_id, expiration ms, metadata)`,
 *   and each value in `<namespace id>/blobs/<blob_id>`; a file is matched to its namespace by where its
 *   blobs are.
 */
import { createReadStream, existsSync, openSync, readdirSync, readSync, closeSync, statSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { createInterface } from "node:readline";
import { DatabaseSync } from "node:sqlite";
import { encodeKey } from "../../core/keys.ts";
import { encodeV8String } from "../../core/values.ts";
import type { ValueEncoding } from "../../core/types.ts";
import { versionstampFromCounter } from "../../core/versionstamp.ts";
import { UserError } from "../errors.ts";
import { parseLine } from "./export-format.ts";
import type { EntryRecord, ImportRecord, ImportSource } from "./records.ts";

const SQLITE_MAGIC = "SQLite format 3\u0000";

function head(path: string, n: number): Buffer {
  const fd = openSync(path, "r");
  try {
    const buf = Buffer.alloc(n);
    const read = readSync(fd, buf, 0, n, 0);
    return buf.subarray(0, read);
  } finally {
    closeSync(fd);
  }
}

function tables(db: DatabaseSync): Set<string> {
  return new Set(db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all().map((r) => r.name as string));
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Bytes that are valid UTF-8 become text (a string to Deno, as `wrangler kv key put k text` makes); others stay bytes. */
function textOrBytes(data: Uint8Array): { encoding: ValueEncoding; data: Uint8Array } {
  try {
    return { encoding: "v8", data: encodeV8String(utf8.decode(data)) };
  } catch {
    return { encoding: "bytes", data };
  }
}

function ndjsonSource(path: string, name: string): ImportSource {
  const size = statSync(path).size;
  // Counting lines up front costs one read of the file and gives the progress bar a total.
  let total: number | null = null;
  let namespaced = false;
  if (size < 512 * 1024 * 1024) {
    const text = readFileSync(path, "utf8");
    total = 0;
    for (const line of text.split("\n")) {
      if (line.trim() === "") continue;
      if (line.startsWith('{"namespace"')) namespaced = true;
      else total++;
    }
  }
  let stream: ReturnType<typeof createReadStream> | null = null;
  return {
    kind: "OpenKV export (NDJSON)",
    total,
    namespaced,
    async *records() {
      stream = createReadStream(path, { encoding: "utf8" });
      let n = 0;
      for await (const line of createInterface({ input: stream, crlfDelay: Infinity })) {
        n++;
        if (line.trim() === "") continue;
        yield parseLine(line, `${name}:${n}`);
      }
    },
    close() {
      stream?.destroy();
    },
  };
}

const DENO_ENCODING: Record<number, ValueEncoding> = { 1: "v8", 2: "le64", 3: "bytes" };

function denoSource(path: string, now: number): ImportSource {
  const db = new DatabaseSync(path, { readOnly: true });
  const live = "expiration_ms < 0 OR expiration_ms > ?";
  const total = db.prepare(`SELECT count(*) AS n FROM kv WHERE ${live}`).get(now)!.n as number;
  return {
    kind: "Deno KV SQLite file",
    total,
    namespaced: false,
    async *records() {
      // One read transaction: the whole file as of one moment, even if Deno is writing to it.
      db.exec("BEGIN");
      try {
        for (const r of db.prepare(`SELECT k, v, v_encoding, version, seq, expiration_ms FROM kv WHERE ${live} ORDER BY k`).iterate(now)) {
          const encoding = DENO_ENCODING[r.v_encoding as number];
          if (!encoding) throw new UserError(`${path}: unknown value encoding ${String(r.v_encoding)} for a key`);
          const expiration = r.expiration_ms as number;
          const record: EntryRecord = {
            kind: "entry",
            key: r.k as Uint8Array,
            encoding,
            data: r.v as Uint8Array,
            expiresAt: expiration < 0 ? null : expiration,
            metadata: null,
            versionstamp: versionstampFromCounter(BigInt(r.version as number), r.seq as number),
          };
          yield record;
        }
      } finally {
        db.exec("COMMIT");
      }
    },
    close() {
      db.close();
    },
  };
}

/** The `v3/kv` directory inside a wrangler state path (the project, `.wrangler`, `.wrangler/state`, …). */
export function findWranglerKvDir(path: string): string | null {
  for (const candidate of [join(path, ".wrangler/state/v3/kv"), join(path, "state/v3/kv"), join(path, "v3/kv"), join(path, "kv"), path]) {
    if (existsSync(join(candidate, "miniflare-KVNamespaceObject"))) return candidate;
  }
  return null;
}

interface WranglerNamespace {
  readonly id: string;
  readonly sqlite: string;
  readonly count: number;
}

function wranglerNamespaces(kvDir: string, now: number): WranglerNamespace[] {
  const objects = join(kvDir, "miniflare-KVNamespaceObject");
  const ids = readdirSync(kvDir).filter((d) => d !== "miniflare-KVNamespaceObject" && existsSync(join(kvDir, d, "blobs")));
  const out: WranglerNamespace[] = [];
  for (const file of readdirSync(objects).filter((f) => f.endsWith(".sqlite") && f !== "metadata.sqlite")) {
    const sqlite = join(objects, file);
    const db = new DatabaseSync(sqlite, { readOnly: true });
    try {
      if (!tables(db).has("_mf_entries")) continue;
      const count = db.prepare("SELECT count(*) AS n FROM _mf_entries WHERE expiration IS NULL OR expiration > ?").get(now)!.n as number;
      const blob = db.prepare("SELECT blob_id FROM _mf_entries LIMIT 1").get()?.blob_id as string | undefined;
      if (blob === undefined) continue;
      const id = ids.find((d) => existsSync(join(kvDir, d, "blobs", blob)));
      if (!id) throw new UserError(`${sqlite}: its values are in none of the namespace folders of ${kvDir}`);
      out.push({ id, sqlite, count });
    } finally {
      db.close();
    }
  }
  return out.sort((a, b) => (a.id < b.id ? -1 : 1));
}

function wranglerSource(kvDir: string, now: number): ImportSource {
  const namespaces = wranglerNamespaces(kvDir, now);
  return {
    kind: "wrangler local state",
    total: namespaces.reduce((n, ns) => n + ns.count, 0),
    namespaced: true,
    async *records() {
      for (const ns of namespaces) {
        yield { kind: "namespace", id: ns.id, title: ns.id };
        const db = new DatabaseSync(ns.sqlite, { readOnly: true });
        try {
          db.exec("BEGIN");
          for (const r of db.prepare("SELECT key, blob_id, expiration, metadata FROM _mf_entries WHERE expiration IS NULL OR expiration > ? ORDER BY key").iterate(now)) {
            const bytes = new Uint8Array(readFileSync(join(kvDir, ns.id, "blobs", r.blob_id as string)));
            yield {
              kind: "entry",
              key: encodeKey([r.key as string]),
              ...textOrBytes(bytes),
              expiresAt: (r.expiration as number | null) ?? null,
              metadata: (r.metadata as string | null) ?? null,
            } satisfies EntryRecord;
          }
          db.exec("COMMIT");
        } finally {
          db.close();
        }
      }
    },
    close() {},
  };
}

/** Opens `path` as whichever source it is; `name` is how the user typed it. */
export function openSource(path: string, name: string, now: number): ImportSource {
  if (!existsSync(path)) throw new UserError(`Could not read file: ${name}\nNo such file or directory: ${path}`);
  if (statSync(path).isDirectory()) {
    const kvDir = findWranglerKvDir(path);
    if (!kvDir) {
      throw new UserError(`${name} is a directory but holds no wrangler local KV state.\nExpected .wrangler/state/v3/kv/miniflare-KVNamespaceObject inside it (made by \`wrangler kv key put --local\` or \`wrangler dev\`).`);
    }
    return wranglerSource(kvDir, now);
  }
  if (head(path, 16).toString("latin1") === SQLITE_MAGIC) {
    const db = new DatabaseSync(path, { readOnly: true });
    let names: Set<string>;
    try {
      names = tables(db);
    } finally {
      db.close();
    }
    if (names.has("kv") && names.has("data_version")) return denoSource(path, now);
    if (names.has("entries") && names.has("namespaces")) {
      throw new UserError(`${name} is an OpenKV store (a backup?), not an export.\nUse \`openkv restore ${name}\` to bring it back whole.`);
    }
    if (names.has("_mf_entries")) throw new UserError(`${name} is one file of wrangler's local state: import the whole state directory (the project folder or its .wrangler).`);
    throw new UserError(`${name} is a SQLite file but neither a Deno KV database (table kv) nor wrangler local state.`);
  }
  return ndjsonSource(path, basename(name));
}
