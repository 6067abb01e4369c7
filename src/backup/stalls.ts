// Which location a backup is waiting for. Each location's upload reads the archive through a meter that
// notes when it last took bytes (MultiLocationWriter's uploads, in src/storage); a location that has
// bytes waiting and has taken none for STALL_NOTICE_MS is stalled, and progress says so ("waiting for
// location minio: 30 s") until it moves again; the backup's log says "location minio: no progress for
// 10 s" when it begins, and again every STALL_LOG_EVERY_MS while it lasts.
import type { UploadMeter } from '../storage/index.ts';
import type { Sleep } from './claims.ts';

/** How long a location may take no bytes, with bytes waiting, before progress names it. */
export const STALL_NOTICE_MS = 10_000;
/** How often the backup's log says again that a location is still stalled. */
export const STALL_LOG_EVERY_MS = 30_000;
/** How often the watcher looks. */
const LOOK_EVERY_MS = 1_000;

export interface Stall {
  location: string;
  /** Whole seconds since the location last took bytes. */
  seconds: number;
}

/** The longest-stalled location among `meters` at `now`, or undefined when none has been for the notice time. */
export function longestStall(meters: readonly UploadMeter[], now: number): Stall | undefined {
  let worst: Stall | undefined;
  for (const meter of meters) {
    const idle = now - meter.lastTaken;
    if (idle < STALL_NOTICE_MS || !meter.waiting()) continue;
    const seconds = Math.floor(idle / 1000);
    if (!worst || seconds > worst.seconds) worst = { location: meter.location, seconds };
  }
  return worst;
}

/**
 * Looks at the meters every second until `signal` aborts, and calls `onChange` with the stall (or
 * undefined once it has cleared) whenever what should be shown changes.
 */
export async function watchStalls(options: {
  meters: readonly UploadMeter[];
  now: () => number;
  sleep: Sleep;
  signal: AbortSignal;
  onChange: (stall: Stall | undefined) => void;
}): Promise<void> {
  let shown: Stall | undefined;
  for (;;) {
    await options.sleep(LOOK_EVERY_MS, options.signal);
    if (options.signal.aborted) return;
    const stall = longestStall(options.meters, options.now());
    if (stall?.location === shown?.location && stall?.seconds === shown?.seconds) continue;
    shown = stall;
    options.onChange(stall);
  }
}
