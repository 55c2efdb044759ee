/** `openkv kv namespace list`: every namespace as JSON on stdout (where it is goes to stderr). */
import { defineCommand } from "../command.ts";
import { locationArgs, type NamespaceTargetArgs } from "../kv/args.ts";

export const kvNamespaceListCommand = defineCommand<NamespaceTargetArgs>({
  command: ["kv", "namespace", "list"],
  description: "Output a list of all KV namespaces associated with your account id",
  args: { ...locationArgs },
  behaviour: { printBanner: false, resourceLocation: "stderr" },
  async handler(args, ctx) {
    const store = await ctx.store(args);
    ctx.out.log(JSON.stringify(await store.listNamespaces(), null, "  "));
  },
});
