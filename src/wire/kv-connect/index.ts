/**
 * The KV Connect wire, shared by the server (`src/api/kv-connect`) and the remote client
 * (`src/client/kv-connect.ts`): protobuf conversions, stream frames, the metadata exchange and the
 * generated protobuf code. Imports core only.
 */
export * from "./wire.ts";
export * from "./frames.ts";
export * from "./metadata.ts";
