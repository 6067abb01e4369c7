// Deadlines on the injected clock. The Clock itself lives in src/api (clock.ts), below every layer.

import { systemClock, type Clock } from '../api/index.ts';

export { systemClock, type Clock };

/**
 * A signal that aborts when `parent` does or when `ms` have passed on `clock`, whichever is first.
 * `clear()` stops the timer; call it once the guarded work is over. `disarm()` stops only the timer: the
 * signal goes on following `parent` (work whose first step had the deadline, and whose rest has not).
 */
export function deadlineSignal(
  clock: Clock,
  ms: number,
  parent: AbortSignal,
): { signal: AbortSignal; clear: () => void; disarm: () => void } {
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
    disarm: () => timer.abort(),
    clear: () => {
      timer.abort();
      parent.removeEventListener('abort', onParent);
    },
  };
}
