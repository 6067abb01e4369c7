// The restore engine: read a backup's archive, order its resources, transform each object for the target
// cluster, and apply it with the conflict policy of its scope, or plan it (dry run). Takes plain values
// and reports progress through a callback. Imports api, kube, storage, archive, volumes.
export {
  extractBackup,
  versionOf,
  type BackupContents,
  type ContentItem,
  type ResourceContents,
} from './contents.ts';
export {
  runRestoreEngine,
  type ItemOutcome,
  type PlanEntry,
  type RestoreEngineInput,
  type RestoreLogEntry,
  type RestoreOutcome,
  type RestoreProgress,
} from './engine.ts';
export { locateBackup, type LocatedBackup } from './locate.ts';
export type { AccessRequest, RestorePermissions } from './permissions.ts';
export {
  createRestore,
  RESTORE_BACKUP_LABEL,
  RESTORE_NAME_LABEL,
  RestoreSourceError,
  RestoreValidationError,
  STORAGE_CLASS_CONFIG_LABEL,
  type CreateRestoreInput,
  type RestoreRun,
} from './create.ts';
export { decide, type ConflictPolicy, type Decision, type DecisionContext } from './decide.ts';
// diffItems, never diffObjects: it is the diff that keeps a Secret's values out of what it shows.
export { diffItems, formatDiff, type DiffEntry } from './diff.ts';
export { immutableChanges } from './immutable.ts';
export {
  DEFAULT_HIGH_PRIORITIES,
  DEFAULT_LOW_PRIORITIES,
  NEVER_RESTORED,
  parsePriorities,
  restoreOrder,
  type Priorities,
} from './order.ts';
export {
  compileRestoreSelection,
  resolveResourceName,
  type RestoreProblem,
  type RestoreSelection,
} from './selection.ts';
export {
  applyTransformRules,
  parseTransformRules,
  rulesFromConfigMap,
  TransformRulesError,
  type RuleTarget,
  type RulesResult,
  type TransformRule,
} from './rules.ts';
export { comparable, controllerOf, prepareForRestore, type TransformOptions } from './transform.ts';
export {
  drillNamespace,
  verifyBackup,
  type VerifyBackupInput,
  type VerifyDifference,
  type VerifyReport,
} from './verify.ts';
export {
  DEFAULT_EXEC_TIMEOUT_MS,
  DEFAULT_INIT_TIMEOUT_MS,
  describeRestoreHooks,
  restoreHookSpecProblems,
  restoreHooksForPod,
  restoreHooksFromAnnotations,
  runRestoreHooks,
  withInitHooks,
  type PodRestoreHooks,
  type RestoreExecHook,
  type RestoreHookPod,
  type RestoreHookRun,
  type RestoreInitHook,
} from './hooks.ts';
