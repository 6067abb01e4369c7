// Reconcilers for every custom resource, schedules, garbage collection, catalog sync, leader election,
// metrics. May import every layer below the CLI. So far: the retention decisions the garbage collector and
// `describe` will share (docs/design/server-mode.md), and the machinery the reconcilers run on: an
// informer, a rate-limited work queue, and leader election on a Lease (docs/controller.md).
export {
  decideRetention,
  isoWeek,
  retentionPolicyProblems,
  type RetainedBackup,
  type RetentionDecision,
  type RetentionPolicy,
} from './retention.ts';
export { deadlineSignal, systemClock, type Clock } from './clock.ts';
export { Informer, objectKey, type InformerHandlers, type InformerOptions } from './informer.ts';
export {
  WorkQueue,
  defaultQueueBaseDelayMs,
  defaultQueueMaxDelayMs,
  type KeyHandler,
  type ProcessResult,
  type WorkQueueOptions,
} from './queue.ts';
export {
  runLeaderElection,
  defaultLeaseDurationMs,
  defaultRenewDeadlineMs,
  defaultRetryPeriodMs,
  type LeaderElectionOptions,
  type LeaderElectionResult,
} from './leader.ts';
export {
  KubeLeaseStore,
  LeaseConflictError,
  MemoryLeaseStore,
  type LeaseSpec,
  type LeaseStore,
  type StoredLease,
} from './lease-store.ts';
export { runServer, DEFAULT_LEASE_NAME, DEFAULT_METRICS_PORT, type ServerOptions } from './server.ts';
export {
  CA_CONFIGMAP,
  CA_KEY,
  SERVER_SERVICE,
  TLS_SECRET,
  isLoopbackHost,
  plainGrantRefusal,
  plainTokenRefusal,
} from './transport.ts';
export { BackupController, ORPHAN_REASON } from './backup-controller.ts';
export { ServerLocations, credentialsSecretName, keySecretName, LocationUnusableError } from './locations.ts';
export { ServerMetrics } from './metrics.ts';
export { resourcePath, patchStatus, getResource, createResource, deleteResource } from './resources.ts';
export {
  decide as decideScheduleRun,
  nextRunAfter,
  parseSchedule,
  scheduledBackupName,
  ScheduleSyntaxError,
  type ParsedSchedule,
} from './schedule-timing.ts';
export type { ControllerContext, ServerLogEntry } from './context.ts';
export {
  applyInstall,
  installManifests,
  uninstall,
  UninstallRefusedError,
  CREDENTIALS_KEY,
  CREDENTIALS_SECRET,
  INSTALL_LABELS,
  type InstallOptions,
} from './install.ts';
export {
  nodeAgentClusterRules,
  nodeAgentNamespaceRules,
  rbacManifests,
  serverClusterRules,
  serverNamespaceRules,
  serverRestoreRules,
  NODE_AGENT_ACCOUNT,
  SERVER_ACCOUNT,
  SERVER_RESTORE_ROLE,
  type PolicyRule,
} from './rbac.ts';
export { RestoreController, RESTORE_ORPHAN_REASON } from './restore-controller.ts';
export { backupOfSchedule, ScheduleController } from './schedule-controller.ts';
export { DeletionController, deleteLockUntil } from './deletion.ts';
export { DownloadGrants, GrantRefusedError, type DownloadGrant } from './download-grants.ts';
export {
  DEFAULT_DOWNLOAD_EXPIRY_MS,
  DownloadRequestController,
  defaultAdvertiseUrl,
} from './download-requests.ts';
export { CatalogController } from './catalog.ts';
export {
  nodeAgentLease,
  nodeAgentRuns,
  runNodeAgent,
  AGENT_ORPHAN_MESSAGE,
  NODE_AGENT_RENEW_MS,
  NODE_AGENT_STALE_MS,
  type NodeAgentOptions,
} from './node-agent.ts';
export {
  ClusterPodVolumeBackups,
  clusterPodVolumeFill,
  NODE_LABEL,
  NO_AGENT_MESSAGE,
  repositoryPasswordSecret,
  secretRepositoryPasswords,
} from './pod-volumes.ts';
export {
  Access,
  UnauthenticatedError,
  type AccessOptions,
  type Decision,
  type ResourceAttributes,
  type User,
} from './access.ts';
export { isDashboardPath, serveDashboard, type DashboardContext, type DashboardServed } from './dashboard.ts';
