// The PodVolumeBackup and PodVolumeRestore kinds (cairn.dev/v1), as Velero's: one resource per pod volume
// whose files are backed up into (or restored from) the location's volume-data repository. The backup or
// restore creates them; the node agent on the pod's node carries them out and writes their status.
import { Type, type Static } from '@sinclair/typebox';
import { DnsSubdomain, ObjectMetaSchema, StringEnum, StringMap, Timestamp } from './schema.ts';
import { LABELS } from './vocabulary.ts';

/** The labels a pod volume resource carries, so a backup's or restore's are listed together. */
export const POD_VOLUME_LABELS = {
  backupName: LABELS.backupName,
  backupUid: LABELS.backupUid,
  restoreName: LABELS.restoreName,
  restoreUid: LABELS.restoreUid,
  podUid: 'cairn.dev/pod-uid',
} as const;

const PodRefSchema = Type.Object(
  {
    namespace: Type.String({ description: "The pod's namespace." }),
    name: Type.String({ description: "The pod's name." }),
    uid: Type.String({ description: "The pod's uid: its volumes are under <kubelet root>/pods/<uid>/." }),
  },
  { additionalProperties: false, description: 'The pod whose volume this is.' },
);

export const POD_VOLUME_PHASES = ['New', 'InProgress', 'Completed', 'Failed', 'Skipped'] as const;
export type PodVolumePhase = (typeof POD_VOLUME_PHASES)[number];

const Phase = StringEnum(POD_VOLUME_PHASES, {
  description:
    'New → InProgress (the node agent took it) → Completed or Failed (see message). Skipped: a volume the ' +
    "backup left out, with the reason in message (only in the backup's record of its volumes, never a resource).",
});

const ProgressSchema = Type.Object(
  {
    totalBytes: Type.Optional(Type.Integer({ description: 'Bytes to read (backup) or write (restore).' })),
    bytesDone: Type.Optional(Type.Integer({ description: 'Bytes read or written so far.' })),
    totalFiles: Type.Optional(Type.Integer({ description: 'Files to process.' })),
    filesDone: Type.Optional(Type.Integer({ description: 'Files processed so far.' })),
  },
  { additionalProperties: false, description: 'How far it has come; updated while it runs.' },
);

export const PodVolumeBackupSpecSchema = Type.Object(
  {
    backupName: DnsSubdomain({ description: 'The Backup this volume belongs to.' }),
    node: Type.String({ description: "The pod's node: the node agent there carries this out." }),
    pod: PodRefSchema,
    volume: Type.String({ description: 'The volume, by its name in the pod spec.' }),
    volumeDir: Type.String({
      description:
        'Where the kubelet mounts it, under <kubelet root>/pods/<pod uid>/volumes/<plugin>/: the volume ' +
        "name, or the PersistentVolume's name for a claim (with /mount for a CSI volume).",
    }),
    persistentVolumeClaim: Type.Optional(
      Type.String({ description: 'The claim the volume mounts, when it mounts one.' }),
    ),
    location: DnsSubdomain({ description: 'The BackupLocation whose repository receives the data.' }),
    repository: Type.String({
      description: "The repository, by namespace: <prefix>/restic/<namespace>/ of the location's bucket.",
    }),
    tags: Type.Optional(StringMap({ description: "Tags written into the repository's snapshot." })),
    movedFrom: Type.Optional(
      Type.String({
        description:
          "Cairn: the claim's data was read from this CSI snapshot (its handle), through a temporary claim " +
          'made from it (snapshotMoveData), not from the pod named here, which mounts the claim.',
      }),
    ),
  },
  { additionalProperties: false, description: 'Which pod volume to back up, and where to.' },
);
export type PodVolumeBackupSpec = Static<typeof PodVolumeBackupSpecSchema>;

export const PodVolumeBackupStatusSchema = Type.Object(
  {
    phase: Type.Optional(Phase),
    message: Type.Optional(Type.String({ description: 'Why it failed, or what it is doing.' })),
    path: Type.Optional(Type.String({ description: 'The directory the node agent read, on the node.' })),
    snapshotID: Type.Optional(Type.String({ description: "The repository snapshot's id (hex)." })),
    parentSnapshotID: Type.Optional(
      Type.String({ description: 'The earlier snapshot of the same volume it was made against.' }),
    ),
    startTimestamp: Type.Optional(Timestamp({ description: 'When the node agent started.' })),
    completionTimestamp: Type.Optional(Timestamp({ description: 'When it ended.' })),
    progress: Type.Optional(ProgressSchema),
    files: Type.Optional(Type.Integer({ description: 'Files in the volume.' })),
    bytes: Type.Optional(Type.Integer({ description: "Bytes in the volume's files." })),
    bytesUploaded: Type.Optional(
      Type.Integer({ description: 'Bytes stored anew (after deduplication and compression).' }),
    ),
    node: Type.Optional(Type.String({ description: 'The node agent that took it.' })),
  },
  { additionalProperties: false, description: 'What happened to the volume backup.' },
);
export type PodVolumeBackupStatus = Static<typeof PodVolumeBackupStatusSchema>;

export const PodVolumeBackupSchema = Type.Object({
  apiVersion: Type.String(),
  kind: Type.Literal('PodVolumeBackup'),
  metadata: ObjectMetaSchema,
  spec: PodVolumeBackupSpecSchema,
  status: Type.Optional(PodVolumeBackupStatusSchema),
});
export type PodVolumeBackup = Static<typeof PodVolumeBackupSchema>;

export const PodVolumeRestoreSpecSchema = Type.Object(
  {
    restoreName: DnsSubdomain({ description: 'The Restore this volume belongs to.' }),
    backupName: DnsSubdomain({ description: 'The Backup the data comes from.' }),
    pod: PodRefSchema,
    volume: Type.String({ description: 'The volume, by its name in the pod spec.' }),
    location: DnsSubdomain({ description: 'The BackupLocation whose repository holds the data.' }),
    repository: Type.String({ description: 'The repository, by the namespace the data was backed up from.' }),
    snapshotID: Type.String({ description: 'The repository snapshot to restore.' }),
  },
  { additionalProperties: false, description: 'Which snapshot to restore into which pod volume.' },
);
export type PodVolumeRestoreSpec = Static<typeof PodVolumeRestoreSpecSchema>;

export const PodVolumeRestoreStatusSchema = Type.Object(
  {
    phase: Type.Optional(Phase),
    message: Type.Optional(Type.String({ description: 'Why it failed, or what it is doing.' })),
    node: Type.Optional(Type.String({ description: 'The node agent that took it (the pod’s node).' })),
    path: Type.Optional(Type.String({ description: 'The directory written, on the node.' })),
    startTimestamp: Type.Optional(Timestamp({ description: 'When the node agent started.' })),
    completionTimestamp: Type.Optional(Timestamp({ description: 'When it ended.' })),
    progress: Type.Optional(ProgressSchema),
  },
  { additionalProperties: false, description: 'What happened to the volume restore.' },
);
export type PodVolumeRestoreStatus = Static<typeof PodVolumeRestoreStatusSchema>;

export const PodVolumeRestoreSchema = Type.Object({
  apiVersion: Type.String(),
  kind: Type.Literal('PodVolumeRestore'),
  metadata: ObjectMetaSchema,
  spec: PodVolumeRestoreSpecSchema,
  status: Type.Optional(PodVolumeRestoreStatusSchema),
});
export type PodVolumeRestore = Static<typeof PodVolumeRestoreSchema>;
