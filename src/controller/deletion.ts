// Deleting backups, observably: every deletion — asked for by a user (`cairn backup delete`, kubectl) or
// decided by garbage collection — is a DeleteBackupRequest, processed here: New → InProgress →
// Processed, with the errors in its status. A delete lock (the backup's deleteLockDays) or a ReadOnly
// location refuses the deletion (Processed, with the reason as an error, nothing deleted). Otherwise the
// backup is removed from every location it is stored in, then its Backup resource.
//
// Garbage collection runs every interval: each schedule's backups are kept by its retention policy, the
// rest by their TTL (decideRetention, which also honours the locks); a terminal backup nothing keeps gets a
// DeleteBackupRequest (one at a time per backup).
import { deleteBackupSnapshots, forgetBackupSnapshots, VolumeRepositories } from '../volumes/index.ts';
import { secretRepositoryPasswords } from './pod-volumes.ts';
import { randomBytes } from 'node:crypto';
import { DEFAULT_BACKUP_TTL, type Backup, type DeleteBackupRequest, type Schedule } from '../api/index.ts';
import { BackupNotFoundError } from '../storage/index.ts';
import type { ControllerContext } from './context.ts';
import type { Informer } from './informer.ts';
import type { ProcessResult } from './queue.ts';
import { createResource, deleteResource, getResource, patchStatus } from './resources.ts';
import { decideRetention, type RetainedBackup } from './retention.ts';
import { LABELS, scheduleOf } from '../api/index.ts';

export const BACKUP_NAME_LABEL = LABELS.veleroBackupName;
export const BACKUP_UID_LABEL = LABELS.veleroBackupUid;

const TERMINAL = new Set(['Completed', 'PartiallyFailed', 'Failed', 'FailedValidation']);

/** When a backup's delete lock ends (start + deleteLockDays), or undefined when it has none. */
export function deleteLockUntil(backup: Backup): string | undefined {
  const days = backup.spec?.deleteLockDays;
  const started = backup.status?.startTimestamp ?? backup.metadata.creationTimestamp;
  if (!days || !started) return undefined;
  return new Date(new Date(started).getTime() + days * 86_400_000).toISOString();
}

/** How long a processed DeleteBackupRequest is kept before garbage collection removes it (Velero's). */
export const PROCESSED_REQUEST_KEPT_MS = 24 * 3_600_000;

export class DeletionController {
  readonly #ctx: ControllerContext;
  readonly #requests: Informer<DeleteBackupRequest>;
  readonly #backups: Informer<Backup>;
  readonly #schedules: Informer<Schedule>;
  /** Backups garbage collection asked to delete, until they are gone (or their request ended). */
  readonly #asked = new Set<string>();
  /** Failed backups whose incomplete uploads were aborted in every location (abortStaleUploads). */
  readonly #swept = new Set<string>();

  constructor(
    ctx: ControllerContext,
    informers: {
      requests: Informer<DeleteBackupRequest>;
      backups: Informer<Backup>;
      schedules: Informer<Schedule>;
    },
  ) {
    this.#ctx = ctx;
    this.#requests = informers.requests;
    this.#backups = informers.backups;
    this.#schedules = informers.schedules;
  }

