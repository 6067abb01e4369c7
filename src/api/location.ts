// The BackupLocation kind (cairn.dev/v1): where backups are stored. Velero's BackupStorageLocation fields
// where the meaning is the same (provider, objectStorage, config, credential, default, accessMode), plus
// Cairn's `plaintext` (store without encryption, for Velero interoperability).

export type LocationProvider = 'fs' | 's3' | 'azure' | 'gcs';
export const LOCATION_PROVIDERS: readonly LocationProvider[] = ['fs', 's3', 'azure', 'gcs'];

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

export type AccessMode = 'ReadWrite' | 'ReadOnly';

export interface BackupLocationSpec {
  provider: LocationProvider;
  /** Bucket (S3, GCS) or container (Azure), and a key prefix inside it. Not used by fs. */
  objectStorage?: { bucket: string; prefix?: string };
  /**
   * Provider settings, as strings (Velero's convention):
   * fs: path; s3: region, s3Url, s3ForcePathStyle; azure: storageAccountURL; gcs: endpoint, project.
   */
  config?: Record<string, string>;
  /** Server mode: the Secret key holding the credentials. */
  credential?: { name: string; key: string };
  default?: boolean;
  accessMode?: AccessMode;
  /** Store backups unencrypted (readable by Velero). Default false: encrypted with the location's key. */
  plaintext?: boolean;
}

export interface SpecProblem {
  field: string;
  value: string;
  message: string;
}

/** What is wrong with a location spec, field by field. */
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
  if (spec.accessMode !== undefined && spec.accessMode !== 'ReadWrite' && spec.accessMode !== 'ReadOnly') {
    problems.push({
      field: 'accessMode',
      value: String(spec.accessMode),
      message: 'must be ReadWrite or ReadOnly',
    });
  }
  return problems;
}
