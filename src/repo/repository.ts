// The repository: a restic-format (version 2) store of deduplicated, compressed, encrypted blobs in
// packs, with index files, snapshots and locks, on a Backend. `Repo` (repo.ts) is what higher layers
// (archiver, restorer, check, prune) use; `Repository` implements it over the modules of this folder:
// keys and config (opening), pack and pack-uploader (writing blobs), master-index and index-file
// (finding them), unpacked (JSON files), locks.
//
// Writing: saveBlob hashes the plaintext, skips it when the index or an unfinished pack already has it,
// compresses and encrypts it, and adds it to the open pack of its type; a pack that reaches the target
// size is uploaded in the background (a few at a time, callers wait when too many are pending). An
// uploaded pack enters the master index and the list for the next index file, written every 50,000
// blobs and by flush(). A blob is loadable once its pack is uploaded: after flush() at the latest.
import { handlePath, type Backend, type FileInfo } from './backend.ts';
import { decodeConfig, encodeConfig, newConfig, type RepoConfig } from './config.ts';
import { generateMasterKey, type MasterKey } from './crypto.ts';
import {
  systemClock,
  systemIdentity,
  systemProcessExists,
  systemRandomBytes,
  silentLogger,
  type Clock,
  type Identity,
  type RandomBytes,
  type RepoLogger,
  type SignalOptions,
} from './environment.ts';
import {
  BlobNotFoundError,
  ConfigError,
  FileExistsError,
  FileNotFoundError,
  IndexFileError,
  LockConflictError,
  MacError,
  RepositoryFailedError,
} from './errors.ts';
import { isId, sha256 } from './ids.ts';
import { INDEX_MAX_BLOBS, indexFileJson, parseIndexFile, type IndexPack } from './index-file.ts';
import { addKey, findKey, listKeys, removeKey, type KdfParams, type KeyInfo } from './keys.ts';
import { forEachInOrder } from './limit.ts';
import { lockRepository, type RepoLock } from './locks.ts';
import { MasterIndex, type IndexEntry } from './master-index.ts';
import {
  Packer,
  loadPackedBlob,
  openBlob,
  parsePack,
  sealBlob,
  type BlobType,
  type PackBlob,
  type SealedBlob,
} from './pack.ts';
import { PackUploader } from './pack-uploader.ts';
import { TreePacks } from './tree-packs.ts';
import type { ListableType, Repo, RepoStats, SaveBlobOptions, SaveBlobResult, UnpackedType } from './repo.ts';
import { decodeUnpacked, encodeUnpacked } from './unpacked.ts';

export interface RepositoryOptions {
  /** zstd-compress data blobs. Default true (restic's "auto"). */
  compression?: boolean | undefined;
  /** Target pack size in bytes. Default 16 MiB (restic's default; restic allows 4 to 128 MiB). */
  packSize?: number | undefined;
  /** Packs uploaded at once. Default 2. */
  uploadConcurrency?: number | undefined;
  /** Finished packs (uploading or waiting) before saveBlob waits. Default 2 × uploadConcurrency. */
  maxPendingPacks?: number | undefined;
  /** Blobs per index file. Default 50,000 (restic's). */
  indexMaxBlobs?: number | undefined;
  clock?: Clock | undefined;
  random?: RandomBytes | undefined;
  identity?: Identity | undefined;
  logger?: RepoLogger | undefined;
  processExists?: ((pid: number) => boolean) | undefined;
  /**
   * How long `lock` waits for a conflicting lock to go (restic's --retry-lock) before it fails with
   * LockConflictError. Default 0: at once, as restic 0.14.
   */
  lockWaitMs?: number | undefined;
}

export interface OpenOptions extends RepositoryOptions, SignalOptions {
  password: string;
}

export interface InitOptions extends OpenOptions {
  /** The chunker polynomial, hex (the chunker draws a random irreducible one). */
  polynomial: string;
  /** scrypt parameters of the first key. Default DEFAULT_KDF_PARAMS. */
  keyParams?: KdfParams | undefined;
}

