// `cairn location ...`: the backup locations of standalone mode, kept in config.ts's config.yaml with one
// key file per encrypted location. Output never shows a key or credentials, except `key-export`, whose
// whole purpose is to print the key. Heavy modules (config.ts loads the storage drivers) are imported
// inside the actions, so `--help` stays fast.
import { Command, Option } from 'commander';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  backupNameProblem,
  locationProblems,
  normalizeProvider,
  type AccessMode,
  type BackupLocationSpec,
  type LocationProvider,
  type SpecProblem,
} from '../../api/index.ts';
import type { ConfiguredLocation } from '../config.ts';
import type { CliIO } from '../io.ts';
import { formatStructured, parseOutputFormat, type OutputFormat } from '../output.ts';
import { formatTable } from '../table.ts';
import { confirmDeletion } from './backup-catalog.ts';
import { keyFileOf, markDefault, parseConfigPairs } from './location-config.ts';

type SetExitCode = (code: number) => void;

/** How long `location create` waits for the store to answer before warning that it is not reachable. */
const REACHABILITY_TIMEOUT_MS = 10_000;

/** The location request is invalid; nothing was written. main() prints each problem. */
export class LocationValidationError extends Error {
  override readonly name = 'LocationValidationError';
  readonly problems: SpecProblem[];
  constructor(problems: SpecProblem[]) {
    super(
      `the location is invalid: ${problems.map((p) => `${p.field} "${p.value}": ${p.message}`).join('; ')}`,
    );
    this.problems = problems;
  }
}

export class LocationExistsError extends Error {
  override readonly name = 'LocationExistsError';
  readonly location: string;
  constructor(location: string) {
    super(`a backup location named "${location}" already exists (see \`cairn location get\`)`);
    this.location = location;
  }
}

/** key-export of a location without a key. */
export class LocationKeyError extends Error {
  override readonly name = 'LocationKeyError';
}

/** The flag that sets each spec field, to point the user at it. */
const flagOf: Record<string, string> = {
  name: 'NAME',
  provider: '--provider',
  'objectStorage.bucket': '--bucket',
  'config.path': '--path',
  'config.region': '--config region=...',
  accessMode: '--access-mode',
  credentials: '--credentials-file',
};

const withFlag = (problem: SpecProblem): SpecProblem => {
  const flag = flagOf[problem.field];
  return flag ? { ...problem, message: `${problem.message} (${flag})` } : problem;
};

interface CreateOptions {
  provider: string;
  bucket?: string;
  prefix?: string;
  config?: Record<string, string>;
  path?: string;
  credentialsFile?: string;
  accessMode: string;
  plaintext?: boolean;
  default?: boolean;
}

/** The location the flags describe, or every problem with them. */
async function locationFromFlags(
  name: string,
  options: CreateOptions,
): Promise<{ location?: ConfiguredLocation; problems: SpecProblem[] }> {
  const problems: SpecProblem[] = [];
  const nameProblem = backupNameProblem(name);
  if (nameProblem) problems.push({ field: 'name', value: name, message: nameProblem });
  const provider = normalizeProvider(options.provider);
  if (!provider) {
    problems.push({
      field: 'provider',
      value: options.provider,
      message: "must be one of fs, s3, azure, gcs (or Velero's aws, gcp)",
    });
  }
  const config = { ...options.config };
  if (options.path !== undefined) config.path = options.path;
  // Relative to where the command runs, stored absolute: later commands run from anywhere.
  if (config.path) config.path = resolve(config.path);
  const spec: BackupLocationSpec = {
    provider: provider ?? (options.provider as LocationProvider),
    ...(options.bucket !== undefined
      ? { objectStorage: { bucket: options.bucket, ...(options.prefix ? { prefix: options.prefix } : {}) } }
      : {}),
    ...(Object.keys(config).length > 0 ? { config } : {}),
    ...(options.default ? { default: true } : {}),
    accessMode: options.accessMode as AccessMode,
    ...(options.plaintext ? { plaintext: true } : {}),
  };
  // The other checks depend on the provider: with an unknown one, its own problem is the one to fix.
  if (provider) problems.push(...locationProblems(spec));
  if (provider === 'fs' && (options.bucket !== undefined || options.prefix !== undefined)) {
    problems.push({
      field: 'objectStorage.bucket',
      value: options.bucket ?? options.prefix ?? '',
      message: 'an fs location takes a directory (--path), not a bucket or prefix',
    });
  }
  if (options.prefix !== undefined && options.bucket === undefined && provider !== 'fs') {
    problems.push({
      field: 'objectStorage.prefix',
      value: options.prefix,
      message: 'a prefix needs a bucket',
    });
  }
  let credentialsFile: string | undefined;
  if (options.credentialsFile !== undefined) {
    credentialsFile = resolve(options.credentialsFile);
    if (!existsSync(credentialsFile)) {
      problems.push({
        field: 'credentials',
        value: options.credentialsFile,
        message: 'the file does not exist',
      });
    } else if (provider) {
      const { readFileSync } = await import('node:fs');
      const { parseCredentials } = await import('../../storage/index.ts');
      try {
        parseCredentials(provider, readFileSync(credentialsFile, 'utf8'), 'default', config);
      } catch (error) {
        // The parser's messages name what is missing, never the secrets themselves.
        const message = error instanceof Error ? error.message.replace(/^credentials: /, '') : String(error);
        problems.push({ field: 'credentials', value: options.credentialsFile, message });
      }
    }
  }
  if (problems.length > 0) return { problems: problems.map(withFlag) };
  return { location: { name, spec, ...(credentialsFile ? { credentialsFile } : {}) }, problems };
}

