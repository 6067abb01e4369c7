// An object store wrapper for tests that watches writes: it records every put that landed, in order, runs a
// hook before each put, and can hold puts (a slow or stuck store, or a request already on the wire).
import type { ObjectStore, PutBody, PutOptions } from '../../src/storage/index.ts';

export interface WatchedStore extends ObjectStore {
  /** The keys of the puts that landed, in the order they landed. */
  readonly landed: string[];
  /** Runs before each put, which waits for it. */
  beforePut?: ((key: string) => void | Promise<void>) | undefined;
  /**
   * Holds the puts of the keys `test` accepts until `release()` or until their signal aborts. Then a held
   * put lands (`onAbort: 'land'`: the request was on the wire and the store answers it anyway) or fails
   * with the abort (`'fail'`: a stuck store the caller gave up on).
   */
  hold(test: (key: string) => boolean, options: { onAbort: 'land' | 'fail' }): void;
  release(): void;
  /** Puts held now. */
  held(): number;
}

export function watched(store: ObjectStore): WatchedStore {
  const landed: string[] = [];
  let holding: { test: (key: string) => boolean; onAbort: 'land' | 'fail' } | undefined;
  let waiting: (() => void)[] = [];
  const wait = (signal: AbortSignal | undefined, onAbort: 'land' | 'fail') =>
    new Promise<void>((resolve, reject) => {
      const go = () => {
        signal?.removeEventListener('abort', aborted);
        resolve();
      };
      const aborted = () => {
        waiting = waiting.filter((w) => w !== go);
        if (onAbort === 'land') resolve();
        else reject(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
      };
      if (signal?.aborted) return aborted();
      waiting.push(go);
      signal?.addEventListener('abort', aborted, { once: true });
    });
  const wrapper: WatchedStore = {
    description: store.description,
    landed,
    async put(key: string, body: PutBody, options?: PutOptions) {
      await wrapper.beforePut?.(key);
      if (holding?.test(key)) await wait(options?.signal, holding.onAbort);
      await store.put(key, body, { ...options, signal: undefined });
      landed.push(key);
    },
    get: (key, options) => store.get(key, options),
    head: (key, options) => store.head(key, options),
    list: (prefix, options) => store.list(prefix, options),
    delete: (key, options) => store.delete(key, options),
    hold(test, options) {
      holding = { test, onAbort: options.onAbort };
    },
    release() {
      holding = undefined;
      const go = waiting;
      waiting = [];
      for (const g of go) g();
    },
    held: () => waiting.length,
  };
  return wrapper;
}
