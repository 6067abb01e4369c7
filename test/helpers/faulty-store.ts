// A store with injected faults, for tests of what Cairn does when an object store fails: the `call`-th
// call of a method throws, before reaching the store or after it did the work (a lost response); or
// chosen calls stall, as on a stopped or black-holed store (withStalls).
import { PassThrough } from 'node:stream';
import type { ObjectStore } from '../../src/storage/index.ts';

export type StoreMethod = 'put' | 'get' | 'head' | 'list' | 'delete';

/** One injected failure: the `call`-th call (from 1) of `method` throws `error`. */
export interface Fault {
  method: StoreMethod;
  call: number;
  error: Error;
  /**
   * `before` (default): the call fails without reaching the store. `after`: the store does the work,
   * then the call fails (a lost response); for list, after the first entry.
   */
  when?: 'before' | 'after' | undefined;
}

/** A store with injected faults, counting the calls of each method. */
export interface FaultyStore extends ObjectStore {
  readonly calls: Readonly<Record<StoreMethod, number>>;
}

/** The store with the faults of `plan` injected (see Fault). */
export function withFaults(store: ObjectStore, plan: readonly Fault[]): FaultyStore {
  const calls: Record<StoreMethod, number> = { put: 0, get: 0, head: 0, list: 0, delete: 0 };
  const sign = store.signedUrl;
  const faultOf = (method: StoreMethod) => {
    calls[method] += 1;
    return plan.find((f) => f.method === method && f.call === calls[method]);
  };
  async function faulty<T>(method: StoreMethod, operation: () => Promise<T>): Promise<T> {
    const fault = faultOf(method);
    if (fault && fault.when !== 'after') throw fault.error;
    const result = await operation();
    if (fault) throw fault.error;
    return result;
  }
  return {
    description: store.description,
    calls,
    put: (key, body, o) => faulty('put', () => store.put(key, body, o)),
    get: (key, o) => faulty('get', () => store.get(key, o)),
    head: (key, o) => faulty('head', () => store.head(key, o)),
    delete: (key, o) => faulty('delete', () => store.delete(key, o)),
    async *list(prefix, o) {
      const fault = faultOf('list');
      if (fault && fault.when !== 'after') throw fault.error;
      for await (const entry of store.list(prefix, o)) {
        yield entry;
        if (fault) throw fault.error;
      }
    },
    signedUrl: sign && ((key, o) => sign.call(store, key, o)),
  };
}

/**
 * How a stalled call of withStalls behaves: `answer` never answers; `deaf` never answers and ignores its
 * signal too (a driver that cannot be aborted); `body` moves part of its body and then no more (a get's
 * stream gives its first chunk, a put reads the first chunk of its body).
 */
export type StallMode = 'answer' | 'deaf' | 'body';

/**
 * The store with the calls `stallOf` picks stalled, as a stopped process or a black-holed endpoint
 * stalls them (see StallMode). A stalled call that hears its signal rejects with the signal's reason.
 */
export function withStalls(
  store: ObjectStore,
  stallOf: (method: StoreMethod, key: string) => StallMode | undefined,
): ObjectStore {
  const never = (signal: AbortSignal | undefined, deaf: boolean) =>
    new Promise<never>((_resolve, reject) => {
      if (!deaf) signal?.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
    });
  async function stalled<T>(
    method: StoreMethod,
    key: string,
    signal: AbortSignal | undefined,
    call: () => Promise<T>,
  ): Promise<T> {
    const mode = stallOf(method, key);
    if (mode === 'answer' || mode === 'deaf') return never(signal, mode === 'deaf');
    return call();
  }
  const sign = store.signedUrl;
  return {
    description: store.description,
    head: (key, o) => stalled('head', key, o?.signal, () => store.head(key, o)),
    delete: (key, o) => stalled('delete', key, o?.signal, () => store.delete(key, o)),
    async put(key, body, o) {
      if (stallOf('put', key) !== 'body' || Buffer.isBuffer(body))
        return stalled('put', key, o?.signal, () => store.put(key, body, o));
      await new Promise<void>((resolve) => body.once('readable', resolve));
      body.read();
      return never(o?.signal, false);
    },
    async get(key, o) {
      if (stallOf('get', key) !== 'body') return stalled('get', key, o?.signal, () => store.get(key, o));
      const whole = await store.get(key, o);
      const first: Buffer = await new Promise((resolve) => whole.once('data', resolve));
      whole.destroy();
      const stream = new PassThrough();
      stream.write(first);
      o?.signal?.addEventListener('abort', () => stream.destroy(o.signal?.reason as Error), { once: true });
      return stream;
    },
    async *list(prefix, o) {
      if (stallOf('list', prefix)) await never(o?.signal, stallOf('list', prefix) === 'deaf');
      yield* store.list(prefix, o);
    },
    signedUrl: sign && ((key, o) => sign.call(store, key, o)),
  };
}
