/** The web dashboard: its page and static modules (./static.ts) and its JSON API (./routes.ts). */
import type { Route } from "../../http/route.ts";
import { dashboardRoutes } from "./routes.ts";
import { dashboardStaticRoutes } from "./static.ts";

export { DASHBOARD_API } from "./routes.ts";
export { UI_PATH } from "./static.ts";

export function dashboard(): Route[] {
  return [...dashboardStaticRoutes(), ...dashboardRoutes()];
}
