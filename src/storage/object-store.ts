// The object-store interface every driver implements (filesystem, S3, Azure Blob, GCS, memory), and the
// key rules and stream helpers the drivers share. A driver is dumb on purpose: a few plain methods, no
// retry or read-only flags (those are wrappers, see wrappers.ts). docs/storage.md describes the contract;
// test/conformance/object-store.ts pins it.
import { Transform, pipeline, type Readable } from 'node:stream';
import {
  ContentLengthMismatchError,
  InvalidKeyError,
  ObjectNotFoundError,
  RangeNotSatisfiableError,
  StoreRequestError,
} from './errors.ts';

/** What `head` returns. */
export interface ObjectInfo {
  key: string;
  size: number;
  lastModified: Date;
}

/** One entry of a listing: an object, or (with a delimiter) a common prefix ending in the delimiter. */
export type ListEntry =
  { type: 'object'; key: string; size: number; lastModified: Date } | { type: 'prefix'; prefix: string };

export interface SignalOptions {
  signal?: AbortSignal | undefined;
}

export interface PutOptions extends SignalOptions {
  /** Write once: fail with ObjectExistsError, changing nothing, if the key exists. Atomic on every driver. */
  ifAbsent?: boolean | undefined;
  /** The body's length when known; a body of another length fails with ContentLengthMismatchError. */
  contentLength?: number | undefined;
  /**
   * Keep the object from being deleted or overwritten until this time, by anyone, where the store can
   * enforce it (S3 Object Lock in compliance mode, on a bucket created with object lock); other stores
   * ignore it. A backup's delete lock (deleteLockDays) sets it.
   */
  retainUntil?: Date | undefined;
  /**
   * Told each time the store has taken more of the body (bytes sent or written, a block staged), by the
   * drivers that can tell: withTimeouts counts it as progress, so an upload is not idle while a driver
   * sends parts it holds in memory after it stopped reading the body, nor while it sends a large Buffer.
   */
  onProgress?: (() => void) | undefined;
}

/** Bytes of an object: `length` bytes from `offset`, or from `offset` to the object's end. */
export interface ByteRange {
  /** The first byte, counted from 0. A non-negative integer. */
  offset: number;
  /** How many bytes, at least 1; without it, every byte from `offset` to the end. */
  length?: number | undefined;
}

export interface GetOptions extends SignalOptions {
  /**
   * Read only these bytes. The whole range must lie inside the object (see ObjectStore.get); a
   * malformed range is a RangeError before any request.
   */
  range?: ByteRange | undefined;
}

export interface ListOptions extends SignalOptions {
  /** Roll up keys that contain the delimiter after the prefix into one `prefix` entry (like S3). */
  delimiter?: string | undefined;
}

export interface SignedUrlOptions {
  expiresInSeconds: number;
}

/** A body to store: bytes, or a stream read once (never buffered whole by the drivers that stream). */
export type PutBody = Buffer | Readable;

/**
 * A flat namespace of keys holding immutable-by-convention blobs.
 *
 * Keys are `/`-separated relative paths: no leading `/`, no empty, `.` or `..` segments, no NUL, at most
 * 1,024 bytes (InvalidKeyError otherwise). Listings come back sorted by the keys' UTF-8 bytes, as S3 and
 * GCS sort them. Every method rejects with the signal's reason once its signal aborts.
 */
export interface ObjectStore {
  /** Where the store is, for messages: e.g. `s3://bucket (http://127.0.0.1:9000)`. Never holds secrets. */
  readonly description: string;
  /** Stores `body` under `key`. Readers never see a partial object; a failed put leaves no object. */
  put(key: string, body: PutBody, options?: PutOptions): Promise<void>;
  /**
   * The object's bytes as a stream; ObjectNotFoundError when the key is missing.
   *
   * With `range`, only bytes [offset, offset + length) — or [offset, size) without a length — and
   * exactly those: the range must lie inside the object (offset < size and offset + length <= size),
   * else RangeNotSatisfiableError (naming the key, the range and the object's size) and no stream. So a
   * ranged stream is never empty and never short, and no range fits an empty object. A range whose offset
   * is not a non-negative integer, or whose length is not a positive integer, is a RangeError before any
   * request.
   */
  get(key: string, options?: GetOptions): Promise<Readable>;
  /** Size and modification time, or undefined when the key is missing. */
  head(key: string, options?: SignalOptions): Promise<ObjectInfo | undefined>;
  /** Objects whose keys start with `prefix` (any string, not only whole segments), sorted, paged internally. */
  list(prefix: string, options?: ListOptions): AsyncIterable<ListEntry>;
  /** Removes the object; removing a missing key is not an error. */
  delete(key: string, options?: SignalOptions): Promise<void>;
  /** A URL that GETs the object without credentials until it expires; absent where the store has none. */
  signedUrl?: ((key: string, options: SignedUrlOptions) => Promise<string>) | undefined;
  /**
   * Aborts the uploads under `prefix` that were started and never completed (S3 multipart uploads, whose
   * parts the store keeps, and bills, until they are aborted), those started before `olderThan` when it
   * is given; resolves with how many. Absent where a failed upload leaves nothing behind (filesystem,
   * memory; Azure and GCS drop uncommitted blocks and sessions after a week by themselves).
   */
  abortIncompleteUploads?: ((prefix: string, options?: AbortUploadsOptions) => Promise<number>) | undefined;
}

