/** `openkv kv key get <key>`: the raw value on stdout (`--text`: decoded, with a newline). */
import { StringDecoder } from "node:string_decoder";
import { defineCommand } from "../command.ts";
import { UserError } from "../errors.ts";
import { demandOneOf, locationArgs, namespaceArgs, type NamespaceTargetArgs } from "../kv/args.ts";
import { resolveNamespace } from "../kv/namespace-id.ts";

interface Args extends NamespaceTargetArgs {
  key: string;
  text: boolean;
}

export const kvKeyGetCommand = defineCommand<Args>({
  command: ["kv", "key", "get"],
  description: "Read a single value by key from the given namespace",
  positionals: ["key"],
  args: {
    key: { type: "string", describe: "The key value to get.", demandOption: true },
    text: { type: "boolean", default: false, describe: "Decode the returned value as a utf8 string" },
    ...namespaceArgs("get from", false),
    ...locationArgs,
  },
  behaviour: { printBanner: false, resourceLocation: "stderr" },
  validateArgs(args) {
    demandOneOf(args as unknown as Record<string, unknown>, "binding", "namespace-id");
  },
  async handler(args, ctx) {
    const { namespaceId, displayName } = await resolveNamespace(args, ctx);
    const store = await ctx.store(args);
    const value = await store.get(namespaceId, args.key);
    if (value === null) {
      // wrangler's local mode says this and succeeds; against a server it fails (a 404), so do we.
      if (store.location === "local") {
        ctx.out.log("Value not found");
        return;
      }
      throw new UserError(`Value not found: no key "${args.key}" in namespace ${displayName} on ${store.where}.`);
    }
    if (args.text) ctx.out.log(new StringDecoder("utf8").write(Buffer.from(value)));
    else ctx.out.raw(value);
  },
});
