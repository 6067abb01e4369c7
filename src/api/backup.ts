// The Backup kind (cairn.dev/v1). Field names follow Velero's velero.io/v1 where the meaning is the same,
// so a Velero manifest converts by changing its apiVersion; additions carry their own names.
//
// One schema per spec and status gives the TypeScript types (Static<>), the runtime validation
// (validate.ts) and the CRD's OpenAPI schema (crds.ts). docs/api.md describes every field.
import { Type, type Static } from '@sinclair/typebox';
import { DnsSubdomain, GoDuration, ObjectMetaSchema, StringEnum, StringMap, Timestamp } from './schema.ts';
import { ResourcePolicyRefSchema, VolumePolicySchema } from './volume-policy.ts';

export const API_GROUP = 'cairn.dev';
export const API_VERSION = 'v1';
export const CAIRN_API_VERSION = `${API_GROUP}/${API_VERSION}`;
export const VELERO_API_VERSION = 'velero.io/v1';

/** Velero's default TTL: 30 days. */
export const DEFAULT_BACKUP_TTL = '720h0m0s';
export const ARCHIVE_FORMAT = '1.1.0';

export const BACKUP_PHASES = [
  'New',
  'FailedValidation',
  'InProgress',
  'Completed',
  'PartiallyFailed',
  'Failed',
  'Deleting',
] as const;
export const BackupPhaseSchema = StringEnum(BACKUP_PHASES, {
  description:
    'New → InProgress → Completed, PartiallyFailed or Failed; FailedValidation when the spec is bad; ' +
    'Deleting while a DeleteBackupRequest removes it.',
});
export type BackupPhase = Static<typeof BackupPhaseSchema>;

export const CONSISTENCY_MODES = ['snapshot', 'best-effort'] as const;
const consistencyText =
  'snapshot: every object is read at one storage revision of the API server (a point in time); ' +
  'best-effort: each resource is listed at its latest, as Velero does.';
export const ConsistencyModeSchema = StringEnum(CONSISTENCY_MODES, { description: consistencyText });
export type ConsistencyMode = Static<typeof ConsistencyModeSchema>;

const names = (description: string) => Type.Array(Type.String(), { description });

const ExecHookSchema = Type.Object(
  {
    exec: Type.Object(
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
            default: 'Fail',
            description:
              "Fail: an error; after a pre hook the pod's volumes are not backed up. Continue: a warning.",
          }),
        ),
        timeout: Type.Optional(
          GoDuration({ default: '30s', description: 'How long it may run ("30s", "2m"). Unset: 30s.' }),
        ),
      },
      { additionalProperties: false, description: 'A command run in a container through pods/exec.' },
    ),
  },
  { additionalProperties: false },
);

const BackupResourceHookSchema = Type.Object(
  {
    name: Type.String({ minLength: 1, description: 'The hook set’s name, for messages.' }),
    includedNamespaces: Type.Optional(names('Pods in these namespaces (glob patterns allowed). Unset: all.')),
    excludedNamespaces: Type.Optional(names('Not pods in these namespaces (glob patterns allowed).')),
    includedResources: Type.Optional(
      names('Velero\'s: hooks run in pods only, so this must include "pods" (or "*") when set.'),
    ),
    excludedResources: Type.Optional(names('Velero\'s: "pods" here turns the hook set off.')),
    labelSelector: Type.Optional(
      Type.String({ description: 'Only pods with matching labels, in text form ("app=db").' }),
    ),
    pre: Type.Optional(Type.Array(ExecHookSchema, { description: "Run before the pod's volumes are read." })),
    post: Type.Optional(
      Type.Array(ExecHookSchema, { description: "Run after the pod's volumes are read, whatever happened." }),
    ),
  },
  { additionalProperties: false },
);
export type BackupResourceHook = Static<typeof BackupResourceHookSchema>;

