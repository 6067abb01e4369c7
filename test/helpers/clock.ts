// A clock for tests: time moves only when the test says, and sleeps end when their time comes.
import type { Clock } from '../../src/controller/index.ts';

/** Lets every promise continuation that can run, run. */
export const settle = (): Promise<void> => new Promise<void>((resolve) => setImmediate(resolve));

export interface ManualClock {
  clock: Clock;
  /** Moves time on by `ms`, ending due sleeps in time order and letting their continuations run. */
  advance(ms: number): Promise<void>;
  /** Sleeps not yet ended. */
  pendingTimers(): number;
}

export function manualClock(start = 0): ManualClock {
  let now = start;
  let timers: { at: number; resolve: () => void }[] = [];
  const clock: Clock = {
    now: () => now,
    sleep: (ms, signal) =>
      new Promise<void>((resolve) => {
        if (signal?.aborted) return resolve();
        const onAbort = () => {
          timers = timers.filter((t) => t !== timer);
          resolve();
        };
        const timer = {
          at: now + ms,
          resolve: () => {
            signal?.removeEventListener('abort', onAbort);
            resolve();
          },
        };
        timers.push(timer);
        signal?.addEventListener('abort', onAbort, { once: true });
      }),
  };
  return {
    clock,
    async advance(ms: number) {
      await settle();
      const end = now + ms;
      for (;;) {
        const due = timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at)[0];
        if (!due) break;
        timers = timers.filter((t) => t !== due);
        now = Math.max(now, due.at);
        due.resolve();
        await settle();
      }
      now = end;
      await settle();
    },
    pendingTimers: () => timers.length,
  };
}
