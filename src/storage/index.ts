// Object stores behind one small interface (filesystem, S3, Azure Blob, GCS, memory), the wrappers that
// add a key prefix, read-only views, retry and timeouts, the backup-store layout on top of them, and the
// writer of one backup into several locations at once.
// Imports api. See docs/storage.md.
export type {
  AbortUploadsOptions,
  ByteRange,
  GetOptions,
  ListEntry,
  ListOptions,
  ObjectInfo,
  ObjectStore,
  PutBody,
  PutOptions,
  SignalOptions,
  SignedUrlOptions,
} from './object-store.ts';
export { compareKeys, keyProblem, prefixProblem } from './object-store.ts';
export {
  ContentLengthMismatchError,
  InvalidKeyError,
  ObjectExistsError,
  ObjectNotFoundError,
  ObjectStoreError,
  RangeNotSatisfiableError,
  ReadOnlyStoreError,
  StoreAccessDeniedError,
  StoreRequestError,
  StoreTimeoutError,
  StoreUnavailableError,
} from './errors.ts';
export { StoreActivity, type ActivitySnapshot, type StoreOperation } from './activity.ts';
export {
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_REQUEST_TIMEOUT_MS,
  withTimeouts,
  type StallNotice,
  type StoreTimeoutOptions,
} from './timeouts.ts';
export { MemoryStore, type MemoryStoreOptions } from './memory-store.ts';
export { FilesystemStore, type FilesystemStoreOptions } from './filesystem-store.ts';
// The cloud drivers are not re-exported as values: importing them loads their SDKs. openObjectStore
// imports the one a location needs; code that needs a driver class imports its module.
export type { S3StoreOptions } from './s3-store.ts';
export type { AzureStoreOptions } from './azure-store.ts';
export type { GcsStoreOptions } from './gcs-store.ts';
export { isTransient, readOnly, withPrefix, withRetry, type StoreRetryOptions } from './wrappers.ts';
export {
  BACKUP_DATA_FILES,
  BACKUPS_PREFIX,
  backupKeys,
  LOCATION_METADATA_KEY,
  LOCATION_KEYS_PREFIX,
  locationKeyRecordKey,
  backupNameOfPrefix,
  RESTORES_PREFIX,
  restoreKeys,
  restoreNameOfPrefix,
  type BackupDataFile,
  type BackupKeys,
  type RestoreKeys,
} from './layout.ts';
export {
  RestoreExistsError,
  RestoreNotFoundError,
  RestoreStore,
  type RestoreFile,
  type RestoreFiles,
} from './restore-store.ts';
export {
  BackupExistsError,
  ClaimLostError,
  BackupNotFoundError,
  BackupStore,
  CorruptMetadataError,
  ChecksumManifestError,
  ChecksumMismatchError,
  ENCRYPTION_ALGORITHM,
  LocationKeyMismatchError,
  manifestBytes,
  manifestOf,
  MissingKeyError,
  NoChecksumsError,
  MissingFileError,
  UnreadableFileError,
  type BackupClaim,
  type BackupEntry,
  type BackupStoreOptions,
  type ChecksumManifest,
  type LocationMetadata,
  type LocationKeyRecord,
  type EntryOptions,
  type StoredFile,
  type VerificationRecord,
} from './backup-store.ts';
export {
  EveryLocationFailedError,
  MultiLocationWriter,
  type FilesFor,
  type LocationOutcome,
  type MultiLocationWriterOptions,
  type UploadMeter,
} from './multi-writer.ts';
export {
  DEFAULT_CHUNK_SIZE,
  decryptBuffer,
  decryptStream,
  encryptBuffer,
  encryptStream,
  generateLocationKey,
  keyId,
  type EncryptOptions,
} from './encryption.ts';
export { formatKeyring, KeyringFormatError, LocationKeyring, parseKeyring } from './keyring.ts';
export {
  EncryptionError,
  InvalidKeyError as InvalidEncryptionKeyError,
  NotEncryptedError,
  TamperedObjectError,
  TruncatedObjectError,
  UnsupportedFormatError,
  WrongKeyError,
} from './encryption-errors.ts';
export {
  LocationConfigError,
  locationTimeouts,
  openObjectStore,
  parseCredentials,
  type LocationCredentials,
  type OpenLocationOptions,
} from './location.ts';
