/**
 * `openkv import <file>`: an OpenKV export, a Deno KV SQLite file or wrangler's local state directory
 * into the data directory, every value exactly as it was (versionstamps are issued anew).
 */
import { KvError } from "../../core/errors.ts";
import { decodeKey } from "../../core/keys.ts";
import type { Mutation, NamespaceInfo } from "../../core/types.ts";
import { validateWrite } from "../../core/validate.ts";
import { workersName } from "../data/export-format.ts";
import { defineCommand } from "../command.ts";
import { importNamespace, localStore } from "../data/local-target.ts";
import { openSource } from "../data/sources.ts";
import { UserError } from "../errors.ts";
import { locationArgs, namespaceArgs, type NamespaceTargetArgs } from "../kv/args.ts";
import { resolveNamespace } from "../kv/namespace-id.ts";
import { formatNumber } from "../output.ts";

interface Args extends NamespaceTargetArgs {
  file: string;
}

/** Entries per atomic write (the engine takes up to 1,000 mutations) and writes in flight (group commit). */
const BATCH = 500;
const IN_FLIGHT = 4;
/** Entries that cannot be stored are each named on stderr, up to this many. */
const MAX_REPORTED = 10;

/** A key as the user knows it: its Workers name when it is one, else Deno's key parts. */
function describeKey(key: Uint8Array): string {
  const name = workersName(key);
  if (name !== undefined) return JSON.stringify(name);
  try {
    return JSON.stringify(decodeKey(key), (_k, v: unknown) => (typeof v === "bigint" ? `${v}n` : v instanceof Uint8Array ? `bytes(${v.length})` : v));
  } catch {
    return Buffer.from(key).toString("base64");
  }
}

export const storeImportCommand = defineCommand<Args>({
  command: ["import"],
  description: "Import an OpenKV export, a Deno KV SQLite file or wrangler's local KV state (.wrangler)",
  positionals: ["file"],
  args: {
    file: { type: "string", demandOption: true, describe: "An export (NDJSON), a Deno KV SQLite file, or a wrangler project / .wrangler directory" },
    ...namespaceArgs("import into"),
    ...locationArgs,
  },
  behaviour: { resourceLocation: "stdout" },
  validateArgs(args) {
    if (args.binding && args.namespaceId) throw new UserError("Arguments binding and namespace-id are mutually exclusive");
  },
  async handler(args, ctx) {
    const store = await localStore("import", args, ctx);
    const { engine } = store;
    const now = Date.now();
    const source = openSource(ctx.resolve(args.file), args.file, now);
    ctx.onClose(() => source.close());
    ctx.out.log(`Importing ${source.kind} ${args.file}.`);

    let fixed: NamespaceInfo | null = null;
    if (args.binding || args.namespaceId) {
      const { namespaceId } = await resolveNamespace(args, ctx, store);
      fixed = await importNamespace(engine, namespaceId, namespaceId);
    }
    let current: NamespaceInfo | null = fixed ?? (source.namespaced ? null : await engine.getNamespace("default"));
    const used = new Map<string, NamespaceInfo>();
    const bar = ctx.progress("Importing", source.total ?? 0);
    let imported = 0;
    let expired = 0;
    let rejected = 0;
    let batch: Mutation[] = [];
    let batchNs: NamespaceInfo | null = null;
    const inFlight = new Set<Promise<unknown>>();
    const flush = async () => {
      if (batch.length === 0) return;
      const mutations = batch;
      const ns = batchNs!;
      batch = [];
      const p = engine.atomic(ns.id, { checks: [], mutations, enqueues: [] }).then(() => {
        imported += mutations.length;
        bar.tick(mutations.length);
      });
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p)).catch(() => {});
      if (inFlight.size >= IN_FLIGHT) await Promise.race(inFlight);
    };
    try {
      for await (const record of source.records()) {
        if (record.kind === "namespace") {
          if (fixed) continue;
          await flush();
          current = await importNamespace(engine, record.id, record.title);
          continue;
        }
        if (!current) throw new UserError(`${args.file} has entries before any namespace line: import it with --namespace-id or --binding.`);
        if (record.expiresAt !== null && record.expiresAt <= now) {
          expired++;
          bar.tick(1);
          continue;
        }
        const mutation: Mutation = {
          type: "set",
          key: record.key,
          value: { encoding: record.encoding, data: record.data },
          expiresAt: record.expiresAt,
          metadata: record.metadata,
        };
        // Checked one by one with the engine's own rules, so one bad entry is named and skipped
        // instead of failing the batch of 500 it would share.
        try {
          validateWrite({ checks: [], mutations: [mutation], enqueues: [] });
        } catch (e) {
          if (!(e instanceof KvError)) throw e;
          if (++rejected <= MAX_REPORTED) ctx.out.warn(`Skipped entry ${describeKey(record.key)}: ${e.message}`);
          bar.tick(1);
          continue;
        }
        if (batchNs !== current || batch.length >= BATCH) await flush();
        batchNs = current;
        used.set(current.id, current);
        batch.push(mutation);
      }
      await flush();
      await Promise.all(inFlight);
    } finally {
      bar.done();
    }
    const targets = [...used.values()].map((ns) => `${ns.title} (id: ${ns.id})`);
    const into = targets.length === 1 ? `namespace ${targets[0]}` : `${targets.length} namespaces: ${targets.join(", ")}`;
    ctx.out.log(`✨ Imported ${formatNumber(imported)} entries into ${targets.length === 0 ? "no namespace" : into}.`);
    if (expired > 0) ctx.out.log(`Skipped ${formatNumber(expired)} entries that had already expired.`);
    if (rejected > 0) {
      throw new UserError(
        `${formatNumber(rejected)} ${rejected === 1 ? "entry" : "entries"} could not be stored${rejected > MAX_REPORTED ? ` (the first ${MAX_REPORTED} are listed above)` : " (listed above)"}: fix them in ${args.file} and import it again.`,
      );
    }
  },
});
