/** `openkv kv key delete <key>`. */
import { defineCommand } from "../command.ts";
import { demandOneOf, locationArgs, namespaceArgs, type NamespaceTargetArgs } from "../kv/args.ts";
import { resolveNamespace } from "../kv/namespace-id.ts";

interface Args extends NamespaceTargetArgs {
  key: string;
}

export const kvKeyDeleteCommand = defineCommand<Args>({
  command: ["kv", "key", "delete"],
  description: "Remove a single key value pair from the given namespace",
  positionals: ["key"],
  args: {
    key: { type: "string", describe: "The key value to delete.", demandOption: true },
    ...namespaceArgs("delete from"),
    ...locationArgs,
  },
  behaviour: { resourceLocation: "stdout" },
  validateArgs(args) {
    demandOneOf(args as unknown as Record<string, unknown>, "binding", "namespace-id");
  },
  async handler(args, ctx) {
    const { namespaceId, displayName } = await resolveNamespace(args, ctx);
    ctx.out.log(`Deleting the key "${args.key}" on namespace ${displayName}.`);
    const store = await ctx.store(args);
    await store.delete(namespaceId, args.key);
  },
});
