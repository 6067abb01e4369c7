// Kubernetes manifests from files, as `kubectl apply -f` takes them: YAML (or JSON) with one or more
// documents, a List's items read one by one. For the commands that take `-f FILE` (import, hooks).
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';

/** A plain object (not null, not an array), as a manifest's objects are. */
export const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Every object of the files, in order: documents, and the items of Lists. Errors name the file. */
export function readManifests(files: readonly string[], flag = '-f'): unknown[] {
  const objects: unknown[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw new Error(`${flag} "${file}": ${(error as Error).message}`, { cause: error });
    }
    for (const [i, document] of parseAllDocuments(text).entries()) {
      const [error] = document.errors;
      if (error) throw new Error(`${flag} "${file}": document ${i + 1} is not YAML: ${error.message}`);
      const value: unknown = document.toJS();
      if (value === null || value === undefined) continue;
      if (
        isRecord(value) &&
        typeof value.kind === 'string' &&
        value.kind.endsWith('List') &&
        Array.isArray(value.items)
      )
        objects.push(...(value.items as unknown[]));
      else objects.push(value);
    }
  }
  return objects;
}
