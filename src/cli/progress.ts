// Progress of long operations: a redrawn bar on a terminal, plain lines otherwise (logs, CI, pipes).
export interface ProgressStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressReporter {
  /**
   * `total` is the count known so far; `final` (default true) says it will not grow. Until it is final
   * no percentage is shown: a backup learns its total as it lists.
   */
  update(done: number, total: number, label?: string, options?: { final?: boolean }): void;
  /** Ends the display (clears the bar on a terminal). */
  end(): void;
}

export function progressReporter(
  stream: ProgressStream,
  options: {
    intervalMs?: number;
    now?: () => number;
    /** What is counted, after the numbers. Default "items"; "" for none. */
    unit?: string;
    /** How a count is written (formatBytes for bytes). Default as it is. */
    formatCount?: (n: number) => string;
  } = {},
): ProgressReporter {
  const now = options.now ?? (() => Date.now());
  const unit = options.unit ?? 'items';
  const count = options.formatCount ?? String;
  const interval = options.intervalMs ?? (stream.isTTY ? 100 : 2000);
  let last = 0;
  let drawn = false;
  let lastLine = '';
  /** The newest state, shown or not: a non-terminal gets it as the last line. */
  let latest = '';
  let wasFinal = false;
  const format = (done: number, total: number, label: string | undefined, final: boolean) => {
    const shown = Math.max(total, done);
    const pct = shown === 0 ? 0 : Math.floor((done / shown) * 100);
    const counts = `${count(done)}/${count(shown)}${unit ? ` ${unit}` : ''}`;
    const text = final ? `${counts} (${pct}%)` : `${counts} known so far`;
    return { pct: final ? pct : undefined, text: `${text}${label ? `  ${label}` : ''}` };
  };
  return {
    update(done, total, label, options) {
      const final = options?.final ?? true;
      const { pct, text } = format(done, total, label, final);
      latest = text;
      const t = now();
      // The total becoming final is drawn at once: it is the first line with a percentage.
      const becameFinal = final && !wasFinal;
      wasFinal = final;
      if (!becameFinal && t - last < interval) return;
      last = t;
      if (stream.isTTY && pct === undefined) {
        stream.write(`\r${text}\x1b[K`);
        drawn = true;
      } else if (stream.isTTY && pct !== undefined) {
        const width = Math.max(10, Math.min(40, (stream.columns ?? 80) - text.length - 4));
        const filled = Math.round((pct / 100) * width);
        stream.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${text}\x1b[K`);
        drawn = true;
      } else if (text !== lastLine) {
        stream.write(`${text}\n`);
        lastLine = text;
      }
    },
    end() {
      if (drawn) stream.write('\r\x1b[K');
      else if (!stream.isTTY && latest !== '' && latest !== lastLine) stream.write(`${latest}\n`);
      drawn = false;
      lastLine = latest;
    },
  };
}
