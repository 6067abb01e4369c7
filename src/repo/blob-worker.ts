// A blob worker (a worker thread; blob-workers.ts starts and drives it): opens the blobs of one ranged
// read of a pack (MAC, AES-256-CTR, zstd, SHA-256 against the id: pack.ts's openBlobSync) and writes each
// verified blob into the files the restorer opened for it, by descriptor and offset. Opening and writing
// are most of a restore's CPU; here they run beside the main thread, which reads the packs, opens,
// renames and finishes the files.
//
// Protocol: main → worker { op: 'range', job, bytes, blobs, sparse } (bytes transferred);
//           worker → main { op: 'done', job, outcomes } (an outcome per blob, in order).
// A blob that fails a check is written nowhere. With `sparse`, a blob of zeros is written nowhere either
// (the file keeps a hole; the restorer truncates it to its length at the end).
import { writeSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { masterKeyFromClone, type ClonedMasterKey } from './crypto.ts';
import { allZero, openBlobSync, type BlobType } from './pack.ts';

/** What the main thread passes to a new worker. */
export interface BlobWorkerData {
  key: ClonedMasterKey;
}

/** A blob of the range: where it is in `bytes`, what it is, and where it goes (descriptor, offset pairs). */
export interface RangeBlob {
  type: BlobType;
  id: string;
  pack: string;
  /** Its offset in the pack (for messages). */
  offset: number;
  /** Where it starts in the range's bytes. */
  at: number;
  length: number;
  uncompressedLength?: number | undefined;
  /** Flat pairs: a file's descriptor, then the offset in that file to write the plaintext at. */
  writes: number[];
}

export type BlobOutcome =
  | {
      ok: true;
      /** The plaintext's length. */
      length: number;
      /** All zeros and `sparse`: written nowhere. */
      zero: boolean;
      /** Writes that failed, by their index in `writes` (of pairs), with the system's message and code. */
      failed?: { write: number; message: string; code: string | undefined }[];
    }
  | { ok: false; message: string };

export type ToBlobWorker = {
  op: 'range';
  job: number;
  bytes: Uint8Array;
  blobs: RangeBlob[];
  sparse: boolean;
};
export type FromBlobWorker = { op: 'done'; job: number; outcomes: BlobOutcome[] };

const port = parentPort;
if (!port) throw new Error('blob-worker.ts runs as a worker thread (blob-workers.ts starts it)');
const data = workerData as BlobWorkerData;
const key = masterKeyFromClone(data.key);
function writeAll(fd: number, bytes: Buffer, position: number): void {
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done, position + done);
}

port.on('message', (message: ToBlobWorker) => {
  const bytes = Buffer.from(message.bytes.buffer, message.bytes.byteOffset, message.bytes.length);
  const outcomes: BlobOutcome[] = message.blobs.map((blob) => {
    let plaintext: Buffer;
    try {
      plaintext = openBlobSync(key, blob.pack, blob, bytes.subarray(blob.at, blob.at + blob.length));
    } catch (error) {
      return { ok: false, message: (error as Error).message };
    }
    const zero = message.sparse && allZero(plaintext);
    const failed: NonNullable<Extract<BlobOutcome, { ok: true }>['failed']> = [];
    if (!zero)
      for (let i = 0; i < blob.writes.length; i += 2)
        try {
          writeAll(blob.writes[i] as number, plaintext, blob.writes[i + 1] as number);
        } catch (error) {
          const { message: text, code } = error as NodeJS.ErrnoException;
          failed.push({ write: i / 2, message: text, code });
        }
    return { ok: true, length: plaintext.length, zero, ...(failed.length > 0 && { failed }) };
  });
  port.postMessage({ op: 'done', job: message.job, outcomes } satisfies FromBlobWorker);
});
