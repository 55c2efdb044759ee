/** Every CLI command and command group, declared once; main.ts builds the parser from these lists. */
import type { CommandDefinition, GroupDefinition, RawCommandDefinition } from "./command.ts";
import { keyRotateCommand } from "./commands/key-rotate.ts";
import { kvBulkDeleteCommand } from "./commands/kv-bulk-delete.ts";
import { kvBulkGetCommand } from "./commands/kv-bulk-get.ts";
import { kvBulkPutCommand } from "./commands/kv-bulk-put.ts";
import { kvKeyDeleteCommand } from "./commands/kv-key-delete.ts";
import { kvKeyGetCommand } from "./commands/kv-key-get.ts";
import { kvKeyListCommand } from "./commands/kv-key-list.ts";
import { kvKeyPutCommand } from "./commands/kv-key-put.ts";
import { kvNamespaceCreateCommand } from "./commands/kv-namespace-create.ts";
import { kvNamespaceDeleteCommand } from "./commands/kv-namespace-delete.ts";
import { kvNamespaceListCommand } from "./commands/kv-namespace-list.ts";
import { kvNamespaceRenameCommand } from "./commands/kv-namespace-rename.ts";
import { serveCommand } from "./commands/serve.ts";
import { storeBackupCommand } from "./commands/store-backup.ts";
import { storeExportCommand } from "./commands/store-export.ts";
import { storeImportCommand } from "./commands/store-import.ts";
import { storeRestoreCommand } from "./commands/store-restore.ts";
import { storeMigrateCommand } from "./commands/store-migrate.ts";
import { tokenCreateCommand } from "./commands/token-create.ts";
import { tokenListCommand } from "./commands/token-list.ts";
import { tokenRevokeCommand } from "./commands/token-revoke.ts";

export const GROUPS: readonly GroupDefinition[] = [
  { command: ["kv"], description: "🗂️ Manage Workers KV Namespaces" },
  { command: ["kv", "namespace"], description: "Interact with your Workers KV Namespaces" },
  { command: ["kv", "key"], description: "Individually manage Workers KV key-value pairs" },
  { command: ["kv", "bulk"], description: "Interact with multiple Workers KV key-value pairs at once" },
  { command: ["token"], description: "🔐 Manage the API tokens of an OpenKV server" },
  { command: ["key"], description: "🔒 Manage the encryption at rest of a local store" },
];

export const COMMANDS: readonly CommandDefinition[] = [
  kvNamespaceCreateCommand,
  kvNamespaceListCommand,
  kvNamespaceDeleteCommand,
  kvNamespaceRenameCommand,
  kvKeyPutCommand,
  kvKeyListCommand,
  kvKeyGetCommand,
  kvKeyDeleteCommand,
  kvBulkGetCommand,
  kvBulkPutCommand,
  kvBulkDeleteCommand,
  tokenCreateCommand,
  tokenListCommand,
  tokenRevokeCommand,
  storeExportCommand,
  storeImportCommand,
  storeBackupCommand,
  storeRestoreCommand,
  storeMigrateCommand,
  keyRotateCommand,
];

export const RAW_COMMANDS: readonly RawCommandDefinition[] = [serveCommand];

/** wrangler 3's spellings (`kv:namespace create`), still accepted with a deprecation warning. */
export const DEPRECATED_ALIASES: Readonly<Record<string, readonly string[]>> = {
  "kv:namespace": ["kv", "namespace"],
  "kv:key": ["kv", "key"],
  "kv:bulk": ["kv", "bulk"],
};
