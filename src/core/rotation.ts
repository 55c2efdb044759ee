/**
 * Online key rotation, and sealing a plaintext store in place: `openkv key rotate`.
 *
 * 1. A new data key becomes active, recorded with a `rotation` note in the keyring (one compare-and-set
 *    of the setting). Every commit reads the keyring inside its transaction, so from that commit on every
 *    writer, in every process, seals under the new key: nothing written afterwards needs re-sealing.
 * 2. Every entry (expired-but-unpurged ones too) and queue message not yet under the new key is opened
 *    and re-sealed, a batch at a time, with `Backend.reseal`: only if its versionstamp is unchanged, and
 *    without issuing one. An entry written meanwhile keeps its newer bytes; versionstamps, expiries,
 *    watchers and compare-and-swap checks never see the rotation.
 * 3. With nothing left under them, the older data keys are dropped from the keyring, with the wraps
 *    under any user key but the one the rotation ends under (`--new-key-file`), and the store is scrubbed
 *    (replaced bytes leave the files).
 *
 * Interrupted anywhere, the note stays: the next run resumes it, skipping rows already re-sealed.
 */
import { createSecretKey } from "node:crypto";
import type { MessageReseal, Reseal } from "./backend.ts";
import type { Engine } from "./engine.ts";
import { KvError } from "./errors.ts";
import { KEYRING_SETTING, Keyring, keyFingerprint, type KeyringDocument } from "./keyring.ts";
import { envelopeKeyId } from "./sealing.ts";
import type { Entry } from "./types.ts";

export interface RotateOptions {
  /** A new user key: the data keys are wrapped under it too, and once the rotation ends only it opens the store. */
  newKey?: Uint8Array;
  /** Called once the work is known. */
  onStart?(plan: RotationPlan): void;
  /** Called with how many entries or messages were just looked at. */
  onProgress?(n: number): void;
  /** Stops between batches (the rotation stays recorded and resumes on the next run). */
  signal?: AbortSignal;
  /** Rows per read and per reseal. Default 256. */
  batchSize?: number;
}

export interface RotationPlan {
  /** The data key everything ends up under. */
  readonly target: number;
  readonly resumed: boolean;
  /** Entries and queue messages to look at (those already under `target` cost one read). */
  readonly entries: number;
  readonly messages: number;
  /** Fingerprint of the user key that opens the store once the rotation ends. */
  readonly keep: string;
}

export interface RotationReport extends RotationPlan {
  /** Entries re-sealed under the target key (`sealedInPlace` of them were plaintext). */
  readonly resealed: number;
  readonly sealedInPlace: number;
  /** Entries written meanwhile: their new bytes were sealed under the target key already. */
  readonly changedMeanwhile: number;
  readonly messagesResealed: number;
  /** Data key ids dropped from the keyring. */
  readonly retired: readonly number[];
  /** Entries or messages that failed to decrypt (named with their data key): the rotation stays unfinished. */
  readonly failures: readonly string[];
  readonly finished: boolean;
}

const ALL_KEYS = { start: new Uint8Array(0), end: Uint8Array.of(0xff) };
/** Reads with `now` = 0 see expired entries not yet purged: they are re-sealed too. */
const INCLUDING_EXPIRED = 0;

function after(key: Uint8Array): Uint8Array {
  const next = new Uint8Array(key.length + 1);
  next.set(key);
  return next;
}

/** Starts (or resumes) the rotation note; returns the keyring document holding it. */
async function begin(engine: Engine, newKey: { key: ReturnType<typeof createSecretKey>; fingerprint: string } | undefined): Promise<{ doc: KeyringDocument; resumed: boolean }> {
  const { backend, keyring } = engine;
  for (;;) {
    await keyring.refresh(backend);
    const current = keyring.document;
    const rotation = current?.rotation;
    if (rotation) {
      if (newKey && newKey.fingerprint !== rotation.keep) {
        throw new KvError(
          "encryption_key",
          `A rotation to data key ${rotation.to}, ending under the key with fingerprint ${rotation.keep}, is in progress: finish it first (run \`openkv key rotate\` again without --new-key-file, or with that key)`,
        );
      }
      if (!keyring.holds(rotation.to)) {
        throw new KvError("encryption_key", `The rotation in progress seals under data key ${rotation.to}, which the key given (fingerprint ${keyring.fingerprint}) does not open`);
      }
      return { doc: current, resumed: true };
    }
    const next = keyring.newDocument(current, engine.clock.now(), newKey, { keep: newKey?.fingerprint ?? keyring.fingerprint! });
    const text = JSON.stringify(next);
    if (await backend.putSetting(KEYRING_SETTING, text, keyring.text)) {
      keyring.adopt(text);
      return { doc: next, resumed: false };
    }
    // Another process changed the keyring in between: look again.
  }
}

