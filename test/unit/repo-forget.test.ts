// planForget against tables of snapshots, one rule at a time (restic 0.14's semantics: newest first,
// calendar buckets by the wall clock, ISO weeks, keep-within from the latest snapshot with Go's date
// normalization, tag lists, grouping), the examples of restic's forget documentation, and
// forgetSnapshots removing snapshot files under an exclusive lock.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  LockConflictError,
  forgetByPolicy,
  forgetSnapshots,
  parseForgetDuration,
  planForget,
  type ForgetPlan,
  type ForgetSnapshot,
} from '../../src/repo/index.ts';
import { memoryRepo, reopen, saveSnapshot } from '../helpers/repo-maint.ts';

/** Snapshots named by their time: the id is the time, for readable expectations. */
function snaps(times: string[], more: Partial<ForgetSnapshot> = {}): ForgetSnapshot[] {
  return times.map((time) => ({ id: time, time, hostname: 'host', paths: ['/data'], tags: [], ...more }));
}

const NOW = Date.parse('2030-01-01T00:00:00Z');
const kept = (plan: ForgetPlan) => plan.keep;
const reasonsOf = (plan: ForgetPlan) =>
  Object.fromEntries(plan.groups.flatMap((g) => g.keep.map((k) => [k.snapshot.id, k.reasons])));

