// The BackupLocation kind (cairn.dev/v1): where backups are stored. Velero's BackupStorageLocation fields
// where the meaning is the same (provider, objectStorage, config, credential, default, accessMode,
// validationFrequency, backupSyncPeriod), plus Cairn's `plaintext` (store without encryption, for Velero
// interoperability) and `requestTimeout`/`idleTimeout` (how long a store call may hang). One schema per
// spec and status gives the types, the validation and the CRD.
import { Type, type Static } from '@sinclair/typebox';
import { DnsSubdomain, GoDuration, ObjectMetaSchema, StringEnum, StringMap, Timestamp } from './schema.ts';
import { parseGoDuration } from './duration.ts';
import type { SpecProblem } from './validate.ts';

export const LOCATION_PROVIDERS = ['fs', 's3', 'azure', 'gcs'] as const;
export type LocationProvider = (typeof LOCATION_PROVIDERS)[number];

/** Velero's provider names (and their velero.io/ forms) map to Cairn's. */
const providerAliases: Record<string, LocationProvider> = {
  fs: 'fs',
  filesystem: 'fs',
  s3: 's3',
  aws: 's3',
  'velero.io/aws': 's3',
  azure: 'azure',
  'velero.io/azure': 'azure',
  gcs: 'gcs',
  gcp: 'gcs',
  'velero.io/gcp': 'gcs',
};

export function normalizeProvider(name: string): LocationProvider | undefined {
  return providerAliases[name.trim().toLowerCase()];
}

export const ACCESS_MODES = ['ReadWrite', 'ReadOnly'] as const;
export type AccessMode = (typeof ACCESS_MODES)[number];

export const BackupLocationSpecSchema = Type.Object(
  {
    provider: StringEnum(LOCATION_PROVIDERS, {
      description:
        'fs (a directory: hostPath or a mounted PVC), s3 (AWS S3 or compatible, such as MinIO), azure ' +
        "(Blob Storage) or gcs (Google Cloud Storage). Velero's names (aws, velero.io/aws, gcp, ...) are " +
        'converted by the CLI, not accepted here.',
    }),
    objectStorage: Type.Optional(
      Type.Object(
        {
          bucket: Type.String({ minLength: 1, description: 'The bucket (S3, GCS) or container (Azure).' }),
          prefix: Type.Optional(Type.String({ description: 'A key prefix inside the bucket.' })),
        },
        { additionalProperties: false, description: 'Where in the object store. Not used by fs.' },
      ),
    ),
    config: Type.Optional(
      StringMap({
        description:
          "Provider settings, as strings (Velero's convention). fs: path; s3: region, s3Url, " +
          's3ForcePathStyle; azure: storageAccount, storageAccountURI, storageAccountKeyEnvVar; gcs: endpoint, project.',
      }),
    ),
    credential: Type.Optional(
      Type.Object(
        {
          name: DnsSubdomain({ description: "The Secret, in the server's namespace." }),
          key: Type.String({ minLength: 1, description: 'The key within the Secret.' }),
        },
        { additionalProperties: false, description: 'The Secret key holding the credentials.' },
      ),
    ),
    default: Type.Optional(
      Type.Boolean({
        default: false,
        description: 'Backups without a storageLocation go here. At most one location is the default.',
      }),
    ),
    accessMode: Type.Optional(
      StringEnum(ACCESS_MODES, {
        default: 'ReadWrite',
        description:
          'ReadOnly: backups are listed and restored, never written or deleted (a migration source).',
      }),
    ),
    validationFrequency: Type.Optional(
      GoDuration({ description: "How often the location's availability is checked. Unset: 1m; 0: never." }),
    ),
    backupSyncPeriod: Type.Optional(
      GoDuration({
        description:
          "How often the location's backups are synced into the cluster as Backup resources. Unset: 1m; 0: never.",
      }),
    ),
    requestTimeout: Type.Optional(
      GoDuration({
        description:
          'How long a request to the store may go unanswered before it is aborted (and retried); it also ' +
          "bounds the server's availability check. Unset: 60s.",
      }),
    ),
    idleTimeout: Type.Optional(
      GoDuration({
        description:
          'How long an upload or download may move no bytes while waiting for the store before it is ' +
          'aborted; a transfer that keeps moving never times out. Unset: 60s.',
      }),
    ),
    plaintext: Type.Optional(
      Type.Boolean({
        default: false,
        description:
          "Store backups unencrypted (readable by Velero). Default false: encrypted with the location's key.",
      }),
    ),
  },
  { additionalProperties: false, description: 'Where backups are stored, and how.' },
);
export type BackupLocationSpec = Static<typeof BackupLocationSpecSchema>;

export const BackupLocationStatusSchema = Type.Object(
  {
    phase: Type.Optional(
      StringEnum(['Available', 'Unavailable'] as const, {
        description: 'Whether the last availability check reached the store.',
      }),
    ),
    lastValidationTime: Type.Optional(Timestamp({ description: 'When availability was last checked.' })),
    lastSyncedTime: Type.Optional(
      Timestamp({ description: "When the location's backups were last synced into the cluster." }),
    ),
    message: Type.Optional(Type.String({ description: 'Why the location is Unavailable.' })),
  },
  { additionalProperties: false, description: 'Whether the location can be used.' },
);
export type BackupLocationStatus = Static<typeof BackupLocationStatusSchema>;

export const BackupLocationSchema = Type.Object({
  apiVersion: Type.String(),
  kind: Type.Literal('BackupLocation'),
  metadata: ObjectMetaSchema,
  spec: BackupLocationSpecSchema,
  status: Type.Optional(BackupLocationStatusSchema),
});
export type BackupLocation = Static<typeof BackupLocationSchema>;

/**
 * What is wrong with a location spec, field by field: the provider, and the settings it needs (which the
 * schema cannot say). schemaProblems(BackupLocationSpecSchema, spec) checks every field's form.
 */
export function locationProblems(spec: BackupLocationSpec): SpecProblem[] {
  const problems: SpecProblem[] = [];
  const config = spec.config ?? {};
  if (!LOCATION_PROVIDERS.includes(spec.provider)) {
    problems.push({
      field: 'provider',
      value: String(spec.provider),
      message: `must be one of ${LOCATION_PROVIDERS.join(', ')}`,
    });
  }
  if (spec.provider === 'fs' && !config.path) {
    problems.push({ field: 'config.path', value: '', message: 'an fs location needs a directory' });
  }
  if (spec.provider !== 'fs' && !spec.objectStorage?.bucket) {
    problems.push({
      field: 'objectStorage.bucket',
      value: '',
      message: `${spec.provider === 's3' ? 'an' : 'a'} ${spec.provider} location needs a bucket`,
    });
  }
  if (spec.provider === 's3' && !config.region && !config.s3Url) {
    problems.push({
      field: 'config.region',
      value: '',
      message: 'an s3 location needs a region (or an s3Url)',
    });
  }
  for (const field of ['requestTimeout', 'idleTimeout'] as const) {
    const value = spec[field];
    if (value !== undefined && !parseGoDuration(value))
      problems.push({ field, value, message: 'not a positive duration (examples: 60s, 5m)' });
  }
  if (spec.accessMode !== undefined && spec.accessMode !== 'ReadWrite' && spec.accessMode !== 'ReadOnly') {
    problems.push({
      field: 'accessMode',
      value: String(spec.accessMode),
      message: 'must be ReadWrite or ReadOnly',
    });
  }
  return problems;
}
