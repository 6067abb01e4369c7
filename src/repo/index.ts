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
  packHeaderSize,
  parsePack,
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
export type { ListableType, Repo, RepoStats, SaveBlobOptions, SaveBlobResult, UnpackedType } from './repo.ts';
export { Repository, type InitOptions, type OpenOptions, type RepositoryOptions } from './repository.ts';
export {
  POLYNOMIAL_DEGREE,
  InvalidPolynomialError,
  isIrreducible,
  polynomialFromHex,
  polynomialToHex,
  randomPolynomial,
} from './polynomial.ts';
export {
  AVERAGE_BITS,
  MAX_CHUNK_SIZE,
  MIN_CHUNK_SIZE,
  ChunkSplitter,
  Chunker,
  chunks,
  type ChunkerOptions,
} from './chunker.ts';
export {
  DuplicateNodeError,
  FileMode,
  TreeFormatError,
  decodeTree,
  encodeNode,
  encodeTree,
  formatNodeTime,
  hasFileMode,
  parseNodeTime,
  type ExtendedAttribute,
  type Node,
  type NodeTime,
  type NodeType,
} from './tree.ts';
export {
  UnsupportedFileTypeError,
  applyMetadata,
  goFileMode,
  localUtcOffset,
  nodeFromStat,
  nodeTypeOf,
  readAccountNames,
  readNode,
  unixPermissions,
  type AccountNames,
  type ApplyMetadataOptions,
  type MetadataProblem,
  type NodeFromStatOptions,
} from './node-fs.ts';
export {
  SnapshotNotFoundError,
  loadSnapshot,
  newSnapshotJson,
  parseSnapshot,
  resolveSnapshotId,
  snapshotTimeNs,
  type NewSnapshotOptions,
  type Snapshot,
  type SnapshotJson,
} from './snapshot.ts';
export {
  backupDirectory,
  type BackupError,
  type BackupOptions,
  type BackupProgress,
  type BackupResult,
  type BackupStats,
} from './archiver.ts';
export {
  restoreSnapshot,
  type RestoreOptions,
  type RestoreProblem,
  type RestoreProgress,
  type RestoreResult,
  type RestoreStats,
} from './restorer.ts';
export {
  SnapshotPathError,
  findSnapshots,
  listSnapshot,
  loadTree,
  lookupPath,
  readFile,
  splitSnapshotPath,
  type ListEntry,
  type PathTarget,
  type SnapshotFilter,
} from './browse.ts';
export {
  listSnapshots,
  loadSnapshots,
  parseSnapshotInfo,
  type SnapshotInfo,
  type SnapshotLoadError,
} from './snapshot-list.ts';
export {
  BlobSet,
  loadIndexFiles,
  type LoadedIndex,
  type MaintenanceProgress,
  type MaintenanceRepo,
} from './maintenance.ts';
export {
  checkRepository,
  type CheckOptions,
  type CheckProblem,
  type CheckProblemCode,
  type CheckResult,
  type CheckStats,
} from './check.ts';
export {
  forgetByPolicy,
  forgetSnapshots,
  formatForgetDuration,
  parseForgetDuration,
  planForget,
  type ForgetByPolicyOptions,
  type ForgetCounters,
  type ForgetDuration,
  type ForgetGroup,
  type ForgetGrouping,
  type ForgetKept,
  type ForgetPlan,
  type ForgetPolicy,
  type ForgetSnapshot,
  type ForgetSnapshotsOptions,
  type PlanForgetOptions,
} from './forget.ts';
export {
  PruneRefusedError,
  pruneRepository,
  type PruneLogger,
  type PruneOptions,
  type PrunePlan,
  type PruneResult,
  type PruneStats,
} from './prune.ts';
