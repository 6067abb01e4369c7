// Output formats shared by every command: a human view (the default), JSON and YAML.
import { InvalidArgumentError } from 'commander';
import { stringify } from 'yaml';

export type OutputFormat = 'table' | 'json' | 'yaml';
const formats: readonly OutputFormat[] = ['table', 'json', 'yaml'];

/** Commander argument parser for -o/--output. */
export function parseOutputFormat(value: string): OutputFormat {
  if ((formats as readonly string[]).includes(value)) return value as OutputFormat;
  throw new InvalidArgumentError(`--output must be one of ${formats.join(', ')}, got "${value}"`);
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
