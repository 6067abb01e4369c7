// `cairn location ...`: the backup locations of standalone mode, kept in config.ts's config.yaml with one
// key file per encrypted location; or, with Cairn's server installed (serverClient's detection, as
// `backup create`), the server's BackupLocation resources (location-server.ts). Output never shows a key
// or credentials, except standalone `key-export`, whose whole purpose is to print the key. Heavy modules
// (config.ts loads the storage drivers) are imported inside the actions, so `--help` stays fast.
import { Command, Option } from 'commander';
import { existsSync } from 'node:fs';
import type { ConfiguredLocation } from '../config.ts';
import type { CliIO } from '../io.ts';
import { addModeOptions, existingFile, goDuration, type ModeOptions } from '../options.ts';
import { formatStructured, parseOutputFormat, type OutputFormat } from '../output.ts';
import { formatTable } from '../table.ts';
import { confirmDeletion } from './backup-catalog.ts';
import {
  keyFileOf,
  LocationKeyError,
  LocationValidationError,
  markDefault,
  parseConfigPairs,
  whereOf,
} from './location-config.ts';
import {
  flagsOf,
  locationFromFlags,
  mergeSetFlags,
  parseSecretKeyRef,
  type LocationFlags,
  type SetFlags,
} from './location-flags.ts';
import type { ServerTarget } from './location-server.ts';
import { rotateKeyCommand } from './location-keys.ts';

type SetExitCode = (code: number) => void;

/** How long `location create` waits for the store to answer before warning that it is not reachable. */
const REACHABILITY_TIMEOUT_MS = 10_000;

export class LocationExistsError extends Error {
  override readonly name = 'LocationExistsError';
  readonly location: string;
  constructor(location: string) {
    super(`a backup location named "${location}" already exists (see \`cairn location get\`)`);
    this.location = location;
  }
}

export { LocationKeyError } from './location-config.ts';

/**
 * The server to work through (serverClient: --server, --standalone, or whether one is installed), or
 * undefined to work on this machine's configuration.
 */
async function serverOf(
  io: CliIO,
  command: Command,
  options: ModeOptions,
): Promise<ServerTarget | undefined> {
  const { serverClient } = await import('../server-mode.ts');
  const client = await serverClient(io, command, options);
  return client ? { client, namespace: options.namespace } : undefined;
}

/** How long a call to the location's store may hang (both modes): its spec's requestTimeout and idleTimeout. */
function addTimeoutOptions(command: Command): Command {
  return command
    .option(
      '--request-timeout <duration>',
      'abort (and retry) a request the store leaves unanswered this long (default 60s); also bounds the check',
      goDuration,
    )
    .option(
      '--idle-timeout <duration>',
      'fail an upload or download that moves no bytes this long while waiting for the store (default 60s)',
      goDuration,
    );
}

/**
 * The flags of the server's locations only: a Secret for the credentials, and the server's timers (with
 * the store timeouts of both modes, addTimeoutOptions, so that create and set have them all).
 */
function addServerFieldOptions(command: Command): Command {
  return addTimeoutOptions(command)
    .option(
      '--credential <secret/key>',
      "server mode: the credentials are in this key of an existing Secret of the server's namespace " +
        "(Velero's SECRET=KEY is accepted)",
      parseSecretKeyRef,
    )
    .option(
      '--backup-sync-period <duration>',
      'server mode: how often its backups are synced into the cluster as Backup resources (default 1m, 0: never)',
      goDuration,
    )
    .option(
      '--validation-frequency <duration>',
      'server mode: how often the server checks that it is available (default 1m, 0: never)',
      goDuration,
    );
}

const CREDENTIALS_FILE_HELP =
  'S3: AWS credentials file ([default] aws_access_key_id=...); Azure: AZURE_STORAGE_CONNECTION_STRING=...; ' +
  'GCS: service-account JSON. Standalone: referenced by path, never copied; server mode: copied into the ' +
  'Secret cairn-credentials-NAME';

