// `cairn location ...` in server mode: the server's BackupLocation resources in its namespace, managed as
// `velero backup-location` manages BackupStorageLocations. A credentials file becomes the Secret
// `cairn-credentials-<location>`; the server makes the encryption key Secret `cairn-key-<location>` on the
// location's first backup, as it always does. Nothing here prints a key or a credential, and every flag is
// checked (with the API server's schema) before anything is written.
import type { Backup, BackupLocation, BackupLocationSpec, SpecProblem } from '../../api/index.ts';
import type { KubeClient, KubeObject } from '../../kube/index.ts';
import type { CliIO } from '../io.ts';
import { formatStructured, type OutputFormat } from '../output.ts';
import { formatTable } from '../table.ts';
import { confirmDeletion } from './backup-catalog.ts';
import { goTime } from './backup-describe.ts';
import { LocationValidationError, whereOf } from './location-config.ts';
import {
  flagsOf,
  locationFromFlags,
  mergeSetFlags,
  type LocationFlags,
  type SecretKeyRef,
  type SetFlags,
} from './location-flags.ts';

/** The server a command works through: its client and namespace. */
export interface ServerTarget {
  client: KubeClient;
  namespace: string;
}

interface SecretObject extends KubeObject {
  data?: Record<string, string>;
}

async function controller() {
  return import('../../controller/index.ts');
}

async function kube() {
  return import('../../kube/index.ts');
}

/** The location, or undefined when there is none of that name. */
async function locationOf(target: ServerTarget, name: string): Promise<BackupLocation | undefined> {
  const { getResource } = await controller();
  return getResource<BackupLocation>(target, 'BackupLocation', name);
}

async function locationsOf(target: ServerTarget): Promise<BackupLocation[]> {
  const { resourcePath } = await controller();
  return (
    await target.client.json<{ items: BackupLocation[] }>({
      path: resourcePath('BackupLocation', target.namespace),
    })
  ).items;
}

async function secretOf(target: ServerTarget, name: string): Promise<SecretObject | undefined> {
  const { KubeApiError } = await kube();
  try {
    return await target.client.json<SecretObject>({
      path: `/api/v1/namespaces/${target.namespace}/secrets/${encodeURIComponent(name)}`,
    });
  } catch (error) {
    if (error instanceof KubeApiError && error.status === 404) return undefined;
    throw error;
  }
}

class NoSuchLocationError extends Error {
  override readonly name = 'NoSuchLocationError';
  constructor(target: ServerTarget, location: string) {
    super(
      `no BackupLocation named "${location}" in namespace ${target.namespace} (see \`cairn location get -n ${target.namespace}\`)`,
    );
  }
}

export async function getLocations(
  io: CliIO,
  target: ServerTarget,
  options: { name?: string | undefined; output: OutputFormat },
): Promise<void> {
  let locations: BackupLocation[];
  if (options.name === undefined) locations = await locationsOf(target);
  else {
    const one = await locationOf(target, options.name);
    if (!one) throw new NoSuchLocationError(target, options.name);
    locations = [one];
  }
  if (options.output !== 'table') {
    // The resources as the API server has them: a credential is a Secret's name, never its content.
    const value =
      options.name === undefined ? { apiVersion: 'v1', kind: 'List', items: locations } : locations[0];
    io.stdout.write(formatStructured(value, options.output));
    return;
  }
  if (locations.length === 0) {
    io.stdout.write(
      `No BackupLocations in namespace ${target.namespace}. Create one with \`cairn location create\`.\n`,
    );
    return;
  }
  io.stdout.write(
    formatTable(
      [
        'NAME',
        'PROVIDER',
        'BUCKET/PREFIX',
        'PHASE',
        'LAST VALIDATED',
        'ACCESS MODE',
        'DEFAULT',
        'ENCRYPTION',
      ],
      locations.map((l) => [
        l.metadata.name,
        l.spec.provider,
        whereOf(l.spec),
        l.status?.phase ?? 'Unknown',
        goTime(l.status?.lastValidationTime),
        l.spec.accessMode ?? 'ReadWrite',
        l.spec.default === true ? 'true' : 'false',
        l.spec.plaintext ? 'plaintext' : 'encrypted',
      ]),
    ),
  );
  for (const l of locations)
    if (l.status?.phase === 'Unavailable' && l.status.message)
      io.stderr.write(`location "${l.metadata.name}" is Unavailable: ${l.status.message}\n`);
}

