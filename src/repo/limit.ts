// Small tools the archiver, the restorer and index loading share: a counting semaphore (how many files
// are read or written at once), a throttle for progress callbacks, and ordered concurrent loading.

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

/**
 * Runs `task` on every item, at most `concurrency` at once, and hands the results to `consume` in the
 * order of the items, not the order the tasks finish in: concurrent loading, deterministic merging
 * (at most `concurrency` results wait for an earlier one). The first task that throws (or `consume`)
 * stops the run with its error, once the tasks already started have settled.
 */
export async function forEachInOrder<T, R>(
  items: readonly T[],
  concurrency: number,
  task: (item: T) => Promise<R>,
  consume: (result: R, item: T) => void,
): Promise<void> {
  if (!Number.isInteger(concurrency) || concurrency < 1)
    throw new RangeError(`concurrency ${concurrency} is not 1 or more`);
  type Outcome = { ok: true; value: R } | { ok: false; error: unknown };
  const running: Promise<Outcome>[] = [];
  let started = 0;
  const start = () => {
    const item = items[started++] as T;
    running.push(
      task(item).then(
        (value): Outcome => ({ ok: true, value }),
        (error: unknown): Outcome => ({ ok: false, error }),
      ),
    );
  };
  try {
    while (started < items.length && running.length < concurrency) start();
    for (const item of items) {
      const outcome = (await running.shift()) as Outcome;
      if (!outcome.ok) throw outcome.error;
      if (started < items.length) start();
      consume(outcome.value, item);
    }
  } finally {
    await Promise.allSettled(running);
  }
}
