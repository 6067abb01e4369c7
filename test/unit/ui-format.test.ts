import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  formatAge,
  formatBytes,
  formatDuration,
  formatNamespaces,
  formatTime,
  formatUntil,
} from '../../src/ui/format.ts';

const now = Date.parse('2026-12-07T12:00:00Z');
const ago = (seconds: number) => new Date(now - seconds * 1000).toISOString();

describe('the dashboard writes', () => {
  it('sizes in binary units with three significant digits', () => {
    assert.equal(formatBytes(0), '0 B');
    assert.equal(formatBytes(512), '512 B');
    assert.equal(formatBytes(1536), '1.50 KiB');
    assert.equal(formatBytes(12.34 * 1024 ** 2), '12.3 MiB');
    assert.equal(formatBytes(456 * 1024 ** 3), '456 GiB');
    assert.equal(formatBytes(1024 ** 5 * 3), '3.00 PiB');
  });

  it('a size just under a unit in the unit above, never "1024 KiB"', () => {
    assert.equal(formatBytes(1024 * 1024 - 1), '1.00 MiB');
    assert.equal(formatBytes(1023), '1023 B');
    assert.equal(formatBytes(99.999 * 1024), '100 KiB');
    assert.equal(formatBytes(9.999 * 1024), '10.0 KiB');
  });

  it('a dash for a size or a duration it does not know', () => {
    for (const unknown of [undefined, NaN, -1]) {
      assert.equal(formatBytes(unknown), '—');
      assert.equal(formatDuration(unknown), '—');
    }
  });

  it('durations in their two largest units', () => {
    assert.equal(formatDuration(0), '0s');
    assert.equal(formatDuration(0.4), '0.4s');
    assert.equal(formatDuration(0.042), '0.04s');
    assert.equal(formatDuration(0.96), '1s');
    assert.equal(formatDuration(42), '42s');
    assert.equal(formatDuration(185), '3m 05s');
    assert.equal(formatDuration(2 * 3600 + 10 * 60 + 7), '2h 10m');
    assert.equal(formatDuration(3 * 86400 + 4 * 3600 + 59), '3d 4h');
  });

  it('ages as kubectl prints them', () => {
    assert.equal(formatAge(ago(45), now), '45s');
    assert.equal(formatAge(ago(12 * 60 + 30), now), '12m');
    assert.equal(formatAge(ago(3 * 3600 + 59 * 60), now), '3h');
    assert.equal(formatAge(ago(5 * 86400 + 3600), now), '5d');
    // A clock a little ahead of the browser's is not a negative age.
    assert.equal(formatAge(ago(-10), now), '0s');
    assert.equal(formatAge(undefined, now), '—');
    assert.equal(formatAge('not a time', now), '—');
  });

  it('the time until a next run, and "due" once it has passed', () => {
    assert.equal(formatUntil(ago(-3 * 3600), now), 'in 3h');
    assert.equal(formatUntil(ago(-90), now), 'in 1m');
    assert.equal(formatUntil(ago(5), now), 'due');
    assert.equal(formatUntil(undefined, now), '—');
  });

  it('times in UTC to the minute', () => {
    assert.equal(formatTime('2026-12-03T04:21:59Z'), '2026-12-03 04:21 UTC');
    assert.equal(formatTime('2026-12-03T05:21:00+01:00'), '2026-12-03 04:21 UTC');
    assert.equal(formatTime(undefined), '—');
  });

  it('"every namespace" for a backup of all of them', () => {
    assert.equal(formatNamespaces(['*']), 'every namespace');
    assert.equal(formatNamespaces([]), 'every namespace');
    assert.equal(formatNamespaces(['shop', 'web']), 'shop, web');
  });
});
