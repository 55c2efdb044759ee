/** The Cloudflare REST API v4 (the subset real KV clients use), mounted under /client/v4. */
import type { Route } from "../../http/route.ts";
import { accountRoutes } from "./accounts.ts";
import { namespaceRoutes } from "./namespaces.ts";
import { valueRoutes } from "./values.ts";

export { cfErrors } from "./envelope.ts";

export function cloudflareRoutes(): Route[] {
  return [...namespaceRoutes(), ...valueRoutes(), ...accountRoutes()];
}