type Settings = Required<{ [K in keyof RepositoryOptions]-?: Exclude<RepositoryOptions[K], undefined> }>;

const MiB = 1024 * 1024;
/** Tree packs kept whole in memory (tree-packs.ts): two packs of the default size. */
const TREE_PACK_BYTES = 32 * MiB;

function settingsOf(options: RepositoryOptions): Settings {
  const uploadConcurrency = options.uploadConcurrency ?? 2;
  const settings: Settings = {
    compression: options.compression ?? true,
    packSize: options.packSize ?? 16 * MiB,
    uploadConcurrency,
    maxPendingPacks: options.maxPendingPacks ?? 2 * uploadConcurrency,
    indexMaxBlobs: options.indexMaxBlobs ?? INDEX_MAX_BLOBS,
    clock: options.clock ?? systemClock,
    random: options.random ?? systemRandomBytes,
    identity: options.identity ?? systemIdentity(),
    logger: options.logger ?? silentLogger,
    processExists: options.processExists ?? systemProcessExists,
    lockWaitMs: options.lockWaitMs ?? 0,
  };
  if (!(settings.packSize >= 1024 && settings.packSize <= 128 * MiB))
    throw new RangeError(`packSize ${settings.packSize} is not between 1 KiB and 128 MiB`);
  return settings;
}

interface Opened {
  config: RepoConfig;
  key: MasterKey;
  keyName: string;
  /** A new repository has no index files to load. */
  indexLoaded: boolean;
}

