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
import { BackupStore, MemoryStore, type BackupClaim } from '../../src/storage/index.ts';

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
  it('rewrites the claim with the clock time at each beat, and stops when told', async () => {
    const store = new MemoryStore();
    const backups = new BackupStore({ location: 'default', store });
    const first = claim('2026-12-01T10:00:00.000Z');
    await backups.claim(first);
    let time = Date.parse('2026-12-01T10:00:00.000Z');
    const waits: number[] = [];
    const beats: (() => void)[] = [];
    const sleep = (ms: number) => {
      waits.push(ms);
      return new Promise<void>((resolve) => beats.push(resolve));
    };
    const stop = new AbortController();
    const stored = async () =>
      JSON.parse((await buffer(await store.get('backups/shop/shop-claim.json'))).toString()) as BackupClaim;
    const running = keepClaimAlive({
      claim: first,
      stores: [backups],
      now: () => new Date(time),
      sleep,
      signal: stop.signal,
    });
    const beat = async (seconds: number) => {
      time += seconds * 1000;
      beats.shift()?.();
      while (beats.length === 0) await new Promise((resolve) => setImmediate(resolve));
    };
    while (beats.length === 0) await new Promise((resolve) => setImmediate(resolve));
    await beat(5);
    assert.deepEqual(await stored(), { ...first, heartbeatAt: '2026-12-01T10:00:05.000Z' });
    await beat(5);
    assert.equal((await stored()).heartbeatAt, '2026-12-01T10:00:10.000Z');
    assert.deepEqual(waits, [
      CLAIM_HEARTBEAT_INTERVAL_MS,
      CLAIM_HEARTBEAT_INTERVAL_MS,
      CLAIM_HEARTBEAT_INTERVAL_MS,
    ]);

    stop.abort();
    time += 60_000;
    beats.shift()?.();
    await running;
    assert.equal((await stored()).heartbeatAt, '2026-12-01T10:00:10.000Z', 'no beat after the stop');
    assert.equal(claimState(await stored(), new Date(time)), 'Orphaned');
  });
});
