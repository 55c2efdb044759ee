/** `openkv token list`: the tokens (never their secrets), as a table or `--json`. */
import { defineCommand } from "../command.ts";
import { locationArgs } from "../kv/args.ts";
import { describeScope, openTokens, storeArg } from "../token/token-store.ts";

interface Args {
  json?: boolean;
  local?: boolean;
  remote?: boolean;
  persistTo?: string;
  store?: string;
}

export const tokenListCommand = defineCommand<Args>({
  command: ["token", "list"],
  description: "List the API tokens (their names, scopes and ids; secrets are never kept)",
  args: {
    json: { type: "boolean", describe: "Print the list as JSON" },
    ...locationArgs,
    ...storeArg,
  },
  behaviour: { printBanner: (a) => !a.json, resourceLocation: (a) => (a.json ? "stderr" : "stdout") },
  async handler(args, ctx) {
    const tokens = await openTokens(args, ctx);
    const list = await tokens.list();
    if (args.json) {
      ctx.out.log(JSON.stringify(list, null, 2));
      return;
    }
    if (list.length === 0) {
      ctx.out.log("No tokens. Create one with `openkv token create <name>`.");
      return;
    }
    const titles = await tokens.titles();
    const rows = list.map((t) => [t.id, t.name, t.permission, describeScope(t.namespaces, titles), new Date(t.createdAt).toISOString()]);
    const head = ["id", "name", "permission", "namespaces", "created"];
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd();
    ctx.out.log(line(head));
    for (const r of rows) ctx.out.log(line(r));
  },
});
