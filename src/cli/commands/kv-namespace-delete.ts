/** `openkv kv namespace delete [namespace]`: asks first (unless -y), as wrangler does. */
import { defineCommand } from "../command.ts";
import { CommandLineArgsError } from "../errors.ts";
import { locationArgs, namespaceArgs, type NamespaceTargetArgs } from "../kv/args.ts";
import { resolveNamespace, type ResolvedNamespace } from "../kv/namespace-id.ts";

interface Args extends NamespaceTargetArgs {
  namespace?: string;
  skipConfirmation: boolean;
}

export const kvNamespaceDeleteCommand = defineCommand<Args>({
  command: ["kv", "namespace", "delete"],
  description: "Delete a given namespace.",
  positionals: ["namespace"],
  args: {
    namespace: { type: "string", describe: "The name of the namespace to delete" },
    ...namespaceArgs("delete"),
    "skip-confirmation": { type: "boolean", describe: "Skip confirmation", alias: ["y", "force"], default: false },
    ...locationArgs,
  },
  behaviour: { resourceLocation: "stdout" },
  validateArgs(args) {
    const provided = [args.namespace, args.binding, args.namespaceId].filter(Boolean);
    if (provided.length === 0) {
      throw new CommandLineArgsError("Must specify one of: namespace name (as positional argument), --binding, or --namespace-id");
    }
    if (provided.length > 1) {
      throw new CommandLineArgsError("Cannot specify multiple of: namespace name (as positional argument), --binding, or --namespace-id. Use only one.");
    }
  },
  async handler(args, ctx) {
    const store = await ctx.store(args);
    let target: ResolvedNamespace;
    try {
      target = await resolveNamespace(args, ctx, store);
    } catch (e) {
      throw new CommandLineArgsError("Not able to delete namespace.\n" + ((e as Error).message ?? e));
    }
    const { displayName } = target;
    ctx.out.log(
      `About to delete ${ctx.out.bold(store.location)} KV namespace ${displayName}.\nThis action is irreversible and will permanently delete all data in the KV namespace.\n`,
    );
    if (!args.skipConfirmation && !(await ctx.confirm("Ok to proceed?"))) {
      ctx.out.log("Not deleting.");
      return;
    }
    ctx.out.log(`Deleting KV namespace ${displayName}.`);
    await store.deleteNamespace(target.namespaceId);
    ctx.out.log(`Deleted KV namespace ${displayName}.`);
  },
});
