// The backups a server process runs across its leaderships (src/controller/backup-runs.ts) and the status
// writes tried until they land (writeUntilLanded), on an injected clock. test/integration/server-outage.test.ts
// runs both through a real API server outage.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BackupRuns, TakeoverError } from '../../src/controller/backup-runs.ts';
import { writeUntilLanded } from '../../src/controller/resources.ts';
import { ClusterUnreachableError, KubeApiError } from '../../src/kube/index.ts';
import { manualClock, settle } from '../helpers/clock.ts';

const unreachable = () =>
  new ClusterUnreachableError('https://api', {
    cause: Object.assign(new Error('connect'), { code: 'ECONNREFUSED' }),
  });

describe('backup runs across leaderships', () => {
  it('lets a backup outlive its leadership, and commit only once the process leads again', async () => {
    const { clock } = manualClock();
    const runs = new BackupRuns({ identity: 'me', signal: new AbortController().signal, clock });
    const first = new AbortController();
    runs.leading(first.signal);
    const steps: string[] = [];
    const verified = Promise.withResolvers<void>();
    let letGo = false;
    void runs
      .start('nightly', first.signal, async (signal) => {
        await verified.promise;
        await runs.led(signal);
        steps.push('committed');
      })
      .then(() => (letGo = true));
    first.abort(new Error('leadership lost'));
    await settle();
    assert.equal(letGo, true, 'the queue lets go of the backup');
    assert.equal(runs.has('nightly'), true, 'the backup runs on');
    verified.resolve();
    await settle();
    assert.deepEqual(steps, [], 'it waits while the process does not lead');
    runs.observed('me');
    runs.leading(new AbortController().signal);
    await runs.settled();
    assert.deepEqual(steps, ['committed']);
    assert.equal(runs.has('nightly'), false);
  });

  it('stops a backup when another replica is seen holding the lease, naming it', async () => {
    const { clock } = manualClock();
    const runs = new BackupRuns({ identity: 'me', signal: new AbortController().signal, clock });
    let reason: unknown;
    const done = runs.start('nightly', new AbortController().signal, async (signal) => {
      await runs.led(signal).catch((error: unknown) => (reason = error));
    });
    runs.observed('other');
    await done;
    assert.ok(reason instanceof TakeoverError);
    assert.equal(reason.message, 'another server (other) took over leadership while this backup was running');
  });

  it('keeps the queue waiting for a backup when the process stops, until the backup has ended', async () => {
    const { clock } = manualClock();
    const stop = new AbortController();
    const runs = new BackupRuns({ identity: 'me', signal: stop.signal, clock });
    const leader = new AbortController();
    runs.leading(leader.signal);
    const failing = Promise.withResolvers<void>();
    let stopped: unknown;
    let ended = false;
    void runs
      .start('nightly', leader.signal, async (signal) => {
        await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
        stopped = signal.reason;
        await failing.promise; // writing its Failed status
      })
      .then(() => (ended = true));
    const reason = new Error('SIGTERM');
    stop.abort(reason);
    leader.abort(reason);
    await settle();
    assert.equal(stopped, reason);
    assert.equal(ended, false);
    failing.resolve();
    await runs.settled();
    assert.equal(ended, true);
  });
});

describe('writeUntilLanded', () => {
  it('tries a write again while the API server is away, saying so once, until it lands', async () => {
    const time = manualClock();
    const logs: string[] = [];
    let tries = 0;
    const written = writeUntilLanded(
      { clock: time.clock, log: (m) => logs.push(m), what: 'backup b: writing its status' },
      () => {
        tries += 1;
        if (tries <= 3)
          return Promise.reject(
            tries === 2 ? new KubeApiError('PATCH', '/x', 503, 'ServiceUnavailable', 'down') : unreachable(),
          );
        return Promise.resolve('landed');
      },
      new AbortController().signal,
    );
    for (let i = 0; i < 10 && tries < 4; i++) await time.advance(10_000);
    assert.equal(await written, 'landed');
    assert.equal(tries, 4);
    assert.equal(logs.length, 2, logs.join('\n'));
    assert.match(
      logs[0] ?? '',
      /^backup b: writing its status: not written yet \(cannot reach the API server/,
    );
    assert.equal(logs[1], 'backup b: writing its status: written after 4 tries');
  });

  it('throws at once an error that no retry mends', async () => {
    const { clock } = manualClock();
    const gone = new KubeApiError('PATCH', '/x', 404, 'NotFound', 'backups "b" not found');
    await assert.rejects(
      writeUntilLanded(
        { clock, log: () => undefined, what: 'w' },
        () => Promise.reject(gone),
        new AbortController().signal,
      ),
      gone,
    );
  });
});
