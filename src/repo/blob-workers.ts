// Worker threads that open and write a restore's blobs (blob-worker.ts has the protocol). The restorer
// reads a range of a pack, opens the files its blobs go to, and hands the bytes (transferred, not copied)
// with the descriptors and offsets to the worker with the fewest ranges under way; the worker verifies
// each blob, writes it, and answers with an outcome per blob. The main thread keeps the reads, the files'
// opening, renaming and metadata. Workers beyond the count asked for (`extra`) start while the main
// thread is mostly idle, as chunk-workers.ts's do for backups.
import { Worker } from 'node:worker_threads';
import type { MasterKey } from './crypto.ts';
import type { BlobOutcome, BlobWorkerData, FromBlobWorker, RangeBlob, ToBlobWorker } from './blob-worker.ts';

export type { BlobOutcome, FinishFile, FinishOutcome, RangeBlob } from './blob-worker.ts';

interface Thread {
  worker: Worker;
  jobs: Map<
    number,
    {
      resolve: (outcomes: BlobOutcome[]) => void;
      reject: (error: Error) => void;
      recycle: ((memory: ArrayBuffer) => void) | undefined;
    }
  >;
  failed: Error | undefined;
}

const WORKER_URL = new URL(
  import.meta.url.endsWith('.ts') ? './blob-worker.ts' : './blob-worker.js',
  import.meta.url,
);

/** How long the main thread is watched before its load decides on an extra worker. */
const LOAD_WINDOW_MS = 500;

export interface BlobWorkersOptions {
  /** Workers that may start beyond `count`, one at a time, while the main thread is mostly idle. Default 0. */
  extra?: number | undefined;
  /**
   * Whether the main thread is idle enough for an extra worker. Default: it used less than half a core
   * over the last half second or more (its CPU time, process.threadCpuUsage).
   */
  mainThreadIdle?: (() => boolean) | undefined;
}

export class BlobWorkers {
  readonly #count: number;
  readonly #extra: number;
  readonly #mainThreadIdle: () => boolean;
  readonly #data: BlobWorkerData;
  readonly #threads: Thread[] = [];
  #nextJob = 0;
  #closed = false;
  /** When the main thread's load was last looked at, and its CPU time then. */
  #lookedAt = performance.now();
  #cpu = process.threadCpuUsage();

  /**
   * `count` workers start as ranges come (a new one while none is free); up to `extra` more while the
   * main thread is mostly idle: in a restore of large files the workers' writes set the pace and the
   * main thread, which only reads the packs, has time to spare.
   */
  constructor(count: number, key: MasterKey, options: BlobWorkersOptions = {}) {
    if (!Number.isInteger(count) || count < 1) throw new RangeError(`${count} blob workers: give 1 or more`);
    const extra = options.extra ?? 0;
    if (!Number.isInteger(extra) || extra < 0)
      throw new RangeError(`${extra} extra blob workers: give 0 or more`);
    this.#count = count;
    this.#extra = extra;
    this.#mainThreadIdle = options.mainThreadIdle ?? (() => this.#lightlyLoaded());
    this.#data = { key };
  }

  /** The workers running. */
  get running(): number {
    return this.#threads.length;
  }

  /**
   * Opens the blobs of `bytes` (a range of a pack) and writes each to its places. `bytes` is handed to
   * the worker and unusable here afterwards. Settles once every write of the range is done (or failed):
   * until then the descriptors must stay open. A blob's `finish` files are made there whole, their
   * metadata set by `ownership`'s rule. With `recycle`, the caller owns all of `bytes`' memory (no other
   * buffer shares it): the whole of it moves to the worker and comes back to `recycle` once the range is
   * done (not when the worker fails).
   */
  open(
    bytes: Buffer,
    blobs: RangeBlob[],
    sparse: boolean,
    ownership: 'best-effort' | 'required' = 'best-effort',
    recycle?: (memory: ArrayBuffer) => void,
  ): Promise<BlobOutcome[]> {
    if (this.#closed) return Promise.reject(new Error('the blob workers are closed'));
    const thread = this.#pick();
    if (thread.failed) return Promise.reject(thread.failed);
    // The worker gets the bytes' own memory when they own it whole; a view into shared memory (a pooled
    // or concatenated buffer) is copied first.
    const lent = recycle !== undefined && bytes.buffer instanceof ArrayBuffer;
    const owned =
      lent ||
      (bytes.byteOffset === 0 &&
        bytes.byteLength === bytes.buffer.byteLength &&
        bytes.buffer instanceof ArrayBuffer);
    const view = owned
      ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
      : new Uint8Array(bytes);
    const job = this.#nextJob++;
    return new Promise((resolve, reject) => {
      thread.jobs.set(job, { resolve, reject, recycle: lent ? recycle : undefined });
      const message: ToBlobWorker = {
        op: 'range',
        job,
        bytes: view,
        blobs,
        sparse,
        ownership,
        recycle: lent,
      };
      thread.worker.postMessage(message, [view.buffer]);
    });
  }

  /** Stops the workers; what is under way fails. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all(this.#threads.map((thread) => thread.worker.terminate()));
  }

  /**
   * A free worker; else a new one (up to `count`, then up to `extra` more while the main thread is
   * idle); else the one with the fewest ranges under way.
   */
  #pick(): Thread {
    if (!this.#threads.some((t) => t.jobs.size === 0)) {
      if (this.#threads.length < this.#count) return this.#start();
      if (this.#threads.length < this.#count + this.#extra && this.#mainThreadIdle()) return this.#start();
    }
    return this.#threads.reduce((a, b) => (b.jobs.size < a.jobs.size ? b : a));
  }

  /**
   * Whether the main thread used less than half a core since the last look (half a second or more ago).
   * Its CPU time, not its event loop's utilization (chunk-workers.ts's measure): on a machine whose
   * cores are all taken, the time the thread waits for one counts as event-loop activity; in a restore
   * of large files on two busy cores the main thread's event loop was 45-95% active while it used
   * 20-40% of a core (measured).
   */
  #lightlyLoaded(): boolean {
    const now = performance.now();
    if (now - this.#lookedAt < LOAD_WINDOW_MS) return false;
    const cpu = process.threadCpuUsage();
    const usedMs = (cpu.user + cpu.system - this.#cpu.user - this.#cpu.system) / 1000;
    const windowMs = now - this.#lookedAt;
    this.#lookedAt = now;
    this.#cpu = cpu;
    return usedMs < windowMs / 2;
  }

  /** A worker that failed is dropped: the next range starts another. */
  #drop(thread: Thread): void {
    const at = this.#threads.indexOf(thread);
    if (at >= 0) this.#threads.splice(at, 1);
  }

  #start(): Thread {
    const worker = new Worker(WORKER_URL, { workerData: this.#data });
    const thread: Thread = { worker, jobs: new Map(), failed: undefined };
    worker.on('message', (message: FromBlobWorker) => {
      const job = thread.jobs.get(message.job);
      thread.jobs.delete(message.job);
      if (message.returned) job?.recycle?.(message.returned);
      job?.resolve(message.outcomes);
    });
    const fail = (error: Error) => {
      if (thread.failed) return;
      thread.failed = error;
      for (const job of thread.jobs.values()) job.reject(error);
      thread.jobs.clear();
      this.#drop(thread);
    };
    worker.on('error', (error: Error) =>
      fail(new Error(`a blob worker failed: ${error.message}`, { cause: error })),
    );
    worker.on('exit', (code) => fail(new Error(`a blob worker stopped (exit code ${code})`)));
    this.#threads.push(thread);
    return thread;
  }
}
