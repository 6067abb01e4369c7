// The claim of a running backup: its heartbeat, refreshed on an injected clock, and the rule that tells a
// running backup from one whose writer is gone.
import assert from 'node:assert/strict';
import { buffer } from 'node:stream/consumers';
import { describe, it } from 'node:test';
import {
  CLAIM_HEARTBEAT_INTERVAL_MS,
  CLAIM_STALE_AFTER_MS,
  claimState,
  keepClaimAlive,
} from '../../src/backup/index.ts';
import { systemClock } from '../../src/api/index.ts';
import { BackupStore, MemoryStore, type BackupClaim, type ObjectStore } from '../../src/storage/index.ts';
import { manualClock } from '../helpers/clock.ts';
import { watched } from '../helpers/watched-store.ts';

const at = (iso: string) => new Date(iso);
const claim = (heartbeatAt?: string): BackupClaim => ({
  name: 'shop',
  startedAt: '2026-12-01T10:00:00Z',
  client: 'cairn test',
  host: 'laptop',
  pid: 4242,
  ...(heartbeatAt ? { heartbeatAt } : {}),
});

describe('claimState', () => {
  it('is InProgress while the heartbeat is at most 30 s old, Orphaned after', () => {
    assert.equal(CLAIM_STALE_AFTER_MS, 30_000);
    const beat = claim('2026-12-01T10:05:00.000Z');
    assert.equal(claimState(beat, at('2026-12-01T10:05:00.000Z')), 'InProgress');
    assert.equal(claimState(beat, at('2026-12-01T10:05:30.000Z')), 'InProgress');
    assert.equal(claimState(beat, at('2026-12-01T10:05:30.001Z')), 'Orphaned');
    assert.equal(claimState(beat, at('2026-12-02T00:00:00.000Z')), 'Orphaned');
  });

  it('keeps the hour of grace for a claim without a heartbeat, and calls no claim Incomplete', () => {
    assert.equal(claimState(claim(), at('2026-12-01T10:59:59Z')), 'InProgress');
    assert.equal(claimState(claim(), at('2026-12-01T11:00:00Z')), 'Incomplete');
    assert.equal(claimState(undefined, at('2026-12-01T10:00:00Z')), 'Incomplete');
  });
});

