/** `openkv kv bulk put <filename>`: wrangler's pair file, written 1,000 pairs at a time, with a progress bar on a terminal. */
import { defineCommand } from "../command.ts";
import { UserError } from "../errors.ts";
import { demandOneOf, expiryArgs, locationArgs, namespaceArgs, parseMetadataFlag, type NamespaceTargetArgs } from "../kv/args.ts";
import { parsePairs, readJsonFile } from "../kv/bulk-file.ts";
import { resolveNamespace } from "../kv/namespace-id.ts";
import { formatNumber } from "../output.ts";
import { BULK_BATCH } from "../store/types.ts";

interface Args extends NamespaceTargetArgs {
  filename: string;
  ttl?: number;
  expiration?: number;
  metadata?: string;
}

export const kvBulkPutCommand = defineCommand<Args>({
  command: ["kv", "bulk", "put"],
  description: "Upload multiple key-value pairs to a namespace",
  positionals: ["filename"],
  args: {
    filename: { type: "string", describe: "The file containing the key/value pairs to write", demandOption: true },
    ...namespaceArgs("write to"),
    ttl: { type: "number", describe: "Time for which the entries should be visible (for pairs without their own)" },
    expiration: { type: "number", describe: "Time since the UNIX epoch after which the entry expires (for pairs without their own)" },
    metadata: { type: "string", describe: "Arbitrary JSON that is associated with a key (for pairs without their own)" },
    ...locationArgs,
  },
  behaviour: { resourceLocation: "stdout" },
  validateArgs(args) {
    demandOneOf(args as unknown as Record<string, unknown>, "binding", "namespace-id");
    parseMetadataFlag(args.metadata);
  },
  async handler(args, ctx) {
    const { namespaceId } = await resolveNamespace(args, ctx);
    const pairs = parsePairs(readJsonFile(ctx.resolve(args.filename), args.filename), args.filename, ctx.out);
    const metadata = parseMetadataFlag(args.metadata);
    const hasExpiry = (p: { expiration?: number; expirationTtl?: number }) => p.expiration !== undefined || p.expirationTtl !== undefined;
    const items = pairs.map((p) => ({
      ...p,
      ...(!hasExpiry(p) && args.expiration !== undefined ? { expiration: args.expiration } : {}),
      ...(!hasExpiry(p) && args.ttl !== undefined ? { expirationTtl: args.ttl } : {}),
      ...(p.metadata === undefined && metadata !== undefined ? { metadata } : {}),
    }));
    const store = await ctx.store(args);
    // Like wrangler's progress lines, only when there is more than one batch to wait for.
    const bar = items.length > BULK_BATCH ? ctx.progress("Writing", items.length) : { tick() {}, done() {} };
    const failed = await store.bulkPut(namespaceId, items, (n) => bar.tick(n));
    bar.done();
    if (failed.length > 0) {
      const shown = failed.slice(0, 12).map((k) => JSON.stringify(k));
      throw new UserError(
        `${formatNumber(failed.length)} of ${formatNumber(items.length)} pairs were not written.\nThe keys: ${shown.join(", ")}${failed.length > shown.length ? ", …" : ""}`,
      );
    }
    ctx.out.log("Success!");
  },
});
