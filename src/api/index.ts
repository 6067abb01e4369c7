// The custom resource types of cairn.dev/v1, their defaults and validation. Imports nothing of ours.
export {
  API_GROUP,
  API_VERSION,
  ARCHIVE_FORMAT,
  CAIRN_API_VERSION,
  DEFAULT_BACKUP_TTL,
  VELERO_API_VERSION,
  backupNameProblem,
  dnsLabelProblem,
  type Backup,
  type BackupPhase,
  type BackupSpec,
  type BackupStatus,
  type ConsistencyMode,
  type LocationResult,
  type ResultGroup,
} from './backup.ts';
export { formatGoDuration, parseGoDuration } from './duration.ts';
export {
  LOCATION_PROVIDERS,
  locationProblems,
  normalizeProvider,
  type AccessMode,
  type BackupLocationSpec,
  type LocationProvider,
  type SpecProblem,
} from './location.ts';
export { Results, scopeOf, type Scope } from './results.ts';
export {
  CLUSTER_CONFLICT_POLICIES,
  DEFAULT_CLUSTER_CONFLICT_POLICY,
  DEFAULT_NAMESPACED_CONFLICT_POLICY,
  NAMESPACED_CONFLICT_POLICIES,
  defaultRestoreName,
  type ClusterConflictPolicy,
  type NamespacedConflictPolicy,
  type Restore,
  type RestoreCounts,
  type RestorePhase,
  type RestoreSpec,
  type RestoreStatus,
} from './restore.ts';
