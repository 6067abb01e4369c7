// `cairn location rotate-key`: a location's keyring (docs/formats/encryption.md, "Keyrings") gets a new
// current key and keeps the old one as retired, so every backup stays readable and nothing stored is
// rewritten; or, with --drop-retired, loses its retired keys once no backup needs them. Standalone it
// rewrites the key file (atomically, config.ts); in server mode it updates the Secret cairn-key-<location>
// (with its resourceVersion, so a concurrent change is refused rather than lost). Prints key ids only.
import { Command, Option } from 'commander';
import type { BackupLocation } from '../../api/index.ts';
import type { KubeObject } from '../../kube/index.ts';
import type { BackupStore, LocationKeyring } from '../../storage/index.ts';
import type { CliIO } from '../io.ts';
import { addModeOptions, type ModeOptions } from '../options.ts';
import { formatStructured, parseOutputFormat, type OutputFormat } from '../output.ts';
import { LocationKeyError } from './location-config.ts';
import type { ServerTarget } from './location-server.ts';

interface RotateOptions extends ModeOptions {
  dropRetired?: boolean;
  force?: boolean;
  output: OutputFormat;
}

/** Dropping the retired keys would leave backups unreadable; names how many per key id. */
export class RetiredKeysInUseError extends Error {
  override readonly name = 'RetiredKeysInUseError';
  readonly location: string;
  readonly backups: number;
  constructor(location: string, inUse: ReadonlyMap<string, number>) {
    const backups = [...inUse.values()].reduce((a, b) => a + b, 0);
    super(
      `location "${location}": ${backups} backup${backups === 1 ? ' is' : 's are'} encrypted with retired keys ` +
        `(${[...inUse].map(([id, n]) => `${id}: ${n}`).join(', ')}); without those keys they cannot be read. ` +
        'Nothing was changed: let them expire or delete them first, or pass --force to drop the keys anyway',
    );
    this.location = location;
    this.backups = backups;
  }
}

/** Where the keyring is kept, and how to read it and write it back. */
interface KeyringPlace {
  where: string;
  ring: LocationKeyring;
  write: (ring: LocationKeyring) => Promise<void>;
  /** The location's store, for counting the backups of each key (opened only for --drop-retired). */
  open: () => Promise<BackupStore>;
  /** How to keep a copy of the new keyring. */
  backupHint: string;
}

export function rotateKeyCommand(io: CliIO): Command {
  return addModeOptions(
    new Command('rotate-key')
      .description(
        'Give a location a new encryption key; the old one is kept as retired, so older backups stay readable',
      )
      .argument('<name>', 'the location')
      .option(
        '--drop-retired',
        'instead of rotating, remove the retired keys (refused while a backup in the location still uses one)',
      )
      .option(
        '--force',
        'with --drop-retired: remove them even so; those backups become unreadable for good',
      ),
  )
    .addOption(
      new Option('-o, --output <format>', 'table, json or yaml')
        .argParser(parseOutputFormat)
        .default('table'),
    )
    .addHelpText(
      'after',
      `
New backups are encrypted with the new key; each backup is read with the key its velero-backup.json
names, so the retired keys keep the older backups readable. Nothing stored is rewritten: the new key is
recorded in the location (metadata/keys/KEYID.json) by its first backup. A copy of the key file or Secret
kept elsewhere still reads the older backups but not the new ones: keep a copy of the new keyring
(\`cairn location key-export NAME\`, or the Secret cairn-key-NAME in server mode).

--drop-retired removes the retired keys once no backup needs them (the location's backups are read from
its store, so it must be reachable from here). While a backup still uses one it is refused, naming how
many; --force drops them anyway, and those backups can never be read again.

Standalone, the key file $XDG_CONFIG_HOME/cairn/keys/NAME.key is replaced atomically (written to
NAME.key.new, then renamed). With Cairn's server installed, the Secret cairn-key-NAME in the server's
namespace (-n) is updated; the server reads it at each backup and restore.

Examples:
  cairn location rotate-key nas
  cairn location rotate-key nas -o json
  cairn location rotate-key nas --drop-retired
  cairn location rotate-key minio --server -n backup-system`,
    )
    .action(async (name: string, options: RotateOptions, command: Command) => {
      if (options.force && !options.dropRetired)
        throw new LocationKeyError('--force is only for --drop-retired: a rotation loses no key');
      const { serverClient } = await import('../server-mode.ts');
      const client = await serverClient(io, command, options);
      const place = client
        ? await secretPlace({ client, namespace: options.namespace }, name)
        : await filePlace(io, name);
      const before = place.ring;
      const after = options.dropRetired ? before.withoutRetired() : before.rotated();
      if (options.dropRetired && before.retired.length > 0)
        await checkDrop(io, name, before, place, options.force === true);
      const result = {
        location: name,
        keyId: after.currentId,
        retiredKeyIds: after.retiredIds,
        droppedKeyIds: options.dropRetired ? before.retiredIds : [],
        keptIn: place.where,
      };
      if (options.dropRetired && before.retired.length === 0) {
        io.stderr.write(`Location "${name}" has no retired keys; nothing was changed.\n`);
      } else {
        await place.write(after);
        io.stderr.write(`Keep a copy of the new keyring away from the store: ${place.backupHint}.\n`);
      }
      if (options.output !== 'table') io.stdout.write(formatStructured(result, options.output));
      else if (options.dropRetired && result.droppedKeyIds.length > 0)
        io.stdout.write(
          `Location "${name}" keeps only its current key ${result.keyId} in ${place.where}; ` +
            `dropped ${result.droppedKeyIds.join(', ')}.\n`,
        );
      else if (!options.dropRetired)
        io.stdout.write(
          `Location "${name}" has a new key ${result.keyId} in ${place.where}; ` +
            `${before.currentId} is retired and still reads the backups written with it.\n`,
        );
    });
}

