// The DeleteBackupRequest kind (cairn.dev/v1), as Velero's: a request to delete one backup, with its files
// in every location, which the server carries out (refusing while a delete lock holds). `cairn backup
// delete`, the TTL and the retention policy all delete through it, so deletion is one code path.
import { Type, type Static } from '@sinclair/typebox';
import { DnsSubdomain, ObjectMetaSchema, StringEnum } from './schema.ts';

export const DeleteBackupRequestSpecSchema = Type.Object(
  {
    backupName: DnsSubdomain({ description: 'The Backup to delete.' }),
  },
  { additionalProperties: false, description: 'Which backup to delete.' },
);
export type DeleteBackupRequestSpec = Static<typeof DeleteBackupRequestSpecSchema>;

export const DELETE_BACKUP_REQUEST_PHASES = ['New', 'InProgress', 'Processed'] as const;
export type DeleteBackupRequestPhase = (typeof DELETE_BACKUP_REQUEST_PHASES)[number];

export const DeleteBackupRequestStatusSchema = Type.Object(
  {
    phase: Type.Optional(
      StringEnum(DELETE_BACKUP_REQUEST_PHASES, {
        description: 'New → InProgress → Processed (whether or not the deletion succeeded: see errors).',
      }),
    ),
    errors: Type.Optional(
      Type.Array(Type.String(), {
        description:
          'Why the backup, or some of its files, could not be deleted (a delete lock, a store error).',
      }),
    ),
  },
  { additionalProperties: false, description: 'What happened to the request.' },
);
export type DeleteBackupRequestStatus = Static<typeof DeleteBackupRequestStatusSchema>;

export const DeleteBackupRequestSchema = Type.Object({
  apiVersion: Type.String(),
  kind: Type.Literal('DeleteBackupRequest'),
  metadata: ObjectMetaSchema,
  spec: DeleteBackupRequestSpecSchema,
  status: Type.Optional(DeleteBackupRequestStatusSchema),
});
export type DeleteBackupRequest = Static<typeof DeleteBackupRequestSchema>;