function createCommand(io: CliIO): Command {
  return addServerFieldOptions(
    addModeOptions(
      new Command('create')
        .description(
          'Add a backup location: a directory, or a bucket of S3, Azure Blob Storage or GCS (with a server ' +
            'installed: a BackupLocation resource)',
        )
        .argument('<name>', 'the location name (lower-case letters, digits and "-")')
        .requiredOption('--provider <provider>', "fs, s3, azure or gcs (Velero's aws and gcp are accepted)")
        .option('--bucket <bucket>', 'the bucket (S3, GCS) or container (Azure)')
        .option('--prefix <prefix>', 'a key prefix inside the bucket')
        .option(
          '--path <dir>',
          "the directory of an fs location (same as --config path=DIR; server mode: the server pod's)",
        )
        .option(
          '--config <k=v,...>',
          'provider settings: fs: path; s3: region, s3Url, s3ForcePathStyle; gcs: endpoint, project',
          parseConfigPairs,
        )
        .option('--credentials-file <file>', CREDENTIALS_FILE_HELP, existingFile)
        .addOption(
          new Option('--access-mode <mode>', 'ReadOnly: restore from it, never write or delete')
            .choices(['ReadWrite', 'ReadOnly'])
            .default('ReadWrite'),
        )
        .option('--plaintext', 'store backups unencrypted, readable by Velero (Secrets included)')
        .option('--default', 'make it the default location of `backup create`'),
    ),
  )
    .addHelpText(
      'after',
      `
Standalone, each location that is not --plaintext gets its own 32-byte encryption key, in
$XDG_CONFIG_HOME/cairn/keys/NAME.key. Losing the key loses the backups: save it with
\`cairn location key-export NAME\`.

With Cairn's server installed (cairn install; --server insists, --standalone overrides), it creates a
BackupLocation in the server's namespace (-n), and a credentials file becomes the Secret
cairn-credentials-NAME. The server makes the key on the location's first backup, in the Secret
cairn-key-NAME. A ReadOnly location (another cluster's backups) needs that cluster's key in that Secret.

Examples:
  cairn location create nas --provider fs --path /mnt/nas/cairn
  cairn location create minio --provider aws --bucket backups --credentials-file ~/.aws/credentials \\
      --config region=us-east-1,s3Url=http://minio:9000,s3ForcePathStyle=true
  cairn location create velero --provider gcp --bucket velero-backups --prefix cluster-1 \\
      --plaintext --access-mode ReadOnly
  cairn location create dr --server --provider aws --bucket prod-backups --config region=eu-west-1 \\
      --credentials-file ./prod-readonly-credentials --access-mode ReadOnly --backup-sync-period 5m
  cairn location create secondary --server --provider gcp --bucket backups-2 --credential gcs-sa/key.json \\
      --default --validation-frequency 10m`,
    )
    .action(async (name: string, options: LocationFlags & ModeOptions, command: Command) => {
      const server = await serverOf(io, command, options);
      if (server) {
        const { createLocation } = await import('./location-server.ts');
        await createLocation(io, server, name, options);
        return;
      }
      const { locationKeyring, openLocation, saveConfig, withDefaultLocation } = await import('../config.ts');
      const { LocationKeyMismatchError } = await import('../../storage/index.ts');
      const { spec, credentialsFile, problems } = await locationFromFlags(name, options, 'standalone');
      if (!spec) throw new LocationValidationError(problems);
      const location: ConfiguredLocation = { name, spec, ...(credentialsFile ? { credentialsFile } : {}) };
      // The embedded default location stays configured beside the new one.
      const config = withDefaultLocation(io.env);
      if (config.locations.some((l) => l.name === name)) throw new LocationExistsError(name);
      config.locations.push(location);
      if (location.spec.default) markDefault(config, name);
      saveConfig(io.env, config);
      io.stdout.write(`Backup location "${name}" created: ${whereOf(location.spec)}.\n`);

      // Reachable, and holding encrypted backups already (another machine's)? A warning, not a failure:
      // the store may be down for now, and the config is written.
      let expectedKeyId: string | undefined;
      try {
        const signal = AbortSignal.timeout(REACHABILITY_TIMEOUT_MS);
        expectedKeyId = await (await openLocation(io.env, location)).expectedKeyId({ signal });
      } catch (error) {
        io.stderr.write(
          `warning: location "${name}" is not reachable now: ` +
            `${error instanceof Error ? error.message : String(error)}\n`,
        );
      }
      if (location.spec.plaintext) return;
      const keyFile = await keyFileOf(io.env, name);
      const existed = existsSync(keyFile);
      if (!existed && expectedKeyId !== undefined) {
        // A new key would split the location: it needs the key its backups have.
        io.stderr.write(
          `warning: ${new LocationKeyMismatchError({ location: name, expectedKeyId, keySource: `the key file ${keyFile}` }).message}. No key was made.\n`,
        );
        return;
      }
      const id = locationKeyring(io.env, name, { create: true })?.currentId ?? '?';
      if (expectedKeyId !== undefined && expectedKeyId !== id) {
        io.stderr.write(
          `warning: ${new LocationKeyMismatchError({ location: name, expectedKeyId, givenKeyId: id, keySource: `the key file ${keyFile}` }).message}.\n`,
        );
        return;
      }
      io.stderr.write(
        `warning: backups in location "${name}" are encrypted with the key ${existed ? 'already ' : ''}in ` +
          `${keyFile} (key id ${id}). Losing the key loses the backups: keep a copy ` +
          `somewhere safe; \`cairn location key-export ${name}\` prints it.\n`,
      );
    });
}

