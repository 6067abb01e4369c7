import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backoffMs } from '../../src/api/index.ts';
import { ClusterUnreachableError, isRetryable, RateLimiter, retryAfterMs } from '../../src/kube/index.ts';

/** A clock that only moves when the limiter sleeps. */
function fakeClock() {
  let now = 0;
  const sleeps: number[] = [];
  return {
    now: () => now,
    sleep: (ms: number) => {
      sleeps.push(ms);
      now += ms;
      return Promise.resolve();
    },
    sleeps,
  };
}

describe('RateLimiter', () => {
  it('lets a burst through at once, then spaces requests at 1/qps', async () => {
    const clock = fakeClock();
    const limiter = new RateLimiter({ qps: 10, burst: 3, now: clock.now, sleep: clock.sleep });
    for (let i = 0; i < 6; i++) await limiter.acquire();
    assert.deepEqual(clock.sleeps.map(Math.round), [100, 100, 100]);
    assert.equal(Math.round(clock.now()), 300);
  });

  it('refills tokens while idle, up to the burst', async () => {
    const clock = fakeClock();
    const limiter = new RateLimiter({ qps: 10, burst: 2, now: clock.now, sleep: clock.sleep });
    await limiter.acquire();
    await limiter.acquire();
    await clock.sleep(10_000); // a long quiet period refills only up to the burst
    clock.sleeps.length = 0;
    for (let i = 0; i < 3; i++) await limiter.acquire();
    assert.deepEqual(clock.sleeps.map(Math.round), [100]);
  });

  it('does not limit when qps is 0', async () => {
    const clock = fakeClock();
    const limiter = new RateLimiter({ qps: 0, burst: 1, now: clock.now, sleep: clock.sleep });
    for (let i = 0; i < 100; i++) await limiter.acquire();
    assert.deepEqual(clock.sleeps, []);
  });

  it('refuses nonsense settings, naming the value', () => {
    assert.throws(() => new RateLimiter({ qps: -1, burst: 1 }), /qps must be 0 or more, got -1/);
    assert.throws(() => new RateLimiter({ qps: 1, burst: 0 }), /burst must be 1 or more, got 0/);
  });
});

describe('retry policy', () => {
  const reset = new ClusterUnreachableError('https://k', {
    cause: Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }),
  });
  const refused = new ClusterUnreachableError('https://k', {
    cause: Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }),
  });

  it('repeats any request the server did not process: 429 and 503', () => {
    for (const method of ['GET', 'POST', 'PATCH']) {
      assert.ok(isRetryable(method, { status: 429 }));
      assert.ok(isRetryable(method, { status: 503 }));
    }
  });

  it('repeats other 5xx answers and dropped connections only for idempotent methods', () => {
    assert.ok(isRetryable('GET', { status: 500 }));
    assert.ok(isRetryable('DELETE', { status: 504 }));
    assert.ok(!isRetryable('POST', { status: 500 }));
    assert.ok(isRetryable('GET', { error: reset }));
    assert.ok(!isRetryable('POST', { error: reset }));
    assert.ok(isRetryable('POST', { error: refused }), 'a refused connection never reached the server');
  });

  it('never repeats client errors or unknown failures', () => {
    for (const status of [200, 400, 401, 403, 404, 409, 410, 422]) assert.ok(!isRetryable('GET', { status }));
    assert.ok(!isRetryable('GET', { error: new Error('boom') }));
  });

  it('backs off exponentially with jitter, capped, and waits at least as long as Retry-After', () => {
    const options = { attempts: 6, baseDelayMs: 100, maxDelayMs: 1000, random: () => 0.5 };
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6].map((failures) => backoffMs(failures, options)),
      [75, 150, 300, 600, 750, 750],
    );
    assert.equal(backoffMs(1, options, 3000), 3000);
    assert.deepEqual(
      [1, 2, 3, 4, 5].map((failures) => backoffMs(failures, { ...options, jitter: false })),
      [100, 200, 400, 800, 1000],
    );
    assert.equal(retryAfterMs('3'), 3000);
    assert.equal(retryAfterMs(['2']), 2000);
    assert.equal(retryAfterMs('Wed, 21 Oct 2026 07:28:00 GMT'), undefined);
    assert.equal(retryAfterMs(undefined), undefined);
  });
});