function createCommand(io: CliIO): Command {
  return new Command('create')
    .description('Add a backup location: a directory, or a bucket of S3, Azure Blob Storage or GCS')
    .argument('<name>', 'the location name (lower-case letters, digits and "-")')
    .requiredOption('--provider <provider>', "fs, s3, azure or gcs (Velero's aws and gcp are accepted)")
    .option('--bucket <bucket>', 'the bucket (S3, GCS) or container (Azure)')
    .option('--prefix <prefix>', 'a key prefix inside the bucket')
    .option('--path <dir>', 'the directory of an fs location (same as --config path=DIR)')
    .option(
      '--config <k=v,...>',
      'provider settings: fs: path; s3: region, s3Url, s3ForcePathStyle; gcs: endpoint, project',
      parseConfigPairs,
    )
    .option(
      '--credentials-file <file>',
      'S3: AWS credentials file ([default] aws_access_key_id=...); Azure: AZURE_STORAGE_CONNECTION_STRING=...; ' +
        'GCS: service-account JSON. Referenced by path, never copied',
    )
    .addOption(
      new Option('--access-mode <mode>', 'ReadOnly: restore from it, never write or delete').default(
        'ReadWrite',
      ),
    )
    .option('--plaintext', 'store backups unencrypted, readable by Velero (Secrets included)')
    .option('--default', 'make it the default location of `backup create`')
    .addHelpText(
      'after',
      `
Each location that is not --plaintext gets its own 32-byte encryption key, in
$XDG_CONFIG_HOME/cairn/keys/NAME.key. Losing the key loses the backups: save it with
\`cairn location key-export NAME\`.

Examples:
  cairn location create nas --provider fs --path /mnt/nas/cairn
  cairn location create minio --provider aws --bucket backups --credentials-file ~/.aws/credentials \\
      --config region=us-east-1,s3Url=http://minio:9000,s3ForcePathStyle=true
  cairn location create velero --provider gcp --bucket velero-backups --prefix cluster-1 \\
      --plaintext --access-mode ReadOnly`,
    )
    .action(async (name: string, options: CreateOptions) => {
      const { locationKey, openLocation, saveConfig, withDefaultLocation } = await import('../config.ts');
      const { keyId, LocationKeyMismatchError } = await import('../../storage/index.ts');
      const { location, problems } = await locationFromFlags(name, options);
      if (!location) throw new LocationValidationError(problems);
      // The embedded default location stays configured beside the new one.
      const config = withDefaultLocation(io.env);
      if (config.locations.some((l) => l.name === name)) throw new LocationExistsError(name);
      config.locations.push(location);
      if (location.spec.default) markDefault(config, name);
      saveConfig(io.env, config);
      io.stdout.write(`Backup location "${name}" created: ${whereOf(location)}.\n`);

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
      const key = locationKey(io.env, name, { create: true });
      const id = key ? keyId(key) : '?';
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

/** Where a location stores: `fs /dir`, `s3://bucket/prefix`. */
function whereOf(location: ConfiguredLocation): string {
  const { spec } = location;
  if (spec.provider === 'fs') return spec.config?.path ?? '';
  const scheme = spec.provider === 'gcs' ? 'gs' : spec.provider;
  const prefix = spec.objectStorage?.prefix ? `/${spec.objectStorage.prefix.replace(/^\/+|\/+$/g, '')}` : '';
  return `${scheme}://${spec.objectStorage?.bucket ?? ''}${prefix}`;
}

/** How the location encrypts: its key id, "plaintext", or that the key is not made yet. */
async function encryptionOf(io: CliIO, location: ConfiguredLocation): Promise<string> {
  if (location.spec.plaintext) return 'plaintext';
  const { locationKey } = await import('../config.ts');
  const { keyId } = await import('../../storage/index.ts');
  const key = locationKey(io.env, location.name, { create: false });
  return key ? keyId(key) : 'no key yet';
}

function getCommand(io: CliIO): Command {
  return new Command('get')
    .description('List the backup locations')
    .argument('[name]', 'only this location')
    .addOption(
      new Option('-o, --output <format>', 'table, json or yaml')
        .argParser(parseOutputFormat)
        .default('table'),
    )
    .addHelpText(
      'after',
      `
Examples:
  cairn location get
  cairn location get minio -o yaml`,
    )
    .action(async (name: string | undefined, options: { output: OutputFormat }) => {
      const { findLocation, withDefaultLocation } = await import('../config.ts');
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
    });
}

function setDefaultCommand(io: CliIO): Command {
  return new Command('set-default')
    .description('Make a location the default of `backup create`')
    .argument('<name>', 'the location')
    .addHelpText(
      'after',
      `
Examples:
  cairn location set-default minio`,
    )
    .action(async (name: string) => {
      const { findLocation, saveConfig, withDefaultLocation } = await import('../config.ts');
      const config = withDefaultLocation(io.env);
      findLocation(config, name);
      markDefault(config, name);
      saveConfig(io.env, config);
      io.stdout.write(`Backup location "${name}" is now the default.\n`);
    });
}

function deleteCommand(io: CliIO): Command {
  return new Command('delete')
    .description('Remove a location from the configuration; its stored backups and its key file stay')
    .argument('<name>', 'the location')
    .option('--confirm', 'remove without asking')
    .addHelpText(
      'after',
      `
Only the configuration changes: no stored backup is deleted, and the key file stays, so
\`cairn location create\` with the same name and settings reads the backups again.

Examples:
  cairn location delete old-nas
  cairn location delete old-nas --confirm`,
    )
    .action(async (name: string, options: { confirm?: boolean }) => {
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
        `Backup location "${name}" removed from the configuration; its backups in ${whereOf(location)} were not touched.\n`,
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
  return new Command('key-export')
    .description("Print a location's encryption key (base64) for safekeeping")
    .argument('<name>', 'the location')
    .addHelpText(
      'after',
      `
The only command that prints a key. Store it where the backups are not: with the key and the
location's files, anyone can read every backed-up object, Secrets included.

Examples:
  cairn location key-export default > default.key
  cairn location key-export minio | gpg --encrypt -r ops@example.com > minio.key.gpg`,
    )
    .action(async (name: string) => {
      const { findLocation, locationKey, withDefaultLocation } = await import('../config.ts');
      const location = findLocation(withDefaultLocation(io.env), name);
      if (location.spec.plaintext)
        throw new LocationKeyError(
          `location "${name}" is plaintext: its backups are not encrypted and it has no key`,
        );
      const key = locationKey(io.env, name, { create: false });
      if (!key) {
        throw new LocationKeyError(
          `location "${name}" has no key yet (${await keyFileOf(io.env, name)} does not exist): ` +
            'it is made by the first backup into the location',
        );
      }
      io.stdout.write(key.toString('base64') + '\n');
    });
}

export function locationCommand(io: CliIO, _setExitCode: SetExitCode): Command {
  return new Command('location')
    .description('Configure backup locations (standalone mode)')
    .addCommand(createCommand(io))
    .addCommand(getCommand(io))
    .addCommand(setDefaultCommand(io))
    .addCommand(deleteCommand(io))
    .addCommand(keyExportCommand(io));
}
