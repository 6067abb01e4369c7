// The hook sets of a file given to a flag (`--hooks`, `--backup`, `--restore`): a Backup, Schedule or
// Restore manifest, or the `hooks` object alone, checked against the kind's schema so that a problem
// names the file and the field before anything reads it.
import type { BackupSpec, RestoreSpec } from '../api/index.ts';

/**
 * The backup hook sets of `--hooks FILE`: a Backup manifest's spec.hooks (or a Schedule's
 * spec.template.hooks), or the hooks object itself, checked against the Backup schema so that a problem
 * names the file and the field.
 */
export async function backupHooksOfFile(file: string, flag = '--hooks'): Promise<BackupSpec['hooks']> {
  const { BackupSpecSchema, schemaProblems, problemText } = await import('../api/index.ts');
  const { readManifests, isRecord } = await import('./manifests.ts');
  const objects = readManifests([file], flag);
  const [first] = objects;
  if (objects.length !== 1 || !isRecord(first))
    throw new Error(`${flag} ${file}: one Backup manifest, or one object with resources: [...], is needed`);
  const spec = isRecord(first.spec) ? first.spec : undefined;
  const hooks =
    first.kind === 'Backup'
      ? spec?.hooks
      : first.kind === 'Schedule'
        ? isRecord(spec?.template)
          ? spec.template.hooks
          : undefined
        : first;
  if (hooks === undefined) throw new Error(`${flag} ${file}: the ${String(first.kind)} has no hooks`);
  const problems = schemaProblems(BackupSpecSchema, { hooks });
  if (problems.length > 0)
    throw new Error(`${flag} ${file}: ${problems.map((p) => problemText(p)).join('; ')}`);
  return hooks as BackupSpec['hooks'];
}

/**
 * The restore hook sets of `--hooks FILE`: a Restore manifest's spec.hooks, or the hooks object itself,
 * checked against the Restore schema so that a problem names the file and the field.
 */
export async function restoreHooksOfFile(file: string, flag = '--hooks'): Promise<RestoreSpec['hooks']> {
  const { RestoreSpecSchema, schemaProblems, problemText } = await import('../api/index.ts');
  const { readManifests, isRecord } = await import('./manifests.ts');
  const objects = readManifests([file], flag);
  const [first] = objects;
  if (objects.length !== 1 || !isRecord(first))
    throw new Error(`${flag} ${file}: one Restore manifest, or one object with resources: [...], is needed`);
  const hooks = first.kind === 'Restore' ? (isRecord(first.spec) ? first.spec.hooks : undefined) : first;
  if (hooks === undefined) throw new Error(`${flag} ${file}: the Restore has no spec.hooks`);
  const problems = schemaProblems(RestoreSpecSchema, { hooks });
  if (problems.length > 0)
    throw new Error(`${flag} ${file}: ${problems.map((p) => problemText(p)).join('; ')}`);
  return hooks as RestoreSpec['hooks'];
}

/**
 * The volume policy of `--volume-policy FILE`: Velero's resource-policy YAML (version: v1,
 * volumePolicies: [...]), a ConfigMap holding it in its one data key, or a Backup manifest's
 * spec.volumePolicy (a Schedule's spec.template.volumePolicy); checked, so that a problem names the file
 * and the field.
 */
export async function volumePolicyOfFile(
  file: string,
  flag = '--volume-policy',
): Promise<NonNullable<BackupSpec['volumePolicy']>> {
  const { readFileSync } = await import('node:fs');
  const { parseVolumePolicy, VolumePolicyError } = await import('../volumes/index.ts');
  const { parse } = await import('yaml');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new Error(`${flag} ${file}: ${(error as Error).message}`, { cause: error });
  }
  let value: unknown;
  try {
    value = parse(text);
  } catch {
    value = undefined;
  }
  const record = (v: unknown): Record<string, unknown> | undefined =>
    typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  try {
    const object = record(value);
    if (object?.kind === 'ConfigMap') {
      const data = Object.entries(record(object.data) ?? {});
      if (data.length !== 1 || typeof data[0]?.[1] !== 'string')
        throw new Error(`${flag} ${file}: the ConfigMap must have exactly one data key, holding the policy`);
      return parseVolumePolicy(data[0][1], `${flag} ${file} (ConfigMap key ${data[0][0]})`);
    }
    if (object?.kind === 'Backup' || object?.kind === 'Schedule') {
      const spec = record(object.spec);
      const policy = object.kind === 'Backup' ? spec?.volumePolicy : record(spec?.template)?.volumePolicy;
      if (policy === undefined)
        throw new Error(
          `${flag} ${file}: the ${object.kind} has no ${object.kind === 'Backup' ? 'spec' : 'spec.template'}.volumePolicy`,
        );
      const { stringify } = await import('yaml');
      return parseVolumePolicy(stringify(policy), `${flag} ${file}`);
    }
    return parseVolumePolicy(text, `${flag} ${file}`);
  } catch (error) {
    if (error instanceof VolumePolicyError)
      throw new Error(`${flag} ${file}: ${error.problems.join('; ')}`, { cause: error });
    throw error;
  }
}
