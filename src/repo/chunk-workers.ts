// Worker threads that chunk, hash and seal the archiver's larger files (chunk-worker.ts has the
// protocol). The main thread opens each file and hands its descriptor to an idle worker, or a new one,
// or one reading a single file (files wait here otherwise), and gets its chunks back in order: each with its id and length, and a `seal` that has the
// worker compress and encrypt it (called by Repository.saveBlobSealedBy only when the repository does not
// have the blob) or a `drop` when it does. On a machine with two cores this moves most of a large file's
// CPU off the main thread, which keeps the index, the packs and the uploads.
import { Worker } from 'node:worker_threads';
import type { MasterKey } from './crypto.ts';
import type { BlobType, SealedBlob } from './pack.ts';
import type { ChunkWorkerData, FromWorker, ToWorker, WorkerSealed } from './chunk-worker.ts';

/** A chunk a worker cut and hashed; exactly one of `seal` and `drop` must be called. */
export interface WorkerChunk {
  id: string;
  length: number;
  seal(compress: boolean): Promise<SealedBlob>;
  drop(): void;
}

/** A file the worker could not read: `cause` has the system's message and code. */
export class WorkerReadError extends Error {
  override readonly name = 'WorkerReadError';
}

interface FileJob {
  onChunk: (chunk: WorkerChunk) => void;
  resolve: (result: { size: number }) => void;
  reject: (error: Error) => void;
  sealing: Map<number, { resolve: (sealed: SealedBlob) => void; reject: (error: Error) => void; id: string }>;
  /** Chunks given to onChunk and neither sealed nor dropped yet. */
  undecided: number;
  done: boolean;
  /** Set once the caller stopped; called when the worker confirms it no longer reads the file. */
  cancelled?: (() => void) | undefined;
  /** Set once the worker confirmed: it has no chunk of the file any more. */
  stopped?: Error | undefined;
}

interface Waiting {
  file: number;
  fd: number;
  job: FileJob;
  /** The worker it was handed to. */
  thread: Thread | undefined;
}

interface Thread {
  worker: Worker;
  jobs: Map<number, FileJob>;
  /** Files handed over and not yet read to their end. */
  queued: number;
  /** Batches of blobs to seal handed over and not answered yet. */
  sealing: Map<number, SealRequest[]>;
  failed: Error | undefined;
}

interface SealRequest {
  plaintext: Uint8Array;
  compress: boolean;
  resolve: (sealed: WorkerSealed) => void;
  reject: (error: Error) => void;
}

/** Blobs to seal sent in one message at most: a message per blob cost the main thread more than sealing it. */
const SEAL_BATCH = 64;

const WORKER_URL = new URL(
  import.meta.url.endsWith('.ts') ? './chunk-worker.ts' : './chunk-worker.js',
  import.meta.url,
);

/**
 * How long the main thread is watched before its load decides on an extra worker; while files wait for
 * a worker, it is looked at again this often.
 */
const LOAD_WINDOW_MS = 250;
/**
 * The main thread's load below which an extra worker starts. In a full backup the main thread, past the
 * small files, is busy 20-60% of the time (the packs, uploads, and the garbage of both), while the worker
 * chunking the large files is the bottleneck (measured); at 0.5 the extra worker hardly ever started.
 */
const MAIN_BUSY = 0.75;

export class ChunkWorkers {
  readonly #count: number;
  readonly #extra: number;
  readonly #data: ChunkWorkerData;
  readonly #threads: Thread[] = [];
  /** Files not yet handed to a worker, in order. */
  readonly #waiting: Waiting[] = [];
  #nextFile = 0;
  #closed = false;
  #load = performance.eventLoopUtilization();
  /** Set while files wait and an extra worker may start: #dispatch runs again when it fires. */
  #recheck: NodeJS.Timeout | undefined;
  /** Blobs to seal not sent yet: sent together at the end of this turn of the event loop. */
  #sealBatch: SealRequest[] = [];
  #nextBatch = 0;

