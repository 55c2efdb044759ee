/** `openkv export`: every entry of one namespace (or all, each after a namespace line) as lossless NDJSON. */
import { createWriteStream } from "node:fs";
import { once } from "node:events";
import type { NamespaceInfo } from "../../core/types.ts";
import { defineCommand } from "../command.ts";
import { entryLine, namespaceLine } from "../data/export-format.ts";
import { localStore } from "../data/local-target.ts";
import { UserError } from "../errors.ts";
import { locationArgs, namespaceArgs, type NamespaceTargetArgs } from "../kv/args.ts";
import { resolveNamespace } from "../kv/namespace-id.ts";
import { formatNumber } from "../output.ts";

interface Args extends NamespaceTargetArgs {
  output?: string;
}

const ALL_KEYS = { start: new Uint8Array(0), end: Uint8Array.of(0xff) };
const PAGE = 1000;

export const storeExportCommand = defineCommand<Args>({
  command: ["export"],
  description: "Export a namespace (or every namespace) as NDJSON, keeping every value exactly",
  args: {
    ...namespaceArgs("export"),
    output: { type: "string", alias: "o", requiresArg: true, describe: "Write to this file instead of stdout" },
    ...locationArgs,
  },
  behaviour: { printBanner: false, resourceLocation: "stderr" },
  validateArgs(args) {
    if (args.binding && args.namespaceId) throw new UserError("Arguments binding and namespace-id are mutually exclusive");
  },
  async handler(args, ctx) {
    const store = await localStore("export", args, ctx);
    const { engine } = store;
    let namespaces: NamespaceInfo[];
    const single = Boolean(args.binding || args.namespaceId);
    if (single) {
      const { namespaceId } = await resolveNamespace(args, ctx, store);
      const ns = await engine.findNamespace(namespaceId);
      if (!ns) throw new UserError(`No namespace with id "${namespaceId}" in ${store.where}.`);
      namespaces = [ns];
    } else {
      namespaces = await engine.listNamespaces();
    }
    let total = 0;
    for (const ns of namespaces) total += await engine.count(ns.id, ALL_KEYS.start, ALL_KEYS.end);

    const file = args.output ? createWriteStream(ctx.resolve(args.output)) : null;
    const sink = (file ?? ctx.out.stdout) as NodeJS.WritableStream;
    const write = async (line: string) => {
      if (!sink.write(line + "\n")) await once(sink, "drain");
    };
    const bar = ctx.progress("Exporting", total);
    let written = 0;
    try {
      for (const ns of namespaces) {
        if (!single) await write(namespaceLine(ns));
        let start = ALL_KEYS.start;
        for (;;) {
          const [rows] = await engine.read(ns.id, [{ start, end: ALL_KEYS.end, limit: PAGE }]);
          for (const e of rows!) await write(entryLine(e));
          written += rows!.length;
          bar.tick(rows!.length);
          if (rows!.length < PAGE) break;
          const last = rows!.at(-1)!.key;
          start = new Uint8Array(last.length + 1);
          start.set(last);
        }
      }
    } finally {
      bar.done();
      if (file) {
        file.end();
        await once(file, "close");
      }
    }
    if (engine.keyring.encrypted) {
      ctx.out.note(
        `The export is plaintext: this store is encrypted at rest, and its values and metadata were written decrypted to ${args.output ?? "stdout"}. Keep it safe, or use \`openkv backup\`, which stays encrypted.`,
      );
    }
    const what = single ? `namespace ${namespaces[0]!.title} (id: ${namespaces[0]!.id})` : `${formatNumber(namespaces.length)} namespaces`;
    ctx.out.note(`Exported ${formatNumber(written)} entries of ${what} from ${store.location} (${store.where}) to ${args.output ?? "stdout"}.`);
  },
});
