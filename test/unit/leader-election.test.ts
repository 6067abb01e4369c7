// Leader election's timing, on an injected clock with the reference lease store (which passes the same
// conformance suite as the Lease on the API server): who leads, when a dead leader's lease is taken, how
// soon a released one is, and that a leader unable to renew stops before anyone else can start.
// test/integration/controller-machinery.test.ts runs the same elections against the real API server and
// asserts their order and outcome, never their milliseconds.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  MemoryLeaseStore,
  runLeaderElection,
  type LeaderElectionOptions,
  type LeaderElectionResult,
  type LeaseStore,
} from '../../src/controller/index.ts';
import { leaseStoreConformance } from '../conformance/lease-store.ts';
import { manualClock, type ManualClock } from '../helpers/clock.ts';

leaseStoreConformance('the in-memory lease store', () => Promise.resolve(new MemoryLeaseStore()));

const LEASE = 15_000;
const RENEW_DEADLINE = 10_000;
const RETRY = 2_000;
/** The longest wait between two tries to take the lease: retryPeriod × (1 + 1.2 × random), random 0.5 here. */
const TRY_EVERY = RETRY * 1.6;
const STEP = 100;

interface Replica {
  identity: string;
  stop: AbortController;
  result: Promise<LeaderElectionResult>;
  /** When (on the test clock) it started and stopped leading, and whether its work has returned. */
  started?: number;
  stopped?: number;
  workDone: boolean;
}

/** A store that fails every call while `failing` is set, as an API server that cannot be reached. */
function unreliable(store: LeaseStore): LeaseStore & { failing: boolean } {
  const wrapped = {
    failing: false,
    get: (signal: AbortSignal) =>
      wrapped.failing ? Promise.reject(new Error('unreachable')) : store.get(signal),
    create: (...args: Parameters<LeaseStore['create']>) =>
      wrapped.failing ? Promise.reject(new Error('unreachable')) : store.create(...args),
    update: (...args: Parameters<LeaseStore['update']>) =>
      wrapped.failing ? Promise.reject(new Error('unreachable')) : store.update(...args),
  };
  return wrapped;
}

function election(time: ManualClock, store: LeaseStore) {
  const replicas: Replica[] = [];
  let leading = 0;
  let maxLeading = 0;
  const start = (
    identity: string,
    options: Partial<LeaderElectionOptions> & { workAfterStopMs?: number } = {},
  ): Replica => {
    const stop = new AbortController();
    const replica: Replica = {
      identity,
      stop,
      workDone: false,
      result: Promise.resolve({ led: false, end: 'stopped' }),
    };
    replica.result = runLeaderElection({
      namespace: 'cairn',
      name: 'cairn',
      identity,
      store,
      leaseDurationMs: LEASE,
      renewDeadlineMs: RENEW_DEADLINE,
      retryPeriodMs: RETRY,
      clock: time.clock,
      random: () => 0.5,
      signal: stop.signal,
      onStartedLeading: async (signal) => {
        replica.started = time.clock.now();
        leading++;
        maxLeading = Math.max(maxLeading, leading);
        await new Promise<void>((resolve) =>
          signal.addEventListener('abort', () => resolve(), { once: true }),
        );
        if (options.workAfterStopMs) await time.clock.sleep(options.workAfterStopMs);
        leading--;
        replica.workDone = true;
      },
      onStoppedLeading: () => {
        replica.stopped = time.clock.now();
      },
      ...options,
    });
    replicas.push(replica);
    return replica;
  };
  /** Moves the clock on in small steps until `done` holds, at most `limitMs`. */
  const until = async (what: string, done: () => boolean, limitMs = 120_000) => {
    for (let waited = 0; !done(); waited += STEP) {
      if (waited > limitMs) assert.fail(`${what}: not within ${limitMs} ms on the test clock`);
      await time.advance(STEP);
    }
  };
  const stopAll = async () => {
    for (const r of replicas) r.stop.abort();
    // A stopping leader finishes its work and releases on the test clock: move it until all have ended.
    let ended = false;
    void Promise.all(replicas.map((r) => r.result)).then(() => (ended = true));
    await until('every replica to end', () => ended);
  };
  return { start, until, stopAll, maxLeading: () => maxLeading };
}

