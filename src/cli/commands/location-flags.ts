// The flags of `cairn location create` turned into a location spec, with every problem named by field,
// value and flag, in either mode. Standalone keeps a credentials file by its path and an fs directory of
// this machine (made absolute: later commands run from anywhere). The server is given the file's content
// (it goes into a Secret), and an fs directory is the server's own, so it must be absolute already.
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { InvalidArgumentError } from 'commander';
import {
  backupNameProblem,
  locationProblems,
  normalizeProvider,
  type AccessMode,
  type BackupLocationSpec,
  type LocationProvider,
  type SpecProblem,
} from '../../api/index.ts';
import { withFlag } from './location-config.ts';

/** A key of a Secret in the server's namespace (`--credential SECRET/KEY`). */
export interface SecretKeyRef {
  name: string;
  key: string;
}

/** Parses `--credential`: `SECRET/KEY`, or Velero's `SECRET=KEY`. */
export function parseSecretKeyRef(value: string): SecretKeyRef {
  const match = /^([^/=]+)[/=](.+)$/.exec(value.trim());
  if (!match?.[1] || !match[2])
    throw new InvalidArgumentError(`"${value}" is not SECRET/KEY (a Secret and the key within it)`);
  return { name: match[1], key: match[2] };
}

export interface LocationFlags {
  provider: string;
  bucket?: string;
  prefix?: string;
  config?: Record<string, string>;
  path?: string;
  credentialsFile?: string;
  credential?: SecretKeyRef;
  accessMode: string;
  plaintext?: boolean;
  default?: boolean;
  backupSyncPeriod?: string;
  validationFrequency?: string;
  requestTimeout?: string;
  idleTimeout?: string;
}

/** The flags of `location set`: the fields a location's backups do not depend on. */
export interface SetFlags {
  config?: Record<string, string>;
  credentialsFile?: string;
  credential?: SecretKeyRef;
  accessMode?: string;
  default?: boolean;
  backupSyncPeriod?: string;
  validationFrequency?: string;
  requestTimeout?: string;
  idleTimeout?: string;
}

export interface LocationFromFlags {
  /** The spec, when there are no problems. */
  spec?: BackupLocationSpec;
  /** The credentials file, absolute. */
  credentialsFile?: string;
  /** Its content (server mode, where it goes into a Secret). */
  credentials?: string;
  problems: SpecProblem[];
}

/** The spec the flags describe, or every problem with them. */
export async function locationFromFlags(
  name: string,
  flags: LocationFlags,
  mode: 'standalone' | 'server',
): Promise<LocationFromFlags> {
  const problems: SpecProblem[] = [];
  const nameProblem = backupNameProblem(name);
  if (nameProblem) problems.push({ field: 'name', value: name, message: nameProblem });
  const provider = normalizeProvider(flags.provider);
  if (!provider) {
    problems.push({
      field: 'provider',
      value: flags.provider,
      message: "must be one of fs, s3, azure, gcs (or Velero's aws, gcp)",
    });
  }
  const config = { ...flags.config };
  if (flags.path !== undefined) config.path = flags.path;
  if (config.path && mode === 'standalone') config.path = resolve(config.path);
  if (config.path && mode === 'server' && !config.path.startsWith('/'))
    problems.push({
      field: 'config.path',
      value: config.path,
      message: "an fs location of the server is a directory of the server's pod: give an absolute path",
    });
  problems.push(...serverOnlyProblems(flags, mode));
  const spec: BackupLocationSpec = {
    provider: provider ?? (flags.provider as LocationProvider),
    ...(flags.bucket !== undefined
      ? { objectStorage: { bucket: flags.bucket, ...(flags.prefix ? { prefix: flags.prefix } : {}) } }
      : {}),
    ...(Object.keys(config).length > 0 ? { config } : {}),
    ...(flags.credential ? { credential: flags.credential } : {}),
    ...(flags.default ? { default: true } : {}),
    accessMode: flags.accessMode as AccessMode,
    ...(flags.backupSyncPeriod !== undefined ? { backupSyncPeriod: flags.backupSyncPeriod } : {}),
    ...(flags.validationFrequency !== undefined ? { validationFrequency: flags.validationFrequency } : {}),
    ...(flags.requestTimeout !== undefined ? { requestTimeout: flags.requestTimeout } : {}),
    ...(flags.idleTimeout !== undefined ? { idleTimeout: flags.idleTimeout } : {}),
    ...(flags.plaintext ? { plaintext: true } : {}),
  };
  // The other checks depend on the provider: with an unknown one, its own problem is the one to fix.
  if (provider) problems.push(...locationProblems(spec));
  // The server's API server checks the CRD schema (durations, the Secret's name): the same checks here,
  // before anything is written. A field locationProblems named already keeps its first problem.
  if (provider && mode === 'server') {
    const { specProblems } = await import('../../api/index.ts');
    const named = new Set(problems.map((p) => p.field));
    problems.push(...specProblems('BackupLocation', spec).filter((p) => !named.has(p.field)));
  }
  if (provider === 'fs' && (flags.bucket !== undefined || flags.prefix !== undefined)) {
    problems.push({
      field: 'objectStorage.bucket',
      value: flags.bucket ?? flags.prefix ?? '',
      message: 'an fs location takes a directory (--path), not a bucket or prefix',
    });
  }
  if (flags.prefix !== undefined && flags.bucket === undefined && provider !== 'fs') {
    problems.push({ field: 'objectStorage.prefix', value: flags.prefix, message: 'a prefix needs a bucket' });
  }
  if (flags.credentialsFile !== undefined && flags.credential !== undefined)
    problems.push({
      field: 'credential',
      value: `${flags.credential.name}/${flags.credential.key}`,
      message: 'give the credentials once: a file (--credentials-file) or a Secret (--credential), not both',
    });
  const file = await credentialsFileOf(flags.credentialsFile, provider, config);
  problems.push(...file.problems);
  if (problems.length > 0) return { problems: problems.map(withFlag) };
  return {
    spec,
    ...(file.path ? { credentialsFile: file.path } : {}),
    ...(file.text !== undefined && mode === 'server' ? { credentials: file.text } : {}),
    problems,
  };
}

