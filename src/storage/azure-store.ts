// Azure Blob Storage (and Azurite): block blobs in one container. Buffers go up in one Put Blob; streams
// are staged as blocks (blockSize x 5 bytes in memory: four in flight, one filling) and committed last, so a failed or aborted put
// leaves only uncommitted blocks, which the service discards. ifAbsent is `If-None-Match: *` on the Put
// Blob or on the final Put Block List.
import {
  BlobSASPermissions,
  BlobServiceClient,
  StorageSharedKeyCredential,
  type BlobItem,
  type BlockBlobClient,
  type ContainerClient,
} from '@azure/storage-blob';
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
  displayEndpoint,
  mergeEntries,
  unsatisfiableRange,
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

export type AzureStoreOptions = (
  { connectionString: string } | { accountUrl: string; accountName: string; accountKey: string }
) & {
  container: string;
  /** Bytes per staged block of a streamed put. Default: 8 MiB. */
  blockSize?: number | undefined;
  /** Blobs per list request, at most 5,000. Default: 5,000. */
  listPageSize?: number | undefined;
};

interface RestErrorLike {
  statusCode?: number;
  code?: string;
}

export class AzureStore implements ObjectStore {
  readonly description: string;
  /** Defined when the store holds a shared key, which signs SAS URLs. */
  readonly signedUrl: ObjectStore['signedUrl'];
  readonly #container: ContainerClient;
  readonly #blockSize: number;
  readonly #pageSize: number;

  constructor(options: AzureStoreOptions) {
    const service =
      'connectionString' in options
        ? BlobServiceClient.fromConnectionString(options.connectionString)
        : new BlobServiceClient(
            options.accountUrl,
            new StorageSharedKeyCredential(options.accountName, options.accountKey),
          );
    this.#container = service.getContainerClient(options.container);
    this.#blockSize = options.blockSize ?? 8 * 1024 * 1024;
    this.#pageSize = options.listPageSize ?? 5000;
    this.description = `azure://${service.accountName}/${options.container} (${displayEndpoint(service.url)})`;
    this.signedUrl =
      service.credential instanceof StorageSharedKeyCredential
        ? (key, o) => this.#signedUrl(key, o)
        : undefined;
  }

  async put(key: string, body: PutBody, options: PutOptions = {}): Promise<void> {
    checkKey(this.description, key);
    const { signal } = options;
    signal?.throwIfAborted();
    const blob = this.#container.getBlockBlobClient(key);
    const conditions = options.ifAbsent ? { ifNoneMatch: '*' } : {};
    // Told as a Buffer's bytes are sent, and as each block of a stream is staged.
    const onProgress = () => options.onProgress?.();
    try {
      if (Buffer.isBuffer(body)) {
        checkBufferLength(this.description, key, body, options.contentLength);
        // A large one goes as a stream of pieces, made again for each try: the SDK tells the progress of a
        // stream's bytes as they are sent, and of a Buffer's all at once before.
        const sent =
          body.length > 256 * 1024 ? () => Readable.from(bufferPieces(body), { objectMode: false }) : body;
        await blob.upload(sent, body.length, { conditions, onProgress, ...abortSignalOption(signal) });
        return;
      }
      const checked = checkLength(this.description, key, body, options.contentLength);
      // uploadStream does not pass the signal to the blocks it stages: stop the body to stop them.
      if (signal) addAbortSignal(signal, checked);
      await this.#uploadBlocks(blob, checked, { conditions, onProgress, ...abortSignalOption(signal) });
    } catch (error) {
      signal?.throwIfAborted();
      throw this.#mapError(error, 'put', key);
    }
  }

