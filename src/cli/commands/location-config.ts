// Helpers over standalone mode's configuration (config.ts) that the location commands need: where a
// location's key file is, parsing `--config k=v,...`, marking the default.
import type { CliConfig } from '../config.ts';
import { pairsParser } from '../options.ts';

type Env = Readonly<Record<string, string | undefined>>;

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
