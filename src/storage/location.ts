// Opening a backup location's object store from its spec and credentials: the driver for the provider,
// then the wrappers (timeouts, retry, key prefix, read-only). Shared by the CLI's standalone mode and the
// server.
// The cloud drivers are imported on demand: each loads an SDK that costs 0.2-0.3 s and tens of MB.
import { parseGoDuration, type BackupLocationSpec, type Clock, type RetryOptions } from '../api/index.ts';
import type { StoreActivity } from './activity.ts';
import { FilesystemStore } from './filesystem-store.ts';
import { s3Description, type ObjectStore } from './object-store.ts';
import {
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_REQUEST_TIMEOUT_MS,
  withTimeouts,
  type StallNotice,
} from './timeouts.ts';
import { openedOnFirstUse, readOnly, withPrefix, withRetry } from './wrappers.ts';

/** A location's credentials, read by the caller from a file (standalone) or a Secret (server). */
export type LocationCredentials =
  | { kind: 's3'; accessKeyId: string; secretAccessKey: string; sessionToken?: string | undefined }
  | { kind: 'azure'; connectionString: string }
  | { kind: 'gcs'; client_email: string; private_key: string };

export class LocationConfigError extends Error {
  override readonly name = 'LocationConfigError';
  readonly field: string;
  constructor(field: string, message: string) {
    super(`${field}: ${message}`);
    this.field = field;
  }
}

/**
 * Parses a credentials file's text for a provider: S3 takes the AWS shared-credentials format Velero uses
 * (`[default]` with aws_access_key_id, aws_secret_access_key, aws_session_token); Azure takes
 * KEY=VALUE lines with AZURE_STORAGE_CONNECTION_STRING, or, as Velero's Azure plugin reads a storage
 * account key, the location's config.storageAccount and a line AZURE_STORAGE_ACCOUNT_ACCESS_KEY (or the
 * variable config.storageAccountKeyEnvVar names); GCS takes a service-account JSON key.
 */
export function parseCredentials(
  provider: BackupLocationSpec['provider'],
  text: string,
  profile = 'default',
  config: Record<string, string> = {},
): LocationCredentials {
  if (provider === 's3') {
    const values: Record<string, string> = {};
    let section = 'default';
    for (const raw of text.split('\n')) {
      const line = raw.trim();
      if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
      const header = /^\[(?:profile\s+)?([^\]]+)\]$/.exec(line);
      if (header) {
        section = header[1]?.trim() ?? '';
        continue;
      }
      const eq = line.indexOf('=');
      if (eq > 0 && section === profile) values[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
    }
    const accessKeyId = values.aws_access_key_id;
    const secretAccessKey = values.aws_secret_access_key;
    if (!accessKeyId || !secretAccessKey) {
      throw new LocationConfigError(
        'credentials',
        `profile [${profile}] needs aws_access_key_id and aws_secret_access_key`,
      );
    }
    return { kind: 's3', accessKeyId, secretAccessKey, sessionToken: values.aws_session_token };
  }
  if (provider === 'azure') return { kind: 'azure', connectionString: azureConnectionString(text, config) };
  if (provider === 'gcs') {
    let key: { client_email?: string; private_key?: string };
    try {
      key = JSON.parse(text) as typeof key;
    } catch {
      throw new LocationConfigError('credentials', 'a GCS location needs a service-account JSON key');
    }
    if (!key.client_email || !key.private_key)
      throw new LocationConfigError('credentials', 'the JSON key needs client_email and private_key');
    return { kind: 'gcs', client_email: key.client_email, private_key: key.private_key };
  }
  throw new LocationConfigError('credentials', `an ${provider} location takes no credentials`);
}

function azureConnectionString(text: string, config: Record<string, string>): string {
  const values = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    const eq = line.indexOf('=');
    if (eq > 0 && !line.startsWith('#')) values.set(line.slice(0, eq).trim(), line.slice(eq + 1).trim());
  }
  const given = values.get('AZURE_STORAGE_CONNECTION_STRING');
  if (given) return given;
  const keyVariable = config.storageAccountKeyEnvVar ?? 'AZURE_STORAGE_ACCOUNT_ACCESS_KEY';
  const key = values.get(keyVariable);
  const account = config.storageAccount;
  if (key && account) {
    // Velero's storageAccountURI names the blob endpoint of another cloud or a private endpoint.
    const endpoint = config.storageAccountURI
      ? `BlobEndpoint=${config.storageAccountURI}`
      : 'EndpointSuffix=core.windows.net';
    return `DefaultEndpointsProtocol=https;AccountName=${account};AccountKey=${key};${endpoint}`;
  }
  throw new LocationConfigError(
    'credentials',
    'needs a line AZURE_STORAGE_CONNECTION_STRING=..., or config.storageAccount and a line ' +
      `${keyVariable}=<the account's key>` +
      (values.has('AZURE_CLIENT_ID') ? ' (a service principal, AZURE_CLIENT_ID, is not read)' : ''),
  );
}

