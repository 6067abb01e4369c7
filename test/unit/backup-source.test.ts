// Which backup a restore reads: the rule (newestOfSchedule, unrestorableReason) the CLI, createRestore and
// the restore controller share, and locateBackup over several locations.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { newestOfSchedule, unrestorableReason, type Backup, type BackupPhase } from '../../src/api/index.ts';
import { locateBackup } from '../../src/restore/index.ts';
import { BackupStore, manifestOf, MemoryStore } from '../../src/storage/index.ts';

function backup(
  name: string,
  options: { schedule?: string; velero?: boolean; phase?: BackupPhase; started?: string },
) {
  const label = options.velero ? 'velero.io/schedule-name' : 'cairn.dev/schedule-name';
  return {
    apiVersion: 'velero.io/v1',
    kind: 'Backup',
    metadata: { name, ...(options.schedule ? { labels: { [label]: options.schedule } } : {}) },
    spec: {},
    status: {
      phase: options.phase ?? 'Completed',
      startTimestamp: options.started ?? '2026-12-01T00:00:00Z',
    },
  } satisfies Backup;
}

async function storeWith(location: string, backups: Backup[]): Promise<BackupStore> {
  const store = new BackupStore({ location, store: new MemoryStore() });
  for (const b of backups) {
    const file = await store.writeFile(b.metadata.name, 'logs', Buffer.from('{}\n'));
    await store.commit(b, manifestOf(b.metadata.name, [file], store.encryption).manifest);
  }
  return store;
}

describe('the backup a restore reads', () => {
  it("is the newest Completed backup of the schedule, under Cairn's label or Velero's", () => {
    const backups = [
      backup('nightly-1', { schedule: 'nightly', started: '2026-12-01T01:00:00Z' }),
      backup('nightly-3', { schedule: 'nightly', started: '2026-12-03T01:00:00Z', velero: true }),
      backup('nightly-4', { schedule: 'nightly', started: '2026-12-04T01:00:00Z', phase: 'PartiallyFailed' }),
      backup('weekly-9', { schedule: 'weekly', started: '2026-12-09T01:00:00Z' }),
      backup('by-hand', { started: '2026-12-10T01:00:00Z' }),
      backup('nightly-2', { schedule: 'nightly', started: '2026-12-02T01:00:00Z' }),
    ];
    assert.equal(newestOfSchedule(backups, 'nightly')?.metadata.name, 'nightly-3');
    assert.equal(newestOfSchedule(backups, 'hourly'), undefined);
  });

  it('is refused unless it is Completed or PartiallyFailed, with its phase named', () => {
    assert.equal(unrestorableReason(backup('a', {})), undefined);
    assert.equal(unrestorableReason(backup('a', { phase: 'PartiallyFailed' })), undefined);
    assert.equal(
      unrestorableReason(backup('a', { phase: 'InProgress' })),
      'the backup is InProgress; only Completed and PartiallyFailed backups are restored',
    );
  });

  it('is found in the first location that has it, or for a schedule in the location of its newest', async () => {
    const primary = await storeWith('primary', [
      backup('shop', {}),
      backup('nightly-1', { schedule: 'nightly', started: '2026-12-01T01:00:00Z' }),
    ]);
    const mirror = await storeWith('mirror', [
      backup('shop', {}),
      backup('only-here', {}),
      backup('nightly-2', { schedule: 'nightly', started: '2026-12-02T01:00:00Z' }),
    ]);
    const named = await locateBackup([primary, mirror], { backupName: 'shop' });
    assert.equal(named?.store.location, 'primary');
    assert.equal(
      (await locateBackup([primary, mirror], { backupName: 'only-here' }))?.store.location,
      'mirror',
    );
    assert.equal(await locateBackup([primary, mirror], { backupName: 'nowhere' }), undefined);
    const newest = await locateBackup([primary, mirror], { scheduleName: 'nightly' });
    assert.deepEqual([newest?.backup.metadata.name, newest?.store.location], ['nightly-2', 'mirror']);
    assert.equal(await locateBackup([primary, mirror], { scheduleName: 'weekly' }), undefined);
  });
});
