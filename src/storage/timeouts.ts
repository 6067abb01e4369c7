// Timeouts on every call to an object store, as a wrapper over any ObjectStore, so that every driver has
// them and none grows a flag. A request that gets no answer within the request timeout, and a get or put
// body that moves no bytes for the idle timeout while the other side waits for it, is aborted (the signal
// goes into the driver, and so into its SDK, fetch or stream) and fails with StoreTimeoutError, naming
// the location, the operation, the key and the limit. Only idleness counts for a body: a large upload that
// keeps moving never times out, and neither does one whose producer is slow (nothing waits for the store
// then). A body moves as the driver reads it, and as the driver tells (PutOptions.onProgress) that it sent
// or wrote bytes: S3 and Azure stop reading while they send the parts they hold, and a Buffer is taken
// whole. While a call makes no progress it is told (onStall) every NOTICE_EVERY_MS, or at half the limit
// when that is shorter, until it moves or fails. Each call is registered in a StoreActivity while it runs.
import { pipeline, Transform, type Readable } from 'node:stream';
import { systemClock, type Clock } from '../api/index.ts';
import type { StoreActivity, StoreOperation } from './activity.ts';
import { StoreTimeoutError } from './errors.ts';
import type { ListEntry, ObjectStore } from './object-store.ts';

export const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;
export const DEFAULT_IDLE_TIMEOUT_MS = 60_000;
/** The longest time between two notices of one stall. */
const NOTICE_EVERY_MS = 30_000;
/** How often a watch looks at its call: a stream's wait may begin and end between two looks. */
const LOOK_EVERY_MS = 1_000;
/**
 * A put of a larger Buffer is bounded like a stream's, by the idle limit between two progress reports of
 * its driver, rather than by the request limit over the whole: a 16 MiB restic pack on a slow link takes
 * minutes while it moves. Progress, not a limit scaled with the size: that would need a slowest rate to
 * assume, and would let a dead store hold a large put for as long. Small ones are answered in one go.
 */
const LARGE_BUFFER_BYTES = 1024 * 1024;

/** A call that has made no progress for a while, and has not failed yet. */
export interface StallNotice {
  location: string;
  operation: StoreOperation;
  /** The call's key (a list's prefix). */
  key: string;
  /** Whole seconds without progress so far. */
  seconds: number;
  limit: 'request' | 'idle';
  limitMs: number;
  /** `location minio: no progress for 30 s (put "backups/b/b.tar.gz"; the limit is 60 s)`. */
  message: string;
}

export interface StoreTimeoutOptions {
  /** The location's name, for messages, notices and metrics. */
  location: string;
  /** How long a request may go unanswered. Default 60 s. */
  requestMs?: number | undefined;
  /** How long a get or put body may move no bytes while the other side waits. Default 60 s. */
  idleMs?: number | undefined;
  /** Timers and ages. Default: the machine's. */
  clock?: Clock | undefined;
  /** Where calls in flight are registered (for metrics). */
  activity?: StoreActivity | undefined;
  /** Told of a stall while it lasts. */
  onStall?: ((notice: StallNotice) => void) | undefined;
}

/** One call, watched: its signal for the driver, and what it is waiting for now. */
interface Watch {
  /** The caller's signal and the timeout together: what the driver is given. */
  signal: AbortSignal;
  /** The call's promise, or its timeout, whichever settles first; rejects with the timeout error. */
  race<T>(call: Promise<T>): Promise<T>;
  /**
   * From now on the call waits under `limit` while `waiting()` holds (default: always); `onTimeout`
   * is told the error when the limit passes (to destroy a stream).
   */
  expect(
    limit: 'request' | 'idle',
    waiting?: () => boolean,
    onTimeout?: (error: StoreTimeoutError) => void,
  ): void;
  /** Bytes moved, or an answer came: the idle clock starts again. */
  progress(): void;
  /** The call is over (idempotent). */
  end(): void;
}

/**
 * The store with every call bounded: `requestMs` for an answer (head, delete, a list page, a get until
 * its stream, a put of a Buffer up to 1 MiB, signedUrl, abortIncompleteUploads), `idleMs` for a get or
 * put stream, or a larger Buffer, that moves no bytes while the other side waits for it, and for the
 * answer since the last bytes moved once a put's body is all taken. Put it under withRetry: a timeout is transient, so the calls withRetry repeats are tried again.
 */
