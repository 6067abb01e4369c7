// The dashboard's rows: a schedule's health (its last backup failed, or no success within its period),
// a backup's row and a location's use.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Backup, BackupLocation, BackupPhase, Schedule } from '../../src/api/index.ts';
import { backupRow, locationRow, resourceCounts, scheduleRow } from '../../src/controller/dashboard-views.ts';

const daily: Schedule = {
  apiVersion: 'cairn.dev/v1',
  kind: 'Schedule',
  metadata: { name: 'nightly', creationTimestamp: '2026-12-01T12:00:00Z' },
  spec: { schedule: '0 3 * * *', template: { includedNamespaces: ['shop'] } },
  status: { nextRun: '2026-12-08T03:00:00Z' },
};

function backup(
  name: string,
  phase: BackupPhase,
  started: string,
  extra: Partial<Backup['status']> = {},
): Backup {
  return {
    apiVersion: 'cairn.dev/v1',
    kind: 'Backup',
    metadata: { name, labels: { 'cairn.dev/schedule-name': 'nightly' } },
    spec: { includedNamespaces: ['shop', 'db'], storageLocation: 'default' },
    status: { phase, startTimestamp: started, ...extra },
  };
}

describe("a schedule's health", () => {
  const ok = backup('nightly-1', 'Completed', '2026-12-06T03:00:00Z');

  it('is good while its newest backup succeeded within its period', () => {
    const row = scheduleRow(daily, [ok], new Date('2026-12-07T10:00:00Z'));
    assert.equal(row.healthy, true);
    assert.equal(row.lastSuccess, '2026-12-06T03:00:00Z');
    assert.equal(row.nextRun, '2026-12-08T03:00:00Z');
  });

  it('is bad when its last backup failed, naming it', () => {
    const failed = backup('nightly-2', 'PartiallyFailed', '2026-12-07T03:00:00Z');
    const row = scheduleRow(daily, [failed, ok], new Date('2026-12-07T10:00:00Z'));
    assert.deepEqual([row.healthy, row.problem], [false, 'its last backup, nightly-2, is PartiallyFailed']);
    assert.equal(row.lastBackup?.name, 'nightly-2');
  });

  it('is bad when two runs came due since its last success without one succeeding', () => {
    // Due at 12-07 03:00 (may still be running) and 12-08 03:00: overdue after the second.
    assert.equal(scheduleRow(daily, [ok], new Date('2026-12-08T02:59:00Z')).healthy, true);
    const late = scheduleRow(daily, [ok], new Date('2026-12-08T03:01:00Z'));
    assert.deepEqual([late.healthy, late.problem], [false, 'no backup succeeded since 2026-12-06T03:00:00Z']);
    const never = scheduleRow(daily, [], new Date('2026-12-03T04:00:00Z'));
    assert.equal(never.problem, 'no backup succeeded since it was made, 2026-12-01T12:00:00Z');
  });

  it('is not judged while paused', () => {
    const paused = { ...daily, spec: { ...daily.spec, paused: true } };
    const row = scheduleRow(paused, [backup('x', 'Failed', '2026-12-07T03:00:00Z')], new Date('2026-12-20'));
    assert.deepEqual([row.healthy, row.paused, row.nextRun], [true, true, undefined]);
  });
});

describe('rows', () => {
  it("shows a backup's namespaces, locations, duration and size", () => {
    const row = backupRow(
      backup('b', 'Completed', '2026-12-07T03:00:00Z', {
        completionTimestamp: '2026-12-07T03:01:30Z',
        locations: [
          { name: 'mirror', phase: 'Failed', message: 'unreachable' },
          { name: 'default', phase: 'Completed', bytes: 2048 },
        ],
        warnings: 2,
      }),
    );
    assert.deepEqual(
      [row.namespaces, row.locations, row.durationSeconds, row.sizeBytes, row.warnings, row.errors],
      [['db', 'shop'], ['default', 'mirror'], 90, 2048, 2, 0],
    );
  });

  it("adds up a location's Completed copies", () => {
    const location: BackupLocation = {
      apiVersion: 'cairn.dev/v1',
      kind: 'BackupLocation',
      metadata: { name: 'default' },
      spec: { provider: 's3', objectStorage: { bucket: 'backups', prefix: 'prod' }, accessMode: 'ReadOnly' },
      status: { phase: 'Available' },
    };
    const copies = (bytes: number, phase: 'Completed' | 'Failed') =>
      backup(`b${bytes}`, 'Completed', '2026-12-07T03:00:00Z', {
        locations: [{ name: 'default', phase, bytes }],
      });
    const row = locationRow(location, [
      copies(100, 'Completed'),
      copies(50, 'Completed'),
      copies(7, 'Failed'),
    ]);
    assert.deepEqual(
      [row.where, row.accessMode, row.phase, row.usedBytes, row.backups],
      ['backups/prod', 'ReadOnly', 'Available', 150, 2],
    );
  });

  it('counts the items of a resource list in the namespaces shown', () => {
    const list = { 'v1/ConfigMap': ['shop/a', 'shop/b', 'db/c'], 'v1/Namespace': ['shop', 'db'] };
    assert.deepEqual(
      resourceCounts(list, (ns) => ns === 'shop'),
      { 'v1/ConfigMap': 2 },
    );
    assert.deepEqual(
      resourceCounts(list, () => true),
      { 'v1/ConfigMap': 3, 'v1/Namespace': 2 },
    );
  });
});
