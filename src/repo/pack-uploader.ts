// Uploads finished packs in the background with bounded concurrency and bounded memory: at most
// `concurrency` uploads run, and `submit` waits (backpressure) while more than `maxPending` packs are
// finished but not yet stored. The first failed upload fails the uploader for good: later submits and
// drains throw it (as restic's errgroup does), and queued packs are dropped.
import type { SignalOptions } from './environment.ts';
import type { Packer } from './pack.ts';

export interface PackUploaderOptions {
  concurrency: number;
  maxPending: number;
  /** Finishes and stores one pack, and records it in the index. */
  upload: (packer: Packer) => Promise<void>;
}

export class PackUploader {
  readonly #options: PackUploaderOptions;
  readonly #queue: Packer[] = [];
  readonly #active = new Set<Promise<void>>();
  #waiters: (() => void)[] = [];
  #failure: { error: unknown } | undefined;

  constructor(options: PackUploaderOptions) {
    if (options.concurrency < 1 || options.maxPending < 1)
      throw new RangeError('concurrency and maxPending are at least 1');
    this.#options = options;
  }

  /** The error of the first failed upload, if any. */
  get failure(): { error: unknown } | undefined {
    return this.#failure;
  }

  /** Finished packs not yet stored (queued or uploading). */
  get pending(): number {
    return this.#queue.length + this.#active.size;
  }

  /**
   * Queues a finished pack, then waits while too many are pending. An abort ends the wait, not the
   * upload: the pack stays queued.
   */
  async submit(packer: Packer, options: SignalOptions = {}): Promise<void> {
    this.#throwIfFailed();
    this.#queue.push(packer);
    this.#pump();
    while (this.pending > this.#options.maxPending && !this.#failure) await this.#change(options.signal);
    this.#throwIfFailed();
  }

  /** Waits until every queued pack is stored; throws the first upload failure. */
  async drain(options: SignalOptions = {}): Promise<void> {
    while (this.pending > 0 && !this.#failure) await this.#change(options.signal);
    this.#throwIfFailed();
  }

  #pump(): void {
    while (this.#active.size < this.#options.concurrency && this.#queue.length > 0 && !this.#failure) {
      const packer = this.#queue.shift() as Packer;
      const upload: Promise<void> = this.#options
        .upload(packer)
        .catch((error: unknown) => {
          this.#failure ??= { error };
          this.#queue.length = 0;
        })
        .finally(() => {
          this.#active.delete(upload);
          this.#pump();
          const waiters = this.#waiters;
          this.#waiters = [];
          for (const wake of waiters) wake();
        });
      this.#active.add(upload);
    }
  }

  /** Resolves when an upload ends; rejects when the signal aborts first. */
  #change(signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason as Error);
        return;
      }
      const onAbort = () => {
        this.#waiters = this.#waiters.filter((w) => w !== wake);
        reject(signal?.reason as Error);
      };
      const wake = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      this.#waiters.push(wake);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  #throwIfFailed(): void {
    if (this.#failure) throw this.#failure.error;
  }
}
