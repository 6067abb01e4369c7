// Cross-cutting behaviour as wrappers around any ObjectStore, never as driver flags: a key prefix inside
// a bucket, a read-only view, retry of transient failures, and (for tests) injected faults.
import { buffer } from 'node:stream/consumers';
import { setTimeout as delay } from 'node:timers/promises';
import { backoffMs, type RetryOptions } from '../api/index.ts';
import {
  ContentLengthMismatchError,
  InvalidKeyError,
  ObjectExistsError,
  ObjectNotFoundError,
  RangeNotSatisfiableError,
  ReadOnlyStoreError,
  StoreTimeoutError,
  StoreUnavailableError,
} from './errors.ts';
import {
  checkKey,
  checkPrefix,
  compareKeys,
  entryName,
  type GetOptions,
  type ListEntry,
  type ListOptions,
  type ObjectStore,
  type PutBody,
  type PutOptions,
  type SignalOptions,
  type SignedUrlOptions,
} from './object-store.ts';

/**
 * A store opened on first use: `open` runs at the first call (and once). For drivers whose SDK takes a
 * while to load: a backup lists the cluster meanwhile instead of waiting for it.
 */
export function openedOnFirstUse(
  description: string,
  open: () => Promise<ObjectStore>,
  options: { signedUrls: boolean; incompleteUploads?: boolean },
): ObjectStore {
  let opened: Promise<ObjectStore> | undefined;
  const store = () => (opened ??= open());
  return {
    description,
    put: async (key: string, body: PutBody, putOptions?: PutOptions) =>
      (await store()).put(key, body, putOptions),
    get: async (key: string, getOptions?: GetOptions) => (await store()).get(key, getOptions),
    head: async (key: string, headOptions?: SignalOptions) => (await store()).head(key, headOptions),
    list: async function* (prefix: string, listOptions?: ListOptions) {
      yield* (await store()).list(prefix, listOptions);
    },
    delete: async (key: string, deleteOptions?: SignalOptions) => (await store()).delete(key, deleteOptions),
    signedUrl: options.signedUrls
      ? async (key: string, urlOptions: SignedUrlOptions) => {
          const opened = await store();
          if (!opened.signedUrl) throw new Error(`${description} has no signed URLs`);
          return opened.signedUrl(key, urlOptions);
        }
      : undefined,
    abortIncompleteUploads: options.incompleteUploads
      ? async (prefix, abortOptions) => (await store()).abortIncompleteUploads?.(prefix, abortOptions) ?? 0
      : undefined,
  };
}

/**
 * The store seen from inside `prefix` (e.g. Velero's bucket prefix `velero`): key `k` is `prefix/k`
 * in `store`, and listings come back without the prefix. Slashes around `prefix` are ignored.
 */
export function withPrefix(store: ObjectStore, prefix: string): ObjectStore {
  const base = prefix.replace(/^\/+|\/+$/g, '');
  if (base === '') return store;
  checkKey(store.description, base);
  const root = `${base}/`;
  const description = `${store.description} under "${root}"`;
  const full = (key: string) => {
    checkKey(description, key);
    return root + key;
  };
  const relabel = (error: unknown) => relabelError(error, description, root);
  const sign = store.signedUrl;
  const abortUploads = store.abortIncompleteUploads;
  return {
    description,
    put: async (key, body, options) => store.put(full(key), body, options).catch(rethrow(relabel)),
    get: async (key, options) => store.get(full(key), options).catch(rethrow(relabel)),
    head: async (key, options) => {
      const info = await store.head(full(key), options).catch(rethrow(relabel));
      return info && { ...info, key };
    },
    async *list(listPrefix, options) {
      checkPrefix(description, listPrefix);
      try {
        for await (const entry of store.list(root + listPrefix, options)) {
          yield entry.type === 'object'
            ? { ...entry, key: entry.key.slice(root.length) }
            : { ...entry, prefix: entry.prefix.slice(root.length) };
        }
      } catch (error) {
        throw relabel(error);
      }
    },
    delete: async (key, options) => store.delete(full(key), options).catch(rethrow(relabel)),
    signedUrl: sign && (async (key, options) => sign.call(store, full(key), options)),
    abortIncompleteUploads:
      abortUploads &&
      (async (uploadsPrefix, options) => {
        checkPrefix(description, uploadsPrefix);
        return abortUploads.call(store, root + uploadsPrefix, options).catch(rethrow(relabel));
      }),
  };
}

function rethrow(map: (error: unknown) => unknown): (error: unknown) => never {
  return (error) => {
    throw map(error);
  };
}

/** The inner store's error as the prefixed view's: its description, the key without the prefix. */
function relabelError(error: unknown, description: string, root: string): unknown {
  const strip = (key: string) => (key.startsWith(root) ? key.slice(root.length) : key);
  const cause = { cause: error };
  if (error instanceof ObjectNotFoundError)
    return new ObjectNotFoundError(description, strip(error.key), cause);
  if (error instanceof ObjectExistsError) return new ObjectExistsError(description, strip(error.key), cause);
  if (error instanceof InvalidKeyError)
    return new InvalidKeyError(description, strip(error.key), error.reason, cause);
  if (error instanceof RangeNotSatisfiableError)
    return new RangeNotSatisfiableError(
      description,
      strip(error.key),
      { offset: error.offset, length: error.length },
      error.size,
      cause,
    );
  if (error instanceof ContentLengthMismatchError)
    return new ContentLengthMismatchError(description, strip(error.key), error.expected, error.actual);
  if (error instanceof StoreTimeoutError)
    return new StoreTimeoutError({
      ...timeoutDetails(error),
      store: description,
      key: strip(error.key ?? ''),
      cause: error,
    });
  if (error instanceof StoreUnavailableError)
    return new StoreUnavailableError(
      description,
      error.reason,
      error.transient,
      error.key && strip(error.key),
      cause,
    );
  return error;
}

