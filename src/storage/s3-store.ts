// Amazon S3 and compatible services (MinIO, Ceph RGW, ...). Buffers go up in one PutObject; streams go
// through lib-storage's Upload, which sends one PutObject for a body under one part and a multipart
// upload above (parts held in memory: partSize x 4), each of its requests tried up to 10 times. ifAbsent
// is S3's conditional write (`If-None-Match: *`), honoured by PutObject and CompleteMultipartUpload alike.
import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  GetObjectLockConfigurationCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type ListMultipartUploadsCommandOutput,
  type ListObjectsV2CommandOutput,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { AsyncLocalStorage } from 'node:async_hooks';
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
  abortSignalOption,
  bufferPieces,
  checkBufferLength,
  checkKey,
  checkLength,
  checkPrefix,
  checkRange,
  checkRangeAnswer,
  mergeEntries,
  rangeHeader,
  s3Description,
  unsatisfiableRange,
  type GetOptions,
  type ListEntry,
  type ListOptions,
  type ObjectInfo,
  type ObjectStore,
  type PutBody,
  type PutOptions,
  type AbortUploadsOptions,
  type SignalOptions,
  type SignedUrlOptions,
} from './object-store.ts';

export interface S3StoreOptions {
  bucket: string;
  region: string;
  /** A custom endpoint (MinIO and other compatibles), e.g. `http://127.0.0.1:9000`. Default: AWS's. */
  endpoint?: string | undefined;
  /** Address the bucket in the path instead of the host name (MinIO needs it). Default: false. */
  forcePathStyle?: boolean | undefined;
  /** Static credentials; without them the SDK's standard chain (environment, profile, IMDS, ...) is used. */
  credentials?:
    { accessKeyId: string; secretAccessKey: string; sessionToken?: string | undefined } | undefined;
  /** Bytes per part of multipart uploads; at least 5 MiB. Default: 8 MiB. */
  partSize?: number | undefined;
  /** Keys per list request, at most 1,000. Default: 1,000. */
  listPageSize?: number | undefined;
  /**
   * Tries of each request of a stream's upload (its PutObject, or each part of a multipart upload), with
   * the SDK's backoff (up to 20 s between tries). Default: 10.
   */
  uploadAttempts?: number | undefined;
}

/**
 * A stream is uploaded once (withRetry cannot replay it), so its requests, each with its bytes in memory,
 * are the ones tried again: many times, as a store restarting or throttling takes seconds to come back.
 * The location's idle timeout still bounds the whole (bytes wait while the SDK backs off).
 */
const DEFAULT_UPLOAD_ATTEMPTS = 10;

/** Bytes of a body in memory sent at a time when its put wants progress (see s3Client). */
const PROGRESS_PIECE_BYTES = 256 * 1024;

/**
 * The onProgress of the put a request is sent for: in the put's async context, so that the requests
 * lib-storage's Upload sends for it (its parts) find it as well as the put's own PutObject.
 */
const putProgress = new AsyncLocalStorage<() => void>();

export class S3Store implements ObjectStore {
  readonly description: string;
  readonly #client: S3Client;
  /** The client of streams' uploads: the same, with more tries per request. */
  readonly #uploadClient: S3Client;
  readonly #bucket: string;
  readonly #partSize: number;
  readonly #pageSize: number;

  constructor(options: S3StoreOptions) {
    this.#bucket = options.bucket;
    this.#partSize = options.partSize ?? 8 * 1024 * 1024;
    this.#pageSize = options.listPageSize ?? 1000;
    this.description = s3Description(options.bucket, options.region, options.endpoint);
    this.#client = s3Client(options);
    this.#uploadClient = s3Client(options, options.uploadAttempts ?? DEFAULT_UPLOAD_ATTEMPTS);
  }

