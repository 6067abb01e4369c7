import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WorkQueue } from '../../src/controller/index.ts';
import { manualClock, settle } from '../helpers/clock.ts';

/** The keys the queue hands out now, without waiting (each marked done). */
async function drain(queue: WorkQueue): Promise<string[]> {
  const keys: string[] = [];
  while (queue.length > 0) {
    const key = await queue.get();
    if (key === undefined) break;
    keys.push(key);
    queue.done(key);
  }
  return keys;
}

describe('work queue', () => {
  it('holds a key once however often it is added, in the order of first adding', async () => {
    const queue = new WorkQueue({ clock: manualClock().clock });
    for (const key of ['a', 'b', 'a', 'c', 'b', 'a']) queue.add(key);
    assert.equal(queue.length, 3);
    assert.deepEqual(await drain(queue), ['a', 'b', 'c']);
  });

  it('never hands a key to two workers at once; a key added while processed comes back once after', async () => {
    const queue = new WorkQueue({ clock: manualClock().clock });
    queue.add('a');
    const first = await queue.get();
    assert.equal(first, 'a');
    queue.add('a');
    queue.add('a');
    assert.equal(queue.length, 0, 'the key waits while a worker holds it');
    let second: string | undefined;
    void queue.get().then((key) => (second = key));
    await settle();
    assert.equal(second, undefined, 'a second worker does not get the key being processed');
    queue.done('a');
    await settle();
    assert.equal(second, 'a', 'done() hands the key added meanwhile to the waiting worker');
    queue.done('a');
    assert.equal(queue.length, 0, 'the two adds during processing made one more round, not two');
  });

  it('runs workers in parallel on different keys but one key at a time', async () => {
    const { clock } = manualClock();
    const queue = new WorkQueue({ clock });
    const running = new Set<string>();
    let overlap = false;
    let parallel = 0;
    let maxParallel = 0;
    const rounds = new Map<string, number>();
    const stop = new AbortController();
    const release: (() => void)[] = [];
    const run = queue.run(
      3,
      async (key) => {
        if (running.has(key)) overlap = true;
        running.add(key);
        parallel += 1;
        maxParallel = Math.max(maxParallel, parallel);
        rounds.set(key, (rounds.get(key) ?? 0) + 1);
        await new Promise<void>((resolve) => release.push(resolve));
        parallel -= 1;
        running.delete(key);
      },
      stop.signal,
    );
    // The workers wait already: a, b and c go to them at once, so the second a and b are adds during
    // processing, each good for one more round.
    for (const key of ['a', 'b', 'c', 'a', 'b']) queue.add(key);
    await settle();
    assert.equal(maxParallel, 3);
    // While a, b and c are being processed, add a again and again.
    for (let i = 0; i < 5; i++) queue.add('a');
    while (release.length > 0) {
      for (const resolve of release.splice(0)) resolve();
      await settle();
    }
    assert.equal(overlap, false, 'no key was processed by two workers at once');
    assert.deepEqual(Object.fromEntries(rounds), { a: 2, b: 2, c: 1 });
    stop.abort();
    await run;
  });

  it('brings a failed key back after a back-off that doubles up to the maximum, and forget resets it', async () => {
    const time = manualClock();
    const queue = new WorkQueue({ clock: time.clock, baseDelayMs: 5, maxDelayMs: 40 });
    const waits: number[] = [];
    for (let i = 0; i < 6; i++) {
      queue.addRateLimited('a');
      let waited = 0;
      while (queue.length === 0) {
        await time.advance(1);
        waited += 1;
      }
      waits.push(waited);
      await drain(queue);
    }
    assert.deepEqual(waits, [5, 10, 20, 40, 40, 40]);
    assert.equal(queue.requeues('a'), 6);
    queue.forget('a');
    assert.equal(queue.requeues('a'), 0);
    queue.addRateLimited('a');
    await time.advance(4);
    assert.equal(queue.length, 0);
    await time.advance(1);
    assert.equal(queue.length, 1, 'after forget the back-off starts at the base again');
  });

  it('uses client-go’s back-off by default: 5 ms doubling to at most 1000 s', async () => {
    const time = manualClock();
    const queue = new WorkQueue({ clock: time.clock });
    for (let i = 0; i < 30; i++) queue.addRateLimited('a');
    // Only the earliest time of a waiting key counts: the first, 5 ms.
    await time.advance(5);
    assert.deepEqual(await drain(queue), ['a']);
    queue.addRateLimited('a'); // the 31st failure: 5 ms × 2^30 is past the maximum
    await time.advance(999_999);
    assert.equal(queue.length, 0);
    await time.advance(1);
    assert.deepEqual(await drain(queue), ['a']);
  });

  it('adds a key after a delay, keeping the earlier time when a key is added after twice', async () => {
    const time = manualClock();
    const queue = new WorkQueue({ clock: time.clock });
    queue.addAfter('a', 100);
    queue.addAfter('a', 500); // later: does not postpone the first
    queue.addAfter('b', 300);
    queue.addAfter('b', 50); // sooner: wins
    await time.advance(49);
    assert.equal(queue.length, 0);
    await time.advance(1);
    assert.deepEqual(await drain(queue), ['b']);
    await time.advance(50);
    assert.deepEqual(await drain(queue), ['a']);
    await time.advance(1000);
    assert.deepEqual(await drain(queue), [], 'the superseded times add nothing');
    queue.addAfter('c', 0);
    assert.deepEqual(await drain(queue), ['c'], 'no delay adds at once');
  });

  it('retries a handler that throws with back-off, forgets its failures on success, and requeues on request', async () => {
    const time = manualClock();
    const logged: string[] = [];
    const queue = new WorkQueue({ clock: time.clock, log: (message) => logged.push(message) });
    const calls: { key: string; at: number }[] = [];
    let failuresLeft = 3;
    const stop = new AbortController();
    const run = queue.run(
      1,
      (key) => {
        calls.push({ key, at: time.clock.now() });
        if (key === 'flaky' && failuresLeft-- > 0) throw new Error('not yet');
        if (key === 'periodic') return { requeueAfterMs: 60_000 };
      },
      stop.signal,
    );
    queue.add('flaky');
    queue.add('periodic');
    await time.advance(100);
    assert.deepEqual(
      calls.filter((c) => c.key === 'flaky').map((c) => c.at),
      [0, 5, 15, 35],
      'three failures, retried after 5, 10 and 20 ms',
    );
    assert.equal(queue.requeues('flaky'), 0, 'the success forgot the failures');
    assert.deepEqual(logged, [
      'flaky: attempt 1 failed; retrying in 5 ms',
      'flaky: attempt 2 failed; retrying in 10 ms',
      'flaky: attempt 3 failed; retrying in 20 ms',
    ]);
    await time.advance(60_000);
    assert.deepEqual(
      calls.filter((c) => c.key === 'periodic').map((c) => c.at),
      [0, 60_000],
    );
    stop.abort();
    await run;
  });

  it('shuts down: finishes the keys in process, drops the rest, ignores new ones', async () => {
    const time = manualClock();
    const queue = new WorkQueue({ clock: time.clock });
    const processed: string[] = [];
    let finish: () => void = () => undefined;
    const stop = new AbortController();
    const run = queue.run(
      1,
      async (key) => {
        await new Promise<void>((resolve) => (finish = resolve));
        processed.push(key);
      },
      stop.signal,
    );
    queue.add('busy');
    queue.add('queued');
    queue.addAfter('later', 10);
    await settle();

    let shutDown = false;
    const shutdown = queue.shutdown().then(() => (shutDown = true));
    let runEnded = false;
    void run.then(() => (runEnded = true));
    queue.add('new');
    await settle();
    assert.equal(shutDown, false, 'shutdown waits for the key being processed');
    assert.equal(queue.shuttingDown, true);
    assert.equal(time.pendingTimers(), 0, 'the timers of delayed keys are stopped');

    finish();
    await shutdown;
    await settle();
    assert.equal(runEnded, true, 'run ends once the queue has shut down');
    assert.deepEqual(processed, ['busy']);
    assert.equal(await queue.get(), undefined);
    await time.advance(100);
    assert.deepEqual(processed, ['busy'], 'neither queued, delayed nor new keys were processed');
  });

  it('stops when the run signal aborts', async () => {
    const queue = new WorkQueue({ clock: manualClock().clock });
    const stop = new AbortController();
    const run = queue.run(2, () => undefined, stop.signal);
    stop.abort();
    await run;
    assert.equal(queue.shuttingDown, true);
  });

  it('refuses nonsense settings, naming the value', async () => {
    assert.throws(() => new WorkQueue({ baseDelayMs: 0 }), /baseDelayMs must be above 0, got 0/);
    assert.throws(
      () => new WorkQueue({ baseDelayMs: 10, maxDelayMs: 5 }),
      /maxDelayMs must be at least baseDelayMs, got 5/,
    );
    await assert.rejects(
      new WorkQueue().run(0, () => undefined, new AbortController().signal),
      /workers must be a whole number of 1 or more, got 0/,
    );
  });
});
