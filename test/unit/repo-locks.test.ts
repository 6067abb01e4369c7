// Repository locks on the in-memory backend, with a clock the tests move: restic's lock files, conflicts
// between exclusive and shared locks, refreshing, and stale locks removed with a warning.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  LOCK_SETTLE_MS,
  LockConflictError,
  MemoryBackend,
  Repository,
  parseLock,
  type Backend,
  type Identity,
  type RepoLock,
} from '../../src/repo/index.ts';
import { rejection } from '../helpers/bytes.ts';
import { manualClock, type ManualClock } from '../helpers/clock.ts';

const MINUTE = 60_000;
const start = Date.parse('2026-12-06T12:00:00Z');
const here: Identity = { hostname: 'node-a', username: 'cairn', pid: 4242, uid: 1000, gid: 1000 };

interface World {
  backend: Backend;
  time: ManualClock;
  warnings: string[];
  alive: Set<number>;
  /** A process on `identity` with its own view of the repository. */
  process(identity: Identity): Promise<Repository>;
}

async function world(): Promise<World> {
  const backend = new MemoryBackend({ description: 'memory:locks' });
  const time = manualClock(start);
  const warnings: string[] = [];
  const alive = new Set<number>([here.pid, 5151]);
  const options = (identity: Identity) => ({
    password: 'pw',
    clock: time.clock,
    identity,
    logger: { warn: (message: string) => warnings.push(message) },
    processExists: (pid: number) => alive.has(pid),
  });
  await Repository.init(backend, {
    ...options(here),
    polynomial: '3da3358b4dc173',
    keyParams: { N: 1024, r: 8, p: 1 },
  });
  return {
    backend,
    time,
    warnings,
    alive,
    process: (identity) => Repository.open(backend, options(identity)),
  };
}

/** Waits (in real time: zstd and the backend run off the clock) until `ready()` or the clock has a new sleep. */
async function untilSleeping(w: World, sleepers: number, ready: () => boolean): Promise<void> {
  while (!ready() && w.time.pendingTimers() <= sleepers)
    await new Promise((resolve) => setTimeout(resolve, 1));
}

/** Takes a lock, moving the clock past the wait between writing it and looking for rivals again. */
async function take(w: World, repo: Repository, exclusive: boolean): Promise<RepoLock> {
  const sleepers = w.time.pendingTimers();
  let done = false;
  const taking = repo.lock({ exclusive });
  taking.then(
    () => (done = true),
    () => (done = true),
  );
  await untilSleeping(w, sleepers, () => done);
  if (!done) await w.time.advance(LOCK_SETTLE_MS);
  return taking;
}

/**
 * Moves the clock by `ms` a minute at a time; after each step waits (in real time, 2 s at most) until
 * the refresh loops that woke are asleep again, their writes done.
 */
