// Every kind of cairn.dev/v1 in one table: its names, its spec and status schemas, and the columns
// `kubectl get` prints. The CRDs (crds.ts) and validation by kind come from it.
import type { Static, TSchema } from '@sinclair/typebox';
import { BackupSpecSchema, BackupStatusSchema } from './backup.ts';
import { DeleteBackupRequestSpecSchema, DeleteBackupRequestStatusSchema } from './delete-backup-request.ts';
import { DownloadRequestSpecSchema, DownloadRequestStatusSchema } from './download-request.ts';
import { BackupLocationSpecSchema, BackupLocationStatusSchema } from './location.ts';
import {
  PodVolumeBackupSpecSchema,
  PodVolumeBackupStatusSchema,
  PodVolumeRestoreSpecSchema,
  PodVolumeRestoreStatusSchema,
} from './pod-volume.ts';
import { RestoreSpecSchema, RestoreStatusSchema } from './restore.ts';
import { ScheduleSpecSchema, ScheduleStatusSchema } from './schedule.ts';
import { schemaProblems, withDefaults, type SpecProblem } from './validate.ts';

/** A column of `kubectl get` (a CRD's additionalPrinterColumns entry). */
export interface PrinterColumn {
  name: string;
  /** date prints an age ("5m"); a time in the future prints as <invalid>, so those are strings. */
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  jsonPath: string;
  description?: string;
  /** 0: always shown; 1: with -o wide. */
  priority?: number;
}

export interface KindInfo {
  kind: string;
  plural: string;
  singular: string;
  /** Short names for kubectl, chosen not to clash with Velero's (bsl, vsl, ...) or the core ones. */
  shortNames: readonly string[];
  description: string;
  spec: TSchema;
  status: TSchema;
  printerColumns: readonly PrinterColumn[];
}

const created = (name: string): PrinterColumn => ({
  name,
  type: 'date',
  jsonPath: '.metadata.creationTimestamp',
  description: 'When the resource was created.',
});

export const CAIRN_KINDS = {
  Backup: {
    kind: 'Backup',
    plural: 'backups',
    singular: 'backup',
    shortNames: ['cbk'],
    description:
      "A backup of API objects, written to one or more BackupLocations in Velero's layout (archive format 1.1.0).",
    spec: BackupSpecSchema,
    status: BackupStatusSchema,
    printerColumns: [
      { name: 'Status', type: 'string', jsonPath: '.status.phase', description: 'The phase.' },
      { name: 'Errors', type: 'integer', jsonPath: '.status.errors', description: 'Errors met.' },
      { name: 'Warnings', type: 'integer', jsonPath: '.status.warnings', description: 'Warnings met.' },
      created('Created'),
      { name: 'Expires', type: 'string', jsonPath: '.status.expiration', description: 'When it expires.' },
      {
        name: 'Location',
        type: 'string',
        jsonPath: '.spec.storageLocation',
        description: 'The BackupLocation it was written to first.',
      },
    ],
  },
  Restore: {
    kind: 'Restore',
    plural: 'restores',
    singular: 'restore',
    shortNames: ['crs'],
    description: 'A restore of a Backup into this cluster, or a dry run of one.',
    spec: RestoreSpecSchema,
    status: RestoreStatusSchema,
    printerColumns: [
      { name: 'Backup', type: 'string', jsonPath: '.spec.backupName', description: 'The backup restored.' },
      { name: 'Status', type: 'string', jsonPath: '.status.phase', description: 'The phase.' },
      { name: 'Errors', type: 'integer', jsonPath: '.status.errors', description: 'Errors met.' },
      { name: 'Warnings', type: 'integer', jsonPath: '.status.warnings', description: 'Warnings met.' },
      created('Created'),
    ],
  },
  Schedule: {
    kind: 'Schedule',
    plural: 'schedules',
    singular: 'schedule',
    shortNames: ['csch'],
    description: 'Backups made on a cron schedule, and the retention policy that decides which are kept.',
    spec: ScheduleSpecSchema,
    status: ScheduleStatusSchema,
    printerColumns: [
      { name: 'Status', type: 'string', jsonPath: '.status.phase', description: 'The phase.' },
      { name: 'Schedule', type: 'string', jsonPath: '.spec.schedule', description: 'When it backs up.' },
      {
        name: 'LastBackup',
        type: 'date',
        jsonPath: '.status.lastBackup',
        description: 'When the last Backup was made.',
      },
      { name: 'Paused', type: 'boolean', jsonPath: '.spec.paused', description: 'Whether it is paused.' },
      created('Age'),
    ],
  },
  BackupLocation: {
    kind: 'BackupLocation',
    plural: 'backuplocations',
    singular: 'backuplocation',
    shortNames: ['cbsl'],
    description: "An object store (or directory) backups are written to and read from, as Velero's BSL.",
    spec: BackupLocationSpecSchema,
    status: BackupLocationStatusSchema,
    printerColumns: [
      { name: 'Phase', type: 'string', jsonPath: '.status.phase', description: 'Available or Unavailable.' },
      { name: 'Provider', type: 'string', jsonPath: '.spec.provider', description: 'fs, s3, azure or gcs.' },
      {
        name: 'Bucket',
        type: 'string',
        jsonPath: '.spec.objectStorage.bucket',
        description: 'The bucket or container.',
      },
      {
        name: 'Access Mode',
        type: 'string',
        jsonPath: '.spec.accessMode',
        description: 'ReadWrite or ReadOnly.',
      },
      {
        name: 'Default',
        type: 'boolean',
        jsonPath: '.spec.default',
        description: 'Whether backups go here unless told otherwise.',
      },
      {
        name: 'Last Validated',
        type: 'date',
        jsonPath: '.status.lastValidationTime',
        description: 'When availability was last checked.',
      },
      created('Age'),
    ],
  },
  DeleteBackupRequest: {
    kind: 'DeleteBackupRequest',
    plural: 'deletebackuprequests',
    singular: 'deletebackuprequest',
    shortNames: ['cdbr'],
    description: 'A request to delete a Backup and its files in every location.',
    spec: DeleteBackupRequestSpecSchema,
    status: DeleteBackupRequestStatusSchema,
    printerColumns: [
      { name: 'Backup', type: 'string', jsonPath: '.spec.backupName', description: 'The backup to delete.' },
      { name: 'Status', type: 'string', jsonPath: '.status.phase', description: 'The phase.' },
      created('Age'),
    ],
  },
  DownloadRequest: {
    kind: 'DownloadRequest',
    plural: 'downloadrequests',
    singular: 'downloadrequest',
    shortNames: ['cdr'],
    description:
      'A request for one file of a Backup or Restore (its log, results, ...), which the server answers with a short-lived URL that serves it decrypted.',
    spec: DownloadRequestSpecSchema,
    status: DownloadRequestStatusSchema,
    printerColumns: [
      { name: 'Kind', type: 'string', jsonPath: '.spec.target.kind', description: 'The file asked for.' },
      {
        name: 'Target',
        type: 'string',
        jsonPath: '.spec.target.name',
        description: 'The Backup or Restore.',
      },
      { name: 'Status', type: 'string', jsonPath: '.status.phase', description: 'The phase.' },
      { name: 'Expires', type: 'string', jsonPath: '.status.expiration', description: 'When the URL ends.' },
      created('Age'),
    ],
  },
  PodVolumeBackup: {
    kind: 'PodVolumeBackup',
    plural: 'podvolumebackups',
    singular: 'podvolumebackup',
    shortNames: ['cpvb'],
    description: "The files of one pod volume, backed up into the location's repository by the node agent.",
    spec: PodVolumeBackupSpecSchema,
    status: PodVolumeBackupStatusSchema,
    printerColumns: [
      { name: 'Status', type: 'string', jsonPath: '.status.phase', description: 'The phase.' },
      { name: 'Backup', type: 'string', jsonPath: '.spec.backupName', description: 'The Backup.' },
      { name: 'Pod', type: 'string', jsonPath: '.spec.pod.name', description: 'The pod.' },
      { name: 'Volume', type: 'string', jsonPath: '.spec.volume', description: 'The volume.' },
      { name: 'Bytes', type: 'integer', jsonPath: '.status.bytes', description: "The volume's bytes." },
      { name: 'Node', type: 'string', jsonPath: '.spec.node', description: "The pod's node.", priority: 1 },
      created('Age'),
    ],
  },
  PodVolumeRestore: {
    kind: 'PodVolumeRestore',
    plural: 'podvolumerestores',
    singular: 'podvolumerestore',
    shortNames: ['cpvr'],
    description: 'The files of one pod volume, restored from a repository snapshot by the node agent.',
    spec: PodVolumeRestoreSpecSchema,
    status: PodVolumeRestoreStatusSchema,
    printerColumns: [
      { name: 'Status', type: 'string', jsonPath: '.status.phase', description: 'The phase.' },
      { name: 'Restore', type: 'string', jsonPath: '.spec.restoreName', description: 'The Restore.' },
      { name: 'Pod', type: 'string', jsonPath: '.spec.pod.name', description: 'The pod.' },
      { name: 'Volume', type: 'string', jsonPath: '.spec.volume', description: 'The volume.' },
      { name: 'Node', type: 'string', jsonPath: '.status.node', description: 'The node.', priority: 1 },
      created('Age'),
    ],
  },
} as const satisfies Record<string, KindInfo>;