  /**
   * `count` workers start (the first at once, the others as files come); up to `extra` more only while
   * files wait and the main thread is not busy (its event loop busy less than MAIN_BUSY of the time over
   * the last LOAD_WINDOW_MS or more), as in an incremental backup where the workers read changed files
   * and the main thread has little to store.
   */
  constructor(count: number, options: { polynomial: string; key: MasterKey; extra?: number | undefined }) {
    if (!Number.isInteger(count) || count < 1) throw new RangeError(`${count} chunk workers: give 1 or more`);
    this.#count = count;
    this.#extra = options.extra ?? 0;
    this.#data = {
      polynomial: options.polynomial,
      key: options.key,
    };
    // The first worker starts now: loading its modules (a few hundred milliseconds of CPU) then overlaps
    // the index's loading and the walk's start, instead of delaying the first large file.
    this.#start();
  }

  /**
   * Chunks the open file `fd` (read from offset 0 to its end) in a worker: `onChunk` gets its chunks in
   * order, and the promise settles with the bytes read once the last chunk has been given (rejects with
   * WorkerReadError when a read fails). The caller keeps `fd` open until then and closes it.
   */
  chunkFile(
    fd: number,
    onChunk: (chunk: WorkerChunk) => void,
    signal?: AbortSignal,
  ): Promise<{ size: number }> {
    if (this.#closed) return Promise.reject(new Error('the chunk workers are closed'));
    if (signal?.aborted) return Promise.reject(signal.reason as Error);
    const file = this.#nextFile++;
    return new Promise((resolve, reject) => {
      const job: FileJob = { onChunk, resolve, reject, sealing: new Map(), undecided: 0, done: false };
      const waiting: Waiting = { file, fd, job, thread: undefined };
      // Stopped: a file still waiting here is dropped; one a worker has is cancelled there (the worker
      // stops reading and drops its chunks). The caller's promise fails now either way.
      const onAbort = () => {
        if (job.done) return;
        job.done = true;
        if (!waiting.thread) {
          this.#waiting.splice(this.#waiting.indexOf(waiting), 1);
          reject(signal?.reason as Error);
          return;
        }
        job.cancelled = () => reject(signal?.reason as Error);
        this.#send(waiting.thread, { op: 'cancel', file });
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const settle =
        <T>(fn: (value: T) => void) =>
        (value: T) => {
          signal?.removeEventListener('abort', onAbort);
          fn(value);
        };
      job.resolve = settle(resolve);
      job.reject = settle(reject);
      this.#waiting.push(waiting);
      this.#dispatch();
    });
  }

  /**
   * Compresses (when `compress`) and encrypts a blob the main thread read and hashed itself (a small
   * file's) in a worker: sealing is most of a small file's CPU, and the main thread has the rest (the
   * walk, reading, hashing, the index, the packs and their uploads). Blobs asked for in one turn of the
   * event loop go in one message, to the worker with the fewest batches under way.
   */
  seal(plaintext: Uint8Array, compress: boolean): Promise<WorkerSealed> {
    if (this.#closed) return Promise.reject(new Error('the chunk workers are closed'));
    return new Promise((resolve, reject) => {
      this.#sealBatch.push({ plaintext, compress, resolve, reject });
      if (this.#sealBatch.length >= SEAL_BATCH) this.#sendSeals();
      else if (this.#sealBatch.length === 1) setImmediate(() => this.#sendSeals());
    });
  }

  #sendSeals(): void {
    const requests = this.#sealBatch;
    if (requests.length === 0) return;
    this.#sealBatch = [];
    const healthy = this.#threads.filter((t) => !t.failed);
    const thread = healthy.reduce<Thread | undefined>(
      (best, t) => (best && best.sealing.size <= t.sealing.size ? best : t),
      undefined,
    );
    if (this.#closed || !thread) {
      const error = this.#threads[0]?.failed ?? new Error('the chunk workers are closed');
      for (const request of requests) request.reject(error);
      return;
    }
    const batch = this.#nextBatch++;
    thread.sealing.set(batch, requests);
    this.#send(thread, {
      op: 'sealBatch',
      batch,
      blobs: requests.map(({ plaintext, compress }) => ({ plaintext, compress })),
    });
  }

  /**
   * Hands waiting files to workers: an idle one, a new one (up to `count`, then `extra` more while the
   * main thread is idle), or else one with a single file under way (so it never waits between files).
   */
  #dispatch(): void {
    while (this.#waiting.length > 0 && !this.#closed) {
      let thread = this.#threads.find((t) => t.queued === 0 && !t.failed);
      if (!thread && this.#threads.length < this.#count) thread = this.#start();
      if (!thread && this.#threads.length < this.#count + this.#extra && this.#mainThreadIdle())
        thread = this.#start();
      thread ??= this.#threads.find((t) => t.queued < 2 && !t.failed);
      // Every worker failed: their error fails the file (while one is healthy, the file waits for it).
      if (!thread && this.#threads.length > 0 && this.#threads.every((t) => t.failed))
        thread = this.#threads[0];
      if (!thread) break;
      const waiting = this.#waiting.shift() as Waiting;
      waiting.thread = thread;
      const { file, fd, job } = waiting;
      if (thread.failed) {
        job.done = true;
        job.reject(thread.failed);
        continue;
      }
      thread.jobs.set(file, job);
      thread.queued++;
      this.#send(thread, { op: 'file', file, fd });
    }
    // Files wait for a busy worker: look at the main thread's load again soon, not only when a file
    // ends (a large file takes seconds), so that an extra worker starts as soon as it is idle.
    const more = this.#threads.length < this.#count + this.#extra;
    if (this.#waiting.length > 0 && more && !this.#closed && !this.#recheck) {
      this.#recheck = setTimeout(() => {
        this.#recheck = undefined;
        this.#dispatch();
      }, LOAD_WINDOW_MS);
      this.#recheck.unref();
    }
  }

  /** Stops the workers; what is under way fails. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#recheck);
    const closed = new Error('the chunk workers are closed');
    for (const request of this.#sealBatch.splice(0)) request.reject(closed);
    for (const thread of this.#threads) {
      for (const requests of thread.sealing.values()) for (const request of requests) request.reject(closed);
      thread.sealing.clear();
    }
    await Promise.all(this.#threads.map((thread) => thread.worker.terminate()));
  }

  #send(thread: Thread, message: ToWorker): void {
    if (!thread.failed) thread.worker.postMessage(message);
  }

  /**
   * Whether the main thread's event loop was busy less than MAIN_BUSY of the time since the last look:
   * then a worker more, on a machine with a core for it, does not slow the main thread much.
   */
  #mainThreadIdle(): boolean {
    const now = performance.eventLoopUtilization();
    const window = performance.eventLoopUtilization(now, this.#load);
    if (window.idle + window.active < LOAD_WINDOW_MS) return false;
    this.#load = now;
    return window.utilization < MAIN_BUSY;
  }

  #start(): Thread {
    const worker = new Worker(WORKER_URL, { workerData: this.#data });
    const thread: Thread = { worker, jobs: new Map(), queued: 0, sealing: new Map(), failed: undefined };
    worker.on('message', (message: FromWorker) => this.#receive(thread, message));
    const fail = (error: Error) => {
      if (thread.failed) return;
      thread.failed = error;
      for (const requests of thread.sealing.values()) for (const request of requests) request.reject(error);
      thread.sealing.clear();
      for (const job of thread.jobs.values()) {
        for (const sealing of job.sealing.values()) sealing.reject(error);
        if (!job.done) job.reject(error);
        job.cancelled?.();
      }
      thread.jobs.clear();
      this.#dispatch();
    };
    worker.on('error', (error: Error) =>
      fail(new Error(`a chunk worker failed: ${error.message}`, { cause: error })),
    );
    worker.on('exit', (code) => fail(new Error(`a chunk worker stopped (exit code ${code})`)));
    this.#threads.push(thread);
    return thread;
  }

  #receive(thread: Thread, message: FromWorker): void {
    if (message.op === 'sealedBatch') {
      const requests = thread.sealing.get(message.batch) ?? [];
      thread.sealing.delete(message.batch);
      requests.forEach((request, i) => {
        const sealed = message.sealed[i];
        if (sealed) request.resolve(sealed);
        else request.reject(new Error('a chunk worker answered a batch of blobs to seal short'));
      });
      return;
    }
    const job = thread.jobs.get(message.file);
    if (!job) return;
    const { file } = message;
    switch (message.op) {
      case 'chunk': {
        const { seq, id, length } = message;
        let decided = false;
        const decide = () => {
          if (decided) throw new Error(`chunk ${seq} of a file was decided twice`);
          decided = true;
          job.undecided--;
        };
        job.undecided++;
        job.onChunk({
          id,
          length,
          seal: (compress) => {
            decide();
            if (job.stopped) return Promise.reject(job.stopped);
            return new Promise<SealedBlob>((resolve, reject) => {
              job.sealing.set(seq, { resolve, reject, id });
              this.#send(thread, { op: 'seal', file, seq, compress });
            });
          },
          drop: () => {
            decide();
            this.#send(thread, { op: 'drop', file, seq });
            this.#settle(thread, file, job);
          },
        });
        break;
      }
      case 'sealed': {
        const sealing = job.sealing.get(message.seq);
        if (!sealing) return;
        job.sealing.delete(message.seq);
        const { ciphertext, uncompressedLength } = message;
        const type: BlobType = 'data';
        sealing.resolve({
          type,
          id: sealing.id,
          ciphertext: Buffer.from(ciphertext.buffer, ciphertext.byteOffset, ciphertext.length),
          ...(uncompressedLength !== undefined && { uncompressedLength }),
        });
        this.#settle(thread, file, job);
        break;
      }
      case 'cancelled': {
        thread.queued--;
        this.#dispatch();
        job.stopped = new Error('the file’s backup was stopped');
        job.cancelled?.();
        // The worker dropped the file's chunks: a seal asked for, before or after, has nothing to seal.
        for (const sealing of job.sealing.values()) sealing.reject(job.stopped);
        job.sealing.clear();
        job.undecided = 0;
        this.#settle(thread, file, job);
        break;
      }
      case 'end':
        if (job.done) return; // cancelled
        job.done = true;
        thread.queued--;
        this.#dispatch();
        job.resolve({ size: message.size });
        this.#settle(thread, file, job);
        break;
      case 'error':
        if (job.done) return; // cancelled
        job.done = true;
        thread.queued--;
        this.#dispatch();
        job.reject(
          new WorkerReadError(`read failed: ${message.message}`, {
            cause: Object.assign(new Error(message.message), { code: message.code }),
          }),
        );
        this.#settle(thread, file, job);
        break;
    }
  }

  /** Forgets a file once it is read and none of its chunks is being sealed. */
  #settle(thread: Thread, file: number, job: FileJob): void {
    const waitingForCancel = job.cancelled !== undefined && job.stopped === undefined;
    if (job.done && !waitingForCancel && job.undecided === 0 && job.sealing.size === 0)
      thread.jobs.delete(file);
  }
}