describe('keepClaimAlive', () => {
  const START = Date.parse('2026-12-01T10:00:00.000Z');
  const CLAIM_KEY = 'backups/shop/shop-claim.json';
  const isClaim = (key: string) => key === CLAIM_KEY;
  const stored = async (store: ObjectStore) =>
    JSON.parse((await buffer(await store.get(CLAIM_KEY))).toString()) as BackupClaim;
  /** A location holding `first`'s claim, its writes watched. */
  async function location(name: string, first: BackupClaim) {
    const objects = watched(new MemoryStore());
    const backups = new BackupStore({ location: name, store: objects });
    await backups.claim(first);
    return { objects, backups };
  }
  function heartbeat(stores: BackupStore[], first: BackupClaim) {
    const time = manualClock(START);
    const lost: string[] = [];
    const running = keepClaimAlive({
      claim: first,
      stores,
      now: () => new Date(time.clock.now()),
      sleep: (ms, wait) => time.clock.sleep(ms, wait),
      onLost: (store, error) => lost.push(`${store.location}: ${error.message}`),
    });
    return { time, lost, running };
  }

  it('rewrites the claim with the clock time at each beat, and writes nothing once stopped', async () => {
    const first = claim('2026-12-01T10:00:00.000Z');
    const { objects, backups } = await location('default', first);
    const { time, running } = heartbeat([backups], first);
    await time.advance(CLAIM_HEARTBEAT_INTERVAL_MS);
    assert.deepEqual(await stored(objects), { ...first, heartbeatAt: '2026-12-01T10:00:05.000Z' });
    await time.advance(CLAIM_HEARTBEAT_INTERVAL_MS);
    assert.equal((await stored(objects)).heartbeatAt, '2026-12-01T10:00:10.000Z');

    await running.stop();
    assert.equal(time.pendingTimers(), 0, 'no beat is waiting once stopped');
    const writes = objects.landed.length;
    await time.advance(60_000);
    assert.equal(objects.landed.length, writes);
    assert.equal(claimState(await stored(objects), new Date(time.clock.now())), 'Orphaned');
  });

  it('does not bring back a claim deleted while the backup ran, and reports it lost', async () => {
    const first = claim('2026-12-01T10:00:00.000Z');
    const { objects, backups } = await location('default', first);
    const { time, lost, running } = heartbeat([backups], first);
    await time.advance(CLAIM_HEARTBEAT_INTERVAL_MS);
    await backups.deleteBackup('shop'); // `cairn backup delete shop`, the writer shown as orphaned
    await time.advance(CLAIM_HEARTBEAT_INTERVAL_MS);

    assert.equal(await objects.head(CLAIM_KEY), undefined, 'the deleted claim stays deleted');
    assert.deepEqual(lost, [
      'default: the claim on backup "shop" in location "default" was removed or taken over while the backup ran (was it deleted as orphaned?)',
    ]);
    assert.equal(time.pendingTimers(), 0, 'the lost claim gets no more beats');
    await running.stop();
  });

  it("leaves another writer's claim on the name as it is", async () => {
    const first = claim('2026-12-01T10:00:00.000Z');
    const { objects, backups } = await location('default', first);
    const { time, lost, running } = heartbeat([backups], first);
    await backups.deleteBackup('shop');
    const next: BackupClaim = { ...first, startedAt: '2026-12-01T10:00:02.000Z', pid: 5151 };
    await backups.claim(next);
    await time.advance(CLAIM_HEARTBEAT_INTERVAL_MS);

    assert.deepEqual(await stored(objects), next);
    assert.equal(lost.length, 1);
    await running.stop();
  });

  it('keeps beating in every location while one store does not answer', async () => {
    const first = claim('2026-12-01T10:00:00.000Z');
    const stuck = await location('stuck', first);
    const fine = await location('fine', first);
    stuck.objects.hold(isClaim, { onAbort: 'fail' });
    const { time, running } = heartbeat([stuck.backups, fine.backups], first);
    for (let beat = 1; beat <= 3; beat += 1) await time.advance(CLAIM_HEARTBEAT_INTERVAL_MS);

    assert.equal((await stored(fine.objects)).heartbeatAt, '2026-12-01T10:00:15.000Z');
    assert.equal(stuck.objects.held(), 1, 'the stuck store holds its first refresh');
    await running.stop(); // aborts the refresh the stuck store holds
    assert.equal(stuck.objects.held(), 0);
    assert.equal((await stored(stuck.objects)).heartbeatAt, first.heartbeatAt);
  });

  it('resolves stop only once a refresh already sent has landed', async () => {
    const first = claim('2026-12-01T10:00:00.000Z');
    const { objects, backups } = await location('default', first);
    objects.hold(isClaim, { onAbort: 'land' }); // the request is on the wire: the store answers it anyway
    const { time, running } = heartbeat([backups], first);
    await time.advance(CLAIM_HEARTBEAT_INTERVAL_MS);
    assert.equal(objects.held(), 1);

    const writes = objects.landed.length;
    await running.stop();
    assert.equal(objects.landed.length - writes, 1, 'the refresh on the wire landed before stop resolved');
    assert.equal((await stored(objects)).heartbeatAt, '2026-12-01T10:00:05.000Z');
  });

  it('stops at once, writing nothing, when its signal has already aborted', async () => {
    const first = claim('2026-12-01T10:00:00.000Z');
    const { objects, backups } = await location('default', first);
    const time = manualClock(START);
    const running = keepClaimAlive({
      claim: first,
      stores: [backups],
      now: () => new Date(time.clock.now()),
      sleep: (ms, wait) => time.clock.sleep(ms, wait),
      signal: AbortSignal.abort(),
      onLost: () => undefined,
    });
    await running.stop();
    const writes = objects.landed.length;
    await time.advance(60_000);
    assert.equal(objects.landed.length, writes);
  });
});

describe('systemClock.sleep', () => {
  it('ends at once for a signal that has already aborted, before any timer could fire', async () => {
    const order: string[] = [];
    const hour = systemClock.sleep(3_600_000, AbortSignal.abort()).then(() => order.push('sleep ended'));
    await new Promise<void>((resolve) => setImmediate(resolve));
    order.push('next turn of the event loop');
    await hour;
    assert.deepEqual(order, ['sleep ended', 'next turn of the event loop']);
  });
});
