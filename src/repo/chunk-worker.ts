// A chunk worker (a worker thread; chunk-workers.ts starts and drives it): reads a file that the main
// thread opened, by its descriptor, cuts it with restic's chunker (the WebAssembly one, chunker-wasm.ts),
// hashes each chunk (its blob id) and tells the main thread; then seals (zstd, AES-256-CTR, Poly1305-AES)
// the chunks the main thread asks for and drops the ones the repository has. Chunking, hashing and
// sealing are most of a large file's backup CPU; here they run beside the main thread, which keeps the
// index, the packs and the uploads.
//
// Protocol, in order per file (`file` numbers the main thread's request):
//   main → worker: { op: 'file', file, fd }               read and chunk this file
//   worker → main: { op: 'chunk', file, seq, id, length } chunk `seq` (from 0) was cut and hashed
//   main → worker: { op: 'seal', file, seq, compress }    or { op: 'drop', file, seq }: every chunk gets one
//   worker → main: { op: 'sealed', file, seq, ciphertext, uncompressedLength }
//   worker → main: { op: 'end', file, size } or { op: 'error', file, message, code }: reading is over
//   main → worker: { op: 'cancel', file }                 stop: the worker answers { op: 'cancelled', file }
//                                                        and reads no more of it
// and, for blobs the main thread read and hashed itself (small files), in batches:
//   main → worker: { op: 'sealBatch', batch, blobs: [{ plaintext, compress }] }
//   worker → main: { op: 'sealedBatch', batch, sealed: [{ ciphertext, uncompressedLength }] }, in order
// At most MAX_UNDECIDED chunks wait for their decision; the worker reads on only below that, so memory
// stays at a few chunks and a backlog of uploads (the main thread then decides later) slows it down.
import { readSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { MAX_CHUNK_SIZE } from './chunker.ts';
import { WasmChunker } from './chunker-wasm.ts';
import { masterKeyFromClone, type ClonedMasterKey } from './crypto.ts';
import { sha256 } from './ids.ts';
import { sealBlobSync } from './pack.ts';
import { polynomialFromHex } from './polynomial.ts';

/** What the main thread passes to a new worker. */
export interface ChunkWorkerData {
  polynomial: string;
  key: ClonedMasterKey;
}

export type ToWorker =
  | { op: 'file'; file: number; fd: number }
  | { op: 'seal'; file: number; seq: number; compress: boolean }
  | { op: 'drop'; file: number; seq: number }
  | { op: 'cancel'; file: number }
  | { op: 'sealBatch'; batch: number; blobs: { plaintext: Uint8Array; compress: boolean }[] };

/** A blob sealed for the main thread: its stored bytes and, when compressed, its plaintext length. */
export interface WorkerSealed {
  ciphertext: Uint8Array;
  uncompressedLength: number | undefined;
}

export type FromWorker =
  | { op: 'chunk'; file: number; seq: number; id: string; length: number }
  | {
      op: 'sealed';
      file: number;
      seq: number;
      ciphertext: Uint8Array;
      uncompressedLength: number | undefined;
    }
  | { op: 'end'; file: number; size: number }
  | { op: 'cancelled'; file: number }
  | { op: 'sealedBatch'; batch: number; sealed: WorkerSealed[] }
  | { op: 'error'; file: number; message: string; code: string | undefined };

const MAX_UNDECIDED = 3;
const READ_SIZE = 1024 * 1024;

const port = parentPort;
if (!port) throw new Error('chunk-worker.ts runs as a worker thread (chunk-workers.ts starts it)');
const data = workerData as ChunkWorkerData;
const key = masterKeyFromClone(data.key);
// The WebAssembly chunker: the same cuts as chunker.ts's, in about two thirds of the CPU.
const chunker = new WasmChunker(polynomialFromHex(data.polynomial), { bufferSize: MAX_CHUNK_SIZE });

const files: { file: number; fd: number }[] = [];
/** Files the main thread stopped: not read (further). */
const cancelled = new Set<number>();
/** Chunks cut and waiting for the main thread's decision, by `file:seq`. */
const undecided = new Map<string, Buffer>();
/**
 * The read buffer: a chunk's bytes start at 0; at a cut they are copied out and the rest moves up. It is
 * the chunker's own memory, which it hashes where the bytes lie (no copy into WebAssembly memory).
 */
const buffer = chunker.buffer;
/**
 * Buffers for chunks awaiting their decision, used again once decided: a new buffer per chunk left the
 * freed ones to the garbage collector, which ran only after tens of megabytes of them (about 80 MB more
 * peak memory per worker, measured).
 */
const spare: Buffer[] = [];

function chunkBuffer(length: number): Buffer {
  return (spare.pop() ?? Buffer.allocUnsafeSlow(MAX_CHUNK_SIZE)).subarray(0, length);
}

function reuse(chunk: Buffer): void {
  if (spare.length <= MAX_UNDECIDED) spare.push(Buffer.from(chunk.buffer, chunk.byteOffset, MAX_CHUNK_SIZE));
}
let wake: (() => void) | undefined;
let running = false;

function post(message: FromWorker, transfer?: ArrayBuffer[]): void {
  port?.postMessage(message, transfer);
}

port.on('message', (message: ToWorker) => {
  if (message.op === 'file') {
    files.push(message);
    if (!running) void run();
    return;
  }
  if (message.op === 'sealBatch') {
    const sealed: WorkerSealed[] = [];
    const transfer: ArrayBuffer[] = [];
    for (const { plaintext, compress } of message.blobs) {
      const { ciphertext, uncompressedLength } = sealBlobSync(
        key,
        { type: 'data', id: '', plaintext },
        { compress },
      );
      // A buffer of its own moves without a copy; a slice of Node's pool is copied.
      if (ciphertext.byteOffset === 0 && ciphertext.buffer.byteLength === ciphertext.length)
        transfer.push(ciphertext.buffer as ArrayBuffer);
      sealed.push({ ciphertext, uncompressedLength });
    }
    post({ op: 'sealedBatch', batch: message.batch, sealed }, transfer);
    return;
  }
  if (message.op === 'cancel') {
    // Messages come in only while chunkFile waits in pace(), after which it reads no more of a cancelled
    // file: from here on the worker does not touch the file's descriptor, which the main thread may close.
    cancelled.add(message.file);
    for (const [name, chunk] of undecided)
      if (name.startsWith(`${message.file}:`)) {
        undecided.delete(name);
        reuse(chunk);
      }
    post({ op: 'cancelled', file: message.file });
    wake?.();
    return;
  }
  const name = `${message.file}:${message.seq}`;
  const chunk = undecided.get(name);
  if (!chunk) return;
  undecided.delete(name);
  if (message.op === 'seal') {
    const sealed = sealBlobSync(
      key,
      { type: 'data', id: '', plaintext: chunk },
      { compress: message.compress },
    );
    const { ciphertext } = sealed;
    // A buffer of its own moves to the main thread without a copy; a slice of Node's pool is copied.
    const own = ciphertext.byteOffset === 0 && ciphertext.buffer.byteLength === ciphertext.length;
    post(
      {
        op: 'sealed',
        file: message.file,
        seq: message.seq,
        ciphertext,
        uncompressedLength: sealed.uncompressedLength,
      },
      own ? [ciphertext.buffer as ArrayBuffer] : undefined,
    );
  }
  reuse(chunk);
  wake?.();
});

/** Lets the main thread's decisions in; waits while too many chunks are undecided. */
async function pace(): Promise<void> {
  await new Promise<void>((resolve) => setImmediate(resolve));
  while (undecided.size >= MAX_UNDECIDED) await new Promise<void>((resolve) => (wake = resolve));
  wake = undefined;
}

async function run(): Promise<void> {
  running = true;
  try {
    for (let next = files.shift(); next; next = files.shift()) {
      if (!cancelled.has(next.file)) await chunkFile(next.file, next.fd);
      cancelled.delete(next.file);
    }
  } finally {
    running = false;
  }
}

async function chunkFile(file: number, fd: number): Promise<void> {
  const splitter = chunker.split();
  let fill = 0;
  let size = 0;
  let seq = 0;
  // A chunk waiting for its decision is a copy (in a buffer used again); the copy costs a few percent of
  // hashing it.
  const emit = (length: number) => {
    const chunk = chunkBuffer(length);
    buffer.copy(chunk, 0, 0, length);
    undecided.set(`${file}:${seq}`, chunk);
    post({ op: 'chunk', file, seq, id: sha256(chunk), length });
    seq++;
  };
  try {
    for (;;) {
      let read: number;
      try {
        read = readSync(fd, buffer, fill, Math.min(READ_SIZE, buffer.length - fill), size);
      } catch (error) {
        const { message, code } = error as NodeJS.ErrnoException;
        post({ op: 'error', file, message, code });
        return;
      }
      if (read === 0) break;
      size += read;
      let from = fill;
      fill += read;
      for (;;) {
        const cut = splitter.next(buffer, from, fill);
        if (cut < 0) break;
        emit(cut);
        buffer.copyWithin(0, cut, fill);
        [fill, from] = [fill - cut, 0];
        await pace();
        if (cancelled.has(file)) return;
      }
      if (cancelled.has(file)) return;
    }
    if (fill > 0) emit(fill);
    post({ op: 'end', file, size });
    await pace();
  } catch (error) {
    post({ op: 'error', file, message: (error as Error).message, code: undefined });
  }
}
