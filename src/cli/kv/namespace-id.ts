/**
 * Which namespace a `kv` command means, by wrangler's `getKVNamespaceId` rules and messages:
 * `--namespace-id`, a namespace title (positional, for `kv namespace delete`), or `--binding` looked up in
 * the config (with `--preview` choosing `preview_id`).
 */
import { bindingNamespaceId, findBinding } from "../../config/bindings.ts";
import type { CommandContext } from "../command.ts";
import { UserError } from "../errors.ts";
import type { KvStore } from "../store/types.ts";
import { isLocal } from "../context.ts";
import type { NamespaceTargetArgs } from "./args.ts";

export interface ResolvedNamespace {
  readonly namespaceId: string;
  /** How the namespace is named in messages: `id: "…"`, `name: "…" (id: "…")`, `binding: "…" (id: "…")`. */
  readonly displayName: string;
}

export async function resolveNamespace(args: NamespaceTargetArgs & { namespace?: string }, ctx: CommandContext, store?: KvStore): Promise<ResolvedNamespace> {
  if (args.namespaceId) return { namespaceId: args.namespaceId, displayName: `id: "${args.namespaceId}"` };
  if (args.namespace) {
    const all = await (store ?? (await ctx.store(args))).listNamespaces();
    const found = all.find((ns) => ns.title === args.namespace);
    if (!found) {
      throw new UserError(
        `No namespace found with the name "${args.namespace}". Use --namespace-id or --binding instead, or check available namespaces with "openkv kv namespace list".`,
      );
    }
    return { namespaceId: found.id, displayName: `name: "${args.namespace}" (id: "${found.id}")` };
  }
  const binding = args.binding ?? "";
  const entry = findBinding(ctx.config(), binding);
  const id = bindingNamespaceId(entry, args.preview, isLocal(args));
  return { namespaceId: id, displayName: `binding: "${binding}" (id: "${id}")` };
}
