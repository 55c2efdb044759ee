/** Configuration shared by the CLI and library code: wrangler config files, data directories, bindings. */
export {
  CONFIG_FILE_NAMES,
  ConfigError,
  configBaseDir,
  findConfigFile,
  parseJsonc,
  readWranglerConfig,
  type KvNamespaceBinding,
  type OpenKvSettings,
  type ReadConfigOptions,
  type WranglerConfig,
} from "./wrangler-config.ts";
export { DATA_FILES, DEFAULT_DATA_DIR, displayPath, localNamespace, openDataDir, sqlitePath } from "./data-dir.ts";
export { bindingNamespaceId, findBinding, getBinding, getBindings, localDataDir, type Bindings, type GetBindingsOptions } from "./bindings.ts";
export { remoteSettings, type RemoteSettings, type RemoteSettingsInput } from "./remote.ts";
