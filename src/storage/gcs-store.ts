// Google Cloud Storage (and fake-gcs-server): objects in one bucket. Puts are single-request streamed
// multipart uploads (no resumable session), so an interrupted put creates no object. ifAbsent is the
// generation precondition `ifGenerationMatch: 0`. Reads, listings and deletes go through the library.
import { CRC32C, Storage, type Bucket, type File } from '@google-cloud/storage';
import { randomUUID } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import { Readable, addAbortSignal } from 'node:stream';
import {
  ObjectExistsError,
  ObjectNotFoundError,
  ObjectStoreError,
  StoreAccessDeniedError,
  StoreRequestError,
  StoreUnavailableError,
  messageOf,
  networkErrorCode,
} from './errors.ts';
import {
  bufferPieces,
  checkBufferLength,
  checkKey,
  checkLength,
  checkPrefix,
  checkRange,
  checkRangeAnswer,
  checkRangeFits,
  compareKeys,
  displayEndpoint,
  mergeEntries,
  type GetOptions,
  type ListEntry,
  type ListOptions,
  type ObjectInfo,
  type ObjectStore,
  type PutBody,
  type PutOptions,
  type SignalOptions,
  type SignedUrlOptions,
} from './object-store.ts';

export interface GcsStoreOptions {
  bucket: string;
  /** A custom endpoint, e.g. fake-gcs-server's `http://127.0.0.1:4443`; requests to it are not authenticated. */
  apiEndpoint?: string | undefined;
  projectId?: string | undefined;
  /** A service account key; without it, Application Default Credentials. Needed for signedUrl. */
  credentials?: { client_email: string; private_key: string } | undefined;
  /** Objects per list request, at most 1,000. Default: 1,000. */
  listPageSize?: number | undefined;
}

/** The response the library's read stream emits (teeny-request's: a body stream with the status). */
interface ReadResponse extends EventEmitter {
  statusCode: number;
  headers: Record<string, string | undefined>;
}

interface ApiErrorLike {
  code?: number | string;
  message?: string;
}

export class GcsStore implements ObjectStore {
  readonly description: string;
  /** Defined only with a service account key: V4 signing needs its private key. */
  readonly signedUrl: ObjectStore['signedUrl'];
  readonly #storage: Storage;
  readonly #bucket: Bucket;
  readonly #pageSize: number;
  /** Like the library: requests to a custom endpoint carry credentials only when some were given. */
  readonly #authenticate: boolean;