  async put(key: string, body: PutBody, options: PutOptions = {}): Promise<void> {
    checkKey(this.description, key);
    const { signal } = options;
    signal?.throwIfAborted();
    const params = {
      Bucket: this.#bucket,
      Key: key,
      ...(options.ifAbsent && { IfNoneMatch: '*' }),
      ...(options.retainUntil && (await this.#objectLock(signal))
        ? { ObjectLockMode: 'COMPLIANCE' as const, ObjectLockRetainUntilDate: options.retainUntil }
        : {}),
    };
    const { onProgress } = options;
    try {
      if (Buffer.isBuffer(body)) {
        checkBufferLength(this.description, key, body, options.contentLength);
        const command = new PutObjectCommand({ ...params, Body: body, ContentLength: body.length });
        const send = () => this.#client.send(command, abortSignalOption(signal));
        await (onProgress ? putProgress.run(onProgress, send) : send());
        return;
      }
      const checked = checkLength(this.description, key, body, options.contentLength);
      const upload = new Upload({
        client: this.#uploadClient,
        params: { ...params, Body: checked },
        partSize: this.#partSize,
        queueSize: 4,
        leavePartsOnError: false,
      });
      // Stop reading the body (a stalled body would keep the upload waiting) and abort the multipart
      // upload: S3 then discards the parts, and no object appears.
      const onAbort = () => {
        checked.destroy(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
        void upload.abort();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        await (onProgress ? putProgress.run(onProgress, () => upload.done()) : upload.done());
      } finally {
        signal?.removeEventListener('abort', onAbort);
      }
    } catch (error) {
      signal?.throwIfAborted();
      throw this.#mapError(error, 'put', key);
    }
  }

  /** Whether the bucket has S3 Object Lock enabled (asked once). */
  #objectLockEnabled: Promise<boolean> | undefined;

  #objectLock(signal: AbortSignal | undefined): Promise<boolean> {
    this.#objectLockEnabled ??= this.#client
      .send(new GetObjectLockConfigurationCommand({ Bucket: this.#bucket }), abortSignalOption(signal))
      .then(
        (answer) => answer.ObjectLockConfiguration?.ObjectLockEnabled === 'Enabled',
        // No configuration (ObjectLockConfigurationNotFoundError), or not allowed to ask: no lock.
        () => false,
      );
    return this.#objectLockEnabled;
  }

  async get(key: string, options: GetOptions = {}): Promise<Readable> {
    checkKey(this.description, key);
    const { range, signal } = options;
    checkRange(range);
    signal?.throwIfAborted();
    try {
      const command = new GetObjectCommand({
        Bucket: this.#bucket,
        Key: key,
        ...(range && { Range: rangeHeader(range) }),
      });
      const answer = await this.#client.send(command, abortSignalOption(signal));
      const body = answer.Body;
      if (!(body instanceof Readable))
        throw new StoreRequestError(
          this.description,
          'get',
          key,
          undefined,
          'the response has no body stream',
        );
      if (range) {
        try {
          checkRangeAnswer(this.description, key, range, {
            contentRange: answer.ContentRange,
            contentLength: answer.ContentLength,
          });
        } catch (error) {
          body.destroy();
          throw error;
        }
      }
      if (signal) addAbortSignal(signal, body);
      return body;
    } catch (error) {
      signal?.throwIfAborted();
      // 416: the range starts at or past the end. S3 says so, but not reliably how long the object is.
      if (range && statusOf(error) === 416)
        throw await unsatisfiableRange(this, key, range, { signal, cause: error });
      throw this.#mapError(error, 'get', key);
    }
  }

  async head(key: string, options: SignalOptions = {}): Promise<ObjectInfo | undefined> {
    checkKey(this.description, key);
    options.signal?.throwIfAborted();
    try {
      const command = new HeadObjectCommand({ Bucket: this.#bucket, Key: key });
      const out = await this.#client.send(command, abortSignalOption(options.signal));
      return { key, size: out.ContentLength ?? 0, lastModified: out.LastModified ?? new Date(0) };
    } catch (error) {
      options.signal?.throwIfAborted();
      // A HEAD answer has no body, so S3 cannot say whether the key or the bucket is missing.
      if (statusOf(error) === 404) return undefined;
      throw this.#mapError(error, 'head', key);
    }
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncGenerator<ListEntry> {
    checkPrefix(this.description, prefix);
    let token: string | undefined;
    do {
      options.signal?.throwIfAborted();
      let page: ListObjectsV2CommandOutput;
      try {
        const command = new ListObjectsV2Command({
          Bucket: this.#bucket,
          Prefix: prefix,
          MaxKeys: this.#pageSize,
          ...(options.delimiter && { Delimiter: options.delimiter }),
          ...(token !== undefined && { ContinuationToken: token }),
        });
        page = await this.#client.send(command, abortSignalOption(options.signal));
      } catch (error) {
        options.signal?.throwIfAborted();
        throw this.#mapError(error, 'list', undefined);
      }
      const objects = (page.Contents ?? []).flatMap((o): ListEntry[] =>
        o.Key === undefined
          ? []
          : [{ type: 'object', key: o.Key, size: o.Size ?? 0, lastModified: o.LastModified ?? new Date(0) }],
      );
      const prefixes = (page.CommonPrefixes ?? []).flatMap((p): ListEntry[] =>
        p.Prefix === undefined ? [] : [{ type: 'prefix', prefix: p.Prefix }],
      );
      yield* mergeEntries(objects, prefixes);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
  }

  async abortIncompleteUploads(prefix: string, options: AbortUploadsOptions = {}): Promise<number> {
    checkPrefix(this.description, prefix);
    const { signal, olderThan } = options;
    let aborted = 0;
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    do {
      let page: ListMultipartUploadsCommandOutput;
      try {
        const list = new ListMultipartUploadsCommand({
          Bucket: this.#bucket,
          Prefix: prefix,
          KeyMarker: keyMarker,
          UploadIdMarker: uploadIdMarker,
        });
        page = await this.#client.send(list, abortSignalOption(signal));
      } catch (error) {
        signal?.throwIfAborted();
        throw this.#mapError(error, 'list uploads', undefined);
      }
      for (const upload of page.Uploads ?? []) {
        if (!upload.Key || !upload.UploadId) continue;
        if (olderThan && upload.Initiated && upload.Initiated >= olderThan) continue;
        try {
          const abort = new AbortMultipartUploadCommand({
            Bucket: this.#bucket,
            Key: upload.Key,
            UploadId: upload.UploadId,
          });
          await this.#client.send(abort, abortSignalOption(signal));
          aborted += 1;
        } catch (error) {
          signal?.throwIfAborted();
          if (statusOf(error) === 404) continue; // completed or aborted meanwhile
          throw this.#mapError(error, 'abort upload', upload.Key);
        }
      }
      keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
      uploadIdMarker = page.IsTruncated ? page.NextUploadIdMarker : undefined;
    } while (keyMarker !== undefined);
    return aborted;
  }

  async delete(key: string, options: SignalOptions = {}): Promise<void> {
    checkKey(this.description, key);
    options.signal?.throwIfAborted();
    try {
      const command = new DeleteObjectCommand({ Bucket: this.#bucket, Key: key });
      await this.#client.send(command, abortSignalOption(options.signal));
    } catch (error) {
      options.signal?.throwIfAborted();
      if (statusOf(error) === 404 && (error as Error).name !== 'NoSuchBucket') return;
      throw this.#mapError(error, 'delete', key);
    }
  }

  async signedUrl(key: string, options: SignedUrlOptions): Promise<string> {
    checkKey(this.description, key);
    const command = new GetObjectCommand({ Bucket: this.#bucket, Key: key });
    return getSignedUrl(this.#client, command, { expiresIn: options.expiresInSeconds });
  }

  /** Closes the clients' idle connections. */
  destroy(): void {
    this.#client.destroy();
    this.#uploadClient.destroy();
  }

  #mapError(error: unknown, operation: string, key: string | undefined): unknown {
    if (error instanceof ObjectStoreError || !(error instanceof Error) || error.name === 'AbortError')
      return error;
    const status = statusOf(error);
    const code = error.name;
    const options = { cause: error };
    if (code === 'NoSuchBucket')
      return new StoreUnavailableError(
        this.description,
        `bucket "${this.#bucket}" does not exist`,
        false,
        key,
        options,
      );
    if (key !== undefined && (code === 'NoSuchKey' || (status === 404 && code === 'NotFound')))
      return new ObjectNotFoundError(this.description, key, options);
    if (key !== undefined && (status === 412 || code === 'PreconditionFailed'))
      return new ObjectExistsError(this.description, key, options);
    if (status === 409 && code === 'ConditionalRequestConflict')
      return new StoreUnavailableError(this.description, 'a concurrent write conflicted', true, key, options);
    // MinIO's full disks (XMinioStorageFull) and Ceph RGW's full pools answer 507 Insufficient Storage:
    // not transient (space must be freed), and said in words.
    if (status === 507 || code === 'XMinioStorageFull')
      return new StoreUnavailableError(
        this.description,
        `out of space (${status} ${code}: ${messageOf(error)})`,
        false,
        key,
        options,
      );
    if (status === 401 || status === 403 || code === 'CredentialsProviderError')
      return new StoreAccessDeniedError(this.description, key, `${code}: ${messageOf(error)}`, options);
    if (status !== undefined && (status >= 500 || status === 429))
      return new StoreUnavailableError(this.description, `${status} ${code}`, true, key, options);
    const network = networkErrorCode(error);
    if (network !== undefined)
      return new StoreUnavailableError(
        this.description,
        `${network}: ${messageOf(error)}`,
        true,
        key,
        options,
      );
    if (status !== undefined)
      return new StoreRequestError(
        this.description,
        operation,
        key,
        status,
        `${code}: ${messageOf(error)}`,
        options,
      );
    return error;
  }
}

/** An S3 client of the store's options; `maxAttempts` tries per request (default: the SDK's, 3). */
function s3Client(options: S3StoreOptions, maxAttempts?: number): S3Client {
  const client = new S3Client({
    region: options.region,
    ...(maxAttempts !== undefined && { maxAttempts }),
    ...(options.endpoint !== undefined && { endpoint: options.endpoint }),
    ...(options.forcePathStyle !== undefined && { forcePathStyle: options.forcePathStyle }),
    ...(options.credentials && {
      credentials: {
        accessKeyId: options.credentials.accessKeyId,
        secretAccessKey: options.credentials.secretAccessKey,
        ...(options.credentials.sessionToken !== undefined && {
          sessionToken: options.credentials.sessionToken,
        }),
      },
    }),
  });
  // Bodies are sent with an unsigned payload: the signature covers the request, not a SHA-256 of every
  // part, which the SDK would otherwise compute on the main thread for each 8 MiB (the archive is already
  // hashed once by the backup store). Each part still carries the SDK's CRC32 checksum, which the
  // service verifies, and every backup file is read back and checked against its SHA-256.
  client.middlewareStack.add(
    (next) => (args) => {
      const request = args.request as { headers?: Record<string, string>; body?: unknown };
      if (request.headers && request.body instanceof Uint8Array)
        request.headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
      return next(args);
    },
    { step: 'build', name: 'cairnUnsignedPayload' },
  );
  // A body in memory (a Buffer's PutObject, a part of an Upload) goes as a stream of pieces when its put
  // wants progress, each piece told as the socket takes it: the SDK's Node handler writes a Buffer whole
  // and tells nothing, and lib-storage's httpUploadProgress comes only once a part is stored, with four
  // parts sharing the link, so on a slow one minutes pass between two. Below signing and retry: each
  // try sends its own stream of the same bytes.
  client.middlewareStack.add(
    (next) => async (args) => {
      const onProgress = putProgress.getStore();
      const request = args.request as { body?: unknown };
      const body = request.body;
      if (!onProgress || !(body instanceof Uint8Array) || body.length <= PROGRESS_PIECE_BYTES)
        return next(args);
      function* told(bytes: Uint8Array, tell: () => void) {
        for (const piece of bufferPieces(bytes, PROGRESS_PIECE_BYTES)) {
          yield piece;
          tell(); // asked for the next piece: this one was taken
        }
      }
      request.body = Readable.from(told(body, onProgress), {
        objectMode: false,
        highWaterMark: PROGRESS_PIECE_BYTES,
      });
      try {
        return await next(args);
      } finally {
        request.body = body;
      }
    },
    { step: 'deserialize', name: 'cairnUploadProgress' },
  );
  return client;
}

function statusOf(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
}
