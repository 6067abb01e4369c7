// Small tools the archiver and the restorer share: a counting semaphore (how many files are read or
// written at once) and a throttle for progress callbacks.

/** At most `count` holders at a time; `acquire` waits for a release (or rejects when its signal aborts). */
export class Semaphore {
  #free: number;
  readonly #waiters: { wake: () => void }[] = [];

  constructor(count: number) {
    if (!Number.isInteger(count) || count < 1) throw new RangeError(`concurrency ${count} is not 1 or more`);
    this.#free = count;
  }

  acquire(signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    if (this.#free > 0) {
      this.#free--;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const waiter = {
        wake: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = () => {
        const at = this.#waiters.indexOf(waiter);
        if (at >= 0) this.#waiters.splice(at, 1);
        reject(signal?.reason as Error);
      };
      this.#waiters.push(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  release(): void {
    const next = this.#waiters.shift();
    if (next) next.wake();
    else this.#free++;
  }
}

/**
 * Calls `report` on `poke()` at most once every `intervalMs` (by `now`, in milliseconds), and always on
 * `flush()`. An interval of 0 reports every poke.
 */
export function throttle(
  report: () => void,
  intervalMs: number,
  now: () => number,
): { poke(): void; flush(): void } {
  let last = -Infinity;
  return {
    poke() {
      const time = now();
      if (time - last < intervalMs) return;
      last = time;
      report();
    },
    flush() {
      last = now();
      report();
    },
  };
}
