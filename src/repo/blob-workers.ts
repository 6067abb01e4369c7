// Worker threads that open and write a restore's blobs (blob-worker.ts has the protocol). The restorer
// reads a range of a pack, opens the files its blobs go to, and hands the bytes (transferred, not copied)
// with the descriptors and offsets to the worker with the fewest ranges under way; the worker verifies
// each blob, writes it, and answers with an outcome per blob. The main thread keeps the reads, the files'
// opening, renaming and metadata.
import { Worker } from 'node:worker_threads';
import type { MasterKey } from './crypto.ts';
import type { BlobOutcome, BlobWorkerData, FromBlobWorker, RangeBlob, ToBlobWorker } from './blob-worker.ts';

export type { BlobOutcome, RangeBlob } from './blob-worker.ts';

interface Thread {
  worker: Worker;
  jobs: Map<number, { resolve: (outcomes: BlobOutcome[]) => void; reject: (error: Error) => void }>;
  failed: Error | undefined;
}

const WORKER_URL = new URL(
  import.meta.url.endsWith('.ts') ? './blob-worker.ts' : './blob-worker.js',
  import.meta.url,
);

export class BlobWorkers {
  readonly #count: number;
  readonly #data: BlobWorkerData;
  readonly #threads: Thread[] = [];
  #nextJob = 0;
  #closed = false;

  constructor(count: number, key: MasterKey) {
    if (!Number.isInteger(count) || count < 1) throw new RangeError(`${count} blob workers: give 1 or more`);
    this.#count = count;
    this.#data = { key };
  }

  /**
   * Opens the blobs of `bytes` (a range of a pack) and writes each to its places. `bytes` is handed to
   * the worker and unusable here afterwards. Settles once every write of the range is done (or failed):
   * until then the descriptors must stay open.
   */
  open(bytes: Buffer, blobs: RangeBlob[], sparse: boolean): Promise<BlobOutcome[]> {
    if (this.#closed) return Promise.reject(new Error('the blob workers are closed'));
    const thread = this.#pick();
    if (thread.failed) return Promise.reject(thread.failed);
    // The worker gets the bytes' own memory when they own it whole; a view into shared memory (a pooled
    // or concatenated buffer) is copied first.
    const owned =
      bytes.byteOffset === 0 &&
      bytes.byteLength === bytes.buffer.byteLength &&
      bytes.buffer instanceof ArrayBuffer;
    const view = owned ? new Uint8Array(bytes.buffer) : new Uint8Array(bytes);
    const job = this.#nextJob++;
    return new Promise((resolve, reject) => {
      thread.jobs.set(job, { resolve, reject });
      const message: ToBlobWorker = { op: 'range', job, bytes: view, blobs, sparse };
      thread.worker.postMessage(message, [view.buffer]);
    });
  }

  /** Stops the workers; what is under way fails. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all(this.#threads.map((thread) => thread.worker.terminate()));
  }

  #pick(): Thread {
    if (this.#threads.length < this.#count && !this.#threads.some((t) => t.jobs.size === 0))
      return this.#start();
    return this.#threads.reduce((a, b) => (b.jobs.size < a.jobs.size ? b : a));
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
