// The DownloadRequest kind (cairn.dev/v1), as Velero's: a request for one file of a backup or a restore
// (its log, results, resource list, ...). The server answers with a short-lived URL of its own, which
// streams the file decrypted: the stored objects are encrypted, so a presigned store URL (Velero's answer)
// would hand out ciphertext. Whoever RBAC lets create DownloadRequests in the server's namespace may read
// these files, as in Velero; the URL itself is the grant, so any HTTP client can fetch it.
import { Type, type Static } from '@sinclair/typebox';
import { DnsSubdomain, ObjectMetaSchema, StringEnum, Timestamp } from './schema.ts';

/**
 * What can be downloaded: Velero's names where Velero has the file (BackupLog, BackupResults,
 * BackupResourceList, CSIBackupVolumeSnapshots, CSIBackupVolumeSnapshotContents, RestoreLog,
 * RestoreResults, RestoreResourceList), Cairn's for its own files.
 */
export const DOWNLOAD_TARGET_KINDS = [
  'BackupLog',
  'BackupResults',
  'BackupResourceList',
  'BackupHookResults',
  'BackupPodVolumeBackups',
  'BackupVolumeDecisions',
  'CSIBackupVolumeSnapshots',
  'CSIBackupVolumeSnapshotContents',
  'RestoreLog',
  'RestoreResults',
  'RestoreResourceList',
  'RestoreHookResults',
] as const;
export type DownloadTargetKind = (typeof DOWNLOAD_TARGET_KINDS)[number];

export const DownloadRequestSpecSchema = Type.Object(
  {
    target: Type.Object(
      {
        kind: StringEnum(DOWNLOAD_TARGET_KINDS, {
          description: 'The file: Backup… kinds are files of a Backup, Restore… kinds files of a Restore.',
        }),
        name: DnsSubdomain({ description: "The Backup or Restore (in the server's namespace)." }),
      },
      { additionalProperties: false, description: 'Which file of which backup or restore.' },
    ),
  },
  { additionalProperties: false, description: 'The file asked for.' },
);
export type DownloadRequestSpec = Static<typeof DownloadRequestSpecSchema>;

export const DOWNLOAD_REQUEST_PHASES = ['New', 'Processed', 'Failed'] as const;
export type DownloadRequestPhase = (typeof DOWNLOAD_REQUEST_PHASES)[number];

/** Why a request Failed, for programs (the message says it for people). */
export const DOWNLOAD_FAILURE_REASONS = ['TargetNotFound', 'FileNotFound', 'Unreadable'] as const;
export type DownloadFailureReason = (typeof DOWNLOAD_FAILURE_REASONS)[number];

export const DownloadRequestStatusSchema = Type.Object(
  {
    phase: Type.Optional(
      StringEnum(DOWNLOAD_REQUEST_PHASES, {
        description:
          'New → Processed (downloadURL is set) or Failed (reason and message say why: no such backup or restore, no such file).',
      }),
    ),
    downloadURL: Type.Optional(
      Type.String({
        description:
          'Where the file is served, decrypted (and decompressed): GET it, no credentials needed, until expiration.',
      }),
    ),
    expiration: Type.Optional(
      Timestamp({ description: 'When the URL stops working; the request is deleted then.' }),
    ),
    reason: Type.Optional(
      StringEnum(DOWNLOAD_FAILURE_REASONS, {
        description:
          'Failed: TargetNotFound (no such Backup or Restore), FileNotFound (it has no such file), Unreadable (its location cannot be read).',
      }),
    ),
    message: Type.Optional(Type.String({ description: 'Failed: why, naming the target and the file.' })),
  },
  { additionalProperties: false, description: 'The answer.' },
);
export type DownloadRequestStatus = Static<typeof DownloadRequestStatusSchema>;

export const DownloadRequestSchema = Type.Object({
  apiVersion: Type.String(),
  kind: Type.Literal('DownloadRequest'),
  metadata: ObjectMetaSchema,
  spec: DownloadRequestSpecSchema,
  status: Type.Optional(DownloadRequestStatusSchema),
});
export type DownloadRequest = Static<typeof DownloadRequestSchema>;
