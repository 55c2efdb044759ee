/** Flag sets shared by the `kv` commands, with wrangler's names and descriptions. */
import type { ArgSpec } from "../command.ts";
import { CommandLineArgsError } from "../errors.ts";

/**
 * `--local` / `--remote` / `--persist-to`, as wrangler declares them (here `kv namespace …` has them too),
 * and OpenKV's `--encryption-key-file` for a local store that is encrypted at rest.
 */
export const locationArgs = {
  local: { type: "boolean", describe: "Interact with local storage" },
  remote: { type: "boolean", describe: "Interact with remote storage", conflicts: "local" },
  "persist-to": { type: "string", describe: "Directory for local persistence", requiresArg: true },
  store: {
    type: "string",
    describe: "A shared store instead of the data directory: postgres://user@host:port/db (default: $OPENKV_STORE)",
    requiresArg: true,
    // Not in --help: the kv commands' help stays what wrangler prints (test/cli/golden.test.ts); the
    // README and `openkv serve --help` document it.
    hidden: true,
  },
  "encryption-key-file": {
    type: "string",
    describe: "The local store's encryption key (base64 of 32 bytes; default: $OPENKV_ENCRYPTION_KEY)",
    requiresArg: true,
  },
} as const satisfies Record<string, ArgSpec>;

/** `--binding` / `--namespace-id` / `--preview` for a command that acts "to"/"from" a namespace. */
export function namespaceArgs(what: string, previewDefault?: false): Record<string, ArgSpec> {
  return {
    binding: { type: "string", requiresArg: true, describe: `The binding name to the namespace to ${what}` },
    "namespace-id": { type: "string", requiresArg: true, describe: `The id of the namespace to ${what}` },
    preview: {
      type: "boolean",
      describe: "Interact with a preview namespace",
      ...(previewDefault === false ? { default: false } : {}),
    },
  };
}

export const expiryArgs = {
  ttl: { type: "number", describe: "Time for which the entries should be visible" },
  expiration: { type: "number", describe: "Time since the UNIX epoch after which the entry expires" },
  metadata: { type: "string", describe: "Arbitrary JSON that is associated with a key" },
} as const satisfies Record<string, ArgSpec>;

/** wrangler's `demandOneOfOption`, with its messages. */
export function demandOneOf(args: Record<string, unknown>, ...options: string[]): void {
  const count = options.filter((o) => args[o]).length;
  const last = options.at(-1);
  const rest = options.slice(0, -1).join(", ");
  if (count === 0) throw new CommandLineArgsError(`Exactly one of the arguments ${rest} and ${last} is required`);
  if (count > 1) throw new CommandLineArgsError(`Arguments ${rest} and ${last} are mutually exclusive`);
}

/** `--metadata` as JSON (wrangler silently drops JSON it cannot parse; we refuse it). */
export function parseMetadataFlag(raw: string | undefined): unknown {
  if (raw === undefined) return undefined;
  try {
    return JSON.parse(raw);
  } catch {
    throw new CommandLineArgsError(`--metadata must be JSON, e.g. --metadata '{"owner":"ada"}'; got: ${raw}`);
  }
}

export interface NamespaceTargetArgs {
  binding?: string;
  namespaceId?: string;
  preview?: boolean;
  local?: boolean;
  remote?: boolean;
  persistTo?: string;
  store?: string;
  encryptionKeyFile?: string;
}