/** What a StoreTimeoutError was made of, to make another like it. */
function timeoutDetails(error: StoreTimeoutError): ConstructorParameters<typeof StoreTimeoutError>[0] {
  const { store, location, operation, limit, limitMs, attempts } = error;
  return { store, location, operation, key: error.key ?? '', limit, limitMs, attempts };
}

/**
 * The store with put and delete refused (ReadOnlyStoreError, nothing changes); reads pass through. It has
 * no abortIncompleteUploads: a read-only view never touches another writer's uploads.
 */
export function readOnly(store: ObjectStore): ObjectStore {
  const sign = store.signedUrl;
  return {
    description: store.description,
    put: async (key) => Promise.reject(new ReadOnlyStoreError(store.description, 'put', key)),
    delete: async (key) => Promise.reject(new ReadOnlyStoreError(store.description, 'delete', key)),
    get: (key, options) => store.get(key, options),
    head: (key, options) => store.head(key, options),
    list: (prefix, options) => store.list(prefix, options),
    signedUrl: sign && ((key, options) => sign.call(store, key, options)),
  };
}

/** How a store's operations are retried; `sleep` waits and rejects when the signal aborts (default: a timer). */
export type StoreRetryOptions = RetryOptions & {
  sleep?: ((ms: number, signal: AbortSignal | undefined) => Promise<void>) | undefined;
};

/**
 * Whether trying again may help: a StoreUnavailableError marked transient (network, 5xx, throttling, a
 * timeout of withTimeouts).
 */
export function isTransient(error: unknown): boolean {
  return error instanceof StoreUnavailableError && error.transient;
}

/**
 * Retries transient failures (isTransient) with exponential backoff and jitter: the n-th wait is between
 * half and all of min(maxDelayMs, baseDelayMs * 2^(n-1)). After `attempts` tries it gives up with a
 * StoreUnavailableError (not transient, so outer layers do not retry again) whose cause is the last error.
 *
 * What is retried: get (until it returns the stream; a stream failing later is the reader's to handle;
 * a ranged get asks for the same range again), head, delete, list (resuming after the last entry it
 * yielded), and put of a Buffer. A put of a stream is tried once: the stream is consumed by the first
 * try. A retried write-once put that finds its key taken reads the object back: if it holds exactly the
 * body, the earlier try succeeded and so does this.
 */
export function withRetry(store: ObjectStore, options: StoreRetryOptions): ObjectStore {
  const sleep = options.sleep ?? ((ms, signal) => delay(ms, undefined, { signal }));
  const sign = store.signedUrl;
  const abortUploads = store.abortIncompleteUploads;
  const wait = (failures: number, signal: AbortSignal | undefined) =>
    sleep(backoffMs(failures, options), signal);
  const giveUp = (error: unknown, tries: number) =>
    error instanceof StoreTimeoutError
      ? new StoreTimeoutError({ ...timeoutDetails(error), attempts: tries, cause: error })
      : error instanceof StoreUnavailableError && error.transient
        ? new StoreUnavailableError(
            error.store,
            `gave up after ${tries} attempts: ${error.reason}`,
            false,
            error.key,
            { cause: error },
          )
        : error;

  async function retrying<T>(signal: AbortSignal | undefined, operation: (attempt: number) => Promise<T>) {
    for (let attempt = 1; ; attempt++) {
      try {
        return await operation(attempt);
      } catch (error) {
        signal?.throwIfAborted();
        if (!isTransient(error)) throw error;
        if (attempt >= options.attempts) throw giveUp(error, attempt);
        await wait(attempt, signal);
      }
    }
  }

  async function put(key: string, body: PutBody, putOptions: PutOptions = {}): Promise<void> {
    if (!Buffer.isBuffer(body)) return store.put(key, body, putOptions);
    return retrying(putOptions.signal, async (attempt) => {
      try {
        await store.put(key, body, putOptions);
      } catch (error) {
        if (!(attempt > 1 && putOptions.ifAbsent && error instanceof ObjectExistsError)) throw error;
        if (!(await buffer(await store.get(key, { signal: putOptions.signal }))).equals(body)) throw error;
      }
    });
  }

  async function* list(prefix: string, listOptions: ListOptions = {}): AsyncGenerator<ListEntry> {
    let last: string | undefined;
    for (let failures = 0; ;) {
      let progressed = false;
      try {
        for await (const entry of store.list(prefix, listOptions)) {
          const name = entryName(entry);
          if (last !== undefined && compareKeys(name, last) <= 0) continue;
          last = name;
          progressed = true;
          yield entry;
        }
        return;
      } catch (error) {
        listOptions.signal?.throwIfAborted();
        if (!isTransient(error)) throw error;
        failures = progressed ? 1 : failures + 1; // a try that made progress starts the count again
        if (failures >= options.attempts) throw giveUp(error, failures);
        await wait(failures, listOptions.signal);
      }
    }
  }

  return {
    description: store.description,
    put,
    get: (key, o) => retrying(o?.signal, () => store.get(key, o)),
    head: (key, o) => retrying(o?.signal, () => store.head(key, o)),
    delete: (key, o) => retrying(o?.signal, () => store.delete(key, o)),
    list,
    signedUrl: sign && ((key, o) => retrying(undefined, () => sign.call(store, key, o))),
    abortIncompleteUploads:
      abortUploads && ((prefix, o) => retrying(o?.signal, () => abortUploads.call(store, prefix, o))),
  };
}
