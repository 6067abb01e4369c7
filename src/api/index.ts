// The custom resource types of cairn.dev/v1: one TypeBox schema per spec and status, from which come the
// TypeScript types, the validation (problems naming the field and the value), the defaults and the CRDs.
// Imports nothing of ours. docs/api.md describes every kind and field. Also the Clock (clock.ts), which
// every layer takes its time from.
export {
  API_GROUP,
  API_VERSION,
  ARCHIVE_FORMAT,
  BACKUP_PHASES,
  BackupPhaseSchema,
  BackupSchema,
  BackupSpecSchema,
  BackupStatusSchema,
  CAIRN_API_VERSION,
  CONSISTENCY_MODES,
  ConsistencyModeSchema,
  DEFAULT_BACKUP_TTL,
  LocationResultSchema,
  ResultGroupSchema,
  VELERO_API_VERSION,
  backupNameProblem,
  dnsLabelProblem,
  type Backup,
  type BackupPhase,
  type BackupSpec,
  type BackupResourceHook,
  type BackupStatus,
  type ConsistencyMode,
  type LocationResult,
  type ResultGroup,
} from './backup.ts';
export {
  CAIRN_CATEGORY,
  customResourceDefinition,
  customResourceDefinitions,
  structuralSchema,
  type CustomResourceDefinition,
  type JSONSchemaProps,
} from './crds.ts';
export {
  DELETE_BACKUP_REQUEST_PHASES,
  DeleteBackupRequestSchema,
  DeleteBackupRequestSpecSchema,
  DeleteBackupRequestStatusSchema,
  type DeleteBackupRequest,
  type DeleteBackupRequestPhase,
  type DeleteBackupRequestSpec,
  type DeleteBackupRequestStatus,
} from './delete-backup-request.ts';
export { formatGoDuration, parseGoDuration } from './duration.ts';
export {
  POD_VOLUME_LABELS,
  POD_VOLUME_PHASES,
  PodVolumeBackupSchema,
  PodVolumeRestoreSchema,
  type PodVolumeBackup,
  type PodVolumeBackupSpec,
  type PodVolumeBackupStatus,
  type PodVolumePhase,
  type PodVolumeRestore,
  type PodVolumeRestoreSpec,
  type PodVolumeRestoreStatus,
} from './pod-volume.ts';
export {
  CAIRN_KINDS,
  specProblems,
  objectProblems,
  specWithDefaults,
  statusProblems,
  type CairnKind,
  type KindInfo,
  type PrinterColumn,
  type SpecOf,
  type StatusOf,
} from './kinds.ts';
export {
  ACCESS_MODES,
  BackupLocationSchema,
  BackupLocationSpecSchema,
  BackupLocationStatusSchema,
  LOCATION_PROVIDERS,
  locationProblems,
  normalizeProvider,
  type AccessMode,
  type BackupLocation,
  type BackupLocationSpec,
  type BackupLocationStatus,
  type LocationProvider,
} from './location.ts';
export { Results, scopeOf, type Scope } from './results.ts';
export {
  CLUSTER_CONFLICT_POLICIES,
  DEFAULT_CLUSTER_CONFLICT_POLICY,
  DEFAULT_NAMESPACED_CONFLICT_POLICY,
  NAMESPACED_CONFLICT_POLICIES,
  NamespacedConflictPolicySchema,
  RESTORE_PHASES,
  RestoreCountsSchema,
  RestorePhaseSchema,
  RestoreSchema,
  RestoreSpecSchema,
  RestoreStatusSchema,
  defaultRestoreName,
  type ClusterConflictPolicy,
  type NamespacedConflictPolicy,
  type Restore,
  type RestoreCounts,
  type RestorePhase,
  type RestoreSpec,
  type RestoreResourceHook,
  type RestoreStatus,
} from './restore.ts';
export {
  RetentionPolicySchema,
  SCHEDULE_PHASES,
  ScheduleSchema,
  ScheduleSpecSchema,
  ScheduleStatusSchema,
  type RetentionPolicy,
  type Schedule,
  type SchedulePhase,
  type ScheduleSpec,
  type ScheduleStatus,
} from './schedule.ts';
export {
  LabelSelectorError,
  formatLabelSelector,
  globToRegExp,
  labelKeyProblem,
  labelSelectorAsText,
  labelSelectorFromObject,
  labelSelectorProblem,
  labelSelectorToObject,
  labelValueProblem,
  matchesLabels,
  parseLabelSelector,
  type LabelOperator,
  type LabelRequirement,
  type LabelSelector,
  type LabelSelectorObject,
} from './labels.ts';
export { GO_DURATION_PATTERN, ObjectMetaSchema } from './schema.ts';
export {
  fromStoredBackup,
  fromStoredResults,
  logLineMessage,
  storedLogLine,
  toStoredBackup,
  type StoredResults,
} from './velero-files.ts';
export {
  conforms,
  problemText,
  schemaProblems,
  withDefaults,
  type SchemaProblemsOptions,
  type SpecProblem,
} from './validate.ts';
export {
  IMPORTED_FROM_ANNOTATION,
  SYNCED_FROM_ANNOTATION,
  VELERO_IMPORT_KINDS,
  fromVelero,
  fromVeleroBackup,
  fromVeleroBackupStorageLocation,
  fromVeleroSchedule,
  labelSelectorText,
  type VeleroConversion,
  type VeleroImportKind,
  type VeleroImportOptions,
  type VeleroObject,
} from './velero-import.ts';
export { systemClock, type Clock } from './clock.ts';
export { parseHookCommand, type HookResult, type HookResultPhase } from './hooks.ts';
export {
  CAPACITY_PATTERN,
  CLAIM_PHASES,
  ResourcePolicyRefSchema,
  VOLUME_POLICY_ACTIONS,
  VOLUME_TYPES,
  VolumePolicyConditionsSchema,
  VolumePolicyRuleSchema,
  VolumePolicySchema,
  type ResourcePolicyRef,
  type VolumePolicy,
  type VolumePolicyActionType,
  type VolumePolicyConditions,
  type VolumePolicyRule,
} from './volume-policy.ts';
export { ANNOTATIONS, EXCLUDE_FROM_BACKUP_LABELS, LABELS } from './vocabulary.ts';
export { backoffMs, type Backoff, type RetryOptions } from './retry.ts';
export { newestOfSchedule, scheduleOf, unrestorableReason } from './backup-source.ts';
