// The server's Prometheus metrics (prom-client). Names and labels mirror Velero's pkg/metrics with the
// prefix `cairn_` instead of `velero_`, so dashboards and alerts port by renaming the prefix; Cairn's
// additions (per-location bytes and objects) carry names of their own. docs/metrics.md lists them all.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { StoreActivity } from '../storage/index.ts';
import { systemClock, type Clock } from './clock.ts';

/** A backup or restore not made by a schedule is counted under schedule="" (as Velero does). */
const SCHEDULE = ['schedule'] as const;

// Velero's buckets: 1m, 5m, 10m, 15m, 30m, 1h, 2h, 3h, 4h; Cairn adds 5 s, 15 s and 30 s (its backups of
// API objects often take seconds).
const DURATION_BUCKETS = [5, 15, 30, 60, 300, 600, 900, 1800, 3600, 7200, 10800, 14400];

export type BackupOutcomePhase = 'Completed' | 'PartiallyFailed' | 'Failed' | 'FailedValidation';
export type RestoreOutcomePhase = BackupOutcomePhase;

export class ServerMetrics {
  readonly registry = new Registry();
  /** The ages of store calls in flight are read on this clock. */
  readonly #clock: Clock;

  constructor(options: { clock?: Clock | undefined } = {}) {
    this.#clock = options.clock ?? systemClock;
  }

