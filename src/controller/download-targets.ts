// What each DownloadRequest kind names: a file of a Backup (in its locations, decrypted by the backup
// store) or of a Restore (its record under restores/<name>/ of a location, which the server wrote there),
// the words messages use for it, and how it is served. The DownloadRequest controller opens the file to
// check it is there; the download endpoint opens it again to stream it.
import type { Readable } from 'node:stream';
import type { DownloadTargetKind } from '../api/index.ts';
import {
  restoreKeys,
  RestoreStore,
  type BackupDataFile,
  type BackupStore,
  type RestoreFile,
} from '../storage/index.ts';

type Target =
  { of: 'Backup'; file: BackupDataFile; what: string } | { of: 'Restore'; file: RestoreFile; what: string };

export const DOWNLOAD_TARGETS: Readonly<Record<DownloadTargetKind, Target>> = {
  BackupLog: { of: 'Backup', file: 'logs', what: 'log' },
  BackupResults: { of: 'Backup', file: 'results', what: 'results' },
  BackupResourceList: { of: 'Backup', file: 'resourceList', what: 'resource list' },
  BackupHookResults: { of: 'Backup', file: 'hookResults', what: 'hook results' },
  BackupPodVolumeBackups: { of: 'Backup', file: 'podVolumeBackups', what: 'pod volume records' },
  BackupVolumeDecisions: { of: 'Backup', file: 'volumeDecisions', what: 'volume decisions' },
  CSIBackupVolumeSnapshots: { of: 'Backup', file: 'csiVolumeSnapshots', what: 'CSI VolumeSnapshots' },
  CSIBackupVolumeSnapshotContents: {
    of: 'Backup',
    file: 'csiVolumeSnapshotContents',
    what: 'CSI VolumeSnapshotContents',
  },
  RestoreLog: { of: 'Restore', file: 'logs', what: 'log' },
  RestoreResults: { of: 'Restore', file: 'results', what: 'results' },
  RestoreResourceList: { of: 'Restore', file: 'resourceList', what: 'resource list' },
  RestoreHookResults: { of: 'Restore', file: 'hooks', what: 'hook results' },
};

/** Logs are JSON lines, read as text; every other file is one JSON document. */
export const contentTypeOf = (kind: DownloadTargetKind): string =>
  DOWNLOAD_TARGETS[kind].file === 'logs' ? 'text/plain; charset=utf-8' : 'application/json';

/**
 * The file as stored, gzipped (a backup's decrypted and checked against its manifest as it is read).
 * Rejects with the store's errors: ObjectNotFoundError or BackupNotFoundError when it is not there.
 */
export async function openTargetFile(
  store: BackupStore,
  kind: DownloadTargetKind,
  name: string,
  signal?: AbortSignal,
): Promise<Readable> {
  const target = DOWNLOAD_TARGETS[kind];
  return target.of === 'Backup'
    ? store.openFile(name, target.file, { signal })
    : store.store.get(restoreKeys(name)[target.file], { signal });
}

/**
 * Whether this store holds the record of the restore with this uid under its name, not one of the same
 * name by another cluster sharing the location (or one this cluster deleted and made again). An empty uid
 * (an object no API server stored) matches any record.
 */
export async function recordsRestore(
  store: BackupStore,
  name: string,
  uid: string,
  signal?: AbortSignal,
): Promise<boolean> {
  const record = await new RestoreStore(store.store).get(name, { signal });
  return record !== undefined && (!uid || record.metadata.uid === uid);
}
