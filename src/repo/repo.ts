// The repository as the layers above it (archiver, restorer, check, prune) see it: blobs by type and
// id, JSON files, listings, locks. `Repository` (repository.ts) implements it; tests of those layers can
// use it over a MemoryBackend.
import type { FileInfo, FileType } from './backend.ts';
import type { RepoConfig } from './config.ts';
import type { SignalOptions } from './environment.ts';
import type { RepoLock } from './locks.ts';
import type { IndexEntry } from './master-index.ts';
import type { MasterKey } from './crypto.ts';
import type { BlobType, PackBlob, SealedBlob } from './pack.ts';

/** Files stored as encrypted JSON documents. */
export type UnpackedType = 'snapshots' | 'index' | 'locks';
export type ListableType = Exclude<FileType, 'config'>;

export interface SaveBlobOptions extends SignalOptions {
  /** Compress this data blob (tree blobs are always compressed, as restic does). Default: the repository's. */
  compress?: boolean | undefined;
  /**
   * Store the blob even when the index already lists it (prune's repacking copies blobs out of packs it
   * is about to delete). A blob already on its way in an unfinished pack is still not stored twice.
   */
  duplicate?: boolean | undefined;
}

export interface SaveBlobResult {
  /** The blob id: SHA-256 of the plaintext. */
  id: string;
  /** Already in the repository (or in a pack on its way): nothing was stored. */
  known: boolean;
  /** Bytes the blob takes in its pack (compressed and encrypted); 0 when known. */
  storedBytes: number;
}

export interface RepoStats {
  blobsSaved: number;
  blobsKnown: number;
  /** Plaintext bytes of the blobs saved. */
  plaintextBytes: number;
  /** Pack bytes of the blobs saved, after compression and encryption. */
  storedBytes: number;
  packsUploaded: number;
  packBytesUploaded: number;
  indexFilesWritten: number;
}

/** The repository as the layers above see it. */
export interface Repo {
  readonly config: RepoConfig;
  saveBlob(type: BlobType, plaintext: Uint8Array, options?: SaveBlobOptions): Promise<SaveBlobResult>;
  /**
   * saveBlob for a blob hashed and sealed elsewhere (Repository.saveBlobSealedBy): `seal` is called only
   * when the blob must be stored. With `blobSealing`, what lets the archiver seal blobs in worker threads;
   * a Repo without them is given plaintext only.
   */
  saveBlobSealedBy?(
    type: BlobType,
    id: string,
    plaintextLength: number,
    seal: (compress: boolean) => Promise<SealedBlob>,
    options?: SaveBlobOptions,
  ): Promise<SaveBlobResult>;
  readonly blobSealing?: { key: MasterKey; compression: boolean; systemRandom: boolean };
  /** Lets go of what was kept to read trees faster (Repository's whole tree packs); a backup or a restore calls it when done. */
  dropTreePacks?(): void;
  /** The blob's verified plaintext; BlobNotFoundError when the index does not list it. */
  loadBlob(type: BlobType, id: string, options?: SignalOptions): Promise<Buffer>;
  hasBlob(type: BlobType, id: string, options?: SignalOptions): Promise<boolean>;
  /** Where the index says the blob is (several places after concurrent backups); empty when unknown. */
  lookupBlob(type: BlobType, id: string, options?: SignalOptions): Promise<IndexEntry[]>;
  /** Stored bytes of a pack by range, in one read: for openPackedBlob (the restorer reads packs so). */
  loadPackRange(
    pack: string,
    offset: number,
    length: number,
    options?: SignalOptions & { into?: Buffer | undefined },
  ): Promise<Buffer>;
  /**
   * A blob's verified plaintext from its stored bytes (read with loadPackRange): MAC, then SHA-256
   * against its id (pack.ts openBlob); nothing is returned unless both pass.
   */
  openPackedBlob(pack: string, blob: PackBlob, ciphertext: Buffer): Promise<Buffer>;
  /** Uploads the open packs and writes the index for everything uploaded. */
  flush(options?: SignalOptions): Promise<void>;
  saveJson(type: UnpackedType, value: object, options?: SignalOptions): Promise<string>;
  loadJson(type: UnpackedType, id: string, options?: SignalOptions): Promise<unknown>;
  /** File names (ids) and sizes of a type. */
  list(type: ListableType, options?: SignalOptions): AsyncIterable<FileInfo>;
  removeFile(type: UnpackedType | 'data', id: string, options?: SignalOptions): Promise<void>;
  lock(options: { exclusive: boolean } & SignalOptions): Promise<RepoLock>;
  /** Flushes (unless a write failed) and releases the locks taken through this object. */
  close(options?: SignalOptions): Promise<void>;
}
