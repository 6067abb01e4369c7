import { readFileSync } from 'node:fs';

let cached: string | undefined;

/** The client version: the package version, as a release tag (v0.1.0). */
export function clientVersion(): string {
  cached ??= `v${(JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version}`;
  return cached;
}