/** How the location encrypts: its key id, "plaintext", or that the key is not made yet. */
async function encryptionOf(io: CliIO, location: ConfiguredLocation): Promise<string> {
  if (location.spec.plaintext) return 'plaintext';
  const { locationKeyring } = await import('../config.ts');
  return locationKeyring(io.env, location.name, { create: false })?.currentId ?? 'no key yet';
}

function getCommand(io: CliIO): Command {
  return addModeOptions(
    new Command('get')
      .description(
        "List the backup locations (with a server installed: its BackupLocations, with each one's phase)",
      )
      .argument('[name]', 'only this location'),
  )
    .addOption(
      new Option('-o, --output <format>', 'table, json or yaml')
        .argParser(parseOutputFormat)
        .default('table'),
    )
    .addHelpText(
      'after',
      `
With Cairn's server installed, the BackupLocation resources of its namespace (-n): PHASE is Available or
Unavailable as the server last found it (at LAST VALIDATED; the reason follows the table), and -o json|yaml
prints the resources.

Examples:
  cairn location get
  cairn location get minio -o yaml
  cairn location get --server -n backup-system
  cairn location get --standalone`,
    )
    .action(
      async (name: string | undefined, options: ModeOptions & { output: OutputFormat }, command: Command) => {
        const server = await serverOf(io, command, options);
        if (server) {
          const { getLocations } = await import('./location-server.ts');
          await getLocations(io, server, { name, output: options.output });
          return;
        }
        const { findLocation, locationKeyring, withDefaultLocation } = await import('../config.ts');
        const config = withDefaultLocation(io.env);
        const locations = name === undefined ? config.locations : [findLocation(config, name)];
        const defaultName = findLocation(config, undefined).name;
        const encryption = await Promise.all(locations.map((l) => encryptionOf(io, l)));
        if (options.output !== 'table') {
          const items = await Promise.all(
            locations.map(async (location, i) => ({
              apiVersion: 'cairn.dev/v1',
              kind: 'BackupLocation',
              metadata: { name: location.name },
              spec: location.spec,
              status: {
                default: location.name === defaultName,
                encryption: location.spec.plaintext
                  ? 'plaintext'
                  : {
                      algorithm: 'AES-256-GCM',
                      keyId: encryption[i],
                      retiredKeyIds:
                        locationKeyring(io.env, location.name, { create: false })?.retiredIds ?? [],
                      keyFile: await keyFileOf(io.env, location.name),
                    },
                ...(location.credentialsFile ? { credentialsFile: location.credentialsFile } : {}),
              },
            })),
          );
          io.stdout.write(
            formatStructured(
              name === undefined ? { apiVersion: 'v1', kind: 'List', items } : items[0],
              options.output,
            ),
          );
          return;
        }
        io.stdout.write(
          formatTable(
            ['NAME', 'PROVIDER', 'BUCKET/PATH', 'PREFIX', 'ACCESS MODE', 'DEFAULT', 'ENCRYPTION'],
            locations.map((location, i) => [
              location.name,
              location.spec.provider,
              location.spec.provider === 'fs'
                ? (location.spec.config?.path ?? '')
                : (location.spec.objectStorage?.bucket ?? ''),
              location.spec.objectStorage?.prefix || '<none>',
              location.spec.accessMode ?? 'ReadWrite',
              location.name === defaultName ? 'true' : 'false',
              encryption[i] ?? '',
            ]),
          ),
        );
      },
    );
}

