/** `openkv token revoke <id>`. */
import { defineCommand } from "../command.ts";
import { locationArgs } from "../kv/args.ts";
import { auditLogArg, storeArg, openTokens } from "../token/token-store.ts";

interface Args {
  id: string;
  local?: boolean;
  remote?: boolean;
  persistTo?: string;
  store?: string;
  auditLog?: string;
}

export const tokenRevokeCommand = defineCommand<Args>({
  command: ["token", "revoke"],
  description: "Revoke an API token by id",
  positionals: ["id"],
  args: {
    id: { type: "string", demandOption: true, describe: "The token's id (see `openkv token list`)" },
    ...locationArgs,
    ...storeArg,
    ...auditLogArg,
  },
  behaviour: { resourceLocation: "stdout" },
  async handler(args, ctx) {
    const tokens = await openTokens(args, ctx);
    await tokens.revoke(args.id);
    ctx.out.log(`✨ Revoked token ${args.id}.`);
  },
});
