/** `openkv kv key list`: every key (with expiration and metadata) as JSON on stdout. */
import { defineCommand } from "../command.ts";
import { demandOneOf, locationArgs, namespaceArgs, type NamespaceTargetArgs } from "../kv/args.ts";
import { resolveNamespace } from "../kv/namespace-id.ts";

interface Args extends NamespaceTargetArgs {
  prefix?: string;
}

export const kvKeyListCommand = defineCommand<Args>({
  command: ["kv", "key", "list"],
  description: "Output a list of all keys in a given namespace",
  args: {
    ...namespaceArgs("list", false),
    prefix: { type: "string", requiresArg: true, describe: "A prefix to filter listed keys" },
    ...locationArgs,
  },
  behaviour: { printBanner: false, resourceLocation: "stderr" },
  validateArgs(args) {
    demandOneOf(args as unknown as Record<string, unknown>, "binding", "namespace-id");
  },
  async handler(args, ctx) {
    const { namespaceId } = await resolveNamespace(args, ctx);
    const store = await ctx.store(args);
    ctx.out.log(JSON.stringify(await store.list(namespaceId, args.prefix ?? ""), undefined, 2));
  },
});
