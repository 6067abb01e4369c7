// A work queue of keys (`namespace/name`), like client-go's rate-limited workqueue.
//
// - A key waiting in the queue is there once, however often it is added (de-duplication).
// - A key is never handed to two workers at once: a key added while a worker processes it waits until
//   that worker is done, then goes back into the queue.
// - A key that failed comes back after a per-key exponential back-off (5 ms, 10 ms, 20 ms, ... at most
//   1000 s, client-go's defaults) until it is forgotten, which a success does.
// - Time comes from an injected clock, so tests move it by hand.
import { setMaxListeners } from 'node:events';
import { backoffMs } from '../api/index.ts';
import { systemClock, type Clock } from './clock.ts';

export interface WorkQueueOptions {
  /** The delay before the first retry of a failed key; doubled with each further failure. Default 5 ms. */
  baseDelayMs?: number | undefined;
  /** The longest delay before a retry. Default 1,000 s. */
  maxDelayMs?: number | undefined;
  clock?: Clock | undefined;
  /** Told of each failed key and when it comes back. */
  log?: ((message: string, error?: unknown) => void) | undefined;
}

/** What a handler may return: nothing, or when the key should be processed again. */
export type ProcessResult = void | { requeueAfterMs?: number | undefined };

export type KeyHandler = (key: string, signal: AbortSignal) => ProcessResult | Promise<ProcessResult>;

export const defaultQueueBaseDelayMs = 5;
export const defaultQueueMaxDelayMs = 1_000_000;

export class WorkQueue {
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly clock: Clock;
  private readonly log: ((message: string, error?: unknown) => void) | undefined;
  /** Keys ready to be handed out, in order. Each is also in `dirty`. */
  private queue: string[] = [];
  /** Keys that need processing: queued, or added again while being processed. */
  private readonly dirty = new Set<string>();
  /** Keys a worker holds now. */
  private readonly processing = new Set<string>();
  /** Keys waiting for their time (addAfter): when each is due. */
  private readonly waiting = new Map<string, number>();
  /** Failures per key since it was last forgotten. */
  private readonly failures = new Map<string, number>();
  /** Workers waiting for a key. */
  private readonly getters: ((key: string | undefined) => void)[] = [];
  /** Stops the timers of waiting keys at shutdown. */
  private readonly timers = new AbortController();
  private stopping = false;
  private drained: (() => void)[] = [];

  constructor(options: WorkQueueOptions = {}) {
    this.baseDelayMs = options.baseDelayMs ?? defaultQueueBaseDelayMs;
    this.maxDelayMs = options.maxDelayMs ?? defaultQueueMaxDelayMs;
    if (!(this.baseDelayMs > 0)) throw new RangeError(`baseDelayMs must be above 0, got ${this.baseDelayMs}`);
    if (!(this.maxDelayMs >= this.baseDelayMs))
      throw new RangeError(`maxDelayMs must be at least baseDelayMs, got ${this.maxDelayMs}`);
    this.clock = options.clock ?? systemClock;
    this.log = options.log;
    // Every key waiting for its time listens to this signal.
    setMaxListeners(0, this.timers.signal);
  }

  /** Queues a key, unless it is queued already or the queue is shutting down. */
  add(key: string): void {
    if (this.stopping || this.dirty.has(key)) return;
    this.dirty.add(key);
    // Processed now: done() queues it again.
    if (this.processing.has(key)) return;
    this.queue.push(key);
    this.handOut();
  }

  /** Queues a key once `delayMs` have passed. A key waiting already keeps the earlier of the two times. */
  addAfter(key: string, delayMs: number): void {
    if (this.stopping) return;
    if (delayMs <= 0) {
      this.add(key);
      return;
    }
    const due = this.clock.now() + delayMs;
    const known = this.waiting.get(key);
    if (known !== undefined && known <= due) return;
    this.waiting.set(key, due);
    void this.clock.sleep(delayMs, this.timers.signal).then(() => {
      // Only the latest timer of a key counts; shutdown drops them all.
      if (this.waiting.get(key) !== due) return;
      this.waiting.delete(key);
      this.add(key);
    });
  }

