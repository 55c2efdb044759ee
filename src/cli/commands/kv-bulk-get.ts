/** `openkv kv bulk get <filename>`: the text values of the keys in a JSON file, as one JSON object. */
import { defineCommand } from "../command.ts";
import { demandOneOf, locationArgs, namespaceArgs, type NamespaceTargetArgs } from "../kv/args.ts";
import { parseKeyNames, readJsonFile } from "../kv/bulk-file.ts";
import { resolveNamespace } from "../kv/namespace-id.ts";

interface Args extends NamespaceTargetArgs {
  filename: string;
}

export const kvBulkGetCommand = defineCommand<Args>({
  command: ["kv", "bulk", "get"],
  description: "Gets multiple key-value pairs from a namespace",
  positionals: ["filename"],
  args: {
    filename: { type: "string", describe: "The file containing the keys to get", demandOption: true },
    ...namespaceArgs("get from", false),
    ...locationArgs,
  },
  behaviour: { printBanner: false, resourceLocation: "stderr" },
  validateArgs(args) {
    demandOneOf(args as unknown as Record<string, unknown>, "binding", "namespace-id");
  },
  async handler(args, ctx) {
    const { namespaceId } = await resolveNamespace(args, ctx);
    const keys = parseKeyNames(readJsonFile(ctx.resolve(args.filename), args.filename), args.filename);
    const store = await ctx.store(args);
    ctx.out.log(JSON.stringify(await store.bulkGet(namespaceId, keys), null, 2));
    ctx.out.log("\nSuccess!");
  },
});
