// The restore engine's input and outcome (engine.ts): plain values in, every per-item outcome out as data.
import type {
  ClusterConflictPolicy,
  NamespacedConflictPolicy,
  Results,
  RestoreCounts,
} from '../api/index.ts';
import type { KubeClient, KubeObject, ResourceMapper } from '../kube/index.ts';
import type { CsiSnapshotRecord } from '../volumes/index.ts';
import type { BackupContents } from './contents.ts';
import type { DiffEntry } from './diff.ts';
import type { PodRestoreHooks } from './hooks.ts';
import type { RestorePermissions } from './permissions.ts';
import type { Priorities } from './order.ts';
import type { TransformRule } from './rules.ts';
import type { RestoreSelection } from './selection.ts';
import type { TransformOptions } from './transform.ts';

/** What happened to an item (in a dry run: what would happen). */
export type ItemOutcome =
  | 'created'
  | 'updated'
  /** Deleted and created again: fields the API will not change in place differed (decide.ts). */
  | 'recreated'
  | 'unchanged'
  | 'skipped'
  | 'failed'
  | 'deleted';

export interface PlanEntry {
  outcome: ItemOutcome;
  groupResource: string;
  /** The target namespace. */
  namespace?: string;
  name: string;
  reason?: string;
  /** Where the live object differs from the backup's (conflicts, updates). */
  diff?: DiffEntry[];
}

export interface RestoreProgress {
  itemsRestored: number;
  totalItems: number;
  currentResource?: string;
}

export interface RestoreLogEntry {
  level: 'info' | 'warning' | 'error';
  message: string;
  namespace?: string;
}

export interface RestoreEngineInput {
  client: KubeClient;
  /** Discovery of the target cluster; refreshed (through `rediscover`) after definitions are restored. */
  mapper: ResourceMapper;
  rediscover: () => Promise<ResourceMapper>;
  contents: BackupContents;
  selection: RestoreSelection;
  transform: TransformOptions;
  rules: readonly TransformRule[];
  namespacedPolicy: NamespacedConflictPolicy;
  clusterPolicy: ClusterConflictPolicy;
  priorities: Priorities;
  dryRun: boolean;
  /**
   * Items applied at once, in total: one resource's, or those of resources restored side by side (the
   * resources of one stage, order.ts's restoreStages).
   */
  concurrency: number;
  onProgress?: ((progress: RestoreProgress) => void) | undefined;
  log?: ((entry: RestoreLogEntry) => void) | undefined;
  signal?: AbortSignal | undefined;
  /** How every wait of the restore waits. Default: the machine's timers (ends early on an abort). */
  sleep?: ((ms: number) => Promise<void>) | undefined;
  /** The clock deadlines are measured on, in milliseconds. Default: the machine's. */
  now?: (() => number) | undefined;
  /**
   * Pods whose volumes' files are restored from the backup: such a pod is restored even when its
   * controller is (the restored controller adopts it), wrapped (the restore-wait init container) so that
   * it starts once its volumes are filled. Keyed by the pod's namespace and name in the backup.
   */
  podVolumes?:
    | {
        volumesOf: (sourceNamespace: string, pod: string) => readonly string[];
        wrap: (pod: KubeObject, volumes: readonly string[]) => KubeObject;
      }
    | undefined;
  /**
   * The restore hooks of a pod, as backed up in its backed-up namespace (none: undefined). A pod with
   * hooks is restored even when its controller is (so that its hooks run), with its init hooks added.
   */
  podHooks?: ((pod: KubeObject, sourceNamespace: string) => PodRestoreHooks | undefined) | undefined;
  /**
   * The backed-up PersistentVolumes whose data was moved into the repository (snapshotMoveData): not
   * restored, whatever their reclaim policy; their claims are provisioned anew and filled from the
   * repository through the pods that mount them.
   */
  movedVolumes?: ReadonlySet<string> | undefined;
  /**
   * Claims restored from their CSI snapshots: the record of a claim (by its backed-up namespace and
   * name), and making the VolumeSnapshot it is restored from in the target namespace (not in a dry run).
   * Their backed-up volumes are not restored: the claim gets a new one, made from the snapshot.
   */
  claimSnapshots?:
    | {
        of: (sourceNamespace: string, claim: string) => CsiSnapshotRecord | undefined;
        volumes: ReadonlySet<string>;
        prepare: (record: CsiSnapshotRecord, namespace: string, claim: string) => Promise<string>;
      }
    | undefined;
  /**
   * How long a restored definition may take to be Established, a deleted namespace to go, and an object
   * deleted to be created again (decide.ts) to go.
   */
  timeoutsMs?:
    { definitionEstablished?: number; namespaceDeleted?: number; objectDeleted?: number } | undefined;
  /**
   * Server mode: the Restore's creator, and whether they may write what the restore is about to write
   * (permissions.ts). Absent: everything the client may write is written (standalone mode, where the
   * client is the user's own).
   */
  permissions?: RestorePermissions | undefined;
}

export interface RestoreOutcome {
  /** Failed: the restore stopped part way (the cluster became unreachable, an abort); see failureReason. */
  phase: 'Completed' | 'PartiallyFailed' | 'Failed';
  failureReason?: string;
  results: Results;
  /** Velero's restore resource list: {"apps/v1/Deployment": ["shop/web(created)"]}. */
  resourceList: Record<string, string[]>;
  counts: RestoreCounts;
  /**
   * Every item's outcome, in restore order: namespaces deleted first (delete-and-restore), then resource
   * by resource in restore order, each resource's items in the backup's order, whatever order they were
   * applied in.
   */
  plan: PlanEntry[];
  progress: { itemsRestored: number; totalItems: number };
  /** Pods created (or recreated) waiting for their volumes' files: where, and where they were backed up. */
  podsWithVolumes: { namespace: string; name: string; sourceNamespace: string; volumes: readonly string[] }[];
  /** Pods created (or recreated) that have restore hooks, and their hooks. */
  podsWithHooks: { namespace: string; name: string; hooks: PodRestoreHooks }[];
}