function setCommand(io: CliIO): Command {
  return addServerFieldOptions(
    addModeOptions(
      new Command('set')
        .description(
          "Change a location's settings, credentials, access mode or default mark (not where it stores)",
        )
        .argument('<name>', 'the location')
        .option('--config <k=v,...>', 'provider settings to set (the others stay)', parseConfigPairs)
        .option('--credentials-file <file>', CREDENTIALS_FILE_HELP, existingFile)
        .addOption(
          new Option(
            '--access-mode <mode>',
            'ReadWrite, or ReadOnly: restore from it, never write or delete',
          ).choices(['ReadWrite', 'ReadOnly']),
        )
        .option('--default', 'make it the default location (the previous default loses the mark)'),
    ),
  )
    .addHelpText(
      'after',
      `
A location's provider, bucket, prefix and encryption are what its backups are: they do not change (create
another location instead). Only the fields given change. With Cairn's server installed, it changes the
BackupLocation with a merge patch; --default takes the mark from the location that had it, as Velero does.

Examples:
  cairn location set minio --default
  cairn location set minio --credentials-file ~/.aws/new-credentials
  cairn location set minio --request-timeout 2m --idle-timeout 5m
  cairn location set dr --server --access-mode ReadWrite --backup-sync-period 0
  cairn location set primary -n backup-system --credential cloud-credentials/aws --validation-frequency 5m`,
    )
    .action(async (name: string, options: SetFlags & ModeOptions, command: Command) => {
      const server = await serverOf(io, command, options);
      if (server) {
        const { setLocation } = await import('./location-server.ts');
        await setLocation(io, server, name, options);
        return;
      }
      const { findLocation, saveConfig, withDefaultLocation } = await import('../config.ts');
      const config = withDefaultLocation(io.env);
      const current = findLocation(config, name);
      const before = {
        ...flagsOf(current.spec),
        ...(current.credentialsFile ? { credentialsFile: current.credentialsFile } : {}),
      };
      const { spec, credentialsFile, problems } = await locationFromFlags(
        name,
        mergeSetFlags(before, options),
        'standalone',
      );
      if (!spec) throw new LocationValidationError(problems);
      const updated: ConfiguredLocation = { name, spec, ...(credentialsFile ? { credentialsFile } : {}) };
      config.locations = config.locations.map((l) => (l.name === name ? updated : l));
      if (spec.default) markDefault(config, name);
      saveConfig(io.env, config);
      io.stdout.write(`Backup location "${name}" changed.\n`);
    });
}

function setDefaultCommand(io: CliIO): Command {
  return addModeOptions(
    new Command('set-default')
      .description('Make a location the default of `backup create` (the same as `set NAME --default`)')
      .argument('<name>', 'the location'),
  )
    .addHelpText(
      'after',
      `
Examples:
  cairn location set-default minio
  cairn location set-default secondary --server -n backup-system`,
    )
    .action(async (name: string, options: ModeOptions, command: Command) => {
      const server = await serverOf(io, command, options);
      if (server) {
        const { setLocation } = await import('./location-server.ts');
        await setLocation(io, server, name, { default: true });
        return;
      }
      const { findLocation, saveConfig, withDefaultLocation } = await import('../config.ts');
      const config = withDefaultLocation(io.env);
      findLocation(config, name);
      markDefault(config, name);
      saveConfig(io.env, config);
      io.stdout.write(`Backup location "${name}" is now the default.\n`);
    });
}