export interface AbortUploadsOptions extends SignalOptions {
  olderThan?: Date | undefined;
}

/** Why `key` is not a valid object key, or undefined when it is. */
export function keyProblem(key: string): string | undefined {
  if (key === '') return 'the key is empty';
  if (Buffer.byteLength(key) > 1024) return 'keys are at most 1024 bytes long';
  return pathProblem(key, false);
}

/** Why `prefix` is not a valid list prefix ('' and a trailing `/` are fine), or undefined when it is. */
export function prefixProblem(prefix: string): string | undefined {
  return prefix === '' ? undefined : pathProblem(prefix, true);
}

function pathProblem(path: string, trailingEmptyOk: boolean): string | undefined {
  if (path.startsWith('/')) return 'keys are relative: a leading "/" is not allowed';
  if (path.includes('\0')) return 'keys may not contain NUL characters';
  const segments = path.split('/');
  for (const [i, segment] of segments.entries()) {
    if (segment === '..' || segment === '.') return `the path segment "${segment}" is not allowed`;
    if (segment === '' && !(trailingEmptyOk && i === segments.length - 1))
      return 'empty path segments ("//" or a trailing "/") are not allowed';
  }
  return undefined;
}

/** Throws InvalidKeyError when `key` breaks the key rules. */
export function checkKey(store: string, key: string): void {
  const problem = keyProblem(key);
  if (problem !== undefined) throw new InvalidKeyError(store, key, problem);
}

/** Throws InvalidKeyError when `prefix` breaks the prefix rules. */
export function checkPrefix(store: string, prefix: string): void {
  const problem = prefixProblem(prefix);
  if (problem !== undefined) throw new InvalidKeyError(store, prefix, problem);
}

/** Orders keys by their UTF-8 bytes, the order S3 and GCS list in. */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** The key or prefix an entry sorts by. */
export function entryName(entry: ListEntry): string {
  return entry.type === 'object' ? entry.key : entry.prefix;
}

/** Merges one page's objects and common prefixes (each sorted) into one sorted run. */
export function mergeEntries(objects: ListEntry[], prefixes: ListEntry[]): ListEntry[] {
  if (prefixes.length === 0) return objects;
  return [...objects, ...prefixes].sort((a, b) => compareKeys(entryName(a), entryName(b)));
}

/**
 * Rolls a sorted run of objects up by `delimiter` after `prefix`, as S3 does: a key with the delimiter
 * after the prefix becomes one `prefix` entry (yielded once), the others pass through.
 */
export async function* rollUp(
  objects: AsyncIterable<ListEntry> | Iterable<ListEntry>,
  prefix: string,
  delimiter: string | undefined,
): AsyncGenerator<ListEntry> {
  let last: string | undefined;
  for await (const entry of objects) {
    const name = entryName(entry);
    const at = delimiter ? name.indexOf(delimiter, prefix.length) : -1;
    if (at < 0 || !delimiter) {
      yield entry;
      continue;
    }
    const common = name.slice(0, at + delimiter.length);
    if (common === last) continue;
    last = common;
    yield { type: 'prefix', prefix: common };
  }
}

/**
 * Throws RangeError when `range` is malformed: an offset that is not a non-negative integer, a length
 * that is not a positive integer, or an end past the largest safe integer. Drivers call it before any
 * request.
 */
export function checkRange(range: ByteRange | undefined): void {
  if (range === undefined) return;
  const { offset, length } = range;
  if (!Number.isSafeInteger(offset) || offset < 0)
    throw new RangeError(`range offset must be a non-negative integer, not ${String(offset)}`);
  if (length !== undefined && (!Number.isSafeInteger(length) || length < 1))
    throw new RangeError(`range length must be a positive integer, not ${String(length)}`);
  if (length !== undefined && !Number.isSafeInteger(offset + length))
    throw new RangeError(`range offset ${offset} plus length ${length} is past the largest safe integer`);
}

/** The end of `range` (exclusive) in an object of `size` bytes. */
export function rangeEnd(range: ByteRange, size: number): number {
  return range.length === undefined ? size : range.offset + range.length;
}

/** Whether `range` lies inside an object of `size` bytes. */
export function rangeFits(range: ByteRange, size: number): boolean {
  return range.offset < size && rangeEnd(range, size) <= size;
}

/** Throws RangeNotSatisfiableError unless `range` lies inside an object of `size` bytes. */
export function checkRangeFits(store: string, key: string, range: ByteRange, size: number): void {
  if (!rangeFits(range, size)) throw new RangeNotSatisfiableError(store, key, range, size);
}

