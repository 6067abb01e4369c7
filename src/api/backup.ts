// The Backup kind (cairn.dev/v1). Field names follow Velero's velero.io/v1 where the meaning is the same,
// so a Velero manifest converts by changing its apiVersion; additions carry their own names.
//
// The server-mode issue derives these types, their validation and the CRD's OpenAPI schema from one
// schema per kind; until then they are plain types with the defaults below.

export const API_GROUP = 'cairn.dev';
export const API_VERSION = 'v1';
export const CAIRN_API_VERSION = `${API_GROUP}/${API_VERSION}`;
export const VELERO_API_VERSION = 'velero.io/v1';

export type BackupPhase =
  'New' | 'FailedValidation' | 'InProgress' | 'Completed' | 'PartiallyFailed' | 'Failed' | 'Deleting';

export type ConsistencyMode = 'snapshot' | 'best-effort';

export interface BackupSpec {
  includedNamespaces?: string[];
  excludedNamespaces?: string[];
  includedResources?: string[];
  excludedResources?: string[];
  /** Unset: auto (cluster-scoped objects related to the selection, or all of them for a whole-cluster backup). */
  includeClusterResources?: boolean;
  labelSelector?: string;
  orLabelSelectors?: string[];
  /** false excludes secrets (Backup for GKE's includeSecrets). Default true. */
  includeSecrets?: boolean;
  /** How long the backup is kept, as a Go duration (720h0m0s). */
  ttl?: string;
  /** The first location (Velero's field). */
  storageLocation?: string;
  /** Every location the backup is written to, storageLocation first (Cairn's addition). */
  storageLocations?: string[];
  /** snapshot: every object at one storage revision; best-effort: each resource listed at its latest. */
  consistency?: ConsistencyMode;
}

/** Velero's per-scope results: messages for Cairn itself, the cluster scope, and each namespace. */
export interface ResultGroup {
  cairn?: string[];
  cluster?: string[];
  namespaces?: Record<string, string[]>;
}

export interface LocationResult {
  name: string;
  phase: 'Completed' | 'Failed';
  message?: string;
  /** Bytes stored in this location (every file of the backup). */
  bytes?: number;
}

export interface BackupStatus {
  /** Velero compatibility: always 1. */
  version?: number;
  /** The archive format, "1.1.0". */
  formatVersion?: string;
  phase?: BackupPhase;
  validationErrors?: string[];
  failureReason?: string;
  startTimestamp?: string;
  completionTimestamp?: string;
  expiration?: string;
  progress?: { totalItems?: number; itemsBackedUp?: number };
  errors?: number;
  warnings?: number;
  /** Cairn: the storage revision every object was read at, and the resources that could not be. */
  consistency?: { mode: ConsistencyMode; revision?: string; bestEffortResources?: string[] };
  /** Cairn: how the stored files are encrypted (absent when the location is plaintext). */
  encryption?: { algorithm: string; keyId: string };
  /** Cairn: the outcome in each location. */
  locations?: LocationResult[];
  /** Cairn: SHA-256 of the checksum manifest, which names the SHA-256 of every other stored file. */
  checksums?: string;
}

export interface Backup {
  apiVersion: string;
  kind: 'Backup';
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    creationTimestamp?: string;
  };
  spec: BackupSpec;
  status?: BackupStatus;
}

/** Velero's default TTL: 30 days. */
export const DEFAULT_BACKUP_TTL = '720h0m0s';
export const ARCHIVE_FORMAT = '1.1.0';

const nameRule = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** A DNS-1123 label, at most 63 characters (namespace names, and the names of most kinds). */
export function dnsLabelProblem(name: string): string | undefined {
  if (name.length === 0) return 'must not be empty';
  if (name.length > 63) return `must be at most 63 characters, has ${name.length}`;
  if (!nameRule.test(name)) {
    return 'must consist of lower-case letters, digits and "-", and start and end with a letter or digit';
  }
  return undefined;
}

/** Backup (and restore) names are DNS-1123 labels. */
export const backupNameProblem = dnsLabelProblem;
