// Time as the engines and controllers see it: taken only from a clock passed in, so tests move time by
// hand (STYLE.md habit 7). The one sleep of the code base: every wait on the machine's timers goes here.

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /**
   * Resolves after `ms`, or at once when `signal` has aborted or as soon as it does; never rejects. With
   * `unref`, the wait does not keep the process alive by itself (a watch over something that may be
   * abandoned).
   */
  sleep(ms: number, signal?: AbortSignal, options?: { unref?: boolean }): Promise<void>;
}

/** The machine's clock and timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal, options) =>
    new Promise<void>((resolve) => {
      // An aborted signal never fires again: without this check the timer would run (and hold the
      // process) for the whole of `ms`.
      if (signal?.aborted) {
        resolve();
        return;
      }
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      // A Node timer can stop holding the process; the browser's (src/ui builds this file too) holds none.
      if (options?.unref) (timer as unknown as { unref?: () => void }).unref?.();
      signal?.addEventListener('abort', done, { once: true });
    }),
};
