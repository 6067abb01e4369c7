import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ServerMetrics } from '../../src/controller/metrics.ts';
import { manualClock } from '../helpers/clock.ts';

/** The value of one sample line of the exposition, or undefined when it is absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('ServerMetrics', () => {
  it("counts backups by outcome per schedule under Velero's names with the cairn_ prefix", async () => {
    const metrics = new ServerMetrics();
    const at = new Date('2026-11-30T02:00:00Z');
    metrics.backupStarted('nightly');
    metrics.backupEnded('nightly', {
      phase: 'Completed',
      seconds: 12,
      items: 340,
      errors: 0,
      warnings: 2,
      bytes: 4096,
      at,
    });
    metrics.backupStarted('nightly');
    metrics.backupEnded('nightly', {
      phase: 'PartiallyFailed',
      seconds: 20,
      items: 338,
      errors: 2,
      snapshots: { attempted: 3, completed: 2 },
      moves: { completed: 1, failed: 1, bytes: 5000, seconds: 12.5 },
      at,
    });
    metrics.backupStarted('');
    metrics.backupEnded('', { phase: 'Failed', seconds: 1, at });
    metrics.backupStarted('');
    metrics.backupEnded('', { phase: 'FailedValidation', at });
    const text = await metrics.text();
    assert.equal(sample(text, 'cairn_backup_attempt_total{schedule="nightly"}'), 2);
    assert.equal(sample(text, 'cairn_backup_success_total{schedule="nightly"}'), 1);
    assert.equal(sample(text, 'cairn_backup_partial_failure_total{schedule="nightly"}'), 1);
    assert.equal(sample(text, 'cairn_backup_failure_total{schedule=""}'), 1);
    assert.equal(sample(text, 'cairn_backup_validation_failure_total{schedule=""}'), 1);
    assert.equal(
      sample(text, 'cairn_backup_last_successful_timestamp{schedule="nightly"}'),
      at.getTime() / 1000,
    );
    assert.equal(
      sample(text, 'cairn_backup_last_status{schedule="nightly"}'),
      0,
      'the last one failed partly',
    );
    assert.equal(sample(text, 'cairn_backup_items_total{schedule="nightly"}'), 338);
    assert.equal(sample(text, 'cairn_backup_items_errors{schedule="nightly"}'), 2);
    assert.equal(sample(text, 'cairn_backup_warning_total{schedule="nightly"}'), 2);
    assert.equal(sample(text, 'cairn_backup_tarball_size_bytes{schedule="nightly"}'), 4096);
    assert.equal(sample(text, 'cairn_csi_snapshot_attempt_total{schedule="nightly"}'), 3);
    assert.equal(sample(text, 'cairn_csi_snapshot_success_total{schedule="nightly"}'), 2);
    assert.equal(sample(text, 'cairn_csi_snapshot_failure_total{schedule="nightly"}'), 1);
    assert.equal(sample(text, 'cairn_data_upload_success_total{schedule="nightly"}'), 1);
    assert.equal(sample(text, 'cairn_data_upload_failure_total{schedule="nightly"}'), 1);
    assert.equal(sample(text, 'cairn_data_upload_bytes_total{schedule="nightly"}'), 5000);
    assert.equal(sample(text, 'cairn_data_upload_seconds_total{schedule="nightly"}'), 12.5);
    assert.equal(sample(text, 'cairn_backup_duration_seconds_count{schedule="nightly"}'), 2);
    assert.equal(sample(text, 'cairn_backup_duration_seconds_sum{schedule="nightly"}'), 32);
    assert.equal(sample(text, 'cairn_backup_duration_seconds_bucket{le="15",schedule="nightly"}'), 1);
    assert.equal(
      sample(text, 'cairn_backup_duration_seconds_count{schedule=""}'),
      1,
      'validation failures have no duration',
    );
  });

  it('counts restores by outcome and reports location availability', async () => {
    const metrics = new ServerMetrics();
    metrics.restoreAttempt.inc({ schedule: '' });
    metrics.restoreEnded('', { phase: 'Completed', seconds: 3 });
    metrics.restoreEnded('', { phase: 'Failed', seconds: 3 });
    metrics.locationStatus.set({ backup_location_name: 'default' }, 1);
    metrics.locationStatus.set({ backup_location_name: 'dr' }, 0);
    const text = await metrics.text();
    assert.equal(sample(text, 'cairn_restore_attempt_total{schedule=""}'), 1);
    assert.equal(sample(text, 'cairn_restore_success_total{schedule=""}'), 1);
    assert.equal(sample(text, 'cairn_restore_failed_total{schedule=""}'), 1);
    assert.equal(sample(text, 'cairn_backup_location_status_gauge{backup_location_name="default"}'), 1);
    assert.equal(sample(text, 'cairn_backup_location_status_gauge{backup_location_name="dr"}'), 0);
    assert.match(metrics.contentType, /^text\/plain/);
  });

  it('shows the store calls in flight per location and operation, and the age of the oldest, at each scrape', async () => {
    const time = manualClock(1_000_000);
    const metrics = new ServerMetrics({ clock: time.clock });
    const endPut = metrics.storeActivity.begin('minio', 'put', time.clock.now());
    await time.advance(30_000);
    const endHead = metrics.storeActivity.begin('minio', 'head', time.clock.now());
    await time.advance(12_000);
    let text = await metrics.text();
    const inFlight = (operation: string) =>
      sample(
        text,
        `cairn_object_store_operations_in_flight{backup_location_name="minio",operation="${operation}"}`,
      );
    const oldest = 'cairn_object_store_oldest_operation_age_seconds{backup_location_name="minio"}';
    assert.deepEqual([inFlight('put'), inFlight('head'), sample(text, oldest)], [1, 1, 42]);
    endPut();
    endHead();
    text = await metrics.text();
    assert.deepEqual([inFlight('put'), inFlight('head'), sample(text, oldest)], [0, 0, 0]);
  });

  it('keeps each registry apart, so two servers in one process do not share counts', async () => {
    const a = new ServerMetrics();
    const b = new ServerMetrics();
    a.backupStarted('x');
    assert.equal(sample(await b.text(), 'cairn_backup_attempt_total{schedule="x"}'), undefined);
  });
});
