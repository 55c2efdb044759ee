/**
 * Where the user key for encryption at rest comes from: `--encryption-key-file PATH` (a file holding the
 * base64 that `openssl rand -base64 32` prints), else `OPENKV_ENCRYPTION_KEY` (the base64 itself).
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { KvError } from "../core/errors.ts";
import { parseEncryptionKey } from "../core/keyring.ts";

/** The key given by flag or environment, undefined when neither is set; a KvError saying what is wrong otherwise. */
export function loadEncryptionKey(file: string | undefined, env: NodeJS.ProcessEnv, cwd: string = process.cwd(), flag = "--encryption-key-file"): Uint8Array | undefined {
  if (file !== undefined) {
    let text: string;
    try {
      text = readFileSync(resolve(cwd, file), "utf8");
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      const why = code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : code === "EISDIR" ? "it is a directory" : String((e as Error).message);
      throw new KvError("encryption_key", `Cannot read ${flag} ${file}: ${why}`);
    }
    return parseEncryptionKey(text, `${flag} ${file}`);
  }
  const value = env.OPENKV_ENCRYPTION_KEY;
  if (value !== undefined && value !== "") return parseEncryptionKey(value, "OPENKV_ENCRYPTION_KEY");
  return undefined;
}