/**
 * Before the retired keys are dropped: refuses (RetiredKeysInUseError) while a backup of the location is
 * encrypted with one of them, unless `force`, which warns how many backups become unreadable.
 */
async function checkDrop(
  io: CliIO,
  name: string,
  ring: LocationKeyring,
  place: KeyringPlace,
  force: boolean,
): Promise<void> {
  const perKey = await (await place.open()).backupsPerKeyId();
  const inUse = new Map<string, number>();
  for (const id of ring.retiredIds) if (perKey.get(id)) inUse.set(id, perKey.get(id) ?? 0);
  if (inUse.size === 0) return;
  if (!force) throw new RetiredKeysInUseError(name, inUse);
  const lost = [...inUse.values()].reduce((a, b) => a + b, 0);
  io.stderr.write(
    `warning: ${lost} backup${lost === 1 ? '' : 's'} of location "${name}" ` +
      `(${[...inUse].map(([id, n]) => `${id}: ${n}`).join(', ')}) ${lost === 1 ? 'becomes' : 'become'} ` +
      'unreadable for good.\n',
  );
}

async function filePlace(io: CliIO, name: string): Promise<KeyringPlace> {
  const {
    findLocation,
    keyFile,
    locationKeyring,
    openLocation,
    replaceLocationKeyring,
    withDefaultLocation,
  } = await import('../config.ts');
  const location = findLocation(withDefaultLocation(io.env), name);
  if (location.spec.plaintext)
    throw new LocationKeyError(
      `location "${name}" is plaintext: its backups are not encrypted and it has no key`,
    );
  const ring = locationKeyring(io.env, name, { create: false });
  const file = keyFile(io.env, name);
  if (!ring)
    throw new LocationKeyError(
      `location "${name}" has no key yet (${file} does not exist): it is made by the first backup into the location`,
    );
  return {
    where: `the key file ${file}`,
    ring,
    write: (next) => replaceLocationKeyring(io.env, name, next),
    open: () => openLocation(io.env, location),
    backupHint: `\`cairn location key-export ${name}\``,
  };
}

async function secretPlace(target: ServerTarget, name: string): Promise<KeyringPlace> {
  const { formatKeyring, parseKeyring } = await import('../../storage/index.ts');
  const { getResource, keySecretName, ServerLocations } = await import('../../controller/index.ts');
  const { KubeApiError } = await import('../../kube/index.ts');
  const location = await getResource<BackupLocation>(target, 'BackupLocation', name);
  if (!location)
    throw new LocationKeyError(`no BackupLocation named "${name}" in namespace ${target.namespace}`);
  if (location.spec.plaintext)
    throw new LocationKeyError(
      `location "${name}" is plaintext: its backups are not encrypted and it has no key`,
    );
  const secretName = keySecretName(name);
  const where = `Secret "${secretName}" (data "key") in namespace ${target.namespace}`;
  const path = `/api/v1/namespaces/${target.namespace}/secrets/${secretName}`;
  let secret: KubeObject & { data?: Record<string, string> };
  try {
    secret = await target.client.json({ path });
  } catch (error) {
    if (error instanceof KubeApiError && error.status === 404)
      throw new LocationKeyError(
        `location "${name}" has no key yet (no ${where}): the server makes it on the first backup into the location`,
      );
    throw error;
  }
  const ring = parseKeyring(Buffer.from(secret.data?.['key'] ?? '', 'base64').toString('utf8'), where);
  return {
    where,
    ring,
    write: async (next) => {
      try {
        // The resourceVersion read: a Secret changed meanwhile (another rotation) is refused, not overwritten.
        await target.client.json({
          method: 'PUT',
          path,
          body: {
            ...secret,
            data: { ...secret.data, key: Buffer.from(formatKeyring(next)).toString('base64') },
          },
        });
      } catch (error) {
        if (error instanceof KubeApiError && error.status === 409)
          throw new LocationKeyError(
            `${where} was changed while the key was rotated (another rotate-key?); nothing was written: run the command again`,
            { cause: error },
          );
        throw error;
      }
    },
    open: () =>
      new ServerLocations({
        client: target.client,
        namespace: target.namespace,
        list: () => [location],
      }).open(name, { createKey: false, withoutKey: true }),
    backupHint: `\`kubectl get secret -n ${target.namespace} ${secretName} -o yaml\``,
  };
}
