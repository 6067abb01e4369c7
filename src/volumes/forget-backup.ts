// Deleting a backup forgets its volumes' snapshots, as Velero deletes a backup's kopia snapshots: the
// snapshot files named by the backup's pod volume records go from their repositories (under each
// repository's exclusive lock). The data they alone used is freed by the repository's next prune
// (`cairn repo prune`), not here: pruning rewrites packs and is kept to maintenance.
import { BackupNotFoundError, type BackupStore } from '../storage/index.ts';
import { forgetSnapshots } from '../repo/index.ts';
import { readPodVolumeBackups } from './pod-volume-records.ts';
import type { VolumeRepositories } from './repositories.ts';

export interface ForgottenSnapshots {
  /** Snapshot files removed, by repository namespace. */
  forgotten: Record<string, string[]>;
  /** Repositories whose snapshots could not be forgotten, and why (the backup's deletion goes on). */
  problems: string[];
}

/**
 * Forgets the snapshots of the backup `name` that are in this location's repositories. Read the records
 * before the backup's files are deleted: they are the only list of its snapshots.
 */
export async function forgetBackupSnapshots(
  store: BackupStore,
  name: string,
  repositories: VolumeRepositories,
  options: { signal?: AbortSignal | undefined } = {},
): Promise<ForgottenSnapshots> {
  const result: ForgottenSnapshots = { forgotten: {}, problems: [] };
  const byRepository = new Map<string, string[]>();
  let records;
  try {
    records = await readPodVolumeBackups(store, name, options);
  } catch (error) {
    options.signal?.throwIfAborted();
    // A backup that was never committed has no records to read (and no snapshots of its own).
    if (error instanceof BackupNotFoundError) return result;
    // Deleting a backup never depends on reading it (its key may be gone): its snapshots stay, said.
    result.problems.push(
      `the pod volume records of backup "${name}" in location "${store.location}" cannot be read, so its ` +
        `volume snapshots (if any) were not forgotten: ${(error as Error).message}`,
    );
    return result;
  }
  for (const record of records) {
    const id = record.status?.snapshotID;
    if (record.status?.phase !== 'Completed' || !id) continue;
    byRepository.set(record.spec.repository, [...(byRepository.get(record.spec.repository) ?? []), id]);
  }
  for (const [namespace, ids] of byRepository) {
    try {
      const repo = await repositories.repository(namespace, { create: false, signal: options.signal });
      result.forgotten[namespace] = await forgetSnapshots(repo, ids, { signal: options.signal });
    } catch (error) {
      options.signal?.throwIfAborted();
      result.problems.push(
        `the ${ids.length} snapshots of backup "${name}" in repository restic/${namespace}/ of location ` +
          `"${store.location}" were not forgotten: ${(error as Error).message}`,
      );
    }
  }
  return result;
}
