/**
 * The framing of KV Connect streams (watch, and our queue stream): each frame is a u32 little-endian
 * length followed by that many bytes of protobuf; a zero-length frame is a keep-alive.
 */

export const KEEP_ALIVE: Uint8Array = new Uint8Array(4);

export function frame(message: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + message.length);
  new DataView(out.buffer).setUint32(0, message.length, true);
  out.set(message, 4);
  return out;
}

/** The largest frame a reader accepts (denokv's client allows 16 MiB). */
const MAX_FRAME = 16 * 1024 * 1024;

/** Splits a byte stream into frame bodies, skipping keep-alives. */
export async function* readFrames(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  let buf: Uint8Array = new Uint8Array(0);
  for await (const chunk of chunks) {
    if (buf.length === 0) buf = chunk;
    else {
      const joined = new Uint8Array(buf.length + chunk.length);
      joined.set(buf);
      joined.set(chunk, buf.length);
      buf = joined;
    }
    for (;;) {
      if (buf.length < 4) break;
      const n = new DataView(buf.buffer, buf.byteOffset, 4).getUint32(0, true);
      if (n > MAX_FRAME) throw new Error(`KV Connect stream frame of ${n} bytes is too large`);
      if (buf.length < 4 + n) break;
      const body = buf.subarray(4, 4 + n);
      buf = buf.subarray(4 + n);
      if (n > 0) yield body;
    }
  }
}
