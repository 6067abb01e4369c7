// A blob worker (a worker thread; blob-workers.ts starts and drives it): opens the blobs of one ranged
// read of a pack (MAC, AES-256-CTR, zstd, SHA-256 against the id: pack.ts's openBlobSync) and writes each
// verified blob into the files the restorer opened for it, by descriptor and offset. Opening and writing
// are most of a restore's CPU; here they run beside the main thread, which reads the packs, opens,
// renames and finishes the files.
//
// Protocol: main → worker { op: 'range', job, bytes, blobs, sparse, ownership } (bytes transferred);
//           worker → main { op: 'done', job, outcomes } (an outcome per blob, in order).
// A blob that fails a check is written nowhere. With `sparse`, a blob of zeros is written nowhere either
// (the file keeps a hole; the restorer truncates it to its length at the end).
//
// A small file whose one blob is in the range (`finish`) is done here whole: made under its temporary
// name, written, closed, renamed into place and given its owner, mode and times. In a restore of many
// small files those calls were most of the main thread's time, and it set the pace while the workers
// idled.
import { closeSync, ftruncateSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { masterKeyFromClone, type ClonedMasterKey } from './crypto.ts';
import { applyMetadata, replaceSync, type NodeMetadata } from './node-fs.ts';
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
  /** Files of this one blob to make here whole (see the file's header). */
  finish?: FinishFile[] | undefined;
}

/** A file that is this blob alone: made at `temp`, renamed to `path`, its metadata `node`'s. */
export interface FinishFile {
  temp: string;
  path: string;
  /** Its length (a hole of zeros is truncated to it). */
  size: number;
  /** Only what applyMetadata needs: a whole node (its content ids, names) cost more to send. */
  node: NodeMetadata;
}

/** A FinishFile's end: in place (with the metadata calls that failed), or removed for `message`. */
export type FinishOutcome =
  | { ok: true; problems: { operation: string; message: string }[] }
  | { ok: false; message: string; code: string | undefined };

export type BlobOutcome =
  | {
      ok: true;
      /** The plaintext's length. */
      length: number;
      /** All zeros and `sparse`: written nowhere. */
      zero: boolean;
      /** Writes that failed, by their index in `writes` (of pairs), with the system's message and code. */
      failed?: { write: number; message: string; code: string | undefined }[];
      /** An outcome per `finish` file, in order. */
      finished?: FinishOutcome[];
    }
  | { ok: false; message: string };

export type ToBlobWorker = {
  op: 'range';
  job: number;
  bytes: Uint8Array;
  blobs: RangeBlob[];
  sparse: boolean;
  /** applyMetadata's: 'required' reports an owner that could not be set. */
  ownership: 'best-effort' | 'required';
  /** Send `bytes`' memory back once done (the main thread uses it again for another range). */
  recycle: boolean;
};
export type FromBlobWorker = {
  op: 'done';
  job: number;
  outcomes: BlobOutcome[];
  /** `bytes`' memory, moved back when the main thread asked for it (nothing here refers to it any more). */
  returned?: ArrayBuffer | undefined;
};

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
    const finished = blob.finish?.map((file) => finish(file, plaintext, zero, message.ownership));
    return {
      ok: true,
      length: plaintext.length,
      zero,
      ...(failed.length > 0 && { failed }),
      ...(finished && { finished }),
    };
  });
  // The plaintexts are new buffers (decryption and decompression never write into `bytes`), so once the
  // outcomes are made nothing here refers to `bytes`' memory: it can go back whole.
  const returned = message.recycle ? (message.bytes.buffer as ArrayBuffer) : undefined;
  port.postMessage(
    { op: 'done', job: message.job, outcomes, returned } satisfies FromBlobWorker,
    returned ? [returned] : [],
  );
});

/** Makes a FinishFile: its content, its name, its metadata; removes the temporary file when that fails. */
function finish(
  file: FinishFile,
  plaintext: Buffer,
  zero: boolean,
  ownership: 'best-effort' | 'required',
): FinishOutcome {
  let fd: number | undefined;
  try {
    fd = openSync(file.temp, 'wx', 0o600);
    if (!zero) writeAll(fd, plaintext, 0);
    if (zero || plaintext.length < file.size) ftruncateSync(fd, file.size);
    closeSync(fd);
    fd = undefined;
    replaceSync(file.path, (path) => renameSync(file.temp, path));
  } catch (error) {
    if (fd !== undefined)
      try {
        closeSync(fd);
      } catch {
        // removed all the same
      }
    try {
      unlinkSync(file.temp);
    } catch {
      // never made, or renamed already
    }
    const { message, code } = error as NodeJS.ErrnoException;
    return { ok: false, message, code };
  }
  const problems = applyMetadata(file.path, file.node, { ownership }).map((problem) => ({
    operation: problem.operation,
    message: problem.error.message,
  }));
  return { ok: true, problems };
}
