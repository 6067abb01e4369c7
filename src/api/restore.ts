// The Restore kind (cairn.dev/v1). Field names follow Velero's velero.io/v1 RestoreSpec where the meaning is
// the same; the conflict policies follow Backup for GKE's RestorePlan; additions carry their own names.
// One schema per spec and status gives the types, the validation and the CRD (docs/api.md).
import { Type, type Static } from '@sinclair/typebox';
import { DnsSubdomain, GoDuration, ObjectMetaSchema, StringEnum, StringMap, Timestamp } from './schema.ts';

export const RESTORE_PHASES = [
  'New',
  'FailedValidation',
  'InProgress',
  'Completed',
  'PartiallyFailed',
  'Failed',
] as const;
export const RestorePhaseSchema = StringEnum(RESTORE_PHASES, {
  description:
    'New → InProgress → Completed, PartiallyFailed or Failed; FailedValidation when the spec is bad.',
});
/** New → InProgress → Completed | PartiallyFailed | Failed; FailedValidation when the spec is bad. */
export type RestorePhase = Static<typeof RestorePhaseSchema>;

/**
 * What happens to a namespaced object that already exists in the target cluster:
 * - fail-on-conflict: the item is an error when the live object differs from the backup;
 * - skip-on-conflict: the live object is kept, with a warning when it differs (Velero's default);
 * - update-on-conflict: the live object is replaced by the backup's (Velero's existingResourcePolicy=update);
 * - delete-and-restore: the target namespaces are deleted first, then restored from the backup.
 */
export const NAMESPACED_CONFLICT_POLICIES = [
  'fail-on-conflict',
  'skip-on-conflict',
  'update-on-conflict',
  'delete-and-restore',
] as const;
export const NamespacedConflictPolicySchema = StringEnum(NAMESPACED_CONFLICT_POLICIES, {
  description:
    'What happens to a namespaced object that already exists: fail-on-conflict (an error when it differs), ' +
    "skip-on-conflict (kept, a warning when it differs), update-on-conflict (replaced by the backup's), " +
    'delete-and-restore (the target namespaces are deleted first). Unset: update-on-conflict when ' +
    'existingResourcePolicy is update, else skip-on-conflict.',
});
export type NamespacedConflictPolicy = Static<typeof NamespacedConflictPolicySchema>;
export const DEFAULT_NAMESPACED_CONFLICT_POLICY: NamespacedConflictPolicy = 'skip-on-conflict';

/** What happens to a cluster-scoped object that already exists: keep it, or replace it by the backup's. */
export const CLUSTER_CONFLICT_POLICIES = ['use-existing-version', 'use-backup-version'] as const;
export type ClusterConflictPolicy = (typeof CLUSTER_CONFLICT_POLICIES)[number];
export const DEFAULT_CLUSTER_CONFLICT_POLICY: ClusterConflictPolicy = 'use-existing-version';

const names = (description: string) => Type.Array(Type.String(), { description });

const RestoreExecHookSchema = Type.Object(
  {
    container: Type.Optional(
      Type.String({ description: "The container it runs in. Unset: the pod's first container." }),
    ),
    command: Type.Array(Type.String(), {
      minItems: 1,
      description: 'The command and its arguments, run without a shell.',
    }),
    onError: Type.Optional(
      StringEnum(['Continue', 'Fail'] as const, {
        default: 'Continue',
        description:
          'Continue: a failure is a warning. Fail: an error (the restore is PartiallyFailed) and no further ' +
          'restore hook starts, in any pod. Unset: Continue.',
      }),
    ),
    execTimeout: Type.Optional(
      GoDuration({ default: '30s', description: 'How long the command may run once started. Unset: 30s.' }),
    ),
    waitTimeout: Type.Optional(
      GoDuration({
        description:
          'How long to wait, from the start of the wait, for the container to run (or be ready, with ' +
          'waitForReady). Unset: no limit while the pod can still start.',
      }),
    ),
    waitForReady: Type.Optional(
      Type.Boolean({ description: 'Wait for the container to be ready, not only running. Unset: false.' }),
    ),
  },
  { additionalProperties: false, description: 'A command run in a restored container through pods/exec.' },
);

const RestoreInitHookSchema = Type.Object(
  {
    initContainers: Type.Array(Type.Record(Type.String(), Type.Unknown()), {
      minItems: 1,
      description:
        "Containers as in a pod's spec (name and image at least), added before the pod's own init containers.",
    }),
    timeout: Type.Optional(
      GoDuration({
        default: '10m',
        description:
          'How long Cairn waits for these containers to end, to record their outcome. Unset: 10m. ' +
          'The pod goes on whatever Cairn records.',
      }),
    ),
  },
  { additionalProperties: false },
);

