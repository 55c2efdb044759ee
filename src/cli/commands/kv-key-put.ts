/** `openkv kv key put <key> [value]`: a value given inline is text, `--path` bytes (as wrangler sends them). */
import { readFileSync } from "node:fs";
import { defineCommand } from "../command.ts";
import { UserError } from "../errors.ts";
import { demandOneOf, expiryArgs, locationArgs, namespaceArgs, parseMetadataFlag, type NamespaceTargetArgs } from "../kv/args.ts";
import { resolveNamespace } from "../kv/namespace-id.ts";

interface Args extends NamespaceTargetArgs {
  key: string;
  value?: string;
  path?: string;
  ttl?: number;
  expiration?: number;
  metadata?: string;
}

export const kvKeyPutCommand = defineCommand<Args>({
  command: ["kv", "key", "put"],
  description: "Write a single key/value pair to the given namespace",
  positionals: ["key", "value"],
  args: {
    key: { type: "string", describe: "The key to write to", demandOption: true },
    value: { type: "string", describe: "The value to write" },
    path: { type: "string", requiresArg: true, describe: "Read value from the file at a given path" },
    ...namespaceArgs("write to"),
    ...expiryArgs,
    ...locationArgs,
  },
  behaviour: { resourceLocation: "stdout" },
  validateArgs(args) {
    demandOneOf(args as unknown as Record<string, unknown>, "binding", "namespace-id");
    demandOneOf(args as unknown as Record<string, unknown>, "value", "path");
    parseMetadataFlag(args.metadata);
  },
  async handler(args, ctx) {
    const { key } = args;
    const { namespaceId, displayName } = await resolveNamespace(args, ctx);
    const metadata = parseMetadataFlag(args.metadata);
    let value: string | Uint8Array;
    if (args.path) {
      try {
        value = new Uint8Array(readFileSync(ctx.resolve(args.path)));
      } catch (e) {
        throw new UserError(`Could not read file: ${args.path}\n${(e as Error).message}`);
      }
    } else {
      value = args.value!;
    }
    const metadataLog = metadata ? ` with metadata "${JSON.stringify(metadata)}"` : "";
    if (args.path) {
      ctx.out.log(`Writing the contents of ${args.path} to the key "${key}" on namespace ${displayName}${metadataLog}.`);
    } else {
      ctx.out.log(`Writing the value "${value as string}" to key "${key}" on namespace ${displayName}${metadataLog}.`);
    }
    const store = await ctx.store(args);
    await store.put(namespaceId, {
      key,
      value,
      ...(args.expiration !== undefined ? { expiration: args.expiration } : {}),
      ...(args.ttl !== undefined ? { expirationTtl: args.ttl } : {}),
      ...(metadata !== undefined ? { metadata } : {}),
    });
  },
});
