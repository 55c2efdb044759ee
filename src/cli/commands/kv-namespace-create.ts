/** `openkv kv namespace create <namespace>`: wrangler's command, on the local data directory or a server. */
import { defineCommand } from "../command.ts";
import { UserError } from "../errors.ts";
import { locationArgs, type NamespaceTargetArgs } from "../kv/args.ts";
import { addKvBindingToConfig, configSnippet, validBindingName } from "../kv/config-snippet.ts";
import { NamespaceExistsError } from "../store/types.ts";

interface Args extends NamespaceTargetArgs {
  namespace: string;
  useRemote?: boolean;
  updateConfig?: boolean;
}

export const kvNamespaceCreateCommand = defineCommand<Args>({
  command: ["kv", "namespace", "create"],
  description: "Create a new namespace",
  positionals: ["namespace"],
  args: {
    namespace: { type: "string", demandOption: true, describe: "The name of the new namespace" },
    preview: { type: "boolean", describe: "Interact with a preview namespace" },
    "use-remote": { type: "boolean", describe: "Use a remote binding when adding the newly created resource to your config" },
    "update-config": { type: "boolean", describe: "Automatically update your config file with the newly added resource" },
    binding: { type: "string", describe: "The binding name of this resource in your Worker" },
    ...locationArgs,
  },
  behaviour: { resourceLocation: "stdout" },
  async handler(args, ctx) {
    const config = ctx.config();
    const title = `${args.env ? `${args.env}-` : ""}${args.namespace}${args.preview ? "_preview" : ""}`;
    const store = await ctx.store(args);
    ctx.out.log(`🌀 Creating namespace with title "${title}"`);
    let id: string;
    try {
      id = (await store.createNamespace(title)).id;
    } catch (e) {
      if (!(e instanceof NamespaceExistsError)) throw e;
      throw new UserError(
        [
          `A KV namespace with the title "${title}" already exists.`,
          "",
          "You can list existing namespaces with their IDs by running:",
          "  openkv kv namespace list",
          "",
          "Or choose a different namespace name.",
        ].join("\n"),
      );
    }
    ctx.out.log("✨ Success!");
    const idField = args.preview ? "preview_id" : "id";
    const entry = (binding: string) => ({ binding, [idField]: id, ...(args.useRemote === true ? { remote: true } : {}) });
    const envString = args.env ? ` in the "${args.env}" environment` : "";
    ctx.out.log(`To access your new KV Namespace in your Worker, add the following snippet to your configuration file${envString}:`);
    ctx.out.log(configSnippet({ kv_namespaces: [entry(validBindingName(args.binding ?? args.namespace, "KV"))] }, config.path));
    if (!config.path || config.path.endsWith(".toml")) return;
    // Like wrangler: --binding or --update-config answer "add it for me?"; a preview namespace is never added unasked.
    const write = args.binding !== undefined || (args.preview ? false : (args.updateConfig ?? (await ctx.confirm("Would you like OpenKV to add it on your behalf?", { defaultValue: true, fallbackValue: false }))));
    if (!write) return;
    const binding = args.binding ?? validBindingName(args.namespace, "KV");
    addKvBindingToConfig(config.path, args.env, entry(binding));
  },
});
