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