const RestoreResourceHookSchema = Type.Object(
  {
    name: Type.String({ minLength: 1, description: 'The hook set’s name, for messages.' }),
    includedNamespaces: Type.Optional(
      names('Pods in these namespaces, as backed up (glob patterns allowed). Unset: all.'),
    ),
    excludedNamespaces: Type.Optional(names('Not pods in these namespaces (as backed up; glob patterns).')),
    includedResources: Type.Optional(
      names('Velero\'s: hooks run in pods only, so this must include "pods" (or "*") when set.'),
    ),
    excludedResources: Type.Optional(names('Velero\'s: "pods" here turns the hook set off.')),
    labelSelector: Type.Optional(
      Type.String({ description: 'Only pods with matching labels (as backed up), in text form ("app=db").' }),
    ),
    postHooks: Type.Optional(
      Type.Array(
        Type.Object(
          { exec: Type.Optional(RestoreExecHookSchema), init: Type.Optional(RestoreInitHookSchema) },
          { additionalProperties: false, description: 'One of exec and init.' },
        ),
        { description: 'In order: init hooks add init containers; exec hooks run once the pod runs.' },
      ),
    ),
  },
  { additionalProperties: false },
);
export type RestoreResourceHook = Static<typeof RestoreResourceHookSchema>;

export const RestoreSpecSchema = Type.Object(
  {
    backupName: Type.Optional(
      DnsSubdomain({ description: 'The backup to restore (exactly one of backupName and scheduleName).' }),
    ),
    scheduleName: Type.Optional(
      DnsSubdomain({ description: 'Restore the newest Completed backup of this schedule.' }),
    ),
    storageLocation: Type.Optional(
      DnsSubdomain({ description: 'Cairn: the BackupLocation the backup is read from. Unset: where it is.' }),
    ),
    includedNamespaces: Type.Optional(
      names('Namespaces to restore (as backed up); glob patterns allowed. Unset or "*": all.'),
    ),
    excludedNamespaces: Type.Optional(names('Namespaces not restored; glob patterns allowed.')),
    includedResources: Type.Optional(
      names('Resources to restore, as resource.group or a kind. Unset or "*": all that can be.'),
    ),
    excludedResources: Type.Optional(names('Resources not restored.')),
    includeClusterResources: Type.Optional(
      Type.Boolean({
        description:
          'true: every cluster-scoped object of the backup; false: none. Unset: auto (those related to ' +
          'the restored objects, or all of them for a whole-backup restore).',
      }),
    ),
    labelSelector: Type.Optional(
      Type.String({
        description: 'Only objects whose labels (as backed up) match, in text form ("app=web").',
      }),
    ),
    orLabelSelectors: Type.Optional(
      names('Objects matching any of these selectors (text form). Cannot be used with labelSelector.'),
    ),
    namespaceMapping: Type.Optional(StringMap({ description: 'Source namespace → target namespace.' })),
    storageClassMapping: Type.Optional(
      StringMap({
        description:
          'Cairn: old StorageClass → new StorageClass, for PVs, PVCs and StatefulSet claim templates.',
      }),
    ),
    restoreStatus: Type.Optional(
      Type.Object(
        {
          includedResources: Type.Optional(names('Resources whose status is restored; "*": all.')),
          excludedResources: Type.Optional(names('Resources whose status is not restored.')),
        },
        {
          additionalProperties: false,
          description: "Resources whose backed-up status is restored (Velero's restoreStatus). Unset: none.",
        },
      ),
    ),
    preserveNodePorts: Type.Optional(
      Type.Boolean({
        description: 'Keep every Service node port as backed up. Unset: only those set explicitly are kept.',
      }),
    ),
    existingResourcePolicy: Type.Optional(
      StringEnum(['none', 'update'] as const, {
        description:
          "Velero's field: update is update-on-conflict. Read when namespacedConflictPolicy is unset.",
      }),
    ),
    namespacedConflictPolicy: Type.Optional(NamespacedConflictPolicySchema),
    clusterConflictPolicy: Type.Optional(
      StringEnum(CLUSTER_CONFLICT_POLICIES, {
        default: DEFAULT_CLUSTER_CONFLICT_POLICY,
        description:
          'What happens to a cluster-scoped object that already exists: use-existing-version keeps it, ' +
          "use-backup-version replaces it by the backup's.",
      }),
    ),
    clusterResourceScope: Type.Optional(
      names(
        'Cairn: only these cluster-scoped kinds (kind.group, or resource names) are restored, and of them ' +
          "only the objects related to the restored ones (a custom object's definition, a claim's volume and " +
          "storage class, a RoleBinding's ClusterRole), unless includeClusterResources is true or " +
          'includedResources names the kind.',
      ),
    ),
    transformRules: Type.Optional(
      Type.String({
        description: "Cairn: transformation rules, in Velero's resource-modifier format (YAML), inline.",
      }),
    ),
    resourceModifier: Type.Optional(
      Type.Object(
        {
          kind: StringEnum(['ConfigMap'] as const),
          name: DnsSubdomain(),
          namespace: Type.Optional(Type.String({ description: "Default: the Restore's namespace." })),
        },
        {
          additionalProperties: false,
          description: "Velero's resourceModifier: a ConfigMap holding transformation rules.",
        },
      ),
    ),
    resourcePriorities: Type.Optional(
      names(
        'Cairn: the restore order, overriding the default priorities ("-" separates the high and low lists).',
      ),
    ),
    dryRun: Type.Optional(
      Type.Boolean({ description: 'Cairn: compute the plan against the live cluster and change nothing.' }),
    ),
    hooks: Type.Optional(
      Type.Object(
        {
          resources: Type.Optional(
            Type.Array(RestoreResourceHookSchema, {
              description:
                'Hook sets, in order: each adds its init containers to, and runs its exec hooks in, the ' +
                'restored pods it selects. A pod annotated with a restore hook of a kind runs that one ' +
                'instead of these (as Velero does).',
            }),
          ),
        },
        {
          additionalProperties: false,
          description: 'Restore hooks run in the restored pods (docs/hooks.md).',
        },
      ),
    ),
  },
  { additionalProperties: false, description: 'What to restore, from which backup, and how.' },
);
export type RestoreSpec = Static<typeof RestoreSpecSchema>;