export const BackupSpecSchema = Type.Object(
  {
    metadata: Type.Optional(
      Type.Object(
        { labels: Type.Optional(StringMap({ description: 'Labels given to the Backup.' })) },
        {
          additionalProperties: false,
          description: "Velero's: in a Schedule's template, the labels every Backup of the schedule gets.",
        },
      ),
    ),
    includedNamespaces: Type.Optional(
      names('Namespaces to back up; glob patterns allowed ("app-*"). Unset or "*": every namespace.'),
    ),
    excludedNamespaces: Type.Optional(names('Namespaces not backed up; glob patterns allowed.')),
    includedResources: Type.Optional(
      names('Resources to back up, as resource.group ("deployments.apps") or a kind. Unset or "*": all.'),
    ),
    excludedResources: Type.Optional(names('Resources not backed up, as resource.group or a kind.')),
    includeClusterResources: Type.Optional(
      Type.Boolean({
        description:
          'true: every cluster-scoped object; false: none. Unset: auto (the cluster-scoped objects related ' +
          'to the selection, or all of them for a whole-cluster backup).',
      }),
    ),
    labelSelector: Type.Optional(
      Type.String({
        description:
          'Only objects with matching labels, in the API server\'s text form ("app=web,tier!=db"). ' +
          "Velero's field takes a LabelSelector object; Cairn takes its text.",
      }),
    ),
    orLabelSelectors: Type.Optional(
      names('Objects matching any of these selectors (text form). Cannot be used with labelSelector.'),
    ),
    includeSecrets: Type.Optional(
      Type.Boolean({
        default: true,
        description: "false excludes Secrets (Backup for GKE's includeSecrets).",
      }),
    ),
    ttl: Type.Optional(
      GoDuration({
        default: DEFAULT_BACKUP_TTL,
        description: 'How long the backup is kept, as a Go duration ("720h0m0s", 30 days).',
      }),
    ),
    storageLocation: Type.Optional(
      DnsSubdomain({
        description:
          'The BackupLocation written to (the first, with storageLocations). Unset: the default one.',
      }),
    ),
    storageLocations: Type.Optional(
      Type.Array(DnsSubdomain(), {
        description: 'Cairn: every BackupLocation the backup is written to, storageLocation first.',
      }),
    ),
    consistency: Type.Optional(
      StringEnum(CONSISTENCY_MODES, {
        default: 'snapshot',
        description: consistencyText,
      }),
    ),
    deleteLockDays: Type.Optional(
      Type.Integer({
        minimum: 0,
        description:
          'Cairn: the backup cannot be deleted (by its TTL, a retention policy or a DeleteBackupRequest) ' +
          'until this many days after it started.',
      }),
    ),
    defaultVolumesToFsBackup: Type.Optional(
      Type.Boolean({
        description:
          "true: back up the files of every pod volume that holds user data, except those a pod's " +
          'backup.cairn.dev/backup-volumes-excludes annotation names (opt-out). Unset or false: only the ' +
          "volumes a pod's backup.cairn.dev/backup-volumes annotation names (opt-in).",
      }),
    ),
    hooks: Type.Optional(
      Type.Object(
        {
          resources: Type.Optional(
            Type.Array(BackupResourceHookSchema, {
              description:
                'Hook sets, in order: each runs its pre and post hooks in the pods it selects. A pod whose ' +
                "annotations give a phase's hook runs that one instead of these (as Velero does).",
            }),
          ),
        },
        {
          additionalProperties: false,
          description: 'Backup hooks run in the backed-up pods (docs/hooks.md).',
        },
      ),
    ),
    fsBackupTimeout: Type.Optional(
      GoDuration({
        description:
          'Cairn: how long the backup waits for its pod volume backups (Velero: the server flag ' +
          '--fs-backup-timeout). Unset: 4h.',
      }),
    ),
    snapshotVolumes: Type.Optional(
      Type.Boolean({
        description:
          "Velero's: take a CSI VolumeSnapshot of each backed-up claim whose driver has a VolumeSnapshotClass " +
          'labelled cairn.dev/csi-volumesnapshot-class: "true" (or Velero\'s label), unless its files are ' +
          'backed up by file-system backup. Unset: false.',
      }),
    ),
    snapshotMoveData: Type.Optional(
      Type.Boolean({
        description:
          "Velero's: move each CSI snapshot's data into the location's volume-data repository (through a " +
          'temporary claim made from it, read by the node agent), then delete the snapshot. Unset: false.',
      }),
    ),
    csiSnapshotTimeout: Type.Optional(
      GoDuration({
        description: "Velero's: how long to wait for each VolumeSnapshot to be readyToUse. Unset: 10m.",
      }),
    ),
    csiSnapshotClasses: Type.Optional(
      StringMap({
        description:
          'Cairn: the VolumeSnapshotClass to use per CSI driver (driver: class), instead of the labelled one.',
      }),
    ),
    volumePolicy: Type.Optional(VolumePolicySchema),
    resourcePolicy: Type.Optional(ResourcePolicyRefSchema),
  },
  { additionalProperties: false, description: 'What to back up, where, and for how long.' },
);
export type BackupSpec = Static<typeof BackupSpecSchema>;

