// The backup engine: select items, follow related items, run item actions and hooks, write the archive
// and metadata. Takes plain values and reports progress through a callback. Imports api, kube, storage,
// archive, volumes.
export {
  compileSelection,
  excludedFromBackupBy,
  neverByDefault,
  secretsSelection,
  type Selection,
  type SelectionSpec,
  type ValidationProblem,
} from './selection.ts';
export {
  builtinItemActions,
  claimVolume,
  customResourceDefinition,
  podVolumeClaims,
  podHookAnnotations,
  runItemActions,
  type ActionContext,
  type ActionResult,
  type ItemAction,
  type ItemRef,
} from './item-actions.ts';
export {
  runBackupEngine,
  type BackupEngineInput,
  type BackupOutcome,
  type BackupProgress,
  type LogEntry,
} from './engine.ts';
export { BackupValidationError, createBackup, type CreateBackupInput } from './create.ts';
export {
  planBackup,
  type BackupDryRun,
  type BackupPodPlan,
  type PlanBackupInput,
  type PlannedVolume,
} from './dry-run.ts';
export { STALL_LOG_EVERY_MS, STALL_NOTICE_MS } from './stalls.ts';
export {
  CLAIM_HEARTBEAT_INTERVAL_MS,
  CLAIM_STALE_AFTER_MS,
  CLAIM_WITHOUT_HEARTBEAT_GRACE_MS,
  claimState,
  keepClaimAlive,
  type ClaimHeartbeat,
  type Sleep,
} from './claims.ts';
export {
  backupHooksFromAnnotations,
  backupHooksForPod,
  hookSpecProblems,
  DEFAULT_HOOK_TIMEOUT_MS,
  type HookOnError,
  type HookPhase,
  type HookPod,
  type PodBackupHooks,
  type PodExecHook,
  runHooks,
  type PodExec,
} from './hooks.ts';