export type CairnKind = keyof typeof CAIRN_KINDS;
export type SpecOf<K extends CairnKind> = Static<(typeof CAIRN_KINDS)[K]['spec']>;
export type StatusOf<K extends CairnKind> = Static<(typeof CAIRN_KINDS)[K]['status']>;

/** What is wrong with a kind's spec, field by field (paths relative to the spec: "template.ttl"). */
export function specProblems(kind: CairnKind, spec: unknown): SpecProblem[] {
  return schemaProblems(CAIRN_KINDS[kind].spec, spec);
}

/**
 * What is wrong with an object of a kind as the API server stored it: a top-level field other than
 * apiVersion, kind, metadata, spec and status, then its spec's problems (paths relative to the spec). The
 * CRDs keep unknown fields rather than prune them, so a misspelt field is named here.
 */
export function objectProblems(kind: CairnKind, object: { spec?: unknown }): SpecProblem[] {
  const unknown = Object.keys(object)
    .filter((key) => !TOP_LEVEL_FIELDS.has(key))
    .map((key) => {
      const value = (object as Record<string, unknown>)[key];
      return {
        field: key,
        value: typeof value === 'string' ? value : (JSON.stringify(value) ?? ''),
        message: `is not a field of a ${kind} (it has apiVersion, kind, metadata, spec and status)`,
      };
    });
  return [...unknown, ...specProblems(kind, object.spec ?? {})];
}

const TOP_LEVEL_FIELDS = new Set(['apiVersion', 'kind', 'metadata', 'spec', 'status']);

/** What is wrong with a kind's status, field by field (paths relative to the status). */
export function statusProblems(kind: CairnKind, status: unknown): SpecProblem[] {
  return schemaProblems(CAIRN_KINDS[kind].status, status);
}

/** The spec with its kind's defaults filled in (a copy), as the API server stores it. */
export function specWithDefaults<K extends CairnKind>(kind: K, spec: SpecOf<K>): SpecOf<K> {
  return withDefaults(CAIRN_KINDS[kind].spec, spec);
}
