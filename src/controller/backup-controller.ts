// The Backup controller: a phase machine over the same engine the CLI's standalone mode runs
// (createBackup). New → (validation) → InProgress → Completed, PartiallyFailed or Failed; a bad spec is
// FailedValidation with its reasons, nothing written. Progress goes to status at most once a second.
// A backup found InProgress when this replica starts leading was left by a server that stopped (or lost
// its lease to this one): it is marked Failed with that reason (a backup is a point in time; resuming it
// would not be one). A backup this process runs outlives the leadership that started it (backup-runs.ts):
// its reads wait out an API server outage and its status writes are tried until they land.
import { nodeAgentRuns } from './node-agent.ts';
import { ClusterPodVolumeBackups } from './pod-volumes.ts';
import { objectProblems, type Backup, type BackupStatus } from '../api/index.ts';
import { BackupValidationError, createBackup } from '../backup/index.ts';
import type { BackupStore } from '../storage/index.ts';
import { SupersededError, TakeoverError, type BackupRuns } from './backup-runs.ts';
import type { ControllerContext } from './context.ts';
import type { Informer } from './informer.ts';
import type { ProcessResult } from './queue.ts';
import {
  getResource,
  patchResource,
  patchStatus,
  patchStatusWhile,
  progressWriter,
  writeUntilLanded,
} from './resources.ts';
import { ANNOTATIONS, LABELS, scheduleOf } from '../api/index.ts';

export const LOCATION_LABEL = LABELS.veleroStorageLocation;
/** Set on Backups the catalog sync made: the location they came from. */
export const SYNCED_ANNOTATION = ANNOTATIONS.syncedFrom;
export const ORPHAN_REASON =
  'the server stopped during the backup (it is not resumed: a backup is one point in time)';
/** A read of a running backup that has failed this often is said to wait for the API server. */
const WAIT_LOG_AFTER_TRIES = 5;

export class BackupController {
  readonly #ctx: ControllerContext;
  readonly #backups: Informer<Backup>;
  /** Backups this process runs now, whichever of its leaderships started them. */
  readonly #runs: BackupRuns;

  constructor(ctx: ControllerContext, backups: Informer<Backup>, runs: BackupRuns) {
    this.#ctx = ctx;
    this.#backups = backups;
    this.#runs = runs;
  }