const messages = (description: string) => Type.Array(Type.String(), { description });

/** Velero's per-scope results: messages for Cairn itself, the cluster scope, and each namespace. */
export const ResultGroupSchema = Type.Object(
  {
    cairn: Type.Optional(messages('Messages about Cairn itself.')),
    cluster: Type.Optional(messages('Messages about cluster-scoped objects.')),
    namespaces: Type.Optional(
      Type.Record(Type.String(), Type.Array(Type.String()), { description: 'Messages by namespace.' }),
    ),
  },
  { additionalProperties: false },
);
export type ResultGroup = Static<typeof ResultGroupSchema>;

export const LocationResultSchema = Type.Object(
  {
    name: Type.String({ description: 'The BackupLocation.' }),
    phase: StringEnum(['Completed', 'Failed'] as const),
    message: Type.Optional(Type.String({ description: 'Why the backup failed in this location.' })),
    bytes: Type.Optional(
      Type.Integer({
        minimum: 0,
        description: 'Bytes stored: the archive, logs, results and resource list, as stored (encrypted).',
      }),
    ),
    archiveBytes: Type.Optional(
      Type.Integer({ minimum: 0, description: 'Cairn: bytes of the archive as stored (encrypted).' }),
    ),
  },
  { additionalProperties: false },
);
export type LocationResult = Static<typeof LocationResultSchema>;

const count = (description: string) => Type.Integer({ minimum: 0, description });

