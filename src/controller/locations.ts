// Backup locations as the server sees them: BackupLocation resources in its namespace, their credentials
// in Secrets (spec.credential), and each location's encryption key in a Secret of its own,
// `cairn-key-<location>` (data `key`: the location's keyring, its current key first and then the keys
// rotated away from, each in base64: the same text as a standalone key file, so `cairn location key-export`
// output moves between the two; `cairn location rotate-key` rotates it). The server never prints a key or a credential.
// A location that already holds encrypted backups gets no new key: its own must be put in the Secret.
import { randomUUID } from 'node:crypto';
import type { BackupLocation } from '../api/index.ts';
import { KubeApiError, type KubeClient, type KubeObject } from '../kube/index.ts';
import {
  BackupStore,
  generateLocationKey,
  KeyringFormatError,
  LocationKeyMismatchError,
  LocationKeyring,
  parseKeyring,
  openObjectStore,
  parseCredentials,
  type ObjectStore,
  type StallNotice,
  type StoreActivity,
} from '../storage/index.ts';
import type { Clock } from './clock.ts';
import { LABELS, objectProblems } from '../api/index.ts';

/** The Secret holding a location's encryption key. */
export const keySecretName = (location: string): string => `cairn-key-${location}`;
export const KEY_SECRET_DATA = 'key';

/**
 * The Secret Cairn makes for a location's credentials file (`cairn location create --credentials-file` in
 * server mode, `cairn install --readonly-secret-file`), data key CREDENTIALS_KEY as install's Secret.
 */
export const credentialsSecretName = (location: string): string => `cairn-credentials-${location}`;

/** A location cannot be opened: the message names the location and what is missing. */
export class LocationUnusableError extends Error {
  override readonly name = 'LocationUnusableError';
  readonly location: string;
  constructor(location: string, message: string, options?: ErrorOptions) {
    super(`location "${location}": ${message}`, options);
    this.location = location;
  }
}

interface SecretObject extends KubeObject {
  data?: Record<string, string>;
}

export interface ServerLocationsOptions {
  client: KubeClient;
  namespace: string;
  /** The BackupLocation resources known now (the informer's cache). */
  list: () => BackupLocation[];
  /** Told when the server makes a location's key (it must be exported, or backups die with the cluster). */
  onKeyCreated?: ((location: string, secret: string) => void) | undefined;
  /** The timers of the stores' timeouts. Default: the machine's. */
  clock?: Clock | undefined;
  /** Where the stores register their calls in flight (the metrics). */
  activity?: StoreActivity | undefined;
  /** Told while a store call makes no progress, before it times out (the server logs it). */
  onStall?: ((notice: StallNotice) => void) | undefined;
}

export class ServerLocations {
  readonly #options: ServerLocationsOptions;

  constructor(options: ServerLocationsOptions) {
    this.#options = options;
  }

  get(name: string): BackupLocation | undefined {
    return this.#options.list().find((l) => l.metadata.name === name);
  }

  /** The location marked default, else the only one. */
  defaultLocation(): BackupLocation | undefined {
    const all = this.#options.list();
    return all.find((l) => l.spec.default === true) ?? (all.length === 1 ? all[0] : undefined);
  }

  all(): BackupLocation[] {
    return this.#options.list();
  }