const count = (description: string) => Type.Integer({ minimum: 0, description });

export const RestoreCountsSchema = Type.Object(
  {
    created: count('Items created.'),
    updated: count("Items that existed and were replaced by the backup's."),
    recreated: Type.Optional(
      count(
        "Items that existed with fields the API cannot change, deleted and created again as the backup's.",
      ),
    ),
    unchanged: count('Items that existed as backed up.'),
    skipped: count('Items not restored (a conflict kept the live object, or the item cannot be restored).'),
    failed: count('Items that could not be restored.'),
  },
  { additionalProperties: false, description: 'Cairn: the outcome of every item, counted.' },
);
/** How many items ended in each way. */
export type RestoreCounts = Static<typeof RestoreCountsSchema>;

export const RestoreStatusSchema = Type.Object(
  {
    phase: Type.Optional(RestorePhaseSchema),
    validationErrors: Type.Optional(
      Type.Array(Type.String(), { description: 'Why the spec is invalid (phase FailedValidation).' }),
    ),
    failureReason: Type.Optional(Type.String({ description: 'Why the restore failed (phase Failed).' })),
    startTimestamp: Type.Optional(Timestamp({ description: 'When the restore started.' })),
    completionTimestamp: Type.Optional(Timestamp({ description: 'When the restore ended.' })),
    progress: Type.Optional(
      Type.Object(
        {
          totalItems: Type.Optional(count('Items to restore.')),
          itemsRestored: Type.Optional(count('Items restored so far.')),
        },
        { additionalProperties: false },
      ),
    ),
    errors: Type.Optional(count('Errors met (the results file lists them).')),
    warnings: Type.Optional(count('Warnings met (the results file lists them).')),
    counts: Type.Optional(RestoreCountsSchema),
    podVolumeRestores: Type.Optional(
      Type.Object(
        {
          attempted: count('Pod volumes whose files were restored, or tried.'),
          completed: count('Of those, the ones restored.'),
          failed: count('Of those, the ones that failed (the restore is PartiallyFailed).'),
          notRestored: count(
            'Pod volumes the backup holds files of that were not restored (no node agent, a dry run, or a pod not created).',
          ),
        },
        {
          additionalProperties: false,
          description: 'Cairn: the files of pod volumes (see docs/volumes.md).',
        },
      ),
    ),
    hookStatus: Type.Optional(
      Type.Object(
        {
          hooksAttempted: count('Restore hooks run, or waited for (init containers).'),
          hooksFailed: count('Of those, the ones that failed; each is in the results.'),
        },
        {
          additionalProperties: false,
          description:
            "Velero's: the restore hooks of the restored pods (restore-<name>-hooks.json.gz has each one's outcome).",
        },
      ),
    ),
  },
  { additionalProperties: false, description: 'What happened to the restore.' },
);
export type RestoreStatus = Static<typeof RestoreStatusSchema>;

export const RestoreSchema = Type.Object({
  apiVersion: Type.String(),
  kind: Type.Literal('Restore'),
  metadata: ObjectMetaSchema,
  spec: RestoreSpecSchema,
  status: Type.Optional(RestoreStatusSchema),
});
export type Restore = Static<typeof RestoreSchema>;

/** Velero's default name: `<backup>-<YYYYMMDDhhmmss>` (UTC). */
export function defaultRestoreName(backupName: string, now: Date): string {
  const stamp = now.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  return `${backupName}-${stamp}`;
}
