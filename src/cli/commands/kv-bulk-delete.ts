/** `openkv kv bulk delete <filename>`: asks first (unless --force), then deletes 1,000 keys at a time. */
import { defineCommand } from "../command.ts";
import { UserError } from "../errors.ts";
import { demandOneOf, locationArgs, namespaceArgs, type NamespaceTargetArgs } from "../kv/args.ts";
import { parseKeyNames, readJsonFile } from "../kv/bulk-file.ts";
import { resolveNamespace } from "../kv/namespace-id.ts";
import { formatNumber } from "../output.ts";
import { BULK_BATCH } from "../store/types.ts";

interface Args extends NamespaceTargetArgs {
  filename: string;
  force?: boolean;
}

export const kvBulkDeleteCommand = defineCommand<Args>({
  command: ["kv", "bulk", "delete"],
  description: "Delete multiple key-value pairs from a namespace",
  positionals: ["filename"],
  args: {
    filename: { type: "string", describe: "The file containing the keys to delete", demandOption: true },
    force: { type: "boolean", alias: "f", describe: "Do not ask for confirmation before deleting" },
    ...namespaceArgs("delete from"),
    ...locationArgs,
  },
  behaviour: { resourceLocation: "stdout" },
  validateArgs(args) {
    demandOneOf(args as unknown as Record<string, unknown>, "binding", "namespace-id");
  },
  async handler(args, ctx) {
    const { namespaceId, displayName } = await resolveNamespace(args, ctx);
    if (!args.force) {
      const yes = await ctx.confirm(`Are you sure you want to delete all the keys read from "${args.filename}" from kv-namespace ${displayName}?`);
      if (!yes) {
        ctx.out.log(`Not deleting keys read from "${args.filename}".`);
        return;
      }
    }
    const keys = parseKeyNames(readJsonFile(ctx.resolve(args.filename), args.filename), args.filename);
    const store = await ctx.store(args);
    const bar = keys.length > BULK_BATCH ? ctx.progress("Deleting", keys.length) : { tick() {}, done() {} };
    const failed = await store.bulkDelete(namespaceId, keys, (n) => bar.tick(n));
    bar.done();
    if (failed.length > 0) {
      throw new UserError(`${formatNumber(failed.length)} of ${formatNumber(keys.length)} keys were not deleted: ${failed.slice(0, 12).map((k) => JSON.stringify(k)).join(", ")}`);
    }
    ctx.out.log("Success!");
  },
});
