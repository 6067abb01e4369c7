import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decide,
  nextRunAfter,
  parseSchedule,
  scheduledBackupName,
  ScheduleSyntaxError,
} from '../../src/controller/schedule-timing.ts';

const at = (iso: string) => new Date(iso);
const next = (schedule: string, after: string) =>
  nextRunAfter(parseSchedule(schedule), at(after)).toISOString();

describe('parseSchedule and nextRunAfter', () => {
  it('read five-field cron in UTC by default, day-of-month and day-of-week OR-ed as cron does', () => {
    assert.equal(next('0 2 * * *', '2026-11-30T01:59:59Z'), '2026-11-30T02:00:00.000Z');
    assert.equal(next('0 2 * * *', '2026-11-30T02:00:00Z'), '2026-12-01T02:00:00.000Z');
    assert.equal(next('*/15 * * * *', '2026-11-30T10:07:00Z'), '2026-11-30T10:15:00.000Z');
    // The 1st of the month or any Monday: 2026-12-01 is a Tuesday, the next Monday is 2026-12-07.
    assert.equal(next('0 0 1 * 1', '2026-11-30T00:00:00Z'), '2026-12-01T00:00:00.000Z');
    assert.equal(next('0 0 1 * 1', '2026-12-01T00:00:00Z'), '2026-12-07T00:00:00.000Z');
  });

  it('honour CRON_TZ= and TZ=, across a daylight-saving change', () => {
    // 02:30 in New York is 07:30 UTC in winter (EST, UTC-5).
    assert.equal(
      next('CRON_TZ=America/New_York 30 2 * * *', '2026-11-30T00:00:00Z'),
      '2026-11-30T07:30:00.000Z',
    );
    assert.equal(next('TZ=Europe/Paris 0 3 * * *', '2026-07-01T00:00:00Z'), '2026-07-01T01:00:00.000Z');
    assert.equal(next('TZ=Europe/Paris 0 3 * * *', '2026-12-01T00:00:00Z'), '2026-12-01T02:00:00.000Z');
  });

  it('read the descriptors and @every', () => {
    assert.equal(next('@daily', '2026-11-30T12:00:00Z'), '2026-12-01T00:00:00.000Z');
    assert.equal(next('@hourly', '2026-11-30T12:00:00Z'), '2026-11-30T13:00:00.000Z');
    assert.equal(next('@weekly', '2026-11-30T12:00:00Z'), '2026-12-06T00:00:00.000Z');
    assert.equal(next('@every 1h30m', '2026-11-30T12:00:00Z'), '2026-11-30T13:30:00.000Z');
  });

  it('refuse what is not a schedule, naming the value and the problem', () => {
    const cases: [string, RegExp][] = [
      ['', /is empty/],
      ['not a cron', /needs 5 fields/],
      ['0 0 * * * *', /needs 5 fields .* got 6/],
      ['61 * * * *', /schedule "61 \* \* \* \*"/],
      ['@fortnightly', /unknown descriptor/],
      ['@every soon', /"soon" is not a duration/],
      ['@every 10ms', /at least 1s/],
      ['CRON_TZ=Mars/Olympus 0 0 * * *', /unknown time zone "Mars\/Olympus"/],
      ['0 0 30 2 *', /never matches a date/],
    ];
    for (const [value, message] of cases) {
      assert.throws(
        () => parseSchedule(value),
        (e: unknown) => e instanceof ScheduleSyntaxError && e.value === value && message.test(e.message),
        value,
      );
    }
  });
});

describe('decide', () => {
  const daily = parseSchedule('0 2 * * *');
  const created = at('2026-11-30T10:00:00Z');

  it('backs up at once when a schedule has never run, unless skipImmediately', () => {
    assert.deepEqual(decide(daily, { created }, at('2026-11-30T10:00:05Z')), {
      due: true,
      nextRun: at('2026-12-01T02:00:00Z'),
    });
    assert.deepEqual(decide(daily, { created, skipImmediately: true }, at('2026-11-30T10:00:05Z')), {
      due: false,
      nextRun: at('2026-12-01T02:00:00Z'),
      skipNow: true,
    });
  });

  it('is due once the run after the last backup (or skip) has come, and not before', () => {
    const state = { created, lastBackup: at('2026-11-30T10:00:05Z') };
    assert.deepEqual(decide(daily, state, at('2026-12-01T01:59:59Z')), {
      due: false,
      nextRun: at('2026-12-01T02:00:00Z'),
    });
    assert.deepEqual(decide(daily, state, at('2026-12-01T02:00:00Z')), {
      due: true,
      nextRun: at('2026-12-02T02:00:00Z'),
    });
    const skipped = {
      created,
      lastSkipped: at('2026-12-01T02:30:00Z'),
      lastBackup: at('2026-11-30T10:00:05Z'),
    };
    assert.equal(decide(daily, skipped, at('2026-12-01T03:00:00Z')).due, false);
  });

  it('makes one backup for runs missed while the server was down, then goes on from now', () => {
    const state = { created, lastBackup: at('2026-11-20T02:00:00Z') };
    assert.deepEqual(decide(daily, state, at('2026-11-30T12:00:00Z')), {
      due: true,
      nextRun: at('2026-12-01T02:00:00Z'),
    });
  });
});

describe('scheduledBackupName', () => {
  it('is <schedule>-<YYYYMMDDhhmmss> in UTC', () => {
    assert.equal(scheduledBackupName('nightly', at('2026-11-30T02:00:07.123Z')), 'nightly-20261130020007');
  });
});