describe('planForget', () => {
  it('keep-daily 4 of one snapshot every Sunday for 12 weeks keeps the last four Sundays (restic’s docs)', () => {
    const sundays = [
      '2019-09-01',
      '2019-09-08',
      '2019-09-15',
      '2019-09-22',
      '2019-09-29',
      '2019-10-06',
      '2019-10-13',
      '2019-10-20',
      '2019-10-27',
      '2019-11-03',
      '2019-11-10',
      '2019-11-17',
    ].map((d) => `${d}T11:00:00+02:00`);
    const plan = planForget(snaps(sundays), { daily: 4 }, NOW);
    assert.deepEqual(kept(plan), sundays.slice(8).reverse());
    assert.deepEqual(plan.remove.sort(), sundays.slice(0, 8));
    for (const k of plan.groups[0]?.keep ?? []) assert.deepEqual(k.reasons, ['daily snapshot']);
  });

  it('daily, weekly, monthly and yearly rules are ORed (restic’s docs: one snapshot a day for years)', () => {
    const times: string[] = [];
    for (let day = Date.UTC(2010, 0, 1); day <= Date.UTC(2019, 11, 31); day += 86_400_000)
      times.push(new Date(day + 12 * 3_600_000).toISOString().replace('.000Z', 'Z'));
    const plan = planForget(snaps(times), { daily: 7, weekly: 5, monthly: 12, yearly: 75 }, NOW);
    const at = (d: string) => `${d}T12:00:00Z`;
    const expected = new Set([
      ...[25, 26, 27, 28, 29, 30, 31].map((d) => at(`2019-12-${d}`)), // 7 days
      ...[8, 15, 22].map((d) => at(`2019-12-${String(d).padStart(2, '0')}`)), // Sundays of 3 more ISO weeks (29th and 31st are days)
      ...Array.from({ length: 11 }, (_, m) =>
        new Date(Date.UTC(2019, m + 1, 0, 12)).toISOString().replace('.000Z', 'Z'),
      ), // month ends
      ...Array.from({ length: 9 }, (_, y) => at(`${2010 + y}-12-31`)), // year ends
    ]);
    assert.equal(expected.size, 30);
    assert.deepEqual(new Set(kept(plan)), expected);
    assert.equal(plan.remove.length, times.length - 30);
    assert.deepEqual(reasonsOf(plan)[at('2019-12-31')], [
      'daily snapshot',
      'weekly snapshot',
      'monthly snapshot',
      'yearly snapshot',
    ]);
    assert.deepEqual(plan.groups[0]?.keep.at(-1)?.counters, {
      last: 0,
      hourly: 0,
      daily: 0,
      weekly: 0,
      monthly: 0,
      yearly: 65,
    });
  });

  it('keep-last n keeps the n newest, whatever order they come in, and counts down', () => {
    const times = [
      '2024-01-03T00:00:00Z',
      '2024-01-01T00:00:00Z',
      '2024-01-04T00:00:00Z',
      '2024-01-02T00:00:00Z',
    ];
    const plan = planForget(snaps(times), { last: 2 }, NOW);
    assert.deepEqual(kept(plan), ['2024-01-04T00:00:00Z', '2024-01-03T00:00:00Z']);
    assert.deepEqual(plan.remove, ['2024-01-02T00:00:00Z', '2024-01-01T00:00:00Z']);
    assert.deepEqual(
      plan.groups[0]?.keep.map((k) => k.counters.last),
      [1, 0],
    );
  });

  it('keep-hourly keeps the newest snapshot of each of the newest hours', () => {
    const times = ['10:05', '10:40', '11:10', '11:50', '13:00'].map((t) => `2024-02-02T${t}:00Z`);
    const plan = planForget(snaps(times), { hourly: 2 }, NOW);
    assert.deepEqual(kept(plan), ['2024-02-02T13:00:00Z', '2024-02-02T11:50:00Z']);
  });

  it('keep-weekly uses ISO weeks: Saturday and Sunday of 2020-W53 share one, Monday starts 2021-W01', () => {
    const times = ['2021-01-02T09:00:00Z', '2021-01-03T09:00:00Z', '2021-01-04T09:00:00Z'];
    const plan = planForget(snaps(times), { weekly: 2 }, NOW);
    assert.deepEqual(kept(plan), ['2021-01-04T09:00:00Z', '2021-01-03T09:00:00Z']);
    assert.deepEqual(plan.remove, ['2021-01-02T09:00:00Z']);
  });

  it('keep-monthly and keep-yearly keep the newest of each month and year', () => {
    const times = [
      '2022-11-30T00:00:00Z',
      '2022-12-01T00:00:00Z',
      '2022-12-31T00:00:00Z',
      '2023-01-15T00:00:00Z',
      '2023-01-20T00:00:00Z',
    ];
    assert.deepEqual(kept(planForget(snaps(times), { monthly: 2 }, NOW)), [
      '2023-01-20T00:00:00Z',
      '2022-12-31T00:00:00Z',
    ]);
    assert.deepEqual(kept(planForget(snaps(times), { yearly: 5 }, NOW)), [
      '2023-01-20T00:00:00Z',
      '2022-12-31T00:00:00Z',
    ]);
  });

  it('keep-within counts back from the latest snapshot (not now), strictly; later snapshots are never removed', () => {
    const times = [
      '2030-06-01T00:00:00Z', // after `now`: not the latest, but within
      '2024-03-10T12:00:00Z',
      '2024-03-09T13:00:00Z',
      '2024-03-08T12:00:00Z',
      '2024-03-08T11:00:00Z',
    ];
    const plan = planForget(snaps(times), { within: '2d' }, NOW);
    assert.deepEqual(kept(plan), ['2030-06-01T00:00:00Z', '2024-03-10T12:00:00Z', '2024-03-09T13:00:00Z']);
    assert.deepEqual(reasonsOf(plan)['2024-03-09T13:00:00Z'], ['within 2d']);
  });

  it('keep-within moves by calendar months as Go does: 31 March less a month is 2 March (2024)', () => {
    const times = [
      '2024-03-31T10:00:00Z',
      '2024-03-03T10:00:00Z',
      '2024-03-02T10:00:00Z',
      '2024-03-01T10:00:00Z',
    ];
    const plan = planForget(snaps(times), { within: { months: 1 } }, NOW);
    assert.deepEqual(kept(plan), ['2024-03-31T10:00:00Z', '2024-03-03T10:00:00Z']);
  });

  it('keep-within-daily keeps the newest of each day within the duration', () => {
    const times = [
      '2024-03-10T12:00:00Z',
      '2024-03-10T08:00:00Z',
      '2024-03-09T20:00:00Z',
      '2024-03-09T10:00:00Z',
      '2024-03-08T00:30:00Z',
      '2024-03-07T13:00:00Z',
      '2024-03-07T11:00:00Z',
      '2024-03-06T23:00:00Z',
    ];
    const plan = planForget(snaps(times), { withinDaily: '3d' }, NOW);
    assert.deepEqual(kept(plan), [
      '2024-03-10T12:00:00Z',
      '2024-03-09T20:00:00Z',
      '2024-03-08T00:30:00Z',
      '2024-03-07T13:00:00Z',
    ]);
    assert.deepEqual(reasonsOf(plan)['2024-03-08T00:30:00Z'], ['daily within 3d']);
  });

  it('keep-tag keeps snapshots with every tag of one list; the empty tag means untagged', () => {
    const list: ForgetSnapshot[] = [
      { id: 'a', time: '2024-01-01T00:00:00Z', hostname: 'h', paths: ['/'], tags: ['a'] },
      { id: 'ab', time: '2024-01-02T00:00:00Z', hostname: 'h', paths: ['/'], tags: ['x', 'b', 'a'] },
      { id: 'c', time: '2024-01-03T00:00:00Z', hostname: 'h', paths: ['/'], tags: ['c'] },
      { id: 'none', time: '2024-01-04T00:00:00Z', hostname: 'h', paths: ['/'], tags: [] },
    ];
    const plan = planForget(list, { tags: [['a', 'b'], ['c']] }, NOW);
    assert.deepEqual(kept(plan), ['c', 'ab']);
    assert.deepEqual(reasonsOf(plan), { c: ['has tags [c]'], ab: ['has tags [a, b]'] });
    assert.deepEqual(kept(planForget(list, { tags: [['']] }, NOW)), ['none']);
  });

  it('groups by host and paths (in any order) unless told otherwise, and applies the policy per group', () => {
    const list: ForgetSnapshot[] = [
      { id: '1', time: '2024-01-01T00:00:00Z', hostname: 'h1', paths: ['/a', '/b'], tags: ['t'] },
      { id: '2', time: '2024-01-02T00:00:00Z', hostname: 'h1', paths: ['/b', '/a'], tags: [] },
      { id: '3', time: '2024-01-03T00:00:00Z', hostname: 'h2', paths: ['/a', '/b'], tags: ['t'] },
      { id: '4', time: '2024-01-04T00:00:00Z', hostname: 'h1', paths: ['/c'], tags: [] },
    ];
    const byHostPaths = planForget(list, { last: 1 }, NOW);
    assert.deepEqual(
      byHostPaths.groups.map((g) => [g.key, g.keep.map((k) => k.snapshot.id), g.remove.map((s) => s.id)]),
      [
        [{ hostname: 'h1', paths: ['/a', '/b'], tags: [] }, ['2'], ['1']],
        [{ hostname: 'h1', paths: ['/c'], tags: [] }, ['4'], []],
        [{ hostname: 'h2', paths: ['/a', '/b'], tags: [] }, ['3'], []],
      ],
    );
    const byTags = planForget(list, { last: 1 }, NOW, { groupBy: { tags: true } });
    assert.deepEqual(byTags.keep.sort(), ['3', '4']);
    const oneGroup = planForget(list, { last: 1 }, NOW, { groupBy: {} });
    assert.deepEqual(oneGroup.keep, ['4']);
    assert.deepEqual(oneGroup.remove, ['3', '2', '1']);
  });

  it('an empty policy keeps everything', () => {
    const plan = planForget(snaps(['2024-01-01T00:00:00Z', '2024-01-02T00:00:00Z']), { last: 0 }, NOW);
    assert.deepEqual(plan.remove, []);
    assert.deepEqual(Object.values(reasonsOf(plan)), [['policy is empty'], ['policy is empty']]);
  });

  it('buckets by the wall clock each time was written with, or by the time zone given', () => {
    // 23:30 UTC on 1 June, and 00:30 on 2 June at +02:00 (22:30 UTC on 1 June).
    const list = snaps(['2024-06-01T23:30:00Z', '2024-06-02T00:30:00+02:00']);
    assert.deepEqual(planForget(list, { daily: 2 }, NOW).remove, [], 'two days as written');
    assert.deepEqual(planForget(list, { daily: 2 }, NOW, { timeZone: 'UTC' }).remove, [
      '2024-06-02T00:30:00+02:00',
    ]);
    assert.deepEqual(planForget(list, { daily: 2 }, NOW, { timeZone: 'Asia/Tokyo' }).remove, [
      '2024-06-02T00:30:00+02:00',
    ]);
    assert.deepEqual(planForget(list, { hourly: 2 }, NOW, { timeZone: 'Asia/Kolkata' }).remove, []);
  });

  it('orders by the instant, with nanoseconds', () => {
    const list = snaps([
      '2024-01-01T00:00:00.000000002Z',
      '2024-01-01T00:00:00.000000003Z',
      '2024-01-01T00:00:00.000000001Z',
    ]);
    assert.deepEqual(kept(planForget(list, { last: 1 }, NOW)), ['2024-01-01T00:00:00.000000003Z']);
  });
});