/**
 * What is wrong with the Secrets the spec's credentials will come from, asked of the cluster before
 * anything is written: a named Secret (--credential) must hold its key; the Secret a file goes into must
 * be new, or the one Cairn made for this location.
 */
async function secretProblems(
  io: CliIO,
  target: ServerTarget,
  name: string,
  options: { credential?: SecretKeyRef | undefined; credentialsFile?: string | undefined },
): Promise<SpecProblem[]> {
  const { KubeApiError } = await kube();
  const { LABELS } = await import('../../api/index.ts');
  const { credentialsSecretName } = await controller();
  try {
    if (options.credential) {
      const { name: secret, key } = options.credential;
      const found = await secretOf(target, secret);
      const value = `${secret}/${key}`;
      if (!found)
        return [
          {
            field: 'credential',
            value,
            message: `no Secret "${secret}" in namespace ${target.namespace} (--credential)`,
          },
        ];
      if (found.data?.[key] === undefined)
        return [
          {
            field: 'credential',
            value,
            message: `Secret "${secret}" has no key "${key}" (it has ${Object.keys(found.data ?? {}).join(', ') || 'none'}) (--credential)`,
          },
        ];
    }
    if (options.credentialsFile !== undefined) {
      const secret = credentialsSecretName(name);
      const found = await secretOf(target, secret);
      if (found && found.metadata.labels?.[LABELS.credentialsOf] !== name)
        return [
          {
            field: 'credentials',
            value: options.credentialsFile,
            message: `the Secret it goes into, "${secret}", exists already and was not made for this location: delete it, or name a Secret with --credential SECRET/KEY (--credentials-file)`,
          },
        ];
    }
  } catch (error) {
    // Not allowed to read Secrets: the server will say, in the location's status, if the Secret is wrong.
    if (!(error instanceof KubeApiError && error.status === 403)) throw error;
    io.stderr.write(`warning: the Secrets could not be checked: ${error.message}\n`);
  }
  return [];
}

/** Writes the credentials file's content into the location's Secret; resolves with whether it is new. */
async function writeCredentials(target: ServerTarget, name: string, credentials: string): Promise<boolean> {
  const { LABELS } = await import('../../api/index.ts');
  const { credentialsSecretName, CREDENTIALS_KEY, INSTALL_LABELS } = await controller();
  const secret = credentialsSecretName(name);
  const data = { [CREDENTIALS_KEY]: Buffer.from(credentials).toString('base64') };
  const path = `/api/v1/namespaces/${target.namespace}/secrets`;
  if (await secretOf(target, secret)) {
    await target.client.json({
      method: 'PATCH',
      path: `${path}/${secret}`,
      contentType: 'application/merge-patch+json',
      body: { data },
    });
    return false;
  }
  await target.client.json({
    method: 'POST',
    path,
    body: {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: secret, labels: { ...INSTALL_LABELS, [LABELS.credentialsOf]: name } },
      type: 'Opaque',
      data,
    },
  });
  return true;
}

/** Makes `name` the only default: every other location marked default loses the mark (as Velero does). */
async function unsetOtherDefaults(io: CliIO, target: ServerTarget, name: string): Promise<void> {
  const { resourcePath } = await controller();
  for (const other of await locationsOf(target)) {
    if (other.metadata.name === name || other.spec.default !== true) continue;
    await target.client.json({
      method: 'PATCH',
      path: resourcePath('BackupLocation', target.namespace, other.metadata.name),
      contentType: 'application/merge-patch+json',
      body: { spec: { default: null } },
    });
    io.stdout.write(`Backup location "${other.metadata.name}" is no longer the default.\n`);
  }
}

