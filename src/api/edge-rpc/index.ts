/** The core's side of the edge protocol (src/wire/edge-rpc.ts), mounted by every server. */
export { edgeRpcRoutes } from "./routes.ts";
