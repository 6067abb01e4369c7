// What the location commands share: where a standalone location's key file is, parsing `--config k=v,...`,
// marking the default, and the flag that sets each spec field (so a problem names the flag to fix).
import type { BackupLocationSpec, SpecProblem } from '../../api/index.ts';
import type { CliConfig } from '../config.ts';
import { pairsParser } from '../options.ts';

type Env = Readonly<Record<string, string | undefined>>;

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

/** key-export or rotate-key of a location without a key (or a plaintext one). */
export class LocationKeyError extends Error {
  override readonly name = 'LocationKeyError';
}

/** The location's key file (config.ts's keyFile), loaded lazily so `--help` does not load the storage layer. */
export async function keyFileOf(env: Env, name: string): Promise<string> {
  const { keyFile } = await import('../config.ts');
  return keyFile(env, name);
}

/** Parses `k=v,k2=v2` (repeatable) into provider settings; a pair without `=` is an error naming it. */
export const parseConfigPairs = pairsParser({ separator: '=', what: 'a setting (key=value)' });

/** Makes `name` the only default location of the config (in place). */
export function markDefault(config: CliConfig, name: string): void {
  for (const location of config.locations) {
    if (location.name === name) location.spec.default = true;
    else delete location.spec.default;
  }
}

/** The flag that sets each spec field, to point the user at it. */
const flagOf: Record<string, string> = {
  name: 'NAME',
  provider: '--provider',
  'objectStorage.bucket': '--bucket',
  'objectStorage.prefix': '--prefix',
  'config.path': '--path',
  'config.region': '--config region=...',
  accessMode: '--access-mode',
  credentials: '--credentials-file',
  credential: '--credential',
  'credential.name': '--credential',
  'credential.key': '--credential',
  validationFrequency: '--validation-frequency',
  backupSyncPeriod: '--backup-sync-period',
  requestTimeout: '--request-timeout',
  idleTimeout: '--idle-timeout',
};

/** The problem with the flag that sets its field added to the message: `... (--bucket)`. */
export const withFlag = (problem: SpecProblem): SpecProblem => {
  const flag = flagOf[problem.field];
  return flag ? { ...problem, message: `${problem.message} (${flag})` } : problem;
};

/** Where a location stores: `fs /dir`, `s3://bucket/prefix`. */
export function whereOf(spec: BackupLocationSpec): string {
  if (spec.provider === 'fs') return spec.config?.path ?? '';
  const scheme = spec.provider === 'gcs' ? 'gs' : spec.provider;
  const prefix = spec.objectStorage?.prefix ? `/${spec.objectStorage.prefix.replace(/^\/+|\/+$/g, '')}` : '';
  return `${scheme}://${spec.objectStorage?.bucket ?? ''}${prefix}`;
}
