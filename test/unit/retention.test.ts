import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decideRetention,
  isoWeek,
  retentionPolicyProblems,
  type RetainedBackup,
} from '../../src/controller/index.ts';

/** A nightly backup at 01:00 UTC on each of the `days` days before `end` (newest last). */
function nightly(days: number, end: string, phase = 'Completed'): RetainedBackup[] {
  const out: RetainedBackup[] = [];
  for (let i = days; i >= 1; i--) {
    const start = new Date(Date.parse(end) - i * 86_400_000);
    start.setUTCHours(1, 0, 0, 0);
    out.push({
      name: `nightly-${start.toISOString().slice(0, 10)}`,
      startTimestamp: start.toISOString(),
      phase,
    });
  }
  return out;
}

const kept = (decisions: ReturnType<typeof decideRetention>) =>
  decisions.filter((d) => d.keep).map((d) => d.name);

describe('retention', () => {
  it('keeps backups until their TTL ends when no policy is given', () => {
    const now = new Date('2026-11-25T12:00:00Z');
    const decisions = decideRetention(
      [
        {
          name: 'old',
          startTimestamp: '2026-10-01T00:00:00Z',
          phase: 'Completed',
          expiration: '2026-10-31T00:00:00Z',
        },
        {
          name: 'new',
          startTimestamp: '2026-11-20T00:00:00Z',
          phase: 'Completed',
          expiration: '2026-12-20T00:00:00Z',
        },
      ],
      undefined,
      now,
    );
    assert.deepEqual(kept(decisions), ['new']);
    assert.deepEqual(decisions[0]?.reasons, ['expired (at 2026-10-31T00:00:00Z)']);
    assert.deepEqual(decisions[1]?.reasons, ['not expired (until 2026-12-20T00:00:00Z)']);
    const withTtl = decideRetention(
      [
        {
          name: 'old',
          startTimestamp: '2026-10-01T00:00:00Z',
          phase: 'Completed',
          expiration: '2026-10-01T00:01:00Z',
          ttl: '1m0s',
        },
      ],
      undefined,
      now,
    );
    assert.deepEqual(withTtl[0]?.reasons, ['expired (ttl 1m0s)']);
  });

  it('keeps the last N, the newest of each of the last days, weeks and months, and says which rule keeps each', () => {
    const backups = nightly(70, '2026-11-25T12:00:00Z');
    const decisions = decideRetention(
      backups,
      { keepLast: 2, daily: 7, weekly: 4, monthly: 3 },
      new Date('2026-11-25T12:00:00Z'),
    );
    const names = kept(decisions);
    // 7 daily (Nov 18-24), weekly: newest of weeks 48, 47, 46, 45 (Nov 24, 22, 15, 8), monthly: Nov 24, Oct 31, Sep 30.
    assert.deepEqual(names.sort(), [
      'nightly-2026-09-30',
      'nightly-2026-10-31',
      'nightly-2026-11-08',
      'nightly-2026-11-15',
      'nightly-2026-11-18',
      'nightly-2026-11-19',
      'nightly-2026-11-20',
      'nightly-2026-11-21',
      'nightly-2026-11-22',
      'nightly-2026-11-23',
      'nightly-2026-11-24',
    ]);
    const newest = decisions.find((d) => d.name === 'nightly-2026-11-24');
    assert.deepEqual(newest?.reasons, ['last 2', 'daily 2026-11-24', 'weekly 2026-W48', 'monthly 2026-11']);
    assert.deepEqual(decisions.find((d) => d.name === 'nightly-2026-10-31')?.reasons, ['monthly 2026-10']);
    assert.equal(decisions.find((d) => d.name === 'nightly-2026-10-30')?.keep, false);
  });

  it('counts failed backups apart, so failures do not push good backups out', () => {
    const good = nightly(3, '2026-11-10T12:00:00Z');
    const failed = nightly(10, '2026-11-25T12:00:00Z', 'Failed').map((b) => ({
      ...b,
      name: `${b.name}-failed`,
    }));
    const decisions = decideRetention(
      [...good, ...failed],
      { keepLast: 3, keepFailed: 2 },
      new Date('2026-11-25T12:00:00Z'),
    );
    const names = kept(decisions);
    for (const b of good) assert.ok(names.includes(b.name), `${b.name} kept`);
    assert.deepEqual(
      names.filter((n) => n.endsWith('-failed')),
      ['nightly-2026-11-23-failed', 'nightly-2026-11-24-failed'],
    );
  });

  it('keeps a locked backup until the lock passes, whatever the policy says', () => {
    const backups: RetainedBackup[] = [
      {
        name: 'locked',
        startTimestamp: '2026-01-01T00:00:00Z',
        phase: 'Completed',
        deleteLockUntil: '2026-12-01T00:00:00Z',
      },
      {
        name: 'was-locked',
        startTimestamp: '2026-01-02T00:00:00Z',
        phase: 'Completed',
        deleteLockUntil: '2026-11-01T00:00:00Z',
      },
    ];
    const decisions = decideRetention(backups, { keepLast: 0 }, new Date('2026-11-25T00:00:00Z'));
    assert.deepEqual(kept(decisions), ['locked']);
    assert.deepEqual(decisions[0]?.reasons, ['locked until 2026-12-01T00:00:00Z']);
  });

  it('names ISO weeks the way ISO 8601 does at year boundaries', () => {
    assert.equal(isoWeek(new Date('2026-11-25T00:00:00Z')), '2026-W48');
    assert.equal(isoWeek(new Date('2027-01-01T00:00:00Z')), '2026-W53');
    assert.equal(isoWeek(new Date('2024-12-30T00:00:00Z')), '2025-W01');
  });

  it('refuses counts that are not whole numbers, naming the field', () => {
    assert.deepEqual(retentionPolicyProblems({ daily: -1, weekly: 1.5 }), [
      { field: 'retention.daily', value: '-1', message: 'must be a whole number ≥ 0' },
      { field: 'retention.weekly', value: '1.5', message: 'must be a whole number ≥ 0' },
    ]);
  });
});
