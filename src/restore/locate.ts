// Finding the backup a restore reads in the locations it may read: the one named (the first location that
// has it, in the order given), or the newest Completed backup of a schedule across all of them (the rule
// itself is newestOfSchedule of src/api, which the restore controller applies to its cache).
import { newestOfSchedule, type Backup, type RestoreSpec } from '../api/index.ts';
import type { BackupStore } from '../storage/index.ts';

export interface LocatedBackup {
  backup: Backup;
  store: BackupStore;
}

export async function locateBackup(
  stores: readonly BackupStore[],
  source: Pick<RestoreSpec, 'backupName' | 'scheduleName'>,
  signal?: AbortSignal,
): Promise<LocatedBackup | undefined> {
  if (source.backupName !== undefined) {
    for (const store of stores) {
      const backup = await store.getBackup(source.backupName, { signal });
      if (backup) return { backup, store };
    }
    return undefined;
  }
  const storeOf = new Map<Backup, BackupStore>();
  for (const store of stores)
    for await (const entry of store.listBackups({ signal }))
      if (entry.complete) storeOf.set(entry.backup, store);
  const newest = newestOfSchedule(storeOf.keys(), source.scheduleName ?? '');
  return newest && { backup: newest, store: storeOf.get(newest) as BackupStore };
}