/** What the key Secret means for this location, said once it is created (never the key itself). */
async function keyNote(target: ServerTarget, name: string, spec: BackupLocationSpec): Promise<string> {
  if (spec.plaintext) return 'Its backups are stored unencrypted (--plaintext).\n';
  const { keySecretName } = await controller();
  const secret = keySecretName(name);
  const where = `Secret ${secret} in namespace ${target.namespace}`;
  if (await secretOf(target, secret)) return `Its backups are encrypted with the key already in ${where}.\n`;
  if (spec.accessMode === 'ReadOnly')
    return (
      `Restoring its backups needs the key they were written with in ${where} (data "key"): copy that ` +
      'Secret from the cluster that wrote them, or put `cairn location key-export` output from where they were written into it.\n'
    );
  return `The server makes its encryption key on its first backup, in ${where}: keep a copy, losing it loses the backups.\n`;
}

export async function createLocation(
  io: CliIO,
  target: ServerTarget,
  name: string,
  flags: LocationFlags,
): Promise<void> {
  const { CAIRN_API_VERSION } = await import('../../api/index.ts');
  const { resourcePath, credentialsSecretName, CREDENTIALS_KEY } = await controller();
  const { spec, credentials, problems } = await locationFromFlags(name, flags, 'server');
  if (!spec) throw new LocationValidationError(problems);
  if (await locationOf(target, name))
    throw new Error(
      `a BackupLocation named "${name}" exists already in namespace ${target.namespace}: change it with \`cairn location set ${name}\``,
    );
  const secretChecks = await secretProblems(io, target, name, flags);
  if (secretChecks.length > 0) throw new LocationValidationError(secretChecks);

  const madeSecret = credentials !== undefined ? await writeCredentials(target, name, credentials) : false;
  if (credentials !== undefined)
    spec.credential = { name: credentialsSecretName(name), key: CREDENTIALS_KEY };
  try {
    await target.client.json({
      method: 'POST',
      path: resourcePath('BackupLocation', target.namespace),
      body: { apiVersion: CAIRN_API_VERSION, kind: 'BackupLocation', metadata: { name }, spec },
    });
  } catch (error) {
    // A location made meanwhile, or refused: the Secret made for it would be left over.
    if (madeSecret)
      await target.client.send({
        method: 'DELETE',
        path: `/api/v1/namespaces/${target.namespace}/secrets/${credentialsSecretName(name)}`,
      });
    throw error;
  }
  io.stdout.write(
    `Backup location "${name}" created in namespace ${target.namespace}: ${whereOf(spec)}, ${spec.accessMode ?? 'ReadWrite'}.\n`,
  );
  if (credentials !== undefined)
    io.stdout.write(`Its credentials are in Secret ${credentialsSecretName(name)}.\n`);
  if (spec.default) await unsetOtherDefaults(io, target, name);
  io.stdout.write(await keyNote(target, name, spec));
  io.stdout.write(
    `The server checks it within ${spec.validationFrequency ?? '1m'}: \`cairn location get ${name} -n ${target.namespace}\` shows its phase.\n`,
  );
}