function deleteCommand(io: CliIO): Command {
  return addModeOptions(
    new Command('delete')
      .description(
        'Remove a location (standalone: from the configuration; server: its BackupLocation); stored backups and keys stay',
      )
      .argument('<name>', 'the location')
      .option('--confirm', 'remove without asking'),
  )
    .addHelpText(
      'after',
      `
Standalone, only the configuration changes: no stored backup is deleted, and the key file stays, so
\`cairn location create\` with the same name and settings reads the backups again.

With Cairn's server installed, the BackupLocation is deleted, with the credentials Secret \`location
create\` made for it. Its stored backups and its key Secret cairn-key-NAME stay, and so do the Backup
resources synced from it: restores from them fail until a location of that name exists again.

Examples:
  cairn location delete old-nas
  cairn location delete old-nas --confirm
  cairn location delete dr --server -n backup-system --confirm`,
    )
    .action(async (name: string, options: ModeOptions & { confirm?: boolean }, command: Command) => {
      const server = await serverOf(io, command, options);
      if (server) {
        const { deleteLocation } = await import('./location-server.ts');
        await deleteLocation(io, server, name, { confirm: options.confirm === true });
        return;
      }
      const { findLocation, saveConfig, withDefaultLocation } = await import('../config.ts');
      const config = withDefaultLocation(io.env);
      const location = findLocation(config, name);
      const yes = await confirmDeletion(io, {
        confirmed: options.confirm === true,
        question: `Are you sure you want to remove backup location ${name} from the configuration?`,
        what: `backup location ${name}`,
      });
      if (!yes) {
        io.stderr.write('Nothing was changed.\n');
        return;
      }
      config.locations = config.locations.filter((l) => l.name !== name);
      const nextDefault = location.spec.default ? config.locations[0] : undefined;
      if (nextDefault) markDefault(config, nextDefault.name);
      saveConfig(io.env, config);
      io.stdout.write(
        `Backup location "${name}" removed from the configuration; its backups in ${whereOf(location.spec)} were not touched.\n`,
      );
      const keyFile = await keyFileOf(io.env, name);
      if (existsSync(keyFile))
        io.stdout.write(`Its key stays in ${keyFile}: keep it to read those backups again.\n`);
      if (nextDefault) io.stdout.write(`The default location is now "${nextDefault.name}".\n`);
      if (config.locations.length === 0)
        io.stdout.write(
          'No location is left: the next command sets up the embedded "default" location again.\n',
        );
    });
}

function keyExportCommand(io: CliIO): Command {
  return addModeOptions(
    new Command('key-export')
      .description("Print a standalone location's encryption keyring (base64 keys) for safekeeping")
      .argument('<name>', 'the location'),
  )
    .addHelpText(
      'after',
      `
The only command that prints a key. Store it where the backups are not: with the key and the
location's files, anyone can read every backed-up object, Secrets included. After a
\`cairn location rotate-key\`, it prints the whole keyring: the current key on the first line, then the
retired keys that read the older backups (a \`#\` line between them names their key ids). Export it
again after every rotation.

With Cairn's server installed, a location's key is the Secret cairn-key-NAME of the server's namespace,
which the CLI does not print: it says how to copy the Secret. --standalone exports this machine's key.

Examples:
  cairn location key-export default > default.key
  cairn location key-export minio | gpg --encrypt -r ops@example.com > minio.key.gpg
  cairn location key-export minio --standalone`,
    )
    .action(async (name: string, options: ModeOptions, command: Command) => {
      const server = await serverOf(io, command, options);
      if (server) {
        const { keySecretName } = await import('../../controller/index.ts');
        const secret = keySecretName(name);
        throw new LocationKeyError(
          `in server mode the key of location "${name}" is the Secret ${secret} in namespace ${server.namespace} ` +
            `(data "key": the same text key-export prints), and this command does not print it. Copy it with ` +
            `\`kubectl get secret -n ${server.namespace} ${secret} -o yaml\`; --standalone exports a standalone location's key`,
        );
      }
      const { findLocation, locationKeyring, withDefaultLocation } = await import('../config.ts');
      const { formatKeyring } = await import('../../storage/index.ts');
      const location = findLocation(withDefaultLocation(io.env), name);
      if (location.spec.plaintext)
        throw new LocationKeyError(
          `location "${name}" is plaintext: its backups are not encrypted and it has no key`,
        );
      const ring = locationKeyring(io.env, name, { create: false });
      if (!ring) {
        throw new LocationKeyError(
          `location "${name}" has no key yet (${await keyFileOf(io.env, name)} does not exist): ` +
            'it is made by the first backup into the location',
        );
      }
      io.stdout.write(formatKeyring(ring));
    });
}

export function locationCommand(io: CliIO, _setExitCode: SetExitCode): Command {
  return new Command('location')
    .description(
      "Configure backup locations: this machine's, or the server's BackupLocations when it is installed",
    )
    .addCommand(createCommand(io))
    .addCommand(getCommand(io))
    .addCommand(setCommand(io))
    .addCommand(setDefaultCommand(io))
    .addCommand(deleteCommand(io))
    .addCommand(keyExportCommand(io))
    .addCommand(rotateKeyCommand(io));
}
