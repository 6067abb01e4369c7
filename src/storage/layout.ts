// The backup-store layout: the only module that builds object keys (docs/design/backup-store.md).
// Velero's layout, plus a claim, a checksum manifest and the last verification's outcome, all under
// backups/<name>/, and the location's own record under metadata/ (one of the top-level directories Velero
// allows).

/** The location's record: the id of the key its backups are encrypted with (docs/formats/location.md). */
export const LOCATION_METADATA_KEY = 'metadata/cairn-location.json';

/** The records of the keys a location was rotated to, one per key (docs/formats/location.md). */
export const LOCATION_KEYS_PREFIX = 'metadata/keys/';

export function locationKeyRecordKey(keyId: string): string {
  return `${LOCATION_KEYS_PREFIX}${keyId}.json`;
}

export const BACKUPS_PREFIX = 'backups/';

/** The files of one backup that hold its data, in the order they are written. */
export const BACKUP_DATA_FILES = [
  'archive',
  'logs',
  'results',
  'resourceList',
  'podVolumeBackups',
  'hookResults',
  'csiVolumeSnapshots',
  'csiVolumeSnapshotContents',
  'volumeDecisions',
] as const;
export type BackupDataFile = (typeof BACKUP_DATA_FILES)[number];

export interface BackupKeys {
  dir: string;
  claim: string;
  archive: string;
  logs: string;
  results: string;
  resourceList: string;
  /** The backup's pod volumes: one PodVolumeBackup record each (backed up, failed or skipped). */
  podVolumeBackups: string;
  /** Cairn: what each backup hook did (pod, container, command, outcome, exit code, output). */
  hookResults: string;
  /** Velero's: the CSI VolumeSnapshots taken, as they were when ready. */
  csiVolumeSnapshots: string;
  /** Velero's: their VolumeSnapshotContents (kept with deletionPolicy Retain). */
  csiVolumeSnapshotContents: string;
  /** Cairn: every volume's action (fs-backup, snapshot, skip) and what chose it. */
  volumeDecisions: string;
  checksums: string;
  /** The outcome of the last `backup verify --quick`: the one file of a backup that is rewritten. */
  verification: string;
  metadata: string;
}

export function backupKeys(name: string): BackupKeys {
  const dir = `${BACKUPS_PREFIX}${name}/`;
  return {
    dir,
    claim: `${dir}${name}-claim.json`,
    archive: `${dir}${name}.tar.gz`,
    logs: `${dir}${name}-logs.gz`,
    results: `${dir}${name}-results.gz`,
    resourceList: `${dir}${name}-resource-list.json.gz`,
    podVolumeBackups: `${dir}${name}-podvolumebackups.json.gz`,
    hookResults: `${dir}${name}-hooks.json.gz`,
    csiVolumeSnapshots: `${dir}${name}-csi-volumesnapshots.json.gz`,
    csiVolumeSnapshotContents: `${dir}${name}-csi-volumesnapshotcontents.json.gz`,
    volumeDecisions: `${dir}${name}-volume-decisions.json.gz`,
    checksums: `${dir}${name}-checksums.json`,
    verification: `${dir}${name}-verification.json`,
    metadata: `${dir}velero-backup.json`,
  };
}

/** A file's name inside its backup's directory: how the checksum manifest names it. */
export function fileNameOfKey(key: string): string {
  return key.slice(key.lastIndexOf('/') + 1);
}

/** The backup name of a `backups/<name>/` prefix, or undefined for anything else. */
export function backupNameOfPrefix(prefix: string): string | undefined {
  if (!prefix.startsWith(BACKUPS_PREFIX) || !prefix.endsWith('/')) return undefined;
  const name = prefix.slice(BACKUPS_PREFIX.length, -1);
  return name === '' || name.includes('/') ? undefined : name;
}

export const RESTORES_PREFIX = 'restores/';

/** The files of one restore record: Velero's three, and Cairn's record of the Restore itself (last). */
export interface RestoreKeys {
  dir: string;
  logs: string;
  results: string;
  resourceList: string;
  /** Cairn's: each restore hook's outcome (when the restore ran any). */
  hooks: string;
  metadata: string;
}

export function restoreKeys(name: string): RestoreKeys {
  const dir = `${RESTORES_PREFIX}${name}/`;
  return {
    dir,
    logs: `${dir}restore-${name}-logs.gz`,
    results: `${dir}restore-${name}-results.gz`,
    resourceList: `${dir}restore-${name}-resource-list.json.gz`,
    hooks: `${dir}restore-${name}-hooks.json.gz`,
    metadata: `${dir}cairn-restore.json`,
  };
}

/** The restore name of a `restores/<name>/` prefix, or undefined for anything else. */
export function restoreNameOfPrefix(prefix: string): string | undefined {
  if (!prefix.startsWith(RESTORES_PREFIX) || !prefix.endsWith('/')) return undefined;
  const name = prefix.slice(RESTORES_PREFIX.length, -1);
  return name === '' || name.includes('/') ? undefined : name;
}
