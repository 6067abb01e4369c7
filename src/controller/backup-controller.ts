// The Backup controller: a phase machine over the same engine the CLI's standalone mode runs
// (createBackup). New → (validation) → InProgress → Completed, PartiallyFailed or Failed; a bad spec is
// FailedValidation with its reasons, nothing written. Progress goes to status at most once a second.
// A backup found InProgress when this replica starts leading was left by a server that stopped: it is
// marked Failed with that reason (a backup is a point in time; resuming it would not be one).
import { nodeAgentRuns } from './node-agent.ts';
import { ClusterPodVolumeBackups } from './pod-volumes.ts';
import { objectProblems, type Backup, type BackupStatus } from '../api/index.ts';
import { BackupValidationError, createBackup } from '../backup/index.ts';
import type { BackupStore } from '../storage/index.ts';
import type { ControllerContext } from './context.ts';
import type { Informer } from './informer.ts';
import type { ProcessResult } from './queue.ts';
import { patchResource, patchStatus, progressWriter } from './resources.ts';
import { ANNOTATIONS, LABELS, scheduleOf } from '../api/index.ts';

export const LOCATION_LABEL = LABELS.veleroStorageLocation;
/** Set on Backups the catalog sync made: the location they came from. */
export const SYNCED_ANNOTATION = ANNOTATIONS.syncedFrom;
export const ORPHAN_REASON =
  'the server stopped during the backup (it is not resumed: a backup is one point in time)';

export class BackupController {
  readonly #ctx: ControllerContext;
  readonly #backups: Informer<Backup>;
  /** Backups this replica runs now. */
  readonly #running = new Set<string>();

  constructor(ctx: ControllerContext, backups: Informer<Backup>) {
    this.#ctx = ctx;
    this.#backups = backups;
  }

