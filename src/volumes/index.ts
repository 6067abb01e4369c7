// Volume data: file-system backup of pod volumes (which volumes, where the kubelet mounts them, the
// PodVolumeBackup/PodVolumeRestore resources and the node agent that carries them out), CSI snapshots
// and snapshot data movement; reading a backup's volume records, single-file restore, and the upkeep of a
// location's repositories. Imports api, kube, repo, storage.
export {
  BACKUP_VOLUMES_ANNOTATIONS,
  BACKUP_VOLUMES_EXCLUDES_ANNOTATIONS,
  claimOfVolume,
  selectPodVolumes,
  volumeDirOf,
  type ChosenVolume,
  type PodVolumeSource,
  type SkippedVolume,
  type VolumeOfClaim,
  type VolumeSelection,
  type VolumeSelectionOptions,
} from './selection.ts';
export {
  DEFAULT_KUBELET_ROOT,
  findVolumePath,
  singleNodeName,
  VolumePathError,
  type VolumePathInput,
} from './host-path.ts';
export {
  MARKER_DIR,
  markerPath,
  RESTORE_WAIT_CONTAINER,
  withRestoreWait,
  type RestoreWaitOptions,
} from './restore-wait.ts';
export { REPOSITORIES_PREFIX, repositoryPrefix, StoreBackend } from './repo-backend.ts';
export {
  OldKeyNotRemovedError,
  PasswordRotationError,
  RepositoryNotFoundError,
  RepositoryPasswordMissingError,
  VolumeRepositories,
  type PasswordRotation,
  type RepositoryPasswords,
  type RepositorySummary,
  type VolumeRepositoriesOptions,
} from './repositories.ts';
export {
  findPodVolumeBackup,
  formatPodVolumeRef,
  InvalidPodVolumeRefError,
  parsePodVolumeRef,
  PodVolumeNotBackedUpError,
  PodVolumeNotInBackupError,
  podVolumeRefOf,
  readPodVolumeBackups,
  type CompletedPodVolumeBackup,
  type PodVolumeRef,
} from './pod-volume-records.ts';
export { RestoreTargetExistsError, restoreVolumePath, type RestoreVolumePathInput } from './volume-files.ts';
export {
  backUpPodVolume,
  fsChosenClaims,
  LocalVolumeBackups,
  planPodVolumeBackups,
  SNAPSHOT_HOST,
  snapshotPath,
  type BackUpPodVolumeInput,
  type LocalVolumeBackupsOptions,
  type PlanInput,
  type PodVolumeBackupRunner,
  type PodVolumePlan,
} from './fs-backup.ts';
export {
  BackedUpVolumes,
  fillPodVolumes,
  podVolumeRestoreRecord,
  type FillPodVolumesInput,
  type PodToFill,
} from './fs-restore.ts';
export { forgetBackupSnapshots, type ForgottenSnapshots } from './forget-backup.ts';
export {
  claimFromSnapshot,
  clusterIdOf,
  DEFAULT_CSI_SNAPSHOT_TIMEOUT_MS,
  deleteBackupSnapshots,
  deleteSnapshots,
  derivedName,
  labelledSnapshotClasses,
  quantityBytes,
  readSnapshotRecords,
  releaseRestoreSnapshots,
  SNAPSHOT_CLASS_LABELS,
  snapshotForRestore,
  snapshotRecords,
  snapshotTarget,
  takeSnapshot,
  type CsiSnapshotRecord,
  type SnapshotTarget,
  type TakeSnapshotInput,
} from './csi-snapshots.ts';
export {
  backupVolumePolicy,
  ClaimReader,
  claimFacts,
  matchVolumePolicy,
  parseVolumePolicy,
  podVolumeFacts,
  readResourcePolicy,
  ruleText,
  volumePolicyProblems,
  VolumePolicyError,
  type PolicyMatch,
  type VolumeFacts,
} from './volume-policy.ts';
export {
  decideClaims,
  decisionLine,
  MOVED,
  NOTHING_CHOSE,
  policySnapshots,
  snapshotsAskedFor,
  type ClaimDecisions,
  type ClaimToSnapshot,
  type DecideClaimsInput,
  type FsChosenClaim,
  type VolumeAction,
  type VolumeDecision,
} from './volume-decisions.ts';
export {
  asPodVolume,
  DATA_MOVER_LABEL,
  exposeSnapshot,
  moveRecords,
  type ExposedSnapshot,
  type ExposeInput,
} from './data-mover.ts';