  /**
   * Stages `body` as blocks of blockSize, four at a time, reading on only while fewer are in flight, then
   * commits them. By hand rather than uploadStream, which stages each block as a Buffer, whose progress
   * the SDK tells all at once before sending it: on a slow link minutes would pass with none. A block
   * goes here as a stream of pieces, told as they are sent, and made again for each try.
   */
  async #uploadBlocks(
    blob: BlockBlobClient,
    body: Readable,
    options: { conditions: { ifNoneMatch?: string }; onProgress: () => void; abortSignal?: AbortSignal },
  ): Promise<void> {
    const { conditions, ...stageOptions } = options;
    const ids: string[] = [];
    const staging = new Set<Promise<unknown>>();
    const stage = async (block: Buffer) => {
      while (staging.size >= 4) await Promise.race(staging);
      // Block ids are base64 of one length within a blob.
      const id = Buffer.from(String(ids.length).padStart(8, '0')).toString('base64');
      ids.push(id);
      const pieces = () => Readable.from(bufferPieces(block), { objectMode: false });
      const staged = blob.stageBlock(id, pieces, block.length, stageOptions);
      staging.add(staged);
      staged.then(
        () => staging.delete(staged),
        (error: unknown) => body.destroy(error instanceof Error ? error : new Error(String(error))),
      );
    };
    let held: Buffer[] = [];
    let size = 0;
    for await (const chunk of body) {
      held.push(chunk as Buffer);
      size += (chunk as Buffer).length;
      if (size < this.#blockSize) continue;
      const bytes = Buffer.concat(held);
      let at = 0;
      for (; bytes.length - at >= this.#blockSize; at += this.#blockSize)
        await stage(bytes.subarray(at, at + this.#blockSize));
      held = [bytes.subarray(at)];
      size = bytes.length - at;
    }
    if (size > 0) await stage(Buffer.concat(held));
    await Promise.all(staging);
    await blob.commitBlockList(ids, {
      conditions,
      ...(options.abortSignal && { abortSignal: options.abortSignal }),
    });
  }

  async get(key: string, options: GetOptions = {}): Promise<Readable> {
    checkKey(this.description, key);
    const { range, signal } = options;
    checkRange(range);
    signal?.throwIfAborted();
    try {
      // The SDK sends `x-ms-range: bytes=offset-` (or `offset-last` with a count), but no range at all
      // for offset 0 without a count: that answer is the whole blob, which checkRangeAnswer accepts.
      const response = await this.#container
        .getBlobClient(key)
        .download(range?.offset ?? 0, range?.length, abortSignalOption(signal));
      const body = response.readableStreamBody;
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
            contentRange: response.contentRange,
            contentLength: response.contentLength,
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
      // 416: the range starts at or past the end. Azure says so, but not how long the blob is.
      if (range && (error as RestErrorLike).statusCode === 416)
        throw await unsatisfiableRange(this, key, range, { signal, cause: error });
      throw this.#mapError(error, 'get', key);
    }
  }

  async head(key: string, options: SignalOptions = {}): Promise<ObjectInfo | undefined> {
    checkKey(this.description, key);
    options.signal?.throwIfAborted();
    try {
      const props = await this.#container.getBlobClient(key).getProperties(abortSignalOption(options.signal));
      return { key, size: props.contentLength ?? 0, lastModified: props.lastModified ?? new Date(0) };
    } catch (error) {
      options.signal?.throwIfAborted();
      const { statusCode, code } = error as RestErrorLike;
      if (statusCode === 404 && code !== 'ContainerNotFound') return undefined;
      throw this.#mapError(error, 'head', key);
    }
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncGenerator<ListEntry> {
    checkPrefix(this.description, prefix);
    const listOptions = { ...abortSignalOption(options.signal), ...(prefix !== '' && { prefix }) };
    const byPage = { maxPageSize: this.#pageSize };
    const pages = options.delimiter
      ? this.#container.listBlobsByHierarchy(options.delimiter, listOptions).byPage(byPage)
      : this.#container.listBlobsFlat(listOptions).byPage(byPage);
    for (;;) {
      options.signal?.throwIfAborted();
      let page;
      try {
        page = await pages.next();
      } catch (error) {
        options.signal?.throwIfAborted();
        throw this.#mapError(error, 'list', undefined);
      }
      if (page.done) return;
      const segment = page.value.segment;
      const objects = segment.blobItems.map((b: BlobItem): ListEntry => ({
        type: 'object',
        key: b.name,
        size: b.properties.contentLength ?? 0,
        lastModified: b.properties.lastModified,
      }));
      const blobPrefixes = (segment as { blobPrefixes?: { name: string }[] }).blobPrefixes ?? [];
      const prefixes = blobPrefixes.map((p): ListEntry => ({ type: 'prefix', prefix: p.name }));
      yield* mergeEntries(objects, prefixes);
    }
  }

  async delete(key: string, options: SignalOptions = {}): Promise<void> {
    checkKey(this.description, key);
    options.signal?.throwIfAborted();
    try {
      await this.#container.getBlobClient(key).deleteIfExists(abortSignalOption(options.signal));
    } catch (error) {
      options.signal?.throwIfAborted();
      throw this.#mapError(error, 'delete', key);
    }
  }

  async #signedUrl(key: string, options: SignedUrlOptions): Promise<string> {
    checkKey(this.description, key);
    return this.#container.getBlobClient(key).generateSasUrl({
      permissions: BlobSASPermissions.parse('r'),
      expiresOn: new Date(Date.now() + options.expiresInSeconds * 1000),
    });
  }

  #mapError(error: unknown, operation: string, key: string | undefined): unknown {
    if (error instanceof ObjectStoreError || !(error instanceof Error) || error.name === 'AbortError')
      return error;
    const { statusCode: status, code } = error as RestErrorLike;
    const options = { cause: error };
    const reason = `${code ?? status ?? 'error'}`;
    if (code === 'ContainerNotFound')
      return new StoreUnavailableError(
        this.description,
        `container "${this.#container.containerName}" does not exist`,
        false,
        key,
        options,
      );
    if (key !== undefined && (code === 'BlobNotFound' || status === 404))
      return new ObjectNotFoundError(this.description, key, options);
    if (key !== undefined && (status === 412 || code === 'BlobAlreadyExists'))
      return new ObjectExistsError(this.description, key, options);
    if (status === 401 || status === 403)
      return new StoreAccessDeniedError(this.description, key, reason, options);
    if (status !== undefined && (status >= 500 || status === 429))
      return new StoreUnavailableError(this.description, `${status} ${reason}`, true, key, options);
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
      return new StoreRequestError(this.description, operation, key, status, reason, options);
    return error;
  }
}
