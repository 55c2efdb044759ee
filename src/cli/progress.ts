/**
 * A progress bar for long operations, drawn on stderr only when stderr is a terminal; piped or
 * redirected, it prints nothing, so logs and scripts stay clean.
 *
 * @example
 * const bar = progressBar(out.stderr, "Writing", pairs.length);
 * for (const chunk of chunks) { await write(chunk); bar.tick(chunk.length); }
 * bar.done();
 */
import type { OutStream } from "./output.ts";
import { formatNumber } from "./output.ts";

export interface Progress {
  /** Adds `n` finished units. */
  tick(n?: number): void;
  /** Sets the total once it is known (e.g. bytes of a backup). */
  setTotal(total: number): void;
  /** Draws the final state and ends the line. */
  done(): void;
}

const WIDTH = 30;
const NO_PROGRESS: Progress = { tick() {}, setTotal() {}, done() {} };

export function progressBar(stream: OutStream, label: string, total: number, options: { now?: () => number } = {}): Progress {
  if (!stream.isTTY) return NO_PROGRESS;
  const now = options.now ?? (() => performance.now());
  let done = 0;
  let lastDraw = -Infinity;
  let finished = false;
  const draw = () => {
    const ratio = total > 0 ? Math.min(1, done / total) : 0;
    const filled = Math.round(ratio * WIDTH);
    const bar = "█".repeat(filled) + "░".repeat(WIDTH - filled);
    stream.write(`\r\x1b[2K${label} ${bar} ${String(Math.floor(ratio * 100)).padStart(3)}% ${formatNumber(done)}/${formatNumber(total)}`);
    lastDraw = now();
  };
  draw();
  return {
    tick(n = 1) {
      done += n;
      // At most ~20 redraws a second: drawing every key of 10,000 would slow the operation down.
      if (now() - lastDraw >= 50) draw();
    },
    setTotal(t) {
      total = t;
    },
    done() {
      if (finished) return;
      finished = true;
      done = Math.max(done, total);
      draw();
      stream.write("\n");
    },
  };
}