  /**
   * Opens a location's backup store with its credentials and key. `createKey` makes the key Secret when
   * it is missing (backups); reading (restore, sync) needs it to exist.
   */
  async open(
    name: string,
    options: { createKey: boolean; withoutKey?: boolean; signal?: AbortSignal | undefined },
  ): Promise<BackupStore> {
    const location = this.get(name);
    if (!location) throw new LocationUnusableError(name, 'no BackupLocation of that name');
    // A field the API server kept but Cairn does not know (a typo: `acessMode: ReadOnly`) makes the location
    // unusable, named, rather than used as if the field were unset (written to, in that example).
    const problems = objectProblems('BackupLocation', location);
    if (problems.length > 0)
      throw new LocationUnusableError(
        name,
        `its spec is invalid: ${problems.map((p) => `${p.field}: ${p.message} (got ${JSON.stringify(p.value)})`).join('; ')}`,
      );
    const { spec } = location;
    let credentials;
    if (spec.credential) {
      const secret = await this.#secret(spec.credential.name, options.signal);
      const encoded = secret?.data?.[spec.credential.key];
      if (encoded === undefined)
        throw new LocationUnusableError(
          name,
          `credential Secret "${spec.credential.name}" has no key "${spec.credential.key}"`,
        );
      try {
        credentials = parseCredentials(
          spec.provider,
          Buffer.from(encoded, 'base64').toString('utf8'),
          'default',
          spec.config,
        );
      } catch (error) {
        throw new LocationUnusableError(
          name,
          `credential Secret "${spec.credential.name}": ${(error as Error).message}`,
        );
      }
    }
    const { clock, activity, onStall } = this.#options;
    const store = await openObjectStore(spec, { credentials, location: name, clock, activity, onStall });
    // The catalog (metadata) is readable without the key; the archive and logs are not.
    const ring = spec.plaintext || options.withoutKey ? undefined : await this.#keyring(name, store, options);
    return new BackupStore({
      location: name,
      store,
      key: ring?.current,
      retiredKeys: ring?.retired,
      keySource: this.#keySource(name),
    });
  }

  #keySource(name: string): string {
    return `Secret "${keySecretName(name)}" (data "${KEY_SECRET_DATA}") in namespace ${this.#options.namespace}`;
  }

  async #keyring(
    name: string,
    store: ObjectStore,
    options: { createKey: boolean; signal?: AbortSignal | undefined },
  ): Promise<LocationKeyring> {
    const secretName = keySecretName(name);
    const secret = await this.#secret(secretName, options.signal);
    const encoded = secret?.data?.[KEY_SECRET_DATA];
    if (encoded !== undefined) {
      try {
        return parseKeyring(
          Buffer.from(encoded, 'base64').toString('utf8'),
          `Secret "${secretName}" ("${KEY_SECRET_DATA}")`,
        );
      } catch (error) {
        if (!(error instanceof KeyringFormatError)) throw error;
        throw new LocationUnusableError(name, error.message, { cause: error });
      }
    }
    if (!options.createKey)
      throw new LocationUnusableError(
        name,
        `its encryption key Secret "${secretName}" is missing: copy the key from where the backups were written ` +
          `(\`cairn location key-export ${name}\`) into that Secret`,
      );
    // A location written elsewhere (standalone, another cluster) keeps its key: a new one would split it.
    const expectedKeyId = await new BackupStore({ location: name, store }).expectedKeyId({
      signal: options.signal,
    });
    if (expectedKeyId !== undefined)
      throw new LocationKeyMismatchError({ location: name, expectedKeyId, keySource: this.#keySource(name) });
    const key = generateLocationKey();
    const { client, namespace } = this.#options;
    try {
      await client.json({
        method: 'POST',
        path: `/api/v1/namespaces/${namespace}/secrets`,
        signal: options.signal,
        body: {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: {
            name: secretName,
            labels: { 'app.kubernetes.io/name': 'cairn', [LABELS.location]: name },
            annotations: { 'cairn.dev/created-by': `cairn server ${randomUUID()}` },
          },
          type: 'Opaque',
          data: { [KEY_SECRET_DATA]: Buffer.from(key.toString('base64') + '\n').toString('base64') },
        },
      });
    } catch (error) {
      // Another replica made it first: use that one.
      if (error instanceof KubeApiError && error.status === 409)
        return this.#keyring(name, store, { ...options, createKey: false });
      throw error;
    }
    this.#options.onKeyCreated?.(name, secretName);
    return new LocationKeyring(key);
  }

  async #secret(name: string, signal: AbortSignal | undefined): Promise<SecretObject | undefined> {
    const { client, namespace } = this.#options;
    try {
      return await client.json<SecretObject>({
        path: `/api/v1/namespaces/${namespace}/secrets/${name}`,
        signal,
      });
    } catch (error) {
      if (error instanceof KubeApiError && error.status === 404) return undefined;
      throw error;
    }
  }
}