/** The HTTP Range header of `range`: `bytes=first-last`, or `bytes=first-` to the end. */
export function rangeHeader(range: ByteRange): string {
  return `bytes=${range.offset}-${range.length === undefined ? '' : range.offset + range.length - 1}`;
}

/**
 * Checks a service's answer to a ranged GET: a partial answer's Content-Range (`bytes first-last/size`),
 * or a whole-object answer's length (a 200 without Content-Range). Throws RangeNotSatisfiableError when
 * the range does not lie inside the object (some services answer a range starting at the end with no
 * bytes instead of 416), and StoreRequestError when the service sent other bytes than asked for (a
 * range it ignored).
 */
export function checkRangeAnswer(
  store: string,
  key: string,
  range: ByteRange,
  answer: { contentRange: string | undefined; contentLength: number | undefined },
): void {
  let first = 0;
  let last: number;
  let size: number;
  if (answer.contentRange === undefined) {
    if (answer.contentLength === undefined)
      throw new StoreRequestError(store, 'get', key, undefined, 'the response has no length');
    size = answer.contentLength;
    last = size - 1;
  } else {
    // The last byte can be -1: Azurite answers `bytes 0--1/0` for an empty blob.
    const match = /^bytes (\d+)-(-?\d+)\/(\d+)$/.exec(answer.contentRange);
    if (!match)
      throw new StoreRequestError(
        store,
        'get',
        key,
        undefined,
        `unexpected content range ${JSON.stringify(answer.contentRange)}`,
      );
    [first, last, size] = [Number(match[1]), Number(match[2]), Number(match[3])];
  }
  checkRangeFits(store, key, range, size);
  const end = rangeEnd(range, size);
  if (first !== range.offset || last !== end - 1)
    throw new StoreRequestError(
      store,
      'get',
      key,
      undefined,
      `asked for bytes ${range.offset}-${end - 1} of ${size}, the service sent bytes ${first}-${last}`,
    );
}

/**
 * The error for a range the service refused (HTTP 416): RangeNotSatisfiableError with the object's
 * size, which the refusal does not reliably carry, so it is asked for; ObjectNotFoundError if the
 * object is gone by then.
 */
export async function unsatisfiableRange(
  store: ObjectStore,
  key: string,
  range: ByteRange,
  options: SignalOptions & { cause: unknown },
): Promise<Error> {
  const info = await store.head(key, { signal: options.signal });
  const cause = { cause: options.cause };
  return info
    ? new RangeNotSatisfiableError(store.description, key, range, info.size, cause)
    : new ObjectNotFoundError(store.description, key, cause);
}

/**
 * Passes `body` through, failing the stream (so the put fails and stores nothing) when it is not
 * exactly `expected` bytes long. Without `expected`, returns `body` itself.
 */
export function checkLength(
  store: string,
  key: string,
  body: Readable,
  expected: number | undefined,
): Readable {
  if (expected === undefined) return body;
  let seen = 0;
  const check = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.length;
      done(seen > expected ? new ContentLengthMismatchError(store, key, expected, seen) : null, chunk);
    },
    flush(done) {
      done(seen === expected ? null : new ContentLengthMismatchError(store, key, expected, seen));
    },
  });
  // pipeline destroys both streams with the first error of either, and the callback swallows nothing:
  // the error surfaces to whoever reads `check`.
  pipeline(body, check, () => {});
  return check;
}

/**
 * A Buffer body in pieces of `size` bytes (views, not copies), for the drivers that send or write a large
 * Buffer a piece at a time so as to tell its progress (PutOptions.onProgress).
 */
export function* bufferPieces(body: Uint8Array, size = 256 * 1024): Generator<Buffer> {
  for (let at = 0; at < body.length; at += size)
    yield Buffer.from(body.buffer, body.byteOffset + at, Math.min(size, body.length - at));
}

/** Throws ContentLengthMismatchError when a Buffer body's length differs from `expected`. */
export function checkBufferLength(
  store: string,
  key: string,
  body: Buffer,
  expected: number | undefined,
): void {
  if (expected !== undefined && body.length !== expected)
    throw new ContentLengthMismatchError(store, key, expected, body.length);
}

/** An endpoint URL without user info or query, safe to show. */
/** How an S3 store names itself in messages: `s3://bucket (endpoint or region)`. */
export function s3Description(bucket: string, region: string, endpoint: string | undefined): string {
  return `s3://${bucket} (${endpoint === undefined ? region : displayEndpoint(endpoint)})`;
}

export function displayEndpoint(endpoint: string): string {
  try {
    const url = new URL(endpoint);
    return `${url.protocol}//${url.host}${url.pathname === '/' ? '' : url.pathname}`;
  } catch {
    return '<invalid endpoint>';
  }
}

/** `{ abortSignal }` for SDK calls, or nothing: their option types refuse an explicit undefined. */
export function abortSignalOption(signal: AbortSignal | undefined): { abortSignal?: AbortSignal } {
  return signal ? { abortSignal: signal } : {};
}
