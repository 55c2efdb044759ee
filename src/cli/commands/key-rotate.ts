/**
 * `openkv key rotate`: re-encrypts a local store under a new data key while servers keep using it; with
 * `--new-key-file`, also moves it to a new encryption key; on a plaintext store, encrypts it in place.
 * Safe to interrupt (Ctrl-C, a crash): the next run resumes where the rows still need it.
 */
import { loadEncryptionKey } from "../../config/encryption-key.ts";
import { rotateKeys, type RotationPlan } from "../../core/rotation.ts";
import { defineCommand } from "../command.ts";
import { localStore } from "../data/local-target.ts";
import type { Progress } from "../progress.ts";
import { locationArgs } from "../kv/args.ts";
import { formatNumber } from "../output.ts";

const count = (n: number, one: string, many: string) => `${formatNumber(n)} ${n === 1 ? one : many}`;

interface Args {
  newKeyFile?: string;
  local?: boolean;
  remote?: boolean;
  persistTo?: string;
  encryptionKeyFile?: string;
}

export const keyRotateCommand = defineCommand<Args>({
  command: ["key", "rotate"],
  description: "Re-encrypt a local store under a new data key, online (encrypts a plaintext store in place)",
  args: {
    "new-key-file": {
      type: "string",
      requiresArg: true,
      describe: "Also change the store's encryption key to the one in this file: once the rotation ends, only it opens the store",
    },
    ...locationArgs,
  },
  behaviour: { resourceLocation: "stdout" },
  async handler(args, ctx) {
    const store = await localStore("key rotate", args, ctx);
    const newKey = args.newKeyFile ? loadEncryptionKey(args.newKeyFile, {}, ctx.cwd, "--new-key-file") : undefined;
    const interrupt = new AbortController();
    const onSigint = () => interrupt.abort();
    process.once("SIGINT", onSigint);
    let bar: Progress | null = null;
    let plan: RotationPlan | null = null;
    try {
      const report = await rotateKeys(store.engine, {
        ...(newKey ? { newKey } : {}),
        signal: interrupt.signal,
        onStart(p) {
          plan = p;
          ctx.out.log(
            `${p.resumed ? "Resuming the rotation" : "Rotating"} to data key ${p.target}: ${count(p.entries, "entry", "entries")} and ${count(p.messages, "queue message", "queue messages")} to look at.`,
          );
          bar = ctx.progress("Re-encrypting", p.entries + p.messages);
        },
        onProgress: (n) => bar?.tick(n),
      });
      (bar as Progress | null)?.done();
      const inPlace = report.sealedInPlace > 0 ? ` (${formatNumber(report.sealedInPlace)} of them were plaintext)` : "";
      ctx.out.log(
        `Re-encrypted ${count(report.resealed, "entry", "entries")}${inPlace} and ${count(report.messagesResealed, "queue message", "queue messages")} under data key ${report.target}; ${formatNumber(report.changedMeanwhile)} written meanwhile were already under it.`,
      );
      if (!report.finished) {
        ctx.out.error(
          [
            `${count(report.failures.length, "entry or message", "entries or messages")} could not be decrypted, so the older data keys are kept:`,
            ...report.failures,
            "Delete or restore them, then run `openkv key rotate` again to finish.",
          ].join("\n"),
        );
        return 1;
      }
      const retired = report.retired.length > 0 ? ` Retired data key${report.retired.length > 1 ? "s" : ""} ${report.retired.join(", ")}.` : "";
      ctx.out.log(`✨ Every value, metadata and queue payload is now sealed under data key ${report.target}.${retired}`);
      if (report.keep !== store.engine.keyring.fingerprint) {
        ctx.out.log(
          `From now on open this store with the key in ${args.newKeyFile ?? "the new key file"} (fingerprint ${report.keep}); restart processes that still use the old key.`,
        );
      }
    } catch (e) {
      (bar as Progress | null)?.done();
      if (interrupt.signal.aborted && plan) {
        ctx.out.warn(`Interrupted. The rotation to data key ${(plan as RotationPlan).target} is recorded in the store: run \`openkv key rotate\` again to finish it.`);
        return 130;
      }
      throw e;
    } finally {
      process.off("SIGINT", onSigint);
    }
  },
});
