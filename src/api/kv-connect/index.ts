/**
 * KV Connect: Deno KV's network protocol (metadata exchange + protobuf data path), served by
 * `kvConnectRoutes` and spoken by our remote client through the same wire conversions.
 */
export { kvConnectRoutes, kvConnectErrors, type KvConnectOptions } from "./routes.ts";
export { databaseIdOf, namespaceIdOf, type DatabaseMetadata, type ProtocolVersion } from "../../wire/kv-connect/metadata.ts";
