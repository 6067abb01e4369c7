// Which location a backup waits for, on a test clock: a location with bytes waiting that has taken none
// for the notice time is named, with the seconds, until it takes bytes again.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { longestStall, STALL_NOTICE_MS, watchStalls } from '../../src/backup/stalls.ts';
import type { UploadMeter } from '../../src/storage/index.ts';
import { manualClock } from '../helpers/clock.ts';

const meter = (location: string, lastTaken: number, waiting: boolean): UploadMeter => ({
  location,
  lastTaken,
  waiting: () => waiting,
});

describe('stalled uploads', () => {
  it('names the location idle longest with bytes waiting, once idle for the notice time', () => {
    const now = 100_000;
    assert.equal(longestStall([meter('a', now - STALL_NOTICE_MS + 1, true)], now), undefined);
    assert.equal(
      longestStall([meter('a', now - 60_000, false)], now),
      undefined,
      'nothing waiting: done, not stalled',
    );
    assert.deepEqual(
      longestStall(
        [meter('a', now - 12_500, true), meter('minio', now - 30_000, true), meter('b', now, true)],
        now,
      ),
      { location: 'minio', seconds: 30 },
    );
  });

  it('reports a stall as it grows, and its end, each change once', async () => {
    const time = manualClock(1_000_000);
    const m = meter('minio', time.clock.now(), true);
    const seen: string[] = [];
    const stop = new AbortController();
    const watching = watchStalls({
      meters: [m],
      now: () => time.clock.now(),
      sleep: (ms, signal) => time.clock.sleep(ms, signal),
      signal: stop.signal,
      onChange: (stall) => seen.push(stall ? `${stall.location} ${stall.seconds}` : 'moving'),
    });
    await time.advance(STALL_NOTICE_MS - 1000);
    assert.deepEqual(seen, []);
    await time.advance(3000);
    assert.deepEqual(seen, ['minio 10', 'minio 11', 'minio 12']);
    m.lastTaken = time.clock.now();
    await time.advance(2000);
    assert.deepEqual(seen.at(-1), 'moving');
    assert.equal(seen.filter((s) => s === 'moving').length, 1);
    stop.abort();
    await watching;
  });
});
