// Standalone mode's configuration: the backup locations a user has set up, in
// $XDG_CONFIG_HOME/cairn/config.yaml (default ~/.config/cairn), each location's encryption key in
// $XDG_CONFIG_HOME/cairn/keys/<name>.key (mode 0600), and the embedded default location `default`, a
// directory at $XDG_DATA_HOME/cairn/locations/default (default ~/.local/share/cairn), created on first use
// with a fresh key so `cairn backup create` works with no set-up.
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { locationProblems, type BackupLocationSpec } from '../api/index.ts';
import { BackupStore, generateLocationKey, openObjectStore, parseCredentials } from '../storage/index.ts';

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

/** The default location, created with its directory and key when the config has no location yet. */
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
  saveConfig(env, config);
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

/** The location's key: read from its key file, or made (and saved, mode 0600) when `create` is set. */
export function locationKey(env: Env, name: string, options: { create: boolean }): Buffer | undefined {
  const file = keyFile(env, name);
  if (existsSync(file)) {
    const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
    if (key.length !== 32) throw new ConfigError(`the key file ${file} does not hold a 32-byte key`);
    return key;
  }
  if (!options.create) return undefined;
  mkdirSync(join(configDir(env), 'keys'), { recursive: true, mode: 0o700 });
  const key = generateLocationKey();
  writeFileSync(file, key.toString('base64') + '\n', { mode: 0o600 });
  chmodSync(file, 0o600);
  return key;
}

/** Opens a configured location as a backup store, with its credentials and (unless plaintext) its key. */
export async function openLocation(
  env: Env,
  location: ConfiguredLocation,
  options: { createKey: boolean },
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
    credentials = parseCredentials(location.spec.provider, readFileSync(location.credentialsFile, 'utf8'));
  }
  const store = await openObjectStore(location.spec, { credentials });
  const key = location.spec.plaintext
    ? undefined
    : locationKey(env, location.name, { create: options.createKey });
  return new BackupStore({ location: location.name, store, key });
}
