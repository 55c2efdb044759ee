/** `openkv token create <name>`: a token limited to some namespaces (default all) and to read or read-write. */
import { defineCommand } from "../command.ts";
import { CommandLineArgsError } from "../errors.ts";
import { locationArgs } from "../kv/args.ts";
import { auditLogArg, storeArg, describeScope, openTokens } from "../token/token-store.ts";

interface Args {
  name: string;
  namespace?: string[];
  permission: string;
  analytics?: boolean;
  json?: boolean;
  local?: boolean;
  remote?: boolean;
  persistTo?: string;
  store?: string;
  auditLog?: string;
}

export const tokenCreateCommand = defineCommand<Args>({
  command: ["token", "create"],
  description: "Create an API token (shown once)",
  positionals: ["name"],
  args: {
    name: { type: "string", demandOption: true, describe: "A name to recognise the token by" },
    namespace: { type: "string", array: true, requiresArg: true, describe: "A namespace (id or title) the token may use; repeat for several (default: every namespace)" },
    permission: { type: "string", choices: ["read", "write"], default: "write", describe: "read: read only; write: read and write" },
    analytics: { type: "boolean", describe: "Also allow querying the GraphQL Analytics API for those namespaces" },
    json: { type: "boolean", describe: "Print the token and its record as JSON" },
    ...locationArgs,
    ...storeArg,
    ...auditLogArg,
  },
  behaviour: { printBanner: (a) => !a.json, resourceLocation: (a) => (a.json ? "stderr" : "stdout") },
  validateArgs(args) {
    if (args.name.trim() === "") throw new CommandLineArgsError("A token needs a non-empty name");
  },
  async handler(args, ctx) {
    const tokens = await openTokens(args, ctx);
    const created = await tokens.create({
      name: args.name,
      namespaces: args.namespace && args.namespace.length > 0 ? args.namespace : null,
      permission: args.permission as "read" | "write",
      ...(args.analytics ? { analytics: true } : {}),
    });
    if (args.json) {
      ctx.out.log(JSON.stringify(created, null, 2));
    } else {
      const scope = describeScope(created.namespaces, await tokens.titles());
      ctx.out.log(`✨ Created token "${created.name}" (id: ${created.id}): ${created.permission === "write" ? "read and write" : "read only"} on ${scope}${created.analytics ? ", and may read analytics" : ""}.`);
      ctx.out.log("It is shown only this once; keep it somewhere safe:");
      ctx.out.log(`  ${created.token}`);
    }
  },
});