  /** Marks Failed every InProgress backup this replica does not run (call once leading, after sync). */
  async failOrphans(signal: AbortSignal): Promise<void> {
    for (const backup of this.#backups.list()) {
      const name = backup.metadata.name;
      if (backup.status?.phase !== 'InProgress' || this.#runs.has(name)) continue;
      try {
        // The cache may be older than the Backup: a run of this process whose last write was retried
        // through an outage may have landed Completed since. Only the InProgress seen is failed.
        const { written } = await patchStatusWhile<BackupStatus>(
          this.#ctx,
          'Backup',
          name,
          {
            phase: 'Failed',
            failureReason: ORPHAN_REASON,
            completionTimestamp: this.#ctx.now().toISOString(),
          },
          { known: backup, holds: (s) => s?.phase === 'InProgress' && !this.#runs.has(name), signal },
        );
        if (!written) continue;
        this.#ctx.log({
          level: 'warning',
          message: `backup ${name} was InProgress when this server started leading: marked it Failed`,
        });
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
    if ((backup.status?.phase ?? 'New') !== 'New' || this.#runs.has(name)) return;
    if (backup.metadata.deletionTimestamp) return;
    // Made by the catalog sync from a stored backup: its status follows from the store, not from a run.
    if (backup.metadata.annotations?.[SYNCED_ANNOTATION] !== undefined) return;
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
    // While this replica leads, the queue waits for the backup (backupWorkers at a time). When it stops
    // leading but goes on (the API server away), the backup runs on in this process and the queue lets go.
    await this.#runs.start(name, signal, (runSignal) => this.#run(backup, locationNames, runSignal));
  }

  /** Runs a claimed backup to its end and writes its status; never throws. */
  async #run(backup: Backup, locationNames: string[], signal: AbortSignal): Promise<void> {
    const name = backup.metadata.name;
    const schedule = scheduleOf(backup);
    const now = () => this.#ctx.now();
    const spec = backup.spec ?? {};
    // The backup's reads wait out an API server that cannot be reached, saying so once per read that
    // waits longer than a client would usually try; its writes are tried until they land.
    const client = this.#ctx.client.waitingForServer((event) => {
      if (event.attempt === WAIT_LOG_AFTER_TRIES)
        this.#ctx.log({
          level: 'warning',
          message: `backup ${name}: waiting for the API server (${event.method} ${event.path}: ${event.reason})`,
        });
    });
    // Where it went, on the resource itself (Velero's label and field): what the catalog sync and
    // `kubectl get` read.
    const recorded = this.#landed(`backup ${name}: recording its locations`, (s) =>
      patchResource(
        this.#ctx,
        'Backup',
        name,
        {
          metadata: { labels: { [LOCATION_LABEL]: locationNames[0] ?? '' } },
          spec: { storageLocation: locationNames[0], storageLocations: locationNames },
        },
        s,
      ),
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
        await recorded;
        await this.#finish(backup, { phase: 'Failed', failureReason: (error as Error).message });
        return;
      }
      const progress = progressWriter(this.#ctx, { kind: 'Backup', name, signal });
      const result = await createBackup({
        client,
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
          writer: { ...this.#ctx, client },
          owner: { kind: 'Backup', name, uid: backup.metadata.uid ?? name },
          sleep: (ms, wait) => this.#ctx.clock.sleep(ms, wait),
          agentRuns: (node, wait) =>
            nodeAgentRuns(client, this.#ctx.namespace, node, () => this.#ctx.clock.now(), wait),
        }),
        signal,
        // Counted once the engine's own validation passed and the name is claimed (as Velero counts).
        onStarted: () => this.#ctx.metrics.backupStarted(schedule),
        onProgress: ({ itemsBackedUp, totalItems }) => progress.update({ itemsBackedUp, totalItems }),
        // A replica that lost its lease commits only once it leads again (backup-runs.ts), and only while its
        // Backup is still InProgress: a replica that led meanwhile and released the lease (so that this one
        // never saw it hold it) failed the backup as an orphan.
        beforeCommit: async () => {
          await this.#runs.led(signal);
          const writer = { client, namespace: this.#ctx.namespace };
          const current = await getResource<Backup>(writer, 'Backup', name, signal);
          if (current && current.status?.phase !== 'InProgress')
            throw new SupersededError(current.status?.phase ?? 'New');
        },
      });
      await progress.flush();
      const status = result.status ?? {};
      const stopped = signal.aborted && status.phase === 'Failed';
      await recorded;
      await this.#finish(backup, { ...status, ...(stopped ? { failureReason: stopReason(signal) } : {}) });
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
      await recorded;
      if (error instanceof BackupValidationError) {
        await this.#invalid(
          backup,
          error.problems.map((p) => `${p.field}: ${p.message} (got ${JSON.stringify(p.value)})`),
          this.#runs.writeSignal,
        ).catch((failed: unknown) => this.#unwritten(name, failed));
        return;
      }
      const failureReason = signal.aborted ? stopReason(signal) : (error as Error).message;
      await this.#finish(backup, { phase: 'Failed', failureReason });
      this.#ctx.metrics.backupEnded(schedule, { phase: 'Failed', at: now() });
      this.#ctx.log({ level: 'info', message: `backup ${name} Failed: ${failureReason}` });
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

  /**
   * Writes the backup's last status, trying until the API server takes it (or the process has stopped
   * and its grace period passed).
   */
  async #finish(backup: Backup, status: BackupStatus): Promise<void> {
    const name = backup.metadata.name;
    const final = {
      ...status,
      completionTimestamp: status.completionTimestamp ?? this.#ctx.now().toISOString(),
    };
    // Only over InProgress, read afresh and guarded by its resourceVersion: another server that led
    // meanwhile may have failed the backup, and no success of this run lands over that. A Failed does
    // replace a Failed: this run's reason says more than "the server stopped".
    const result = await this.#landed(
      `backup ${name}: writing its status (${final.phase ?? 'Failed'})`,
      (signal) =>
        patchStatusWhile<BackupStatus>(this.#ctx, 'Backup', name, final, {
          holds: (s) => s?.phase === 'InProgress' || (s?.phase === 'Failed' && final.phase === 'Failed'),
          signal,
        }),
    ).catch((error: unknown) => this.#unwritten(name, error));
    // A try whose answer was lost may have landed: finding its own status is no conflict.
    const found = result && !result.written ? result.current : undefined;
    if (found && found.completionTimestamp !== final.completionTimestamp)
      this.#ctx.log({
        level: 'warning',
        message: `backup ${name}: its status (${final.phase ?? 'Failed'}) is not written: another server marked it ${found.phase ?? 'New'} meanwhile`,
      });
  }

  #landed<T>(what: string, write: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const log = (message: string) => this.#ctx.log({ level: 'warning', message });
    return writeUntilLanded({ clock: this.#ctx.clock, log, what }, write, this.#runs.writeSignal);
  }

  #unwritten(name: string, error: unknown): void {
    this.#ctx.log({
      level: 'error',
      message: `backup ${name}: cannot write its status: ${(error as Error).message}`,
    });
  }
}

/** Why a run stopped by its signal failed: another replica took over, or the server stopped. */
function stopReason(signal: AbortSignal): string {
  const reason: unknown = signal.reason;
  return reason instanceof TakeoverError ? reason.message : ORPHAN_REASON;
}