export async function setLocation(
  io: CliIO,
  target: ServerTarget,
  name: string,
  flags: SetFlags,
): Promise<void> {
  const { resourcePath, credentialsSecretName, CREDENTIALS_KEY } = await controller();
  const current = await locationOf(target, name);
  if (!current) throw new NoSuchLocationError(target, name);
  const { spec, credentials, problems } = await locationFromFlags(
    name,
    mergeSetFlags(flagsOf(current.spec), flags),
    'server',
  );
  if (!spec) throw new LocationValidationError(problems);
  const secretChecks = await secretProblems(io, target, name, flags);
  if (secretChecks.length > 0) throw new LocationValidationError(secretChecks);
  if (credentials !== undefined) {
    await writeCredentials(target, name, credentials);
    spec.credential = { name: credentialsSecretName(name), key: CREDENTIALS_KEY };
  }
  // A merge patch of the fields that changed: fields set meanwhile by others stay as they are.
  const changed = Object.fromEntries(
    (Object.keys(spec) as (keyof BackupLocationSpec)[])
      .filter((field) => JSON.stringify(spec[field]) !== JSON.stringify(current.spec[field]))
      .map((field) => [field, spec[field]]),
  );
  if (Object.keys(changed).length > 0)
    await target.client.json({
      method: 'PATCH',
      path: resourcePath('BackupLocation', target.namespace, name),
      contentType: 'application/merge-patch+json',
      body: { spec: changed },
    });
  io.stdout.write(
    Object.keys(changed).length > 0
      ? `Backup location "${name}" changed: ${Object.keys(changed).join(', ')}.\n`
      : `Backup location "${name}" is as asked already; nothing was changed.\n`,
  );
  if (credentials !== undefined)
    io.stdout.write(`Its credentials are in Secret ${credentialsSecretName(name)}.\n`);
  if (spec.default) await unsetOtherDefaults(io, target, name);
}

export async function deleteLocation(
  io: CliIO,
  target: ServerTarget,
  name: string,
  options: { confirm: boolean },
): Promise<void> {
  const { LABELS } = await import('../../api/index.ts');
  const { resourcePath, credentialsSecretName, keySecretName } = await controller();
  const location = await locationOf(target, name);
  if (!location) throw new NoSuchLocationError(target, name);
  const yes = await confirmDeletion(io, {
    confirmed: options.confirm,
    question: `Are you sure you want to delete BackupLocation ${name} from namespace ${target.namespace}?`,
    what: `BackupLocation ${name}`,
  });
  if (!yes) {
    io.stderr.write('Nothing was changed.\n');
    return;
  }
  await target.client.json({
    method: 'DELETE',
    path: resourcePath('BackupLocation', target.namespace, name),
  });
  io.stdout.write(
    `Backup location "${name}" deleted from namespace ${target.namespace}; its stored backups in ${whereOf(location.spec)} were not touched.\n`,
  );
  // The Secret this command made for it goes with it; a Secret the user named stays theirs.
  const credentials = await secretOf(target, credentialsSecretName(name));
  if (credentials?.metadata.labels?.[LABELS.credentialsOf] === name) {
    await target.client.send({
      method: 'DELETE',
      path: `/api/v1/namespaces/${target.namespace}/secrets/${credentialsSecretName(name)}`,
    });
    io.stdout.write(`Its credentials Secret ${credentialsSecretName(name)} was deleted.\n`);
  }
  // The server does nothing when a location goes (catalog.ts): its Backup resources stay.
  const backups = (
    await target.client.json<{ items: Backup[] }>({ path: resourcePath('Backup', target.namespace) })
  ).items.filter(
    (b) => b.metadata.labels?.[LABELS.veleroStorageLocation] === name || b.spec?.storageLocation === name,
  );
  if (backups.length > 0)
    io.stdout.write(
      `${backups.length} Backup resource${backups.length === 1 ? '' : 's'} of it stay${backups.length === 1 ? 's' : ''} in the cluster as records: ` +
        'restores from them fail, and deleting one (or its TTL running out) removes only the resource, until a ' +
        `location named "${name}" exists again.\n`,
    );
  if (await secretOf(target, keySecretName(name)))
    io.stdout.write(`Its key stays in Secret ${keySecretName(name)}: keep it to read those backups again.\n`);
  if (location.spec.default)
    io.stdout.write(
      'It was the default location: backups without a location fail validation until another is the default ' +
        '(`cairn location set NAME --default`), unless only one location is left.\n',
    );
}
