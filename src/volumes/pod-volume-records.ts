// A backup's pod volume records (`<name>-podvolumebackups.json.gz`, one PodVolumeBackup per volume of every
// backed-up pod) as their readers use them: read through the location's BackupStore (which decrypts and
// checks them), and one volume found by `namespace/pod/volume`, with errors that list the volumes the
// backup has, or say why the one asked for has no snapshot.
import { buffer } from 'node:stream/consumers';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import type { PodVolumeBackup } from '../api/index.ts';
import { ObjectNotFoundError, type BackupStore, type SignalOptions } from '../storage/index.ts';

const gunzipAsync = promisify(gunzip);

/** A pod volume as the backup names it: the pod's namespace and name there, and the volume's name. */
export interface PodVolumeRef {
  namespace: string;
  pod: string;
  volume: string;
}

/** `namespace/pod/volume`. */
export function formatPodVolumeRef(ref: PodVolumeRef): string {
  return `${ref.namespace}/${ref.pod}/${ref.volume}`;
}

/** The pod volume a record is about. */
export function podVolumeRefOf(record: PodVolumeBackup): PodVolumeRef {
  return { namespace: record.spec.pod.namespace, pod: record.spec.pod.name, volume: record.spec.volume };
}

export class InvalidPodVolumeRefError extends Error {
  override readonly name = 'InvalidPodVolumeRefError';
  readonly value: string;
  constructor(value: string) {
    super(`"${value}" does not name a pod volume: write NAMESPACE/POD/VOLUME (e.g. shop/db-0/data)`);
    this.value = value;
  }
}

/** Parses `namespace/pod/volume`; InvalidPodVolumeRefError unless it has three non-empty parts. */
export function parsePodVolumeRef(text: string): PodVolumeRef {
  const parts = text.split('/');
  const [namespace, pod, volume] = parts;
  if (parts.length !== 3 || !namespace || !pod || !volume) throw new InvalidPodVolumeRefError(text);
  return { namespace, pod, volume };
}

/**
 * The records of a backup as one location holds them; none for a backup without the file (no pod volumes,
 * or an older writer). A location's copy of the file lists the volume data in that location's
 * repositories (and the volumes skipped), so each record is given the reading location's name: a second
 * cluster that reads the same bucket under another location name finds the data where it reads.
 */
/**
 * One of a backup's gzipped JSON lists (its pod volume records, its CSI snapshots): the list, or empty when
 * the backup has no such file (or it holds no list).
 */
export async function readBackupList(
  store: BackupStore,
  backup: string,
  file: 'podVolumeBackups' | 'csiVolumeSnapshots' | 'csiVolumeSnapshotContents',
  options: SignalOptions = {},
): Promise<unknown[]> {
  let bytes: Buffer;
  try {
    bytes = await buffer(await store.openFile(backup, file, options));
  } catch (error) {
    if (error instanceof ObjectNotFoundError) return [];
    throw error;
  }
  const list: unknown = JSON.parse((await gunzipAsync(bytes)).toString('utf8'));
  return Array.isArray(list) ? (list as unknown[]) : [];
}

export async function readPodVolumeBackups(
  store: BackupStore,
  backup: string,
  options: SignalOptions = {},
): Promise<PodVolumeBackup[]> {
  const records = await readBackupList(store, backup, 'podVolumeBackups', options);
  return (records as PodVolumeBackup[]).map((record) => ({
    ...record,
    spec: { ...record.spec, location: store.location },
  }));
}

/** The backup has no record of the pod volume. */
export class PodVolumeNotInBackupError extends Error {
  override readonly name = 'PodVolumeNotInBackupError';
  readonly backup: string;
  readonly volume: string;
  /** The pod volumes the backup has, as `namespace/pod/volume (phase)`. */
  readonly known: string[];
  constructor(backup: string, volume: string, known: string[]) {
    super(
      `backup "${backup}" has no pod volume ${volume}: ` +
        (known.length === 0
          ? 'it holds no pod volumes (it was made without --node-agent, or its pods had none)'
          : `it has ${known.join(', ')}`),
    );
    this.backup = backup;
    this.volume = volume;
    this.known = known;
  }
}

/** The backup has a record of the pod volume, but no snapshot of it: skipped, failed or unfinished. */
export class PodVolumeNotBackedUpError extends Error {
  override readonly name = 'PodVolumeNotBackedUpError';
  readonly backup: string;
  readonly volume: string;
  readonly phase: string;
  readonly reason: string;
  constructor(backup: string, volume: string, phase: string, reason: string) {
    super(`pod volume ${volume} was not backed up in backup "${backup}": ${phase}: ${reason}`);
    this.backup = backup;
    this.volume = volume;
    this.phase = phase;
    this.reason = reason;
  }
}

/** A record with a snapshot of its volume. */
export type CompletedPodVolumeBackup = PodVolumeBackup & {
  status: NonNullable<PodVolumeBackup['status']> & { snapshotID: string };
};

/** The record of `ref` whose volume was backed up; the errors above otherwise. */
export function findPodVolumeBackup(
  records: readonly PodVolumeBackup[],
  ref: PodVolumeRef,
  backup: string,
): CompletedPodVolumeBackup {
  const name = formatPodVolumeRef(ref);
  const record = records.find((r) => formatPodVolumeRef(podVolumeRefOf(r)) === name);
  if (!record)
    throw new PodVolumeNotInBackupError(
      backup,
      name,
      records.map((r) => `${formatPodVolumeRef(podVolumeRefOf(r))} (${r.status?.phase ?? 'New'})`).sort(),
    );
  const status = record.status;
  if (status?.phase === 'Completed' && status.snapshotID) return record as CompletedPodVolumeBackup;
  // A Failed volume may still have a snapshot (files that could not be read are left out): it is not
  // offered, as its contents are not what the pod had.
  const phase = status?.phase ?? 'New';
  const reason =
    status?.message ??
    (phase === 'Completed' ? 'its record names no snapshot' : 'the backup ended before it did');
  throw new PodVolumeNotBackedUpError(backup, name, phase, reason);
}
