// The deduplicating, encrypted volume-data repository in the restic repository format (version 2),
// readable and writable by restic itself. Imports nothing of ours. docs/formats/repository.md is the
// format. Higher layers use the `Repo` interface; `Repository.init` and `Repository.open` make one on a
// `Backend` (LocalBackend, MemoryBackend, or an adapter over the object stores).
export * from './errors.ts';
export {
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
export {
  FILE_TYPES,
  checkHandle,
  handlePath,
  type Backend,
  type FileInfo,
  type FileType,
  type Handle,
  type LoadOptions,
} from './backend.ts';
export { MemoryBackend } from './memory-backend.ts';
export { LocalBackend, type LocalBackendOptions } from './local-backend.ts';
export {
  CIPHERTEXT_OVERHEAD,
  decrypt,
  encrypt,
  generateMasterKey,
  masterKeyFromJson,
  masterKeyToJson,
  type EncryptOptions,
  type MasterKey,
  type MasterKeyJson,
} from './crypto.ts';
export {
  DEFAULT_KDF_PARAMS,
  addKey,
  decodeKeyFile,
  deriveKey,
  encodeKeyFile,
  findKey,
  listKeys,
  removeKey,
  type KdfParams,
  type KeyFileJson,
  type KeyInfo,
  type NewKeyOptions,
} from './keys.ts';
export {
  REPO_VERSION,
  decodeConfig,
  encodeConfig,
  newConfig,
  type NewConfigOptions,
  type RepoConfig,
} from './config.ts';
export { decodeUnpacked, encodeUnpacked, type EncodeUnpackedOptions } from './unpacked.ts';
export {
  MAX_PACK_BLOBS,
  Packer,
  decodeHeader,
  loadPackedBlob,
  openBlob,
  readPackHeader,
  sealBlob,
  type BlobType,
  type FinishedPack,
  type PackBlob,
  type SealOptions,
  type SealedBlob,
} from './pack.ts';
export {
  INDEX_MAX_BLOBS,
  indexFileJson,
  parseIndexFile,
  type IndexFile,
  type IndexPack,
} from './index-file.ts';
export { MasterIndex, type IndexEntry } from './master-index.ts';
export {
  LOCK_REFRESH_INTERVAL_MS,
  LOCK_SETTLE_MS,
  STALE_LOCK_AFTER_MS,
  RepoLock,
  lockRepository,
  parseLock,
  type LockFileJson,
  type LockFiles,
  type LockOptions,
} from './locks.ts';
export { isId, sha256 } from './ids.ts';
export {
  Repository,
  type InitOptions,
  type ListableType,
  type OpenOptions,
  type Repo,
  type RepoStats,
  type RepositoryOptions,
  type SaveBlobOptions,
  type SaveBlobResult,
  type UnpackedType,
} from './repository.ts';