async function pass(w: World, ms: number): Promise<void> {
  for (let step = 0; step < ms; step += MINUTE) {
    const sleepers = w.time.pendingTimers();
    await w.time.advance(Math.min(MINUTE, ms - step));
    const until = Date.now() + 2000;
    while (w.time.pendingTimers() < sleepers && Date.now() < until)
      await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

async function lockFiles(w: World, repo: Repository) {
  const found = [];
  for await (const { name } of repo.list('locks'))
    found.push({ name, lock: parseLock(await repo.loadJson('locks', name), name) });
  return found;
}

describe('repository locks', () => {
  it('writes restic lock JSON in locks/ and removes it on release', async () => {
    const w = await world();
    const repo = await w.process(here);
    const lock = await take(w, repo, false);
    const files = await lockFiles(w, repo);
    assert.deepEqual(files, [
      {
        name: lock.name,
        lock: {
          time: '2026-12-06T12:00:00.000Z',
          exclusive: false,
          hostname: 'node-a',
          username: 'cairn',
          pid: 4242,
          uid: 1000,
          gid: 1000,
        },
      },
    ]);
    await lock.release();
    assert.deepEqual(await lockFiles(w, repo), []);
    assert.equal(lock.signal.aborted, true);
  });

  it('lets shared locks coexist; an exclusive lock conflicts with any other, naming the holder', async () => {
    const w = await world();
    const backup1 = await take(w, await w.process(here), false);
    const backup2 = await take(w, await w.process({ ...here, hostname: 'node-b', pid: 77 }), false);
    const prune = await w.process({ ...here, pid: 5151 });
    const error = await rejection(take(w, prune, true));
    assert.ok(error instanceof LockConflictError, String(error));
    assert.match(
      error.message,
      /^memory:locks is already locked by pid (4242 on node-a|77 on node-b) \(user cairn, since 2026-12-06T12:00/,
    );
    await backup1.release();
    await backup2.release();
    const exclusive = await take(w, prune, true);
    const late = await rejection(take(w, await w.process(here), false));
    assert.ok(
      late instanceof LockConflictError && late.message.includes('locked exclusively by pid 5151'),
      String(late),
    );
    await exclusive.release();
  });

  it('backs off when a rival appears while it waits, removing its own lock file', async () => {
    const w = await world();
    const repo = await w.process(here);
    const rival = await w.process({ ...here, hostname: 'node-b', pid: 9 });
    const sleepers = w.time.pendingTimers();
    const taking = rejection(repo.lock({ exclusive: true }));
    await untilSleeping(w, sleepers, () => false); // our lock is written; a rival writes one before we look again
    await rival.saveJson('locks', {
      time: new Date(start).toISOString(),
      exclusive: false,
      hostname: 'node-b',
      username: 'x',
      pid: 9,
    });
    await w.time.advance(LOCK_SETTLE_MS);
    assert.ok((await taking) instanceof LockConflictError);
    assert.deepEqual(
      (await lockFiles(w, repo)).map((f) => f.lock.hostname),
      ['node-b'],
    );
  });

  it('refreshes every 5 minutes: a new lock file with the new time replaces the old one', async () => {
    const w = await world();
    const repo = await w.process(here);
    const lock = await take(w, repo, false);
    const first = lock.name;
    await pass(w, 5 * MINUTE);
    const files = await lockFiles(w, repo);
    assert.equal(files.length, 1);
    assert.notEqual(files[0]?.name, first);
    assert.equal(files[0]?.name, lock.name);
    assert.equal(files[0]?.lock.time, new Date(start + LOCK_SETTLE_MS + 5 * MINUTE).toISOString());
    await lock.release();
    assert.equal(w.time.pendingTimers(), 0, 'release stops the refresh timer');
  });

  it('removes a lock not refreshed for 30 minutes with a warning, instead of failing', async () => {
    const w = await world();
    const other = await w.process({ ...here, hostname: 'node-b', pid: 77 });
    await other.saveJson('locks', {
      time: new Date(start).toISOString(),
      exclusive: true,
      hostname: 'node-b',
      username: 'cairn',
      pid: 77,
    });
    const repo = await w.process(here);
    assert.ok((await rejection(take(w, repo, false))) instanceof LockConflictError, 'fresh: it counts');
    await pass(w, 31 * MINUTE);
    const lock = await take(w, repo, false);
    assert.equal(w.warnings.length, 1);
    assert.match(
      w.warnings[0] ?? '',
      /^removing stale lock locks\/[0-9a-f]{64} in memory:locks: pid 77 on node-b \(user cairn\), last refreshed 2026-12-06T12:00:00.000Z$/,
    );
    assert.deepEqual(
      (await lockFiles(w, repo)).map((f) => f.name),
      [lock.name],
    );
    await lock.release();
  });

  it('removes a fresh lock of a process that is gone from this host, but not one of another host', async () => {
    const w = await world();
    const now = new Date(start).toISOString();
    const writer = await w.process(here);
    await writer.saveJson('locks', {
      time: now,
      exclusive: true,
      hostname: 'node-a',
      username: 'cairn',
      pid: 3131,
    });
    const lock = await take(w, writer, true);
    assert.match(w.warnings.join('\n'), /pid 3131 on node-a/);
    await lock.release();

    await writer.saveJson('locks', {
      time: now,
      exclusive: true,
      hostname: 'node-b',
      username: 'cairn',
      pid: 3131,
    });
    assert.ok((await rejection(take(w, writer, true))) instanceof LockConflictError);
  });

  it('gives the lock up when it cannot be refreshed for 22.5 minutes: its signal aborts', async () => {
    const w = await world();
    const repo = await w.process(here);
    const lock = await take(w, repo, false);
    const failing = w.backend as MemoryBackend;
    const save = failing.save.bind(failing);
    failing.save = () => Promise.reject(new Error('store unreachable'));
    await pass(w, 20 * MINUTE);
    assert.equal(lock.signal.aborted, false);
    assert.equal(w.warnings.filter((m) => m.includes('store unreachable')).length, 4);
    await pass(w, 5 * MINUTE);
    assert.equal(lock.signal.aborted, true);
    failing.save = save;
    await lock.release();
  });
});

describe('waiting for a lock (lockWaitMs, restic --retry-lock)', () => {
  const other: Identity = { hostname: 'node-b', username: 'cairn', pid: 77, uid: 0, gid: 0 };
  const keyParams = { N: 1024, r: 8, p: 1 };

  async function heldElsewhere() {
    const backend = new MemoryBackend({ description: 'memory:wait' });
    await Repository.init(backend, { password: 'pw', polynomial: '3da3358b4dc173', keyParams });
    const holder = await Repository.open(backend, { password: 'pw', identity: other });
    const held = await holder.lock({ exclusive: true });
    return { backend, held };
  }

  it('fails at once by default, and with lockWaitMs waits for the conflicting lock to go', async () => {
    const { backend, held } = await heldElsewhere();
    const impatient = await Repository.open(backend, { password: 'pw' });
    assert.ok((await rejection(impatient.lock({ exclusive: false }))) instanceof LockConflictError);

    const warnings: string[] = [];
    const patient = await Repository.open(backend, {
      password: 'pw',
      lockWaitMs: 60_000,
      logger: { warn: (message) => warnings.push(message) },
    });
    let taken = false;
    let settled = false;
    const waiting = patient.lock({ exclusive: false }).then(
      (lock) => {
        taken = true;
        settled = true;
        return lock;
      },
      (error: unknown) => {
        settled = true;
        throw error;
      },
    );
    while (warnings.length === 0 && !settled) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.match(warnings[0] ?? '', /node-b.*trying again in 1 s/s);
    assert.equal(taken, false, 'it waits while the exclusive lock is held');
    await held.release();
    const lock = await waiting;
    assert.equal(taken, true);
    await lock.release();
  });

  it('gives up with LockConflictError once lockWaitMs has passed', async () => {
    const { backend, held } = await heldElsewhere();
    const patient = await Repository.open(backend, { password: 'pw', lockWaitMs: 1500 });
    const error = await rejection(patient.lock({ exclusive: false }));
    assert.ok(error instanceof LockConflictError, String(error));
    await held.release();
  });
});