/** Drops the retired data keys and the wraps under other user keys; returns the ids dropped. */
async function finish(engine: Engine, target: number): Promise<number[]> {
  const { backend, keyring } = engine;
  for (;;) {
    await keyring.refresh(backend);
    const current = keyring.document;
    if (!current?.rotation || current.rotation.to !== target) return [];
    const keep = current.rotation.keep;
    const retired = current.keys.filter((k) => k.id !== target).map((k) => k.id);
    const keys = current.keys
      .filter((k) => k.id === target)
      .map((k) => ({ ...k, wrapped: Object.fromEntries(Object.entries(k.wrapped).filter(([fp]) => fp === keep)) }));
    const text = JSON.stringify({ format: 1, active: target, keys } satisfies KeyringDocument);
    if (await backend.putSetting(KEYRING_SETTING, text, keyring.text)) {
      keyring.adopt(text);
      return retired;
    }
  }
}

/**
 * Rotates the store's data key (and, with `newKey`, its user key) while it stays in use; on a plaintext
 * store, encrypts it in place. The engine must have been opened with the store's current key.
 */
export async function rotateKeys(engine: Engine, options: RotateOptions = {}): Promise<RotationReport> {
  const { backend, keyring } = engine;
  if (!keyring.userKey) {
    throw new KvError(
      "encryption_key",
      "Rotating needs the store's encryption key (to encrypt a plaintext store: the key to encrypt it with): pass --encryption-key-file PATH or set OPENKV_ENCRYPTION_KEY",
    );
  }
  const newKey = options.newKey ? { key: createSecretKey(options.newKey), fingerprint: keyFingerprint(options.newKey) } : undefined;
  const batch = options.batchSize ?? 256;
  const { doc, resumed } = await begin(engine, newKey);
  const target = doc.rotation!.to;

  const namespaces = await backend.listNamespaces();
  let entries = 0;
  let messages = 0;
  for (const ns of namespaces) {
    entries += await backend.count(ns.id, ALL_KEYS.start, ALL_KEYS.end, INCLUDING_EXPIRED);
    for (let afterId = 0; ; ) {
      const page = await backend.listMessages(ns.id, afterId, 1000);
      messages += page.length;
      if (page.length < 1000) break;
      afterId = page.at(-1)!.id;
    }
  }
  const plan: RotationPlan = { target, resumed, entries, messages, keep: doc.rotation!.keep };
  options.onStart?.(plan);

  let resealed = 0;
  let sealedInPlace = 0;
  let changedMeanwhile = 0;
  let messagesResealed = 0;
  const failures: string[] = [];
  const underTarget = (e: Entry) => e.sealed === true && Keyring.keyIdsOf(e).every((id) => id === target);

  for (const ns of namespaces) {
    for (let start: Uint8Array = ALL_KEYS.start; ; ) {
      options.signal?.throwIfAborted();
      const [rows] = await backend.read(ns.id, [{ start, end: ALL_KEYS.end, limit: batch }], INCLUDING_EXPIRED);
      const items: Reseal[] = [];
      const wasPlain: boolean[] = [];
      for (const e of rows!) {
        if (underTarget(e)) continue;
        let plain: Entry;
        try {
          plain = keyring.openEntry(ns.id, e);
        } catch (err) {
          if (!(err instanceof KvError)) throw err;
          failures.push(err.message);
          continue;
        }
        const sealed = keyring.sealEntry(ns.id, plain);
        items.push({ key: e.key, versionstamp: e.versionstamp, data: sealed.data, metadata: sealed.metadata, sealed: true });
        wasPlain.push(!e.sealed);
      }
      if (items.length > 0) {
        const applied = await backend.reseal(ns.id, items);
        applied.forEach((done, i) => {
          if (!done) return void changedMeanwhile++;
          resealed++;
          if (wasPlain[i]) sealedInPlace++;
        });
      }
      options.onProgress?.(rows!.length);
      if (rows!.length < batch) break;
      start = after(rows!.at(-1)!.key);
    }
    for (let afterId = 0; ; ) {
      options.signal?.throwIfAborted();
      const page = await backend.listMessages(ns.id, afterId, batch);
      const items: MessageReseal[] = [];
      for (const m of page) {
        if (m.sealed && envelopeKeyId(m.payload) === target) continue;
        let payload: Uint8Array;
        try {
          payload = keyring.openPayload(ns.id, m);
        } catch (err) {
          if (!(err instanceof KvError)) throw err;
          failures.push(err.message);
          continue;
        }
        const sealed = keyring.sealMessage(ns.id, { payload, readyAt: m.readyAt, keysIfUndelivered: m.keysIfUndelivered });
        items.push({ id: m.id, from: m.payload, payload: sealed.payload, sealed: true });
      }
      if (items.length > 0) messagesResealed += (await backend.resealMessages(items)).filter(Boolean).length;
      options.onProgress?.(page.length);
      if (page.length < batch) break;
      afterId = page.at(-1)!.id;
    }
  }

  const finished = failures.length === 0;
  const retired = finished ? await finish(engine, target) : [];
  if (finished) await backend.scrub({ checkpoint: true });
  return { ...plan, resealed, sealedInPlace, changedMeanwhile, messagesResealed, retired, failures, finished };
}
