// The label and annotation names Cairn reads and writes, in one place: Cairn's own (cairn.dev/) beside
// Velero's (velero.io/), which Cairn writes too where Velero and its users look for them.

/**
 * Labels that leave an object out of every backup when set to "true", whatever the filters select (Velero's
 * velero.io/exclude-from-backup, and Cairn's spelling). On a Namespace, they leave out the whole namespace, as
 * if it were in excludedNamespaces (Velero's backup controller does the same).
 */
export const EXCLUDE_FROM_BACKUP_LABELS = ['cairn.dev/exclude-from-backup', 'velero.io/exclude-from-backup'];

export const LABELS = {
  /** A Backup a schedule made: the schedule's name. */
  schedule: 'cairn.dev/schedule-name',
  veleroSchedule: 'velero.io/schedule-name',
  /** Objects made for a backup (pod volume records, CSI snapshots, mover objects): the backup's name and uid. */
  backupName: 'cairn.dev/backup-name',
  backupUid: 'cairn.dev/backup-uid',
  veleroBackupName: 'velero.io/backup-name',
  veleroBackupUid: 'velero.io/backup-uid',
  /** Objects made for a restore: the restore's name and uid. */
  restoreName: 'cairn.dev/restore-name',
  restoreUid: 'cairn.dev/restore-uid',
  /** A Backup resource: the location it is stored in (Velero's). */
  veleroStorageLocation: 'velero.io/storage-location',
  /** A location's Secret or repository objects: the location's name. */
  location: 'cairn.dev/location',
  /**
   * A Secret of a location's credentials that Cairn made (`location create --credentials-file`, `install
   * --readonly-secret-file`): the location's name. Apart from `location`, which marks the Secrets uninstall
   * must not delete without --delete-keys.
   */
  credentialsOf: 'cairn.dev/credentials-of',
  /** Leaves an object out of every backup when "true" (Cairn's and Velero's). */
  excludeFromBackup: EXCLUDE_FROM_BACKUP_LABELS,
} as const;

export const ANNOTATIONS = {
  /** A Backup resource made by catalog sync: the location it was found in. */
  syncedFrom: 'cairn.dev/synced-from',
  /** An object `cairn import velero` made: the Velero object it came from. */
  importedFrom: 'cairn.dev/imported-from',
  /** A Restore, Backup or DeleteBackupRequest the dashboard made: the user who asked for it. */
  requestedBy: 'cairn.dev/requested-by',
  /**
   * A Restore: who created it, as the API server authenticated them (`{"username":…,"groups":[…]}`),
   * vouched for by the admission policy `cairn-restore-creator` (admission.ts). The server restores only
   * what that user may write.
   */
  creator: 'cairn.dev/creator',
} as const;