  /** Queues a key after its back-off: base × 2^(failures so far), at most the maximum. Counts a failure. */
  addRateLimited(key: string): void {
    this.addAfter(key, this.nextDelayMs(key));
  }

  /** The back-off the key's next addRateLimited waits, counting that failure. */
  private nextDelayMs(key: string): number {
    const failures = this.failures.get(key) ?? 0;
    this.failures.set(key, failures + 1);
    return backoffMs(failures + 1, {
      baseDelayMs: this.baseDelayMs,
      maxDelayMs: this.maxDelayMs,
      jitter: false,
    });
  }

  /** Clears a key's failures: its next back-off starts at the base again. */
  forget(key: string): void {
    this.failures.delete(key);
  }

  /** How often a key has failed since it was last forgotten. */
  requeues(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** Keys ready to be handed out (not counting those being processed or waiting for their time). */
  get length(): number {
    return this.queue.length;
  }

  get shuttingDown(): boolean {
    return this.stopping;
  }

  /**
   * The next key, once one is ready; the caller must call done(key) when it has processed it.
   * Undefined once the queue is shutting down.
   */
  get(): Promise<string | undefined> {
    if (this.stopping) return Promise.resolve(undefined);
    const key = this.take();
    if (key !== undefined) return Promise.resolve(key);
    return new Promise((resolve) => this.getters.push(resolve));
  }

  /** Ends the processing of a key; a key added meanwhile goes back into the queue. */
  done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.has(key) && !this.stopping) {
      this.queue.push(key);
      this.handOut();
    }
    if (this.stopping && this.processing.size === 0) for (const resolve of this.drained.splice(0)) resolve();
  }

  /**
   * Stops the queue: adds are ignored from now on, keys waiting for their time and keys not yet handed
   * out are dropped (the next leader's first list finds them again), and workers waiting for a key get
   * none. Resolves once every key being processed is done.
   */
  shutdown(): Promise<void> {
    if (!this.stopping) {
      this.stopping = true;
      this.timers.abort();
      this.waiting.clear();
      this.queue = [];
      this.dirty.clear();
      for (const resolve of this.getters.splice(0)) resolve(undefined);
    }
    if (this.processing.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.drained.push(resolve));
  }

  /**
   * Processes keys with `workers` workers until `signal` aborts, then shuts the queue down and resolves
   * once the keys being processed are done. A handler that returns processes its key successfully (the
   * key's failures are forgotten; `requeueAfterMs` brings it back later); one that throws brings it back
   * after its back-off.
   */
  async run(workers: number, handler: KeyHandler, signal: AbortSignal): Promise<void> {
    if (!(Number.isInteger(workers) && workers >= 1))
      throw new RangeError(`workers must be a whole number of 1 or more, got ${workers}`);
    const stop = () => void this.shutdown();
    signal.addEventListener('abort', stop, { once: true });
    if (signal.aborted) stop();
    const worker = async () => {
      for (let key = await this.get(); key !== undefined; key = await this.get()) {
        try {
          const result = await handler(key, signal);
          this.forget(key);
          if (result?.requeueAfterMs !== undefined) this.addAfter(key, result.requeueAfterMs);
        } catch (error) {
          if (!this.stopping) {
            const delayMs = this.nextDelayMs(key);
            const attempt = this.requeues(key);
            this.log?.(`${key}: attempt ${attempt} failed; retrying in ${delayMs} ms`, error);
            this.addAfter(key, delayMs);
          }
        } finally {
          this.done(key);
        }
      }
    };
    try {
      await Promise.all(Array.from({ length: workers }, worker));
      await this.shutdown();
    } finally {
      signal.removeEventListener('abort', stop);
    }
  }

  /** Hands queued keys to waiting workers. */
  private handOut(): void {
    while (this.getters.length > 0) {
      const key = this.take();
      if (key === undefined) return;
      this.getters.shift()?.(key);
    }
  }

  private take(): string | undefined {
    const key = this.queue.shift();
    if (key === undefined) return undefined;
    this.dirty.delete(key);
    this.processing.add(key);
    return key;
  }
}
