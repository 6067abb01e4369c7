// The Restore kind (cairn.dev/v1). Field names follow Velero's velero.io/v1 RestoreSpec where the meaning is
// the same; the conflict policies follow Backup for GKE's RestorePlan; additions carry their own names.

/** New → InProgress → Completed | PartiallyFailed | Failed; FailedValidation when the spec is bad. */
export type RestorePhase =
  'New' | 'FailedValidation' | 'InProgress' | 'Completed' | 'PartiallyFailed' | 'Failed';

/**
 * What happens to a namespaced object that already exists in the target cluster:
 * - fail-on-conflict: the item is an error when the live object differs from the backup;
 * - skip-on-conflict: the live object is kept, with a warning when it differs (Velero's default);
 * - update-on-conflict: the live object is replaced by the backup's (Velero's existingResourcePolicy=update);
 * - delete-and-restore: the target namespaces are deleted first, then restored from the backup.
 */
export type NamespacedConflictPolicy =
  'fail-on-conflict' | 'skip-on-conflict' | 'update-on-conflict' | 'delete-and-restore';
export const NAMESPACED_CONFLICT_POLICIES: readonly NamespacedConflictPolicy[] = [
  'fail-on-conflict',
  'skip-on-conflict',
  'update-on-conflict',
  'delete-and-restore',
];
export const DEFAULT_NAMESPACED_CONFLICT_POLICY: NamespacedConflictPolicy = 'skip-on-conflict';

/** What happens to a cluster-scoped object that already exists: keep it, or replace it by the backup's. */
export type ClusterConflictPolicy = 'use-existing-version' | 'use-backup-version';
export const CLUSTER_CONFLICT_POLICIES: readonly ClusterConflictPolicy[] = [
  'use-existing-version',
  'use-backup-version',
];
export const DEFAULT_CLUSTER_CONFLICT_POLICY: ClusterConflictPolicy = 'use-existing-version';

export interface RestoreSpec {
  /** The backup to restore (exactly one of backupName and scheduleName). */
  backupName?: string;
  /** The newest Completed backup of this schedule. */
  scheduleName?: string;
  /** The location the backup was read from (Cairn: standalone mode names it). */
  storageLocation?: string;
  includedNamespaces?: string[];
  excludedNamespaces?: string[];
  includedResources?: string[];
  excludedResources?: string[];
  /** Unset: auto (cluster-scoped objects related to the restored ones, or all for a whole-backup restore). */
  includeClusterResources?: boolean;
  labelSelector?: string;
  orLabelSelectors?: string[];
  /** Source namespace → target namespace. */
  namespaceMapping?: Record<string, string>;
  /** Cairn: old StorageClass → new StorageClass, for PVs, PVCs and StatefulSet claim templates. */
  storageClassMapping?: Record<string, string>;
  /** Resources whose backed-up status is restored (Velero's restoreStatus). */
  restoreStatus?: { includedResources?: string[]; excludedResources?: string[] };
  preserveNodePorts?: boolean;
  /** Velero's field: `update` is update-on-conflict. Cairn reads it when namespacedConflictPolicy is unset. */
  existingResourcePolicy?: 'none' | 'update';
  namespacedConflictPolicy?: NamespacedConflictPolicy;
  clusterConflictPolicy?: ClusterConflictPolicy;
  /** Cairn: only these cluster-scoped kinds (kind.group, or resource names) are restored. */
  clusterResourceScope?: string[];
  /** Cairn: transformation rules, in Velero's resource-modifier format, inline. */
  transformRules?: string;
  /** Velero's resourceModifier: a ConfigMap holding transformation rules. */
  resourceModifier?: { kind: 'ConfigMap'; name: string; namespace?: string };
  /** Cairn: the restore order, overriding the default priorities ("-" separates the high and low lists). */
  resourcePriorities?: string[];
  /** Cairn: compute the plan against the live cluster and change nothing. */
  dryRun?: boolean;
}

/** How many items ended in each way. */
export interface RestoreCounts {
  created: number;
  updated: number;
  unchanged: number;
  skipped: number;
  failed: number;
}

export interface RestoreStatus {
  phase?: RestorePhase;
  validationErrors?: string[];
  failureReason?: string;
  startTimestamp?: string;
  completionTimestamp?: string;
  progress?: { totalItems?: number; itemsRestored?: number };
  errors?: number;
  warnings?: number;
  /** Cairn: the outcome of every item, counted. */
  counts?: RestoreCounts;
}

export interface Restore {
  apiVersion: string;
  kind: 'Restore';
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    creationTimestamp?: string;
  };
  spec: RestoreSpec;
  status?: RestoreStatus;
}

/** Velero's default name: `<backup>-<YYYYMMDDhhmmss>` (UTC). */
export function defaultRestoreName(backupName: string, now: Date): string {
  const stamp = now.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  return `${backupName}-${stamp}`;
}
