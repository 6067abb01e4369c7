// A store with injected faults, for tests of what Cairn does when an object store fails: the `call`-th
// call of a method throws, before reaching the store or after it did the work (a lost response).
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