  /** Marks Failed every InProgress backup this replica does not run (call once leading, after sync). */
  async failOrphans(signal: AbortSignal): Promise<void> {
    for (const backup of this.#backups.list()) {
      const name = backup.metadata.name;
      if (backup.status?.phase !== 'InProgress' || this.#running.has(name)) continue;
      this.#ctx.log({
        level: 'warning',
        message: `backup ${name} was InProgress when this server started leading: marking it Failed`,
      });
      try {
        await patchStatus(
          this.#ctx,
          'Backup',
          name,
          {
            phase: 'Failed',
            failureReason: ORPHAN_REASON,
            completionTimestamp: this.#ctx.now().toISOString(),
          },
          { signal },
        );
      } catch (error) {
        // Gone meanwhile, or the API server failed: the next start tries again; the controllers must
        // start anyway.
        this.#ctx.log({
          level: 'warning',
          message: `cannot mark backup ${name} Failed: ${(error as Error).message}`,
        });
        continue;
      }
      this.#ctx.metrics.backupEnded(scheduleOf(backup), {
        phase: 'Failed',
        at: this.#ctx.now(),
      });
    }
  }

  async reconcile(key: string, signal: AbortSignal): Promise<ProcessResult> {
    this.#ctx.metrics.backupTotal.set(this.#backups.list().length);
    const backup = this.#backups.get(key);
    if (!backup) return;
    const name = backup.metadata.name;
    if ((backup.status?.phase ?? 'New') !== 'New' || this.#running.has(name)) return;
    if (backup.metadata.deletionTimestamp) return;
    // Made by the catalog sync from a stored backup: its status follows from the store, not from a run.
    if (backup.metadata.annotations?.[SYNCED_ANNOTATION] !== undefined) return;
    const schedule = scheduleOf(backup);
    const now = () => this.#ctx.now();

    const problems = objectProblems('Backup', backup).map(
      (p) => `${p.field}: ${p.message} (got ${JSON.stringify(p.value)})`,
    );
    const spec = backup.spec ?? {};
    const locationNames =
      spec.storageLocations && spec.storageLocations.length > 0
        ? spec.storageLocations
        : [spec.storageLocation ?? this.#ctx.locations.defaultLocation()?.metadata.name].filter(
            (n): n is string => !!n,
          );
    if (locationNames.length === 0)
      problems.push('storageLocation: no location given and no BackupLocation is the default');
    for (const location of locationNames) {
      const found = this.#ctx.locations.get(location);
      if (!found) problems.push(`storageLocation: no BackupLocation named "${location}"`);
      else if (found.spec.accessMode === 'ReadOnly')
        problems.push(`storageLocation: location "${location}" is ReadOnly: backups cannot be written to it`);
    }
    if (problems.length > 0) return this.#invalid(backup, problems, signal);

    // The claim: InProgress, from the version read (a second replica or a retry cannot start it twice).
    const started = await patchStatus(
      this.#ctx,
      'Backup',
      name,
      {
        phase: 'InProgress',
        startTimestamp: now().toISOString(),
        progress: { itemsBackedUp: 0, totalItems: 0 },
      },
      { resourceVersion: backup.metadata.resourceVersion, signal },
    );
    if (started === false) return { requeueAfterMs: 100 };
    this.#running.add(name);
    // Where it went, on the resource itself (Velero's label and field): what the catalog sync and
    // `kubectl get` read.
    await patchResource(
      this.#ctx,
      'Backup',
      name,
      {
        metadata: { labels: { [LOCATION_LABEL]: locationNames[0] ?? '' } },
        spec: { storageLocation: locationNames[0], storageLocations: locationNames },
      },
      signal,
    ).catch((error: unknown) =>
      this.#ctx.log({
        level: 'warning',
        message: `backup ${name}: cannot record its locations: ${(error as Error).message}`,
      }),
    );
    this.#ctx.log({ level: 'info', message: `backup ${name} started, into ${locationNames.join(', ')}` });
    const startedAt = this.#ctx.clock.now();
    try {
      let stores: BackupStore[];
      try {
        stores = await Promise.all(
          locationNames.map((l) => this.#ctx.locations.open(l, { createKey: true, signal })),
        );
      } catch (error) {
        await this.#finish(backup, { phase: 'Failed', failureReason: (error as Error).message }, signal);
        return;
      }
      const progress = progressWriter(this.#ctx, { kind: 'Backup', name, signal });
      const result = await createBackup({
        client: this.#ctx.client,
        namespace: this.#ctx.namespace,
        moverImage: this.#ctx.restoreHelperImage,
        name,
        spec: { ...spec, storageLocation: locationNames[0] ?? '', storageLocations: locationNames },
        labels: backup.metadata.labels,
        stores,
        now,
        writer: this.#ctx.writer,
        sleep: (ms, wait) => this.#ctx.clock.sleep(ms, wait),
        uid: backup.metadata.uid ?? name,
        podVolumes: new ClusterPodVolumeBackups({
          writer: this.#ctx,
          owner: { kind: 'Backup', name, uid: backup.metadata.uid ?? name },
          sleep: (ms, wait) => this.#ctx.clock.sleep(ms, wait),
          agentRuns: (node, wait) =>
            nodeAgentRuns(this.#ctx.client, this.#ctx.namespace, node, () => this.#ctx.clock.now(), wait),
        }),
        signal,
        // Counted once the engine's own validation passed and the name is claimed (as Velero counts).
        onStarted: () => this.#ctx.metrics.backupStarted(schedule),
        onProgress: ({ itemsBackedUp, totalItems }) => progress.update({ itemsBackedUp, totalItems }),
      });
      await progress.flush();
      const status = result.status ?? {};
      const stopped = signal.aborted && status.phase === 'Failed';
      await this.#finish(
        backup,
        { ...status, ...(stopped ? { failureReason: ORPHAN_REASON } : {}) },
        AbortSignal.timeout(10_000),
      );
      this.#ctx.metrics.backupEnded(schedule, {
        phase: status.phase === 'Completed' || status.phase === 'PartiallyFailed' ? status.phase : 'Failed',
        seconds: (this.#ctx.clock.now() - startedAt) / 1000,
        items: status.progress?.itemsBackedUp,
        errors: status.errors,
        warnings: status.warnings,
        bytes: status.locations?.find((l) => l.phase === 'Completed')?.archiveBytes,
        moves: status.snapshotDataMoves,
        snapshots:
          status.csiVolumeSnapshotsAttempted !== undefined
            ? {
                attempted: status.csiVolumeSnapshotsAttempted,
                completed: status.csiVolumeSnapshotsCompleted ?? 0,
              }
            : undefined,
        at: now(),
      });
      this.#ctx.log({ level: 'info', message: `backup ${name} ${status.phase}` });
    } catch (error) {
      if (error instanceof BackupValidationError) {
        await this.#invalid(
          backup,
          error.problems.map((p) => `${p.field}: ${p.message} (got ${JSON.stringify(p.value)})`),
          signal,
        );
        return;
      }
      await this.#finish(
        backup,
        { phase: 'Failed', failureReason: (error as Error).message },
        AbortSignal.timeout(10_000),
      );
      this.#ctx.metrics.backupEnded(schedule, { phase: 'Failed', at: now() });
    } finally {
      this.#running.delete(name);
    }
  }

  async #invalid(backup: Backup, problems: string[], signal: AbortSignal): Promise<void> {
    this.#ctx.log({
      level: 'warning',
      message: `backup ${backup.metadata.name} failed validation: ${problems.join('; ')}`,
    });
    await patchStatus(
      this.#ctx,
      'Backup',
      backup.metadata.name,
      {
        phase: 'FailedValidation',
        validationErrors: problems,
        completionTimestamp: this.#ctx.now().toISOString(),
      },
      { signal },
    );
    this.#ctx.metrics.backupEnded(scheduleOf(backup), {
      phase: 'FailedValidation',
      at: this.#ctx.now(),
    });
  }

  async #finish(backup: Backup, status: BackupStatus, signal: AbortSignal): Promise<void> {
    await patchStatus(
      this.#ctx,
      'Backup',
      backup.metadata.name,
      {
        ...status,
        completionTimestamp: status.completionTimestamp ?? this.#ctx.now().toISOString(),
      },
      { signal },
    );
  }
}
