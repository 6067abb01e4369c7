import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatGoDuration, parseGoDuration } from '../../src/api/index.ts';

describe('Go durations', () => {
  it('parse as Go parses them', () => {
    assert.equal(parseGoDuration('720h'), 720 * 3_600_000);
    assert.equal(parseGoDuration('720h0m0s'), 720 * 3_600_000);
    assert.equal(parseGoDuration('1h30m'), 5_400_000);
    assert.equal(parseGoDuration('1.5h'), 5_400_000);
    assert.equal(parseGoDuration('500ms'), 500);
    assert.equal(parseGoDuration('0'), 0);
  });

  it('refuse what is not a duration', () => {
    for (const bad of ['', '30', '30d', 'h', '1h 30m', '-1h', '1hx'])
      assert.equal(parseGoDuration(bad), undefined, bad);
  });

  it('format whole seconds as Go prints them', () => {
    assert.equal(formatGoDuration(720 * 3_600_000), '720h0m0s');
    assert.equal(formatGoDuration(5_400_000), '1h30m0s');
    assert.equal(formatGoDuration(45_000), '45s');
    assert.equal(formatGoDuration(0), '0s');
  });
});
