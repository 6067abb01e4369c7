// Output formats shared by every command: a human view (the default), JSON and YAML.
import { InvalidArgumentError } from 'commander';
import { createRequire } from 'node:module';
import type * as Yaml from 'yaml';

export type OutputFormat = 'table' | 'json' | 'yaml';
const formats: readonly OutputFormat[] = ['table', 'json', 'yaml'];

/** Commander argument parser for -o/--output. */
export function parseOutputFormat(value: string): OutputFormat {
  if ((formats as readonly string[]).includes(value)) return value as OutputFormat;
  throw new InvalidArgumentError(`--output must be one of ${formats.join(', ')}, got "${value}"`);
}

/**
 * The YAML library's stringify, loaded when YAML is first written: its 70 modules are a third of what
 * `cairn version` loads otherwise (docs/benchmarks.md, start-up).
 */
function stringify(value: unknown): string {
  return (createRequire(import.meta.url)('yaml') as typeof Yaml).stringify(value);
}

export function formatStructured(value: unknown, format: 'json' | 'yaml'): string {
  return format === 'json' ? JSON.stringify(value, null, 2) + '\n' : stringify(value);
}

/** Kubernetes objects as `kubectl apply -f` takes them: a JSON List, or YAML documents separated by ---. */
export function formatManifests(objects: readonly unknown[], format: 'json' | 'yaml'): string {
  return format === 'json'
    ? JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }, null, 2) + '\n'
    : objects.map((o) => stringify(o)).join('---\n');
}

/** Decimal units, as `du -h --si` prints: 1.5 GB. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}