export function withTimeouts(store: ObjectStore, options: StoreTimeoutOptions): ObjectStore {
  const clock = options.clock ?? systemClock;
  const requestMs = options.requestMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const idleMs = options.idleMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  for (const [name, value] of [
    ['requestMs', requestMs],
    ['idleMs', idleMs],
  ] as const)
    if (!(value > 0)) throw new RangeError(`${name} must be above 0, got ${value}`);

  function watch(operation: StoreOperation, key: string, callerSignal: AbortSignal | undefined): Watch {
    // The driver's signal aborts with the caller's, or with the timeout. Listeners, not AbortSignal.any:
    // a call is made every few milliseconds under the server's one long-lived signal.
    const abort = new AbortController();
    const ended = new AbortController();
    const onCaller = () => abort.abort(callerSignal?.reason);
    if (callerSignal?.aborted) onCaller();
    else callerSignal?.addEventListener('abort', onCaller, { once: true });
    const endActivity = options.activity?.begin(options.location, operation, clock.now());
    let limit: 'request' | 'idle' = 'request';
    let waiting = () => true;
    let onTimeout: ((error: StoreTimeoutError) => void) | undefined;
    let since = clock.now();
    let timedOut: StoreTimeoutError | undefined;
    let rejectTimeout: (error: StoreTimeoutError) => void = () => undefined;
    const timeout = new Promise<never>((_resolve, reject) => (rejectTimeout = reject));
    timeout.catch(() => undefined); // raced by whoever waits on the call; nobody may be

    const end = () => {
      if (ended.signal.aborted) return;
      ended.abort();
      callerSignal?.removeEventListener('abort', onCaller);
      endActivity?.();
    };
    const fire = (limitMs: number) => {
      timedOut = new StoreTimeoutError({
        store: store.description,
        location: options.location,
        operation,
        key,
        limit,
        limitMs,
      });
      // The race is lost first, then the driver is stopped: its own abort error must not win.
      rejectTimeout(timedOut);
      abort.abort(timedOut);
      onTimeout?.(timedOut);
      end();
    };
    void (async () => {
      let notices = 0;
      let noticedSince = since;
      while (!ended.signal.aborted) {
        const now = clock.now();
        const limitMs = limit === 'request' ? requestMs : idleMs;
        const every = Math.min(NOTICE_EVERY_MS, limitMs / 2);
        if (!waiting()) since = now; // nothing waits for the store: not its stall
        if (since !== noticedSince) [notices, noticedSince] = [0, since];
        const idle = now - since;
        if (idle >= limitMs) return fire(limitMs);
        if (Math.floor(idle / every) > notices) {
          notices = Math.floor(idle / every);
          const seconds = Math.floor(idle / 1000);
          options.onStall?.({
            location: options.location,
            operation,
            key,
            seconds,
            limit,
            limitMs,
            message:
              `location ${options.location}: no progress for ${seconds} s (${operation} ` +
              `${JSON.stringify(key)}; the limit is ${Number((limitMs / 1000).toFixed(3))} s)`,
          });
        }
        const nextEvent = Math.min(since + limitMs, since + (notices + 1) * every) - now;
        // Unref'd: a get stream its caller abandoned (neither read to the end nor destroyed) must not keep
        // the process alive through its watch.
        await clock.sleep(Math.max(1, Math.min(nextEvent, LOOK_EVERY_MS, limitMs / 4)), ended.signal, {
          unref: true,
        });
      }
    })();

    return {
      signal: abort.signal,
      race: async <T>(call: Promise<T>) => {
        call.catch(() => undefined); // settles after a timeout, unheard
        try {
          return await Promise.race([call, timeout]);
        } catch (error) {
          throw timedOut ?? error;
        }
      },
      expect: (next, whileWaiting = () => true, told) => {
        limit = next;
        waiting = whileWaiting;
        onTimeout = told;
        since = clock.now();
      },
      progress: () => {
        since = clock.now();
      },
      end,
    };
  }

  /** A call answered in one go. */
  async function bounded<T>(
    operation: StoreOperation,
    key: string,
    signal: AbortSignal | undefined,
    call: (signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    const watched = watch(operation, key, signal);
    try {
      return await watched.race(call(watched.signal));
    } finally {
      watched.end();
    }
  }

  /** A pass-through that notes each chunk, and the end, as progress. */
  const tap = (watched: Watch) =>
    new Transform({
      transform(chunk: Buffer, _encoding, done) {
        watched.progress();
        done(null, chunk);
      },
      flush(done) {
        watched.progress();
        done();
      },
    });

  const sign = store.signedUrl;
  const abortUploads = store.abortIncompleteUploads;
  return {
    description: store.description,
    async put(key, body, putOptions = {}) {
      if (Buffer.isBuffer(body) && body.length <= LARGE_BUFFER_BYTES)
        return bounded('put', key, putOptions.signal, (signal) =>
          store.put(key, body, { ...putOptions, signal }),
        );
      const watched = watch('put', key, putOptions.signal);
      const onProgress = () => {
        watched.progress();
        putOptions.onProgress?.();
      };
      const driverOptions = { ...putOptions, signal: watched.signal, onProgress };
      if (Buffer.isBuffer(body)) {
        // The store has every byte from the start: it is waited for throughout, and moves as it tells.
        watched.expect('idle');
        try {
          return await watched.race(store.put(key, body, driverOptions));
        } finally {
          watched.end();
        }
      }
      const taken = tap(watched);
      // The store waits on nothing while the producer has given nothing; it is the one waited for while
      // bytes are buffered for it, or once the body has ended (the parts it still sends, which it tells
      // of, then its answer).
      watched.expect(
        'idle',
        () => taken.writableEnded || taken.writableLength > 0 || taken.readableLength > 0,
        (error) => taken.destroy(error),
      );
      pipeline(body, taken, () => undefined); // an error reaches the driver through `taken`
      try {
        return await watched.race(store.put(key, taken, driverOptions));
      } finally {
        watched.end();
      }
    },
    async get(key, getOptions = {}) {
      const watched = watch('get', key, getOptions.signal);
      let source: Readable;
      try {
        source = await watched.race(store.get(key, { ...getOptions, signal: watched.signal }));
      } catch (error) {
        watched.end();
        throw error;
      }
      const guarded = tap(watched);
      // The store is waited for while the reader keeps up (the buffer is not full); a reader that has
      // stopped reading holds the stream back itself.
      watched.expect(
        'idle',
        () =>
          !guarded.writableEnded &&
          guarded.writableLength === 0 &&
          guarded.readableLength < guarded.readableHighWaterMark,
        (error) => guarded.destroy(error),
      );
      pipeline(source, guarded, () => watched.end());
      // A caller that destroys the stream early ends the watch too.
      guarded.once('close', () => watched.end());
      return guarded;
    },
    head: (key, o) => bounded('head', key, o?.signal, (signal) => store.head(key, { ...o, signal })),
    delete: (key, o) => bounded('delete', key, o?.signal, (signal) => store.delete(key, { ...o, signal })),
    async *list(prefix, listOptions = {}): AsyncGenerator<ListEntry> {
      const watched = watch('list', prefix, listOptions.signal);
      const entries = store.list(prefix, { ...listOptions, signal: watched.signal })[Symbol.asyncIterator]();
      let done = false;
      try {
        while (!done) {
          // Each page's answer is bounded; the time the caller takes between entries is not the store's.
          watched.expect('request');
          const next = await watched.race(entries.next());
          watched.expect('request', () => false);
          if (next.done) done = true;
          else yield next.value;
        }
      } finally {
        // A caller that stops early closes the inner listing; a timed-out one is aborted already.
        if (!done && !watched.signal.aborted) await entries.return?.();
        watched.end();
      }
    },
    signedUrl: sign && ((key, o) => bounded('signedUrl', key, undefined, () => sign.call(store, key, o))),
    abortIncompleteUploads:
      abortUploads &&
      ((prefix, o) =>
        bounded('abortIncompleteUploads', prefix, o?.signal, (signal) =>
          abortUploads.call(store, prefix, { ...o, signal }),
        )),
  };
}