  constructor(options: GcsStoreOptions) {
    this.#authenticate = options.apiEndpoint === undefined || options.credentials !== undefined;
    this.#storage = new Storage({
      ...(options.apiEndpoint !== undefined && { apiEndpoint: options.apiEndpoint }),
      ...(options.projectId !== undefined && { projectId: options.projectId }),
      ...(options.credentials && { credentials: options.credentials }),
      useAuthWithCustomEndpoint: this.#authenticate,
    });
    this.#bucket = this.#storage.bucket(options.bucket);
    this.#pageSize = options.listPageSize ?? 1000;
    const where = options.apiEndpoint === undefined ? '' : ` (${displayEndpoint(options.apiEndpoint)})`;
    this.description = `gs://${options.bucket}${where}`;
    this.signedUrl = options.credentials ? (key, o) => this.#signedUrl(key, o) : undefined;
  }

  async put(key: string, body: PutBody, options: PutOptions = {}): Promise<void> {
    checkKey(this.description, key);
    const { signal } = options;
    signal?.throwIfAborted();
    if (Buffer.isBuffer(body)) checkBufferLength(this.description, key, body, options.contentLength);
    // A Buffer goes in pieces, so that its progress is told as fetch takes them.
    const data = Buffer.isBuffer(body)
      ? Readable.from(bufferPieces(body), { objectMode: false })
      : checkLength(this.description, key, body, options.contentLength);
    if (signal) addAbortSignal(signal, data); // a stalled body must not outlive the aborted request
    try {
      await this.#upload(key, data, options.ifAbsent ?? false, signal, options.onProgress);
    } catch (error) {
      signal?.throwIfAborted();
      throw this.#mapError(error, 'put', key);
    }
  }

  /**
   * One multipart upload request (metadata, then the data streamed), sent with fetch rather than the
   * library's createWriteStream: that one leaves its request open forever when the body fails or is
   * aborted. Multipart rather than a media upload, because fake-gcs-server honours ifGenerationMatch
   * only on multipart uploads. Checks the stored CRC32C against the bytes sent, as the library does.
   * `onProgress` is told each time fetch has taken a chunk for the request.
   */
  async #upload(
    key: string,
    data: Readable,
    ifAbsent: boolean,
    signal: AbortSignal | undefined,
    onProgress: (() => void) | undefined,
  ): Promise<void> {
    const url = new URL(
      `${this.#storage.apiEndpoint}/upload/storage/v1/b/${encodeURIComponent(this.#bucket.name)}/o`,
    );
    url.searchParams.set('uploadType', 'multipart');
    if (ifAbsent) url.searchParams.set('ifGenerationMatch', '0');
    const boundary = `cairn-${randomUUID()}`;
    const metadata = JSON.stringify({ name: key, contentType: 'application/octet-stream' });
    const crc32c = new CRC32C();
    let bodyError: unknown;
    async function* multipart() {
      yield Buffer.from(
        `--${boundary}\r\ncontent-type: application/json; charset=UTF-8\r\n\r\n${metadata}\r\n`,
      );
      yield Buffer.from(`--${boundary}\r\ncontent-type: application/octet-stream\r\n\r\n`);
      try {
        for await (const chunk of data) {
          crc32c.update(chunk as Buffer);
          yield chunk as Buffer;
          onProgress?.(); // asked for the next chunk: this one was taken
        }
      } catch (error) {
        bodyError = error;
        throw error;
      }
      yield Buffer.from(`\r\n--${boundary}--\r\n`);
    }
    const headers = {
      'content-type': `multipart/related; boundary=${boundary}`,
      ...(this.#authenticate ? await this.#storage.authClient.getRequestHeaders(url.href) : {}),
    };
    const init = {
      method: 'POST',
      headers,
      body: Readable.toWeb(Readable.from(multipart())),
      duplex: 'half',
      ...(signal && { signal }),
    };
    let response: Response;
    try {
      response = await fetch(url, init as RequestInit);
    } catch (error) {
      throw bodyError ?? error;
    }
    const text = await response.text();
    if (!response.ok) {
      throw Object.assign(new Error(apiErrorMessage(text) || response.statusText), { code: response.status });
    }
    const stored = JSON.parse(text) as { crc32c?: string; generation?: string };
    if (stored.crc32c !== undefined && stored.crc32c !== crc32c.toString()) {
      await this.#bucket
        .file(key, stored.generation === undefined ? {} : { generation: stored.generation })
        .delete({ ignoreNotFound: true });
      throw new StoreRequestError(
        this.description,
        'put',
        key,
        undefined,
        'the stored CRC32C differs from the data sent',
      );
    }
  }

  async get(key: string, options: GetOptions = {}): Promise<Readable> {
    // The read stream reports a missing object only once read; ask for the metadata first so that
    // ObjectNotFoundError comes from get itself, and so does RangeNotSatisfiableError.
    const file = this.#file(key);
    const { range } = options;
    checkRange(range);
    options.signal?.throwIfAborted();
    let size: number;
    try {
      const [metadata] = await file.getMetadata();
      size = sizeAndTime(metadata).size;
    } catch (error) {
      options.signal?.throwIfAborted();
      const mapped = this.#mapError(error, 'get', key);
      if (
        mapped instanceof ObjectNotFoundError &&
        !(await this.#bucket.exists().then(
          ([e]) => e,
          () => true,
        ))
      )
        throw this.#bucketMissing(key, error);
      throw mapped;
    }
    options.signal?.throwIfAborted();
    if (range) checkRangeFits(this.description, key, range, size);
    // A range request sends `Range: bytes=start-end` (end inclusive) or `bytes=start-`; the library
    // does not check the CRC32C of a part of an object.
    const stream = file.createReadStream(
      range && {
        start: range.offset,
        ...(range.length !== undefined && { end: range.offset + range.length - 1 }),
      },
    );
    stream.once('response', (response: ReadResponse) => {
      // The library feeds the response body into three pipelines (node-fetch's, teeny-request's and its
      // own), one listener past Node's default limit of 10, and every download printed two
      // MaxListenersExceededWarnings (googleapis/google-cloud-node#9185). The body lives as long as
      // this download.
      response.setMaxListeners(20);
      // An error answer (a 416 if the object shrank since) fails the stream in the library.
      if (!range || response.statusCode >= 300) return;
      try {
        const length = response.headers['content-length'];
        checkRangeAnswer(this.description, key, range, {
          contentRange: response.headers['content-range'],
          contentLength: length === undefined ? size : Number(length),
        });
      } catch (error) {
        // Not now: the library pipes the body into the stream right after this event, and piping into
        // a destroyed stream throws out of its callback.
        process.nextTick(() => stream.destroy(error as Error));
      }
    });
    if (options.signal) addAbortSignal(options.signal, stream);
    return stream;
  }

  async head(key: string, options: SignalOptions = {}): Promise<ObjectInfo | undefined> {
    const file = this.#file(key);
    options.signal?.throwIfAborted();
    try {
      const [metadata] = await file.getMetadata();
      options.signal?.throwIfAborted();
      return { key, ...sizeAndTime(metadata) };
    } catch (error) {
      options.signal?.throwIfAborted();
      const mapped = this.#mapError(error, 'head', key);
      if (mapped instanceof ObjectNotFoundError) return undefined;
      throw mapped;
    }
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncGenerator<ListEntry> {
    checkPrefix(this.description, prefix);
    let pageToken: string | undefined;
    let lastPrefix: string | undefined;
    do {
      options.signal?.throwIfAborted();
      let files: File[], next: { pageToken?: string } | undefined, raw: unknown;
      try {
        [files, next, raw] = await this.#bucket.getFiles({
          autoPaginate: false,
          maxResults: this.#pageSize,
          ...(prefix !== '' && { prefix }),
          ...(options.delimiter && { delimiter: options.delimiter }),
          ...(pageToken !== undefined && { pageToken }),
        });
      } catch (error) {
        options.signal?.throwIfAborted();
        throw this.#mapError(error, 'list', undefined);
      }
      options.signal?.throwIfAborted();
      const objects = files.map((f): ListEntry => ({
        type: 'object',
        key: f.name,
        ...sizeAndTime(f.metadata),
      }));
      // GCS may repeat a prefix on the next page; listings name each prefix once.
      const prefixes = ((raw as { prefixes?: string[] } | undefined)?.prefixes ?? [])
        .filter((p) => lastPrefix === undefined || compareKeys(p, lastPrefix) > 0)
        .map((p): ListEntry => ({ type: 'prefix', prefix: p }));
      for (const entry of mergeEntries(objects, prefixes)) {
        if (entry.type === 'prefix') lastPrefix = entry.prefix;
        yield entry;
      }
      pageToken = next?.pageToken;
    } while (pageToken !== undefined);
  }

  async delete(key: string, options: SignalOptions = {}): Promise<void> {
    const file = this.#file(key);
    options.signal?.throwIfAborted();
    try {
      await file.delete();
    } catch (error) {
      options.signal?.throwIfAborted();
      const mapped = this.#mapError(error, 'delete', key);
      if (!(mapped instanceof ObjectNotFoundError)) throw mapped;
    }
  }

  async #signedUrl(key: string, options: SignedUrlOptions): Promise<string> {
    const [url] = await this.#file(key).getSignedUrl({
      version: 'v4',
      action: 'read',
      expires: Date.now() + options.expiresInSeconds * 1000,
    });
    return url;
  }

  #file(key: string): File {
    checkKey(this.description, key);
    return this.#bucket.file(key);
  }

  #bucketMissing(key: string | undefined, cause: unknown): StoreUnavailableError {
    const reason = `bucket "${this.#bucket.name}" does not exist`;
    return new StoreUnavailableError(this.description, reason, false, key, { cause });
  }

  #mapError(error: unknown, operation: string, key: string | undefined): unknown {
    if (error instanceof ObjectStoreError || !(error instanceof Error) || error.name === 'AbortError')
      return error;
    const code = (error as ApiErrorLike).code;
    const status = typeof code === 'number' ? code : undefined;
    const reason = messageOf(error);
    const options = { cause: error };
    // GCS answers 404 for a missing bucket and for a missing object, and only its message tells them
    // apart (fake-gcs-server's does not). A put or a list finds no object missing: the bucket is.
    const bucketMissing =
      status === 404 &&
      (operation === 'put' || operation === 'list' || (/bucket/i.test(reason) && !/object/i.test(reason)));
    if (bucketMissing) return this.#bucketMissing(key, error);
    if (key !== undefined && status === 404) return new ObjectNotFoundError(this.description, key, options);
    if (key !== undefined && status === 412) return new ObjectExistsError(this.description, key, options);
    if (status === 401 || status === 403)
      return new StoreAccessDeniedError(this.description, key, reason, options);
    if (status !== undefined && (status >= 500 || status === 429))
      return new StoreUnavailableError(this.description, `${status} ${reason}`, true, key, options);
    const network = networkErrorCode(error);
    if (network !== undefined)
      return new StoreUnavailableError(this.description, `${network}: ${reason}`, true, key, options);
    if (status !== undefined)
      return new StoreRequestError(this.description, operation, key, status, reason, options);
    return error;
  }
}

function sizeAndTime(metadata: { size?: string | number | undefined; updated?: string | undefined }): {
  size: number;
  lastModified: Date;
} {
  return { size: Number(metadata.size ?? 0), lastModified: new Date(metadata.updated ?? 0) };
}

/** The message of a JSON API error body (`{"error":{"message":...}}`), else the body itself. */
function apiErrorMessage(body: string): string {
  try {
    return (JSON.parse(body) as { error?: { message?: string } }).error?.message ?? body;
  } catch {
    return body;
  }
}
