/** `openkv kv namespace rename [old-name] --new-name NAME`. */
import { defineCommand } from "../command.ts";
import { CommandLineArgsError, UserError } from "../errors.ts";
import { locationArgs, type NamespaceTargetArgs } from "../kv/args.ts";

interface Args extends NamespaceTargetArgs {
  oldName?: string;
  newName: string;
}

export const kvNamespaceRenameCommand = defineCommand<Args>({
  command: ["kv", "namespace", "rename"],
  description: "Rename a KV namespace",
  positionals: ["old-name"],
  args: {
    "old-name": { type: "string", describe: "The current name of the namespace to rename" },
    "namespace-id": { type: "string", describe: "The id of the namespace to rename" },
    "new-name": { type: "string", describe: "The new name for the namespace", demandOption: true },
    ...locationArgs,
  },
  behaviour: { resourceLocation: "stdout" },
  validateArgs(args) {
    if (args.oldName && args.namespaceId) {
      throw new CommandLineArgsError("Cannot specify both old-name and --namespace-id. Use either old-name (as first argument) or --namespace-id flag, not both.");
    }
    if (!args.namespaceId && !args.oldName) throw new CommandLineArgsError("Either old-name (as first argument) or --namespace-id must be specified");
    if (args.newName && args.newName.length > 512) {
      throw new CommandLineArgsError(`new-name must be 512 characters or less (current: ${args.newName.length})`);
    }
  },
  async handler(args, ctx) {
    const store = await ctx.store(args);
    let id = args.namespaceId;
    if (!id && args.oldName) {
      const found = (await store.listNamespaces()).find((ns) => ns.title === args.oldName);
      if (!found) {
        throw new UserError(
          `No namespace found with the name "${args.oldName}". Use --namespace-id instead or check available namespaces with "openkv kv namespace list".`,
        );
      }
      id = found.id;
    }
    ctx.out.log(`Renaming KV namespace ${id} to "${args.newName}".`);
    const updated = await store.renameNamespace(id!, args.newName);
    ctx.out.log(`✨ Successfully renamed namespace to "${updated.title}"`);
  },
});
