// Standalone mode's configuration: the backup locations a user has set up, in
// $XDG_CONFIG_HOME/cairn/config.yaml (default ~/.config/cairn), each location's encryption keyring (its
// current key and the keys rotated away from) in $XDG_CONFIG_HOME/cairn/keys/<name>.key (mode 0600), and the embedded default location `default`, a
// directory at $XDG_DATA_HOME/cairn/locations/default (default ~/.local/share/cairn), so `cairn backup
// create` works with no set-up. Nothing here is written by a command that only reads, or that is refused:
// the default location and a new key are saved by the first backup, once it is valid.
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { chmod, mkdir, open, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { locationProblems, type BackupLocationSpec } from '../api/index.ts';
import {
  BackupStore,
  formatKeyring,
  generateLocationKey,
  KeyringFormatError,
  LocationKeyMismatchError,
  openObjectStore,
  parseCredentials,
  parseKeyring,
  type LocationKeyring,
} from '../storage/index.ts';
import type { RepositoryPasswords } from '../volumes/index.ts';

export interface ConfiguredLocation {
  name: string;
  spec: BackupLocationSpec;
  /** A file with the location's credentials (referenced, never copied into the config or output). */
  credentialsFile?: string;
}

export interface CliConfig {
  locations: ConfiguredLocation[];
}

type Env = Readonly<Record<string, string | undefined>>;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export function configDir(env: Env): string {
  return join(env.XDG_CONFIG_HOME || join(env.HOME ?? '.', '.config'), 'cairn');
}

export function dataDir(env: Env): string {
  return join(env.XDG_DATA_HOME || join(env.HOME ?? '.', '.local', 'share'), 'cairn');
}

const configFile = (env: Env) => join(configDir(env), 'config.yaml');
/** Where a location's key is kept. */
export const keyFile = (env: Env, name: string) => join(configDir(env), 'keys', `${name}.key`);

export function loadConfig(env: Env): CliConfig {
  const file = configFile(env);
  if (!existsSync(file)) return { locations: [] };
  const parsed = parse(readFileSync(file, 'utf8')) as Partial<CliConfig> | null;
  return { locations: parsed?.locations ?? [] };
}

export function saveConfig(env: Env, config: CliConfig): void {
  mkdirSync(configDir(env), { recursive: true, mode: 0o700 });
  const file = configFile(env);
  writeFileSync(`${file}.tmp`, stringify(config), { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
}

/** Whether config.yaml exists (the embedded default location is not saved until a backup is written). */
export function configSaved(env: Env): boolean {
  return existsSync(configFile(env));
}

/**
 * The configuration, with the embedded default location when it has no location yet. Not saved: a command
 * that changes the configuration saves it (saveConfig), and so does the first backup (configSaved).
 */
export function withDefaultLocation(env: Env): CliConfig {
  const config = loadConfig(env);
  if (config.locations.length > 0) return config;
  const spec: BackupLocationSpec = {
    provider: 'fs',
    config: { path: join(dataDir(env), 'locations', 'default') },
    default: true,
    accessMode: 'ReadWrite',
  };
  config.locations.push({ name: 'default', spec });
  return config;
}

export function findLocation(config: CliConfig, name: string | undefined): ConfiguredLocation {
  const location =
    name === undefined
      ? (config.locations.find((l) => l.spec.default) ?? config.locations[0])
      : config.locations.find((l) => l.name === name);
  if (!location) {
    const known = config.locations.map((l) => l.name).join(', ') || 'none';
    throw new ConfigError(
      name === undefined
        ? 'no backup location is configured'
        : `no backup location named "${name}" (locations: ${known})`,
    );
  }
  return location;
}

/**
 * The location's keyring: read from its key file (a file of one key is a ring of one), or a new key made
 * (and saved, mode 0600) when `create` is set.
 */
export function locationKeyring(
  env: Env,
  name: string,
  options: { create: boolean },
): LocationKeyring | undefined {
  const file = keyFile(env, name);
  if (existsSync(file)) {
    try {
      return parseKeyring(readFileSync(file, 'utf8'), `the key file ${file}`);
    } catch (error) {
      if (error instanceof KeyringFormatError) throw new ConfigError(error.message, { cause: error });
      throw error;
    }
  }
  if (!options.create) return undefined;
  const key = generateLocationKey();
  saveLocationKey(env, name, key);
  return parseKeyring(key.toString('base64'), `the key file ${file}`);
}

/**
 * Replaces a location's key file with `ring` (a rotation): written to <file>.new and renamed over the
 * file, so a crash leaves the old ring or the new one, never half of one. A <file>.new that exists is
 * another rotation's, running or interrupted, and refuses this one.
 */
export async function replaceLocationKeyring(env: Env, name: string, ring: LocationKeyring): Promise<void> {
  const file = keyFile(env, name);
  const next = `${file}.new`;
  let handle;
  try {
    handle = await open(next, 'wx', 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    throw new ConfigError(
      `${next} exists: another \`cairn location rotate-key\` is running, or one was interrupted ` +
        '(then delete it and run the command again)',
      { cause: error },
    );
  }
  try {
    await handle.writeFile(formatKeyring(ring));
    await handle.sync();
    await handle.close();
    handle = undefined;
    await rename(next, file);
  } catch (error) {
    await handle?.close().catch(() => undefined);
    await unlink(next).catch(() => undefined);
    throw error;
  }
}

/**
 * Writes a new location's key file (mode 0600, in a 0700 directory). Never over an existing one: a key
 * file that appeared meanwhile (another cairn's first backup to the same location) holds the key that
 * location's backups may already be encrypted with, and overwriting it would lose them.
 */
export function saveLocationKey(env: Env, name: string, key: Buffer): void {
  const file = keyFile(env, name);
  mkdirSync(join(configDir(env), 'keys'), { recursive: true, mode: 0o700 });
  try {
    writeFileSync(file, key.toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    throw new ConfigError(
      `the key file ${file} of location "${name}" was made by another command meanwhile; it was kept and ` +
        `nothing was written: run the command again to use it`,
    );
  }
  chmodSync(file, 0o600);
}

/**
 * Opens a configured location as a backup store, with its credentials and (unless plaintext) its key: the
 * key file's, else `newKey` (a key made by the caller and not saved yet).
 */
export async function openLocation(
  env: Env,
  location: ConfiguredLocation,
  options: { newKey?: Buffer | undefined } = {},
): Promise<BackupStore> {
  const problems = locationProblems(location.spec);
  if (problems.length > 0) {
    throw new ConfigError(
      `location "${location.name}": ${problems.map((p) => `${p.field}: ${p.message}`).join('; ')}`,
    );
  }
  let credentials;
  if (location.credentialsFile) {
    if (!existsSync(location.credentialsFile)) {
      throw new ConfigError(
        `location "${location.name}": the credentials file ${location.credentialsFile} does not exist`,
      );
    }
    credentials = parseCredentials(
      location.spec.provider,
      readFileSync(location.credentialsFile, 'utf8'),
      'default',
      location.spec.config,
    );
  }
  const store = await openObjectStore(location.spec, { credentials, location: location.name });
  const ring = location.spec.plaintext ? undefined : locationKeyring(env, location.name, { create: false });
  return new BackupStore({
    location: location.name,
    store,
    key: location.spec.plaintext ? undefined : (ring?.current ?? options.newKey),
    retiredKeys: ring?.retired,
    keySource: `the key file ${keyFile(env, location.name)}`,
  });
}

/**
 * Opens the locations a backup writes to. A location with no key file gets a new key, in memory only:
 * `save()` writes it (and the configuration, when the embedded default location is not saved yet) once
 * the backup is valid, so a refused backup creates nothing. A location that already holds encrypted
 * backups is refused when this machine has no key file for it (LocationKeyMismatchError): a new key
 * would split it.
 */
export async function openForBackup(
  env: Env,
  config: CliConfig,
  locations: ConfiguredLocation[],
): Promise<{ stores: BackupStore[]; save: () => string[] }> {
  const newKeys = new Map<string, Buffer>();
  for (const location of locations) {
    if (!location.spec.plaintext && !locationKeyring(env, location.name, { create: false }))
      newKeys.set(location.name, generateLocationKey());
  }
  const stores = await Promise.all(
    locations.map((location) => openLocation(env, location, { newKey: newKeys.get(location.name) })),
  );
  for (const store of stores) {
    if (!newKeys.has(store.location)) continue;
    const expectedKeyId = await store.expectedKeyId();
    if (expectedKeyId !== undefined) {
      throw new LocationKeyMismatchError({
        location: store.location,
        expectedKeyId,
        keySource: `the key file ${keyFile(env, store.location)}`,
      });
    }
  }
  const saved = configSaved(env);
  return {
    stores,
    save: () => {
      if (!saved) saveConfig(env, config);
      for (const [name, key] of newKeys) saveLocationKey(env, name, key);
      return [...newKeys.keys()];
    },
  };
}

/** Where standalone mode keeps the password of a location's volume-data repository of `namespace`. */
export const repositoryPasswordFile = (env: Env, location: string, namespace: string) =>
  join(configDir(env), 'keys', `${location}.restic-${namespace}.password`);

/**
 * Standalone mode's volume-data repository passwords: one file per repository beside the location's key,
 * keys/<location>.restic-<namespace>.password (mode 0600), made on the repository's first backup. Losing
 * one loses that repository's data: `cairn repo get` says where each is. A new password (`cairn repo
 * rotate-key`) is written to <file>.new and renamed over the file; a <file>.new that exists is another
 * rotation's, running or interrupted, and refuses this one.
 */
export function fileRepositoryPasswords(env: Env): RepositoryPasswords {
  const file = (location: string, namespace: string) => repositoryPasswordFile(env, location, namespace);
  const read = async (path: string) => {
    try {
      return (await readFile(path, 'utf8')).trim();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  };
  return {
    where: (location, namespace) => `the file ${file(location, namespace)}`,
    get: (location, namespace) => read(file(location, namespace)),
    create: async (location, namespace, password) => {
      const path = file(location, namespace);
      await mkdir(join(configDir(env), 'keys'), { recursive: true, mode: 0o700 });
      try {
        // Never over an existing one: another command made it first, and the repository may use it.
        await writeFile(path, password + '\n', { mode: 0o600, flag: 'wx' });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        return (await read(path)) ?? password;
      }
      await chmod(path, 0o600);
      return password;
    },
    replace: async (location, namespace, password) => {
      const path = file(location, namespace);
      const next = `${path}.new`;
      let handle;
      try {
        handle = await open(next, 'wx', 0o600);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        throw new ConfigError(
          `${next} exists: another \`cairn repo rotate-key\` is running, or one was interrupted ` +
            '(then delete it and run the command again)',
          { cause: error },
        );
      }
      try {
        await handle.writeFile(password + '\n');
        await handle.sync();
        await handle.close();
        handle = undefined;
        await rename(next, path);
      } catch (error) {
        await handle?.close().catch(() => undefined);
        await unlink(next).catch(() => undefined);
        throw error;
      }
    },
  };
}