export interface OpenLocationOptions {
  credentials?: LocationCredentials | undefined;
  /** Retry transient failures (default: 3 tries, 500 ms doubling; the cloud SDKs retry inside too). */
  retry?: RetryOptions | undefined;
  /** The location's name, for the timeouts' messages, notices and metrics. Default: the store's description. */
  location?: string | undefined;
  /** Timers of the timeouts. Default: the machine's. */
  clock?: Clock | undefined;
  /** Where calls in flight are registered (the server's metrics). */
  activity?: StoreActivity | undefined;
  /** Told while a call makes no progress, before it times out. */
  onStall?: ((notice: StallNotice) => void) | undefined;
}

/** A location's timeouts: its spec's requestTimeout and idleTimeout, or the defaults (60 s each). */
export function locationTimeouts(spec: BackupLocationSpec): { requestMs: number; idleMs: number } {
  const of = (field: 'requestTimeout' | 'idleTimeout', fallback: number) => {
    const value = spec[field];
    if (value === undefined) return fallback;
    const ms = parseGoDuration(value);
    if (!ms) throw new LocationConfigError(field, `${JSON.stringify(value)} is not a positive duration`);
    return ms;
  };
  return {
    requestMs: of('requestTimeout', DEFAULT_REQUEST_TIMEOUT_MS),
    idleMs: of('idleTimeout', DEFAULT_IDLE_TIMEOUT_MS),
  };
}

export async function openObjectStore(
  spec: BackupLocationSpec,
  options: OpenLocationOptions = {},
): Promise<ObjectStore> {
  const config = spec.config ?? {};
  const bucket = spec.objectStorage?.bucket ?? '';
  const credentials = options.credentials;
  let store: ObjectStore;
  switch (spec.provider) {
    case 'fs':
      if (!config.path) throw new LocationConfigError('config.path', 'an fs location needs a directory');
      store = new FilesystemStore({ root: config.path });
      break;
    case 's3': {
      // The SDK loads on the first request, while a backup already lists the cluster.
      const s3 = {
        bucket,
        region: config.region ?? 'us-east-1',
        endpoint: config.s3Url,
        forcePathStyle: config.s3ForcePathStyle === 'true',
        credentials: credentials?.kind === 's3' ? credentials : undefined,
      };
      store = openedOnFirstUse(
        s3Description(s3.bucket, s3.region, s3.endpoint),
        async () => new (await import('./s3-store.ts')).S3Store(s3),
        { signedUrls: true, incompleteUploads: true },
      );
      break;
    }
    case 'azure': {
      if (credentials?.kind !== 'azure') {
        throw new LocationConfigError('credentials', 'an azure location needs a connection string');
      }
      const { AzureStore } = await import('./azure-store.ts');
      store = new AzureStore({ connectionString: credentials.connectionString, container: bucket });
      break;
    }
    case 'gcs': {
      const { GcsStore } = await import('./gcs-store.ts');
      store = new GcsStore({
        bucket,
        apiEndpoint: config.endpoint,
        projectId: config.project,
        credentials: credentials?.kind === 'gcs' ? credentials : undefined,
      });
      break;
    }
  }
  // Each try is bounded on its own, and a timeout is retried like any transient failure.
  store = withTimeouts(store, {
    ...locationTimeouts(spec),
    location: options.location ?? store.description,
    clock: options.clock,
    activity: options.activity,
    onStall: options.onStall,
  });
  store = withRetry(store, options.retry ?? { attempts: 3, baseDelayMs: 500, maxDelayMs: 5000 });
  store = withPrefix(store, spec.objectStorage?.prefix ?? '');
  return spec.accessMode === 'ReadOnly' ? readOnly(store) : store;
}
