// Time as the controllers see it: taken only from a clock passed in, so tests move time by hand.

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Resolves after `ms`, or as soon as `signal` aborts; never rejects. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** The machine's clock and timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve) => {
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
      signal?.addEventListener('abort', done, { once: true });
    }),
};

/**
 * A signal that aborts when `parent` does or when `ms` have passed on `clock`, whichever is first.
 * `clear()` stops the timer; call it once the guarded work is over.
 */
export function deadlineSignal(
  clock: Clock,
  ms: number,
  parent: AbortSignal,
): { signal: AbortSignal; clear: () => void } {
  const controller = new AbortController();
  const timer = new AbortController();
  // Listeners, not AbortSignal.any: these signals are made every few seconds for as long as a server runs.
  const onParent = () => {
    timer.abort();
    controller.abort(parent.reason);
  };
  if (parent.aborted) onParent();
  else parent.addEventListener('abort', onParent, { once: true });
  void clock.sleep(ms, timer.signal).then(() => {
    if (!timer.signal.aborted) controller.abort(new Error(`no answer within ${ms} ms`));
  });
  return {
    signal: controller.signal,
    clear: () => {
      timer.abort();
      parent.removeEventListener('abort', onParent);
    },
  };
}