  readonly backupTotal = this.#gauge('cairn_backup_total', 'Current number of existent backups');
  readonly backupAttempt = this.#counter('cairn_backup_attempt_total', 'Total number of attempted backups');
  readonly backupSuccess = this.#counter('cairn_backup_success_total', 'Total number of successful backups');
  readonly backupPartialFailure = this.#counter(
    'cairn_backup_partial_failure_total',
    'Total number of partially failed backups',
  );
  readonly backupFailure = this.#counter('cairn_backup_failure_total', 'Total number of failed backups');
  readonly backupValidationFailure = this.#counter(
    'cairn_backup_validation_failure_total',
    'Total number of validation failed backups',
  );
  readonly backupDuration = new Histogram({
    name: 'cairn_backup_duration_seconds',
    help: 'Time taken to complete backup, in seconds',
    labelNames: SCHEDULE,
    buckets: DURATION_BUCKETS,
    registers: [this.registry],
  });
  readonly backupItems = this.#gauge('cairn_backup_items_total', 'Total number of items backed up', SCHEDULE);
  readonly backupItemErrors = this.#gauge(
    'cairn_backup_items_errors',
    'Total number of errors encountered during backup',
    SCHEDULE,
  );
  readonly backupWarnings = this.#counter(
    'cairn_backup_warning_total',
    'Total number of warned backups (the warnings of each added up)',
  );
  readonly backupLastSuccess = this.#gauge(
    'cairn_backup_last_successful_timestamp',
    'Last time a backup ran successfully, Unix timestamp in seconds',
    SCHEDULE,
  );
  readonly backupLastStatus = this.#gauge(
    'cairn_backup_last_status',
    'Last status of the backup. A value of 1 is success, 0 is failure',
    SCHEDULE,
  );
  readonly backupTarballSize = this.#gauge(
    'cairn_backup_tarball_size_bytes',
    'Size, in bytes, of a backup (its archive as stored)',
    SCHEDULE,
  );
  readonly csiSnapshotAttempt = this.#counter(
    'cairn_csi_snapshot_attempt_total',
    'Total number of CSI volume snapshots attempted by backups',
  );
  readonly csiSnapshotSuccess = this.#counter(
    'cairn_csi_snapshot_success_total',
    'Total number of CSI volume snapshots taken and kept by backups',
  );
  readonly csiSnapshotFailure = this.#counter(
    'cairn_csi_snapshot_failure_total',
    'Total number of CSI volume snapshots that failed',
  );
  readonly dataUploadSuccess = this.#counter(
    'cairn_data_upload_success_total',
    "CSI snapshots whose data was moved into the locations' repositories (Velero's podVolume_data_upload_success_total)",
  );
  readonly dataUploadFailure = this.#counter(
    'cairn_data_upload_failure_total',
    'CSI snapshots whose data was not moved (the snapshot kept)',
  );
  readonly dataUploadSeconds = this.#counter(
    'cairn_data_upload_seconds_total',
    'Seconds spent moving CSI snapshot data into the repositories (its rate: how busy the moves keep Cairn)',
  );
  readonly dataUploadBytes = this.#counter(
    'cairn_data_upload_bytes_total',
    'Bytes read from CSI snapshots whose data was moved, in every location',
  );
  readonly backupDeletionAttempt = this.#counter(
    'cairn_backup_deletion_attempt_total',
    'Total number of attempted backup deletions',
  );
  readonly backupDeletionSuccess = this.#counter(
    'cairn_backup_deletion_success_total',
    'Total number of successful backup deletions',
  );
  readonly backupDeletionFailure = this.#counter(
    'cairn_backup_deletion_failure_total',
    'Total number of failed backup deletions',
  );

  readonly restoreTotal = this.#gauge('cairn_restore_total', 'Current number of existent restores');
  readonly restoreAttempt = this.#counter(
    'cairn_restore_attempt_total',
    'Total number of attempted restores',
  );
  readonly restoreSuccess = this.#counter(
    'cairn_restore_success_total',
    'Total number of successful restores',
  );
  readonly restorePartialFailure = this.#counter(
    'cairn_restore_partial_failure_total',
    'Total number of partially failed restores',
  );
  readonly restoreFailure = this.#counter('cairn_restore_failed_total', 'Total number of failed restores');
  readonly restoreValidationFailure = this.#counter(
    'cairn_restore_validation_failed_total',
    'Total number of failed restores failing validations',
  );
  readonly restoreDuration = new Histogram({
    name: 'cairn_restore_duration_seconds',
    help: 'Time taken to complete restore, in seconds',
    labelNames: SCHEDULE,
    buckets: DURATION_BUCKETS,
    registers: [this.registry],
  });

  readonly scheduleExpectedInterval = this.#gauge(
    'cairn_schedule_expected_interval_seconds',
    'Expected interval between consecutive scheduled backups, in seconds',
    SCHEDULE,
  );

  readonly locationStatus = this.#gauge(
    'cairn_backup_location_status_gauge',
    'The availability of a backup location: 1 Available, 0 Unavailable',
    ['backup_location_name'],
  );
  readonly locationBytes = this.#gauge(
    'cairn_backup_location_bytes',
    'Bytes stored in a backup location by its backups (as its catalog records them)',
    ['backup_location_name'],
  );
  readonly locationBackups = this.#gauge(
    'cairn_backup_location_backups',
    'Backups stored in a backup location',
    ['backup_location_name'],
  );

  /** The object-store calls in flight: every location's store registers its calls here (withTimeouts). */
  readonly storeActivity = new StoreActivity();
  readonly storeOperationsInFlight = new Gauge({
    name: 'cairn_object_store_operations_in_flight',
    help: 'Object-store calls in flight, by location and operation (put, get, head, list, delete, ...)',
    labelNames: ['backup_location_name', 'operation'] as const,
    registers: [this.registry],
    // Read at each scrape: a call's life is seconds, a scrape's interval longer.
    collect: () => {
      this.storeOperationsInFlight.reset();
      for (const { location, operation, count } of this.storeActivity.snapshot(this.#clock.now()).inFlight)
        this.storeOperationsInFlight.set({ backup_location_name: location, operation }, count);
    },
  });
  readonly storeOldestOperationAge = new Gauge({
    name: 'cairn_object_store_oldest_operation_age_seconds',
    help: 'Seconds since the oldest object-store call in flight in the location started (0: none)',
    labelNames: ['backup_location_name'] as const,
    registers: [this.registry],
    collect: () => {
      this.storeOldestOperationAge.reset();
      for (const { location, seconds } of this.storeActivity.snapshot(this.#clock.now()).oldest)
        this.storeOldestOperationAge.set({ backup_location_name: location }, seconds);
    },
  });

  /** A backup started. */
  backupStarted(schedule: string): void {
    this.backupAttempt.inc({ schedule });
  }

  /** A backup ended: counters by phase, duration, items, errors, size and last status. */
  backupEnded(
    schedule: string,
    outcome: {
      phase: BackupOutcomePhase;
      seconds?: number | undefined;
      items?: number | undefined;
      errors?: number | undefined;
      warnings?: number | undefined;
      bytes?: number | undefined;
      /** CSI snapshots attempted and completed. */
      snapshots?: { attempted: number; completed: number } | undefined;
      /** Snapshot data moves: done, failed, bytes read. */
      moves?: { completed: number; failed: number; bytes: number; seconds?: number | undefined } | undefined;
      at: Date;
    },
  ): void {
    const labels = { schedule };
    if (outcome.snapshots && outcome.snapshots.attempted > 0) {
      this.csiSnapshotAttempt.inc(labels, outcome.snapshots.attempted);
      this.csiSnapshotSuccess.inc(labels, outcome.snapshots.completed);
      if (outcome.snapshots.attempted > outcome.snapshots.completed)
        this.csiSnapshotFailure.inc(labels, outcome.snapshots.attempted - outcome.snapshots.completed);
    }
    if (outcome.moves) {
      this.dataUploadSuccess.inc(labels, outcome.moves.completed);
      this.dataUploadFailure.inc(labels, outcome.moves.failed);
      this.dataUploadBytes.inc(labels, outcome.moves.bytes);
      this.dataUploadSeconds.inc(labels, outcome.moves.seconds ?? 0);
    }
    if (outcome.phase === 'FailedValidation') {
      this.backupValidationFailure.inc(labels);
      this.backupLastStatus.set(labels, 0);
      return;
    }
    if (outcome.phase === 'Completed') {
      this.backupSuccess.inc(labels);
      this.backupLastSuccess.set(labels, Math.floor(outcome.at.getTime() / 1000));
    } else if (outcome.phase === 'PartiallyFailed') this.backupPartialFailure.inc(labels);
    else this.backupFailure.inc(labels);
    this.backupLastStatus.set(labels, outcome.phase === 'Completed' ? 1 : 0);
    if (outcome.seconds !== undefined) this.backupDuration.observe(labels, outcome.seconds);
    if (outcome.items !== undefined) this.backupItems.set(labels, outcome.items);
    if (outcome.errors !== undefined) this.backupItemErrors.set(labels, outcome.errors);
    if (outcome.warnings) this.backupWarnings.inc(labels, outcome.warnings);
    if (outcome.bytes !== undefined) this.backupTarballSize.set(labels, outcome.bytes);
  }

  restoreEnded(
    schedule: string,
    outcome: { phase: RestoreOutcomePhase; seconds?: number | undefined },
  ): void {
    const labels = { schedule };
    if (outcome.phase === 'FailedValidation') this.restoreValidationFailure.inc(labels);
    else if (outcome.phase === 'Completed') this.restoreSuccess.inc(labels);
    else if (outcome.phase === 'PartiallyFailed') this.restorePartialFailure.inc(labels);
    else this.restoreFailure.inc(labels);
    if (outcome.seconds !== undefined && outcome.phase !== 'FailedValidation')
      this.restoreDuration.observe(labels, outcome.seconds);
  }

  /** Cairn's own: garbage-collection passes, so that an alert can tell a collector that stopped running. */
  readonly gcRuns = new Counter({
    name: 'cairn_gc_runs_total',
    help: 'Garbage-collection passes finished, by outcome (success, failure)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  /** The Prometheus text exposition. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  #counter(name: string, help: string): Counter<'schedule'> {
    return new Counter({ name, help, labelNames: SCHEDULE, registers: [this.registry] });
  }

  #gauge<L extends string = never>(name: string, help: string, labelNames: readonly L[] = []): Gauge<L> {
    return new Gauge({ name, help, labelNames, registers: [this.registry] });
  }
}