export const BackupStatusSchema = Type.Object(
  {
    version: Type.Optional(Type.Integer({ description: 'Velero compatibility: always 1.' })),
    formatVersion: Type.Optional(Type.String({ description: 'The archive format, "1.1.0".' })),
    phase: Type.Optional(BackupPhaseSchema),
    validationErrors: Type.Optional(messages('Why the spec is invalid (phase FailedValidation).')),
    failureReason: Type.Optional(Type.String({ description: 'Why the backup failed (phase Failed).' })),
    startTimestamp: Type.Optional(Timestamp({ description: 'When the backup started.' })),
    completionTimestamp: Type.Optional(Timestamp({ description: 'When the backup ended.' })),
    expiration: Type.Optional(Timestamp({ description: 'When the backup expires: startTimestamp + ttl.' })),
    progress: Type.Optional(
      Type.Object(
        {
          totalItems: Type.Optional(count('Items to back up, as far as known.')),
          itemsBackedUp: Type.Optional(count('Items backed up so far.')),
        },
        { additionalProperties: false },
      ),
    ),
    errors: Type.Optional(count('Errors met (the results file lists them).')),
    warnings: Type.Optional(count('Warnings met (the results file lists them).')),
    consistency: Type.Optional(
      Type.Object(
        {
          mode: ConsistencyModeSchema,
          revision: Type.Optional(
            Type.String({ description: 'The storage revision (resourceVersion) every object was read at.' }),
          ),
          bestEffortResources: Type.Optional(
            messages('Resources that could not be read at the revision, and were listed at their latest.'),
          ),
        },
        { additionalProperties: false, description: 'Cairn: the point in time the backup holds.' },
      ),
    ),
    encryption: Type.Optional(
      Type.Object(
        {
          algorithm: Type.String({ description: 'The cipher ("AES-256-GCM").' }),
          keyId: Type.String({ description: "The location key's id (never the key)." }),
        },
        {
          additionalProperties: false,
          description: 'Cairn: how the stored files are encrypted (absent when the location is plaintext).',
        },
      ),
    ),
    locations: Type.Optional(
      Type.Array(LocationResultSchema, { description: 'Cairn: the outcome in each location.' }),
    ),
    checksums: Type.Optional(
      Type.String({
        description:
          'Cairn: SHA-256 of the checksum manifest, which names the SHA-256 of every other stored file.',
      }),
    ),
    podVolumeBackups: Type.Optional(
      Type.Object(
        {
          attempted: count('Pod volumes whose files were backed up, or tried.'),
          completed: count('Of those, the ones backed up.'),
          failed: count('Of those, the ones that failed (the backup is PartiallyFailed).'),
          skipped: count('Pod volumes left out, each with its reason in <name>-podvolumebackups.json.gz.'),
          bytes: Type.Optional(count("Bytes in the backed-up volumes' files.")),
          bytesUploaded: Type.Optional(count('Bytes stored anew, after deduplication and compression.')),
        },
        {
          additionalProperties: false,
          description:
            'Cairn: the file-system backup of pod volumes (see `cairn backup describe --details`).',
        },
      ),
    ),
    csiVolumeSnapshotsAttempted: Type.Optional(
      count("Velero's: CSI VolumeSnapshots taken, or tried (<name>-csi-volumesnapshots.json.gz)."),
    ),
    csiVolumeSnapshotsCompleted: Type.Optional(
      count("Velero's: of those, the ones ready and kept (a failed one is an error of the backup)."),
    ),
    snapshotDataMoves: Type.Optional(
      Type.Object(
        {
          attempted: count('CSI snapshots whose data was to be moved (snapshotMoveData, snapshot+move).'),
          completed: count('Of those, moved into every location (then the snapshot is deleted).'),
          failed: count('Of those, not moved (the snapshot kept; an error of the backup).'),
          bytes: count('The bytes read from the moved snapshots, in every location.'),
          seconds: Type.Optional(
            Type.Number({ minimum: 0, description: 'The time the moves took, in seconds, all together.' }),
          ),
        },
        {
          additionalProperties: false,
          description: "Cairn: snapshot data moved into the locations' volume-data repositories.",
        },
      ),
    ),
    hookStatus: Type.Optional(
      Type.Object(
        {
          hooksAttempted: count('Backup hooks run (or tried).'),
          hooksFailed: count('Of those, the ones that failed; each is in the results.'),
        },
        {
          additionalProperties: false,
          description:
            "Velero's: the backup hooks run in the backup's pods (<name>-hooks.json.gz has each one's outcome).",
        },
      ),
    ),
  },
  { additionalProperties: false, description: 'What happened to the backup.' },
);
export type BackupStatus = Static<typeof BackupStatusSchema>;

export const BackupSchema = Type.Object({
  apiVersion: Type.String(),
  kind: Type.Literal('Backup'),
  metadata: ObjectMetaSchema,
  spec: BackupSpecSchema,
  status: Type.Optional(BackupStatusSchema),
});
export type Backup = Static<typeof BackupSchema>;

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