describe('parseForgetDuration', () => {
  it('reads restic’s durations and refuses what restic refuses', () => {
    assert.deepEqual(parseForgetDuration('1y2m3d4h'), { years: 1, months: 2, days: 3, hours: 4 });
    assert.deepEqual(parseForgetDuration(' 7d '), { days: 7 });
    for (const bad of ['1w', '5', 'd', '1d2x'])
      assert.throws(() => parseForgetDuration(bad), RangeError, bad);
  });
});

describe('forgetSnapshots', () => {
  it('removes the snapshot files under an exclusive lock, and refuses while another process holds a lock', async () => {
    const { repo, backend } = await memoryRepo();
    const a = await saveSnapshot(repo, { f: 'one' }, { time: '2024-01-01T00:00:00Z' });
    const b = await saveSnapshot(repo, { f: 'two' }, { time: '2024-01-02T00:00:00Z' });
    const other = await reopen(backend);
    const shared = await other.lock({ exclusive: false });
    await assert.rejects(forgetSnapshots(repo, [a.id]), LockConflictError);
    await shared.release();

    assert.deepEqual(await forgetSnapshots(repo, [a.id]), [a.id]);
    const left: string[] = [];
    for await (const { name } of repo.list('snapshots')) left.push(name);
    assert.deepEqual(left, [b.id]);
    for await (const lock of repo.list('locks')) assert.fail(`lock ${lock.name} left behind`);
  });

  it('forgetByPolicy loads, plans and removes; a dry run removes nothing', async () => {
    const { repo } = await memoryRepo();
    const ids = [];
    for (const day of ['01', '02', '03'])
      ids.push((await saveSnapshot(repo, { f: day }, { time: `2024-01-${day}T00:00:00Z` })).id);
    const dry = await forgetByPolicy(repo, { last: 1 }, { now: NOW, dryRun: true });
    assert.deepEqual(dry.removed, []);
    assert.deepEqual(dry.plan.keep, [ids[2]]);
    const done = await forgetByPolicy(repo, { last: 1 }, { now: NOW });
    assert.deepEqual(done.removed.sort(), [ids[0], ids[1]].sort());
    const left: string[] = [];
    for await (const { name } of repo.list('snapshots')) left.push(name);
    assert.deepEqual(left, [ids[2]]);
  });
});