  /** Processes one DeleteBackupRequest. */
  async reconcile(key: string, signal: AbortSignal): Promise<ProcessResult> {
    // Read live, not from the cache: a request processed a moment ago may still look New there.
    const cached = this.#requests.get(key);
    if (!cached) return;
    const request = await getResource<DeleteBackupRequest>(
      this.#ctx,
      'DeleteBackupRequest',
      cached.metadata.name,
      signal,
    );
    if (!request) return;
    const phase = request.status?.phase ?? 'New';
    if (phase === 'Processed') return;
    const requestName = request.metadata.name;
    const name = request.spec.backupName;
    const processed = (errors: string[]) =>
      patchStatus(this.#ctx, 'DeleteBackupRequest', requestName, { phase: 'Processed', errors }, { signal });

    const backup = this.#backups.get(`${this.#ctx.namespace}/${name}`);
    if (!backup) {
      await processed([`backup "${name}" not found`]);
      return;
    }
    const schedule = scheduleOf(backup);
    this.#ctx.metrics.backupDeletionAttempt.inc({ schedule });
    const lock = deleteLockUntil(backup);
    if (lock && new Date(lock) > this.#ctx.now()) {
      this.#ctx.metrics.backupDeletionFailure.inc({ schedule });
      await processed([`backup "${name}" is locked against deletion until ${lock} (deleteLockDays)`]);
      return;
    }
    if (!backup.status?.phase || backup.status.phase === 'New' || backup.status.phase === 'InProgress') {
      this.#ctx.metrics.backupDeletionFailure.inc({ schedule });
      await processed([
        `backup "${name}" is ${backup.status?.phase ?? 'New'}: delete it once it has finished`,
      ]);
      return;
    }
    const locations = [
      ...new Set(
        backup.status?.locations?.map((l) => l.name) ??
          backup.spec?.storageLocations ??
          (backup.spec?.storageLocation ? [backup.spec.storageLocation] : []),
      ),
    ];
    const readOnly = locations.filter((l) => this.#ctx.locations.get(l)?.spec.accessMode === 'ReadOnly');
    if (readOnly.length > 0) {
      this.#ctx.metrics.backupDeletionFailure.inc({ schedule });
      await processed(readOnly.map((l) => `location "${l}" is ReadOnly: backups in it cannot be deleted`));
      return;
    }

    await patchStatus(this.#ctx, 'DeleteBackupRequest', requestName, { phase: 'InProgress' }, { signal });
    // From the version read: a backup that started meanwhile is not marked Deleting under its engine.
    const deleting = await patchStatus(
      this.#ctx,
      'Backup',
      name,
      { phase: 'Deleting' },
      { resourceVersion: backup.metadata.resourceVersion, signal },
    );
    if (deleting === false) return { requeueAfterMs: 100 };
    const errors: string[] = [];
    // Its CSI snapshots first, once (they are the cluster's, not a location's): a backup whose snapshots
    // cannot be deleted stays, or nothing would name them any more.
    const tookSnapshots = (backup.status?.csiVolumeSnapshotsCompleted ?? 0) > 0;
    for (const location of tookSnapshots ? locations : []) {
      if (!this.#ctx.locations.get(location)) continue;
      try {
        const store = await this.#ctx.locations.open(location, { createKey: false, signal });
        const csi = await deleteBackupSnapshots(() => Promise.resolve(this.#ctx.client), store, name, {
          signal,
        });
        // Not in this location (a backup that failed before storing anything there): the next one.
        if (!csi.found) continue;
        if (csi.deleted > 0)
          this.#ctx.log({ level: 'info', message: `deleted ${csi.deleted} CSI snapshots of backup ${name}` });
        errors.push(...csi.problems);
        break;
      } catch (error) {
        if (error instanceof BackupNotFoundError) continue;
        errors.push(`location "${location}": ${(error as Error).message}`);
        break;
      }
    }
    for (const location of errors.length > 0 ? [] : locations) {
      if (!this.#ctx.locations.get(location)) continue; // the location is gone: nothing to delete there
      try {
        const store = await this.#ctx.locations.open(location, { createKey: false, signal });
        // The backup's volume snapshots go first: its records are the only list of them.
        const repositories = new VolumeRepositories({
          location,
          store: store.store,
          passwords: secretRepositoryPasswords(this.#ctx),
        });
        const snapshots = await forgetBackupSnapshots(store, name, repositories, { signal }).finally(() =>
          repositories.close(),
        );
        for (const [namespace, ids] of Object.entries(snapshots.forgotten))
          this.#ctx.log({
            level: 'info',
            message: `forgot ${ids.length} volume snapshots of backup ${name} in restic/${namespace}/ of ${location}`,
          });
        for (const problem of snapshots.problems) this.#ctx.log({ level: 'warning', message: problem });
        const { deleted } = await store.deleteBackup(name, { signal });
        this.#ctx.log({
          level: 'info',
          message: `deleted backup ${name} from ${location} (${deleted} objects)`,
        });
      } catch (error) {
        // Nothing of it in that location (a backup that failed before storing anything): nothing to do.
        if (error instanceof BackupNotFoundError) continue;
        errors.push(`location "${location}": ${(error as Error).message}`);
      }
    }
    if (errors.length > 0) {
      // The backup stays (phase back to what it was), and the request says why; a new request retries.
      this.#ctx.metrics.backupDeletionFailure.inc({ schedule });
      await patchStatus(this.#ctx, 'Backup', name, { phase: backup.status?.phase ?? 'Failed' }, { signal });
      await processed(errors);
      return;
    }
    await deleteResource(this.#ctx, 'Backup', name, signal);
    this.#ctx.metrics.backupDeletionSuccess.inc({ schedule });
    await processed([]);
  }

  /**
   * One round of garbage collection: asks for the deletion of every terminal backup that no retention
   * rule (its schedule's policy, or its TTL) keeps. Returns the names it asked to delete.
   */
  async collect(signal: AbortSignal): Promise<string[]> {
    const now = this.#ctx.now();
    const pending = new Set(
      this.#requests
        .list()
        .filter((r) => r.status?.phase !== 'Processed')
        .map((r) => r.spec.backupName),
    );
    const policies = new Map(this.#schedules.list().map((s) => [s.metadata.name, s.spec.retention]));
    const groups = new Map<string, Backup[]>();
    for (const backup of this.#backups.list()) {
      if (!TERMINAL.has(backup.status?.phase ?? 'New') || backup.metadata.deletionTimestamp) continue;
      // Backups only in ReadOnly locations (a restore cluster's view of production) are never collected.
      const where = backup.status?.locations?.map((l) => l.name) ?? [backup.spec?.storageLocation ?? ''];
      if (where.every((l) => this.#ctx.locations.get(l)?.spec.accessMode === 'ReadOnly')) continue;
      const schedule = scheduleOf(backup);
      // A schedule's policy decides for its backups; other backups (and those of a schedule without a
      // policy, or one deleted) go by their TTL, each alone.
      const group =
        schedule && policies.get(schedule) ? `schedule/${schedule}` : `ttl/${backup.metadata.name}`;
      groups.set(group, [...(groups.get(group) ?? []), backup]);
    }
    // Requests made in earlier rounds that the informer may not show yet: asked once is enough.
    const existing = new Set(this.#backups.list().map((b) => b.metadata.name));
    for (const name of this.#asked) if (!existing.has(name)) this.#asked.delete(name);
    // A request that failed (a store error) is tried again by a new one.
    for (const request of this.#requests.list())
      if (request.status?.phase === 'Processed' && (request.status.errors?.length ?? 0) > 0)
        this.#asked.delete(request.spec.backupName);
    // Processed requests are kept for a day, as Velero keeps them: they say what was deleted and why.
    for (const request of this.#requests.list()) {
      const created = Date.parse(request.metadata.creationTimestamp ?? '');
      if (
        request.status?.phase !== 'Processed' ||
        !Number.isFinite(created) ||
        now.getTime() - created < PROCESSED_REQUEST_KEPT_MS
      )
        continue;
      await deleteResource(this.#ctx, 'DeleteBackupRequest', request.metadata.name, signal).catch(
        (error: unknown) =>
          this.#ctx.log({
            level: 'warning',
            message: `cannot remove the processed DeleteBackupRequest ${request.metadata.name}: ${(error as Error).message}`,
          }),
      );
    }
    const asked: string[] = [];
    for (const [group, backups] of groups) {
      const policy = group.startsWith('schedule/')
        ? policies.get(group.slice('schedule/'.length))
        : undefined;
      const retained = backups.map((b): RetainedBackup => {
        const lock = deleteLockUntil(b);
        return {
          name: b.metadata.name,
          startTimestamp: b.status?.startTimestamp ?? b.metadata.creationTimestamp ?? now.toISOString(),
          phase: b.status?.phase ?? 'Failed',
          ...(b.status?.expiration ? { expiration: b.status.expiration } : {}),
          ...(lock ? { deleteLockUntil: lock } : {}),
          ttl: b.spec.ttl ?? DEFAULT_BACKUP_TTL,
        };
      });
      for (const decision of decideRetention(retained, policy, now)) {
        if (decision.keep || pending.has(decision.name) || this.#asked.has(decision.name)) continue;
        const backup = backups.find((b) => b.metadata.name === decision.name);
        try {
          await this.request(
            decision.name,
            backup?.metadata.uid,
            `garbage collection: ${decision.reasons.join(', ')}`,
            signal,
          );
        } catch (error) {
          // Asked again at the next round; the other backups are not held up.
          this.#ctx.log({
            level: 'warning',
            message: `cannot ask to delete backup ${decision.name}: ${(error as Error).message}`,
          });
          continue;
        }
        this.#asked.add(decision.name);
        asked.push(decision.name);
      }
    }
    await this.abortStaleUploads(signal);
    return asked;
  }

  /**
   * Aborts the incomplete uploads (S3 multipart) of Failed backups in their writable locations: a writer
   * killed mid-upload leaves one, invisible to listings, kept and billed until aborted. Each backup once
   * per process (a Failed backup gets no new uploads). A location that fails is logged and tried again at
   * the next round.
   */
  async abortStaleUploads(signal: AbortSignal): Promise<number> {
    let aborted = 0;
    for (const backup of this.#backups.list()) {
      const name = backup.metadata.name;
      if (backup.status?.phase !== 'Failed' || this.#swept.has(name)) continue;
      const where = backup.status.locations?.map((l) => l.name) ?? [backup.spec.storageLocation ?? ''];
      let swept = true;
      for (const location of where) {
        const spec = this.#ctx.locations.get(location)?.spec;
        if (!spec || spec.accessMode === 'ReadOnly') continue;
        try {
          const store = await this.#ctx.locations.open(location, {
            createKey: false,
            withoutKey: true,
            signal,
          });
          const count = await store.abortUploads(name, { signal });
          if (count > 0)
            this.#ctx.log({
              level: 'info',
              message: `location ${location}: aborted ${count} incomplete upload(s) of failed backup ${name}`,
            });
          aborted += count;
        } catch (error) {
          if (signal.aborted) throw error;
          swept = false;
          this.#ctx.log({
            level: 'warning',
            message: `location ${location}: cannot abort the incomplete uploads of backup ${name}: ${(error as Error).message}`,
          });
        }
      }
      if (swept) this.#swept.add(name);
    }
    return aborted;
  }

  /** Creates a DeleteBackupRequest for a backup (Velero's naming: `<backup>-<5 random characters>`). */
  async request(
    backup: string,
    uid: string | undefined,
    reason: string,
    signal?: AbortSignal,
  ): Promise<void> {
    const suffix = randomBytes(4).toString('hex').slice(0, 5);
    await createResource<DeleteBackupRequest>(
      this.#ctx,
      'DeleteBackupRequest',
      {
        metadata: {
          name: `${backup.slice(0, 240)}-${suffix}`,
          labels: { [BACKUP_NAME_LABEL]: backup.slice(0, 63), ...(uid ? { [BACKUP_UID_LABEL]: uid } : {}) },
          annotations: { 'cairn.dev/reason': reason },
        },
        spec: { backupName: backup },
      },
      signal,
    );
    this.#ctx.log({ level: 'info', message: `asked to delete backup ${backup}: ${reason}` });
  }
}