/** The flags that describe a location now: a spec read back as create's flags, for set to change. */
export function flagsOf(spec: BackupLocationSpec): LocationFlags {
  const { path, ...config } = spec.config ?? {};
  return {
    provider: spec.provider,
    ...(spec.objectStorage ? { bucket: spec.objectStorage.bucket } : {}),
    ...(spec.objectStorage?.prefix ? { prefix: spec.objectStorage.prefix } : {}),
    ...(Object.keys(config).length > 0 ? { config } : {}),
    ...(path !== undefined ? { path } : {}),
    ...(spec.credential ? { credential: spec.credential } : {}),
    accessMode: spec.accessMode ?? 'ReadWrite',
    ...(spec.plaintext ? { plaintext: true } : {}),
    ...(spec.default ? { default: true } : {}),
    ...(spec.backupSyncPeriod !== undefined ? { backupSyncPeriod: spec.backupSyncPeriod } : {}),
    ...(spec.validationFrequency !== undefined ? { validationFrequency: spec.validationFrequency } : {}),
    ...(spec.requestTimeout !== undefined ? { requestTimeout: spec.requestTimeout } : {}),
    ...(spec.idleTimeout !== undefined ? { idleTimeout: spec.idleTimeout } : {}),
  };
}

/** Create's flags for the location as it is, with set's flags over them. */
export function mergeSetFlags(current: LocationFlags, set: SetFlags): LocationFlags {
  const merged: LocationFlags = { ...current };
  if (set.config) merged.config = { ...current.config, ...set.config };
  // One source of credentials: the one given now replaces the other.
  if (set.credentialsFile !== undefined) {
    merged.credentialsFile = set.credentialsFile;
    delete merged.credential;
  }
  if (set.credential !== undefined) {
    merged.credential = set.credential;
    delete merged.credentialsFile;
  }
  if (set.accessMode !== undefined) merged.accessMode = set.accessMode;
  if (set.default) merged.default = true;
  if (set.backupSyncPeriod !== undefined) merged.backupSyncPeriod = set.backupSyncPeriod;
  if (set.validationFrequency !== undefined) merged.validationFrequency = set.validationFrequency;
  if (set.requestTimeout !== undefined) merged.requestTimeout = set.requestTimeout;
  if (set.idleTimeout !== undefined) merged.idleTimeout = set.idleTimeout;
  return merged;
}

/** Flags only the server's locations have (Cairn's standalone mode has no timers, no Secrets). */
function serverOnlyProblems(flags: LocationFlags, mode: 'standalone' | 'server'): SpecProblem[] {
  if (mode === 'server') return [];
  const given: [string, string | undefined][] = [
    ['credential', flags.credential ? `${flags.credential.name}/${flags.credential.key}` : undefined],
    ['backupSyncPeriod', flags.backupSyncPeriod],
    ['validationFrequency', flags.validationFrequency],
  ];
  return given
    .filter(([, value]) => value !== undefined)
    .map(([field, value]) => ({
      field,
      value: value ?? '',
      message: "only the server's BackupLocations have it (server mode: --server)",
    }));
}

/** The credentials file, read and parsed as the provider reads it; its problems name it, never its content. */
async function credentialsFileOf(
  file: string | undefined,
  provider: LocationProvider | undefined,
  config: Record<string, string>,
): Promise<{ path?: string; text?: string; problems: SpecProblem[] }> {
  if (file === undefined) return { problems: [] };
  const path = resolve(file);
  if (!existsSync(path))
    return { problems: [{ field: 'credentials', value: file, message: 'the file does not exist' }] };
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    return { problems: [{ field: 'credentials', value: file, message: (error as Error).message }] };
  }
  if (!provider) return { path, text, problems: [] };
  const { parseCredentials } = await import('../../storage/index.ts');
  try {
    parseCredentials(provider, text, 'default', config);
    return { path, text, problems: [] };
  } catch (error) {
    // The parser's messages name what is missing, never the secrets themselves.
    const message = error instanceof Error ? error.message.replace(/^credentials: /, '') : String(error);
    return { path, text, problems: [{ field: 'credentials', value: file, message }] };
  }
}
