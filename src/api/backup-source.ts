// Which backup a restore reads: the one named, or the newest Completed backup of a schedule. One place for
// the rule, used by `cairn restore create` (over the locations it reads), by createRestore (one location)
// and by the restore controller (its cache of Backup resources).
import type { Backup } from './backup.ts';
import { LABELS } from './vocabulary.ts';

/** The schedule that made a backup (Cairn's label or Velero's), or '' for a backup made by hand. */
export const scheduleOf = (backup: { metadata: { labels?: Record<string, string> | undefined } }): string =>
  backup.metadata.labels?.[LABELS.schedule] ?? backup.metadata.labels?.[LABELS.veleroSchedule] ?? '';

/** The newest (by start time) Completed backup of `schedule` among `backups`. */
export function newestOfSchedule(backups: Iterable<Backup>, schedule: string): Backup | undefined {
  let newest: Backup | undefined;
  for (const backup of backups) {
    if (scheduleOf(backup) !== schedule || backup.status?.phase !== 'Completed') continue;
    if (!newest || startOf(backup) > startOf(newest)) newest = backup;
  }
  return newest;
}

const startOf = (backup: Backup) => backup.status?.startTimestamp ?? '';

/** Why a backup cannot be restored (it has not ended well), or undefined when it can. */
export function unrestorableReason(backup: Backup): string | undefined {
  const phase = backup.status?.phase;
  if (phase === 'Completed' || phase === 'PartiallyFailed') return undefined;
  return `the backup is ${phase ?? 'New'}; only Completed and PartiallyFailed backups are restored`;
}