export class Repository implements Repo {
  readonly config: RepoConfig;
  readonly backend: Backend;
  readonly #key: MasterKey;
  readonly #keyName: string;
  readonly #settings: Settings;
  #index = new MasterIndex();
  readonly #indexFiles = new Set<string>();
  #indexLoading: Promise<void> | undefined;
  readonly #packers: Partial<Record<BlobType, Packer>> = {};
  /** `type:id` of blobs added to packs that are not yet in the master index. */
  readonly #pending = new Set<string>();
  readonly #uploader: PackUploader;
  /** Tree packs read whole, for the trees of a parent snapshot or a restore (tree-packs.ts). */
  readonly #treePacks: TreePacks;
  /** Uploaded packs not yet in an index file. */
  #unindexed: IndexPack[] = [];
  #unindexedBlobs = 0;
  readonly #locks = new Set<RepoLock>();
  readonly #stats: RepoStats = {
    blobsSaved: 0,
    blobsKnown: 0,
    plaintextBytes: 0,
    storedBytes: 0,
    packsUploaded: 0,
    packBytesUploaded: 0,
    indexFilesWritten: 0,
  };

  private constructor(backend: Backend, opened: Opened, settings: Settings) {
    this.backend = backend;
    this.config = opened.config;
    this.#key = opened.key;
    this.#keyName = opened.keyName;
    this.#settings = settings;
    if (opened.indexLoaded) this.#indexLoading = Promise.resolve();
    this.#treePacks = new TreePacks(backend, TREE_PACK_BYTES);
    this.#uploader = new PackUploader({
      concurrency: settings.uploadConcurrency,
      maxPending: settings.maxPendingPacks,
      upload: (packer) =>
        this.#upload(packer).catch((error: unknown) => {
          throw new RepositoryFailedError(backend.description, { cause: error });
        }),
    });
  }

  /** Creates a repository: its first key file and its config. ConfigError if one exists there. */
  static async init(backend: Backend, options: InitOptions): Promise<Repository> {
    const settings = settingsOf(options);
    const { signal } = options;
    if (await backend.stat({ type: 'config', name: '' }, { signal }))
      throw new ConfigError(backend.description, 'a repository exists here already (it has a config)');
    await backend.create?.({ signal });
    const key = generateMasterKey(settings.random);
    const config = newConfig({ polynomial: options.polynomial, random: settings.random });
    const keyName = await addKey(backend, key, options.password, {
      params: options.keyParams,
      identity: settings.identity,
      clock: settings.clock,
      random: settings.random,
      signal,
    });
    try {
      await backend.save({ type: 'config', name: '' }, encodeConfig(config, key, settings.random), {
        signal,
      });
    } catch (error) {
      // Another init wrote its config first (the backend writes it only when absent): this key file
      // holds a master key nothing is encrypted with.
      if (error instanceof FileExistsError)
        await backend.remove({ type: 'keys', name: keyName }).catch(() => {});
      throw error;
    }
    return new Repository(backend, { config, key, keyName, indexLoaded: true }, settings);
  }

  /** Opens a repository with a password: WrongPasswordError when no key file opens with it. */
  static async open(backend: Backend, options: OpenOptions): Promise<Repository> {
    const settings = settingsOf(options);
    const { signal } = options;
    const bytes = await backend.load({ type: 'config', name: '' }, { signal }).catch((error: unknown) => {
      if (error instanceof FileNotFoundError)
        throw new ConfigError(backend.description, 'there is no repository here (no config)', {
          cause: error,
        });
      throw error;
    });
    // A key file whose master key does not open the config is passed over: two inits at once each write
    // a key file before one of them writes the config (the loser removes its own, or may have died first).
    const opensConfig = (candidate: MasterKey) => {
      try {
        decodeConfig(bytes, candidate);
        return true;
      } catch (error) {
        if (error instanceof MacError) return false;
        throw error;
      }
    };
    const { name, key } = await findKey(backend, options.password, { signal, accept: opensConfig });
    let config: RepoConfig;
    try {
      config = decodeConfig(bytes, key);
    } catch (error) {
      const reason =
        error instanceof MacError
          ? `the config does not open with the master key of ${handlePath({ type: 'keys', name })}`
          : (error as Error).message;
      throw new ConfigError(backend.description, reason, { cause: error });
    }
    return new Repository(backend, { config, key, keyName: name, indexLoaded: false }, settings);
  }

  /** The target pack size in bytes. */
  get packSize(): number {
    return this.#settings.packSize;
  }

  /** The key file this repository was opened with. */
  get keyName(): string {
    return this.#keyName;
  }

  get stats(): Readonly<RepoStats> {
    return { ...this.#stats };
  }

  /** The master index's size, for diagnostics. */
  get indexStats(): { blobs: number; packs: number; indexFiles: number; memoryBytes: number } {
    const index = this.#index;
    return {
      blobs: index.blobCount,
      packs: index.packCount,
      indexFiles: this.#indexFiles.size,
      memoryBytes: index.memoryBytes,
    };
  }

  async saveBlob(
    type: BlobType,
    plaintext: Uint8Array,
    options: SaveBlobOptions = {},
  ): Promise<SaveBlobResult> {
    options.signal?.throwIfAborted();
    const id = sha256(plaintext);
    return this.saveBlobSealedBy(
      type,
      id,
      plaintext.length,
      (compress) => sealBlob(this.#key, { type, id, plaintext }, { compress, random: this.#settings.random }),
      options,
    );
  }

  /**
   * Saves a blob whose id the caller computed from its plaintext (`plaintextLength` bytes) and which
   * `seal` encrypts, and compresses when told to, under this repository's key (`blobSealing`): the
   * archiver's chunk workers do that work off the main thread. `seal` is called only when the blob is
   * neither in the index nor on its way in a pack.
   */
  async saveBlobSealedBy(
    type: BlobType,
    id: string,
    plaintextLength: number,
    seal: (compress: boolean) => Promise<SealedBlob>,
    options: SaveBlobOptions = {},
  ): Promise<SaveBlobResult> {
    const { signal } = options;
    this.#throwIfFailed();
    signal?.throwIfAborted();
    await this.loadIndex({ signal });
    const key = `${type}:${id}`;
    if (this.#pending.has(key) || (!options.duplicate && this.#index.has(type, id))) {
      this.#stats.blobsKnown++;
      return { id, known: true, storedBytes: 0 };
    }
    this.#pending.add(key);
    let packer: Packer;
    let storedBytes: number;
    try {
      const compress =
        this.config.version >= 2 && (type === 'tree' || (options.compress ?? this.#settings.compression));
      const sealed = await seal(compress);
      if (sealed.id !== id || sealed.type !== type)
        throw new TypeError(`the sealed blob is ${sealed.type} ${sealed.id}, not ${type} ${id}`);
      this.#throwIfFailed();
      const own = sealed.ciphertext.length >= this.#settings.packSize; // an oversized blob gets a pack of its own
      packer = own ? this.#newPacker() : (this.#packers[type] ??= this.#newPacker());
      packer.add(sealed);
      storedBytes = sealed.ciphertext.length;
    } catch (error) {
      this.#pending.delete(key);
      throw error;
    }
    this.#stats.blobsSaved++;
    this.#stats.plaintextBytes += plaintextLength;
    this.#stats.storedBytes += storedBytes;
    if (packer !== this.#packers[type] || packer.fileSize >= this.#settings.packSize || packer.full) {
      if (packer === this.#packers[type]) delete this.#packers[type];
      await this.#uploader.submit(packer, { signal });
    }
    return { id, known: false, storedBytes };
  }

  /**
   * What sealing blobs elsewhere takes: the master key, whether data blobs are compressed by default,
   * and whether IVs come from the system's random source (a test's own source cannot be shared).
   */
  get blobSealing(): { key: MasterKey; compression: boolean; systemRandom: boolean } {
    return {
      key: this.#key,
      compression: this.config.version >= 2 && this.#settings.compression,
      systemRandom: this.#settings.random === systemRandomBytes,
    };
  }

  async loadBlob(type: BlobType, id: string, options: SignalOptions = {}): Promise<Buffer> {
    const entries = await this.lookupBlob(type, id, options);
    if (entries.length === 0)
      throw new BlobNotFoundError(this.backend.description, type, id, this.#indexFiles.size);
    let lastError: unknown;
    for (const entry of entries) {
      try {
        const kept =
          type === 'tree' ? await this.#treePacks.ciphertext(entry.pack, entry, options) : undefined;
        if (kept) return await openBlob(this.#key, entry.pack, entry, kept);
        return await loadPackedBlob(this.backend, this.#key, entry.pack, entry, options);
      } catch (error) {
        options.signal?.throwIfAborted();
        lastError = error; // try the next copy, if any
      }
    }
    throw lastError;
  }

  dropTreePacks(): void {
    this.#treePacks.clear();
  }

  async hasBlob(type: BlobType, id: string, options: SignalOptions = {}): Promise<boolean> {
    await this.loadIndex(options);
    return this.#pending.has(`${type}:${id}`) || this.#index.has(type, id);
  }

  async lookupBlob(type: BlobType, id: string, options: SignalOptions = {}): Promise<IndexEntry[]> {
    await this.loadIndex(options);
    return this.#index.lookup(type, id);
  }

  loadPackRange(
    pack: string,
    offset: number,
    length: number,
    options: SignalOptions & { into?: Buffer | undefined } = {},
  ): Promise<Buffer> {
    return this.backend.load({ type: 'data', name: pack }, { ...options, offset, length });
  }

  async flush(options: SignalOptions = {}): Promise<void> {
    this.#throwIfFailed();
    for (const type of ['data', 'tree'] as const) {
      const packer = this.#packers[type];
      delete this.#packers[type];
      if (packer && packer.count > 0) await this.#uploader.submit(packer, options);
    }
    await this.#uploader.drain(options);
    if (this.#unindexed.length > 0) await this.#writeIndex(options);
  }

  /**
   * Loads the index files not loaded yet (all of them the first time). Blob operations call it; call it
   * again to see index files other processes wrote since. IndexFileError names a file that fails.
   */
  async loadIndex(options: SignalOptions & { reload?: boolean } = {}): Promise<void> {
    if (options.reload) await this.#indexLoading?.catch(() => {});
    if (!this.#indexLoading || options.reload) {
      const loading: Promise<void> = this.#loadIndexFiles(options).catch((error: unknown) => {
        if (this.#indexLoading === loading) this.#indexLoading = undefined; // try again next time
        throw error;
      });
      this.#indexLoading = loading;
    }
    return this.#indexLoading;
  }

  /**
   * Forgets the master index and loads every index file again: after index files or packs were removed
   * (prune), so that saveBlob does not take a blob in a deleted pack for stored. Flushes first.
   */
  async reloadIndex(options: SignalOptions = {}): Promise<void> {
    await this.flush(options);
    await this.#indexLoading?.catch(() => {});
    this.#index = new MasterIndex();
    this.#indexFiles.clear();
    this.#indexLoading = undefined;
    await this.loadIndex(options);
  }

  /** The blobs the header of a whole pack file lists, and the header's size in the file (see parsePack). */
  parsePack(pack: string, bytes: Buffer): Promise<{ blobs: PackBlob[]; headerSize: number }> {
    return parsePack(this.#key, pack, bytes);
  }

  /** A blob's verified plaintext from its bytes as read from a pack (see openBlob). */
  openPackedBlob(pack: string, blob: PackBlob, ciphertext: Buffer): Promise<Buffer> {
    return openBlob(this.#key, pack, blob, ciphertext);
  }

  async saveJson(type: UnpackedType, value: object, options: SignalOptions = {}): Promise<string> {
    const { id, bytes } = await encodeUnpacked(value, {
      key: this.#key,
      version: this.config.version,
      random: this.#settings.random,
    });
    await this.backend.save({ type, name: id }, bytes, options);
    return id;
  }

  async loadJson(type: UnpackedType, id: string, options: SignalOptions = {}): Promise<unknown> {
    const bytes = await this.backend.load({ type, name: id }, options);
    return decodeUnpacked(bytes, this.#key, { path: handlePath({ type, name: id }), id });
  }

  async *list(type: ListableType, options: SignalOptions = {}): AsyncGenerator<FileInfo> {
    for await (const info of this.backend.list(type, options)) if (isId(info.name)) yield info;
  }

  removeFile(type: UnpackedType | 'data', id: string, options: SignalOptions = {}): Promise<void> {
    return this.backend.remove({ type, name: id }, options);
  }

  async lock(options: { exclusive: boolean } & SignalOptions): Promise<RepoLock> {
    const { clock, identity, logger, processExists, lockWaitMs } = this.#settings;
    const deadline = clock.now() + lockWaitMs;
    for (let wait = 1000; ; wait = Math.min(wait * 2, 10_000)) {
      try {
        const lock = await lockRepository(this.#lockFiles(), {
          ...options,
          clock,
          identity,
          logger,
          processExists,
        });
        this.#locks.add(lock);
        return lock;
      } catch (error) {
        // A conflicting lock (a prune, a backup of another process) may go soon: wait for it, within limits.
        if (!(error instanceof LockConflictError) || clock.now() + wait > deadline) throw error;
        logger.warn(`${error.message}; trying again in ${wait / 1000} s`);
        await clock.sleep(wait, options.signal);
        options.signal?.throwIfAborted();
      }
    }
  }

  /** Adds a key file for another password; returns its name. */
  addKey(
    password: string,
    options: SignalOptions & { params?: KdfParams | undefined } = {},
  ): Promise<string> {
    const { identity, clock, random } = this.#settings;
    return addKey(this.backend, this.#key, password, { ...options, identity, clock, random });
  }

  /** Removes a key file; refuses the one this repository was opened with (CurrentKeyError). */
  removeKey(name: string, options: SignalOptions = {}): Promise<void> {
    return removeKey(this.backend, name, { ...options, current: this.#keyName });
  }

  listKeys(options: SignalOptions = {}): Promise<KeyInfo[]> {
    return listKeys(this.backend, options);
  }

  async close(options: SignalOptions = {}): Promise<void> {
    try {
      if (!this.#uploader.failure) await this.flush(options);
    } finally {
      const locks = [...this.#locks];
      this.#locks.clear();
      await Promise.allSettled(locks.map((lock) => lock.release(options)));
    }
  }

  #newPacker(): Packer {
    return new Packer({ key: this.#key, random: this.#settings.random });
  }

  /** Finishes and stores a pack, enters it in the master index, and writes an index file when due. */
  async #upload(packer: Packer): Promise<void> {
    const pack = await packer.finishAsync();
    await this.backend.save({ type: 'data', name: pack.id }, pack.bytes);
    this.#index.addPack(pack.id, pack.blobs);
    for (const blob of pack.blobs) this.#pending.delete(`${blob.type}:${blob.id}`);
    this.#stats.packsUploaded++;
    this.#stats.packBytesUploaded += pack.bytes.length;
    this.#unindexed.push({ id: pack.id, blobs: pack.blobs });
    this.#unindexedBlobs += pack.blobs.length;
    if (this.#unindexedBlobs >= this.#settings.indexMaxBlobs) await this.#writeIndex({ full: true });
  }

  /**
   * Writes the packs not yet in an index file into index files. A file is full, as restic's, once it
   * holds indexMaxBlobs blobs or more (a pack's blobs stay in one file): `full` writes only full files and
   * keeps the rest for later; otherwise (flush) the rest goes into a last file. Uploads that finish
   * together may have brought in more than one file's worth.
   */
  async #writeIndex(options: SignalOptions & { full?: boolean }): Promise<void> {
    const max = this.#settings.indexMaxBlobs;
    for (;;) {
      const group: IndexPack[] = [];
      let blobs = 0;
      for (const pack of this.#unindexed) {
        if (blobs >= max) break;
        group.push(pack);
        blobs += pack.blobs.length;
      }
      if (group.length === 0 || (options.full && blobs < max)) return;
      this.#unindexed.splice(0, group.length);
      this.#unindexedBlobs -= blobs;
      try {
        const id = await this.saveJson('index', indexFileJson({ supersedes: [], packs: group }), options);
        this.#indexFiles.add(id);
        this.#stats.indexFilesWritten++;
      } catch (error) {
        this.#unindexed.unshift(...group); // flush may try again
        this.#unindexedBlobs += blobs;
        throw error;
      }
    }
  }

  async #loadIndexFiles(options: SignalOptions): Promise<void> {
    const names: string[] = [];
    for await (const { name } of this.list('index', options))
      if (!this.#indexFiles.has(name)) names.push(name);
    names.sort();
    // A few loads in flight (the backend's latency, not decoding, is what a large index waits for),
    // merged in the order of the names: which copy of a duplicated blob lookupBlob lists first does not
    // depend on which load finished first.
    await forEachInOrder(
      names,
      4,
      async (name) => {
        try {
          return parseIndexFile(
            await this.loadJson('index', name, options),
            handlePath({ type: 'index', name: name }),
          );
        } catch (error) {
          options.signal?.throwIfAborted();
          throw new IndexFileError(this.backend.description, handlePath({ type: 'index', name: name }), {
            cause: error,
          });
        }
      },
      (file, name) => {
        for (const pack of file.packs) this.#index.addPack(pack.id, pack.blobs);
        this.#indexFiles.add(name);
      },
    );
    this.#index.trim();
  }

  #lockFiles() {
    return {
      description: this.backend.description,
      saveJson: (type: 'locks', value: object, options?: SignalOptions) =>
        this.saveJson(type, value, options),
      loadJson: (type: 'locks', id: string, options?: SignalOptions) => this.loadJson(type, id, options),
      list: (type: 'locks', options?: SignalOptions) => this.list(type, options),
      removeFile: (type: 'locks', id: string, options?: SignalOptions) => this.removeFile(type, id, options),
    };
  }

  #throwIfFailed(): void {
    const failure = this.#uploader.failure;
    if (failure) throw failure.error;
  }
}