describe('leader election on the test clock', () => {
  it('lets exactly one of two lead for as long as it renews, however long that is', async () => {
    const time = manualClock(1_000_000);
    const run = election(time, new MemoryLeaseStore());
    const [a, b] = [run.start('a'), run.start('b')];
    await run.until('a leader', () => a.started !== undefined || b.started !== undefined);
    const leader = a.started !== undefined ? a : b;
    const other = leader === a ? b : a;
    await time.advance(10 * LEASE);
    assert.equal(other.started, undefined, 'the other never leads while the leader renews');
    assert.equal(leader.stopped, undefined);
    assert.equal(run.maxLeading(), 1);
    await run.stopAll();
  });

  it('takes a dead leader’s lease once it has gone unrenewed for the lease duration, not before', async () => {
    const time = manualClock(1_000_000);
    const store = new MemoryLeaseStore();
    const run = election(time, store);
    const first = run.start('first', { releaseOnCancel: false });
    await run.until('first to lead', () => first.started !== undefined);
    const second = run.start('second', { releaseOnCancel: false });
    await time.advance(3 * LEASE);
    assert.equal(second.started, undefined);

    first.stop.abort(); // killed: it renews no more and does not release
    await run.until('first to end', () => first.stopped !== undefined);
    const lastRenewal = Date.parse((await store.get(new AbortController().signal))?.spec.renewTime ?? '');
    await run.until('second to take over', () => second.started !== undefined);
    const takenAfter = (second.started ?? 0) - lastRenewal;
    assert.ok(takenAfter >= LEASE, `taken ${takenAfter} ms after the last renewal, before the lease expired`);
    // Seen at its next try after the renewal, taken at its first try a lease duration after that.
    assert.ok(takenAfter <= LEASE + 2 * TRY_EVERY, `taken ${takenAfter} ms after the last renewal`);
    const lease = (await store.get(new AbortController().signal))?.spec;
    assert.equal(lease?.holderIdentity, 'second');
    assert.equal(lease?.leaseTransitions, 1);
    assert.deepEqual(await first.result, { led: true, end: 'stopped' });
    assert.equal(run.maxLeading(), 1);
    await run.stopAll();
  });

  it('hands over at the other’s next try when the leader stops and releases, after its work has returned', async () => {
    const time = manualClock(1_000_000);
    const store = new MemoryLeaseStore();
    const run = election(time, store);
    // The leader's work takes 20 s to stop: longer than the lease, so the leader must renew meanwhile.
    const first = run.start('first', { workAfterStopMs: 20_000 });
    await run.until('first to lead', () => first.started !== undefined);
    const second = run.start('second');
    await time.advance(LEASE);

    const stoppedAt = time.clock.now();
    first.stop.abort();
    await run.until('the work to return', () => first.workDone);
    assert.equal(second.started, undefined, 'the lease is held while the work finishes');
    await run.until('second to take over', () => second.started !== undefined);
    const releasedAt = first.stopped ?? 0;
    assert.ok(releasedAt >= stoppedAt + 20_000, 'released only after the work returned');
    const takenAfter = (second.started ?? 0) - releasedAt;
    assert.ok(takenAfter <= TRY_EVERY, `taken ${takenAfter} ms after the release, not at the next try`);
    assert.deepEqual(await first.result, { led: true, end: 'stopped' });
    assert.equal(run.maxLeading(), 1);
    await run.stopAll();
  });

  it('stops leading when it cannot renew within the renew deadline, before the lease can expire for anyone else', async () => {
    const time = manualClock(1_000_000);
    const shared = new MemoryLeaseStore();
    const cutOff = unreliable(shared);
    const run = election(time, shared);
    const first = run.start('first', { store: cutOff });
    await run.until('first to lead', () => first.started !== undefined);
    const second = run.start('second');
    await time.advance(LEASE);

    const lastRenewal = Date.parse((await shared.get(new AbortController().signal))?.spec.renewTime ?? '');
    cutOff.failing = true;
    await run.until('first to stop leading', () => first.stopped !== undefined);
    assert.deepEqual(await first.result, { led: true, end: 'lost' });
    assert.ok(first.workDone, 'its work was told to stop');
    const lostAfter = (first.stopped ?? 0) - lastRenewal;
    assert.ok(lostAfter <= RETRY + RENEW_DEADLINE, `gave up ${lostAfter} ms after its last renewal`);
    assert.ok(lostAfter < LEASE, 'gave up before the lease could expire');
    await run.until('second to take over', () => second.started !== undefined);
    assert.ok((second.started ?? 0) - lastRenewal >= LEASE);
    assert.equal(run.maxLeading(), 1, 'never two leaders at once');
    await run.stopAll();
  });

  it('steps down and releases the lease when the leader’s work ends by itself', async () => {
    const time = manualClock(1_000_000);
    const store = new MemoryLeaseStore();
    const run = election(time, store);
    const only = run.start('only', {
      onStartedLeading: () => Promise.reject(new Error('the controllers crashed')),
    });
    let ended = false;
    void only.result.then(() => (ended = true));
    await run.until('the election to end', () => ended);
    assert.deepEqual(await only.result, { led: true, end: 'stopped' });
    const lease = (await store.get(new AbortController().signal))?.spec;
    assert.deepEqual(
      { holder: lease?.holderIdentity, seconds: lease?.leaseDurationSeconds },
      { holder: '', seconds: 1 },
    );
  });
});
