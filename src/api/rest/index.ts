/** The `/kv/{keypath}` REST API: routes, and the dotted key path codec they use. */
export { restErrors, restRoutes } from "./routes.ts";
export { keyToJson, keyToPath, parseKeyPath } from "./keypath.ts";
