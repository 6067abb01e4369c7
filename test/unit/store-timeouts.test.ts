// withTimeouts over the reference store, with chosen calls stalled (test/helpers/faulty-store.ts) and a
// clock the test moves: a call that gets no answer, or a body that stops moving while the other side
// waits, fails with StoreTimeoutError naming the location, the operation, the key and the limit, and is
// noticed while it lasts; a slow producer or reader, and a long transfer that keeps moving (a large
// Buffer, or parts sent after the body ended, as the driver tells), never time out; an abandoned get
// stream does not hold the process; withRetry tries a timed-out call again; the calls in flight are
// counted while they run.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { PassThrough, Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { describe, it } from 'node:test';
import type { Clock } from '../../src/api/index.ts';
import {
  MemoryStore,
  StoreActivity,
  StoreTimeoutError,
  withRetry,
  withTimeouts,
  type ObjectStore,
  type StallNotice,
} from '../../src/storage/index.ts';
import { manualClock, settle } from '../helpers/clock.ts';
import { withStalls, type StallMode, type StoreMethod } from '../helpers/faulty-store.ts';

const SECOND = 1000;

async function seeded(): Promise<MemoryStore> {
  const memory = new MemoryStore();
  await memory.put('backups/a/a.tar.gz', Buffer.alloc(256 * 1024, 7));
  await memory.put('backups/a/velero-backup.json', Buffer.from('{}'));
  return memory;
}

/** The memory store with chosen calls stalled, under withTimeouts on a manual clock. */
async function stalledStore(
  stallOf: (method: StoreMethod, key: string) => StallMode | undefined,
  limits: { requestMs?: number; idleMs?: number } = {},
) {
  const time = manualClock(1_000_000);
  const notices: StallNotice[] = [];
  const activity = new StoreActivity();
  const memory = await seeded();
  const store = withTimeouts(withStalls(memory, stallOf), {
    location: 'minio',
    requestMs: limits.requestMs ?? 60 * SECOND,
    idleMs: limits.idleMs ?? 60 * SECOND,
    clock: time.clock,
    activity,
    onStall: (notice) => notices.push(notice),
  });
  return { time, notices, activity, memory, store };
}

/**
 * The memory store behind a slow link: a put takes its whole body at once (as S3 and Azure buffer parts
 * and blocks, or as a Buffer is given), then sends it in `steps` of 10 s on `clock`, telling its progress
 * after each of the first `toldSteps` of them.
 */
function slowLink(memory: MemoryStore, clock: Clock, steps: number, toldSteps = steps): ObjectStore {
  return {
    description: memory.description,
    get: (key, o) => memory.get(key, o),
    head: (key, o) => memory.head(key, o),
    list: (prefix, o) => memory.list(prefix, o),
    delete: (key, o) => memory.delete(key, o),
    async put(key, body, o = {}) {
      const bytes = Buffer.isBuffer(body) ? body : await buffer(body);
      for (let step = 1; step <= steps; step++) {
        await clock.sleep(10 * SECOND, o.signal);
        o.signal?.throwIfAborted();
        if (step <= toldSteps) o.onProgress?.();
      }
      await memory.put(key, bytes, { ...o, onProgress: undefined });
    },
  };
}

/** Whether `promise` has settled, without waiting for it. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  promise.then(
    () => (done = true),
    () => (done = true),
  );
  await settle();
  return done;
}

function timeoutOf(error: unknown): StoreTimeoutError {
  assert.ok(error instanceof StoreTimeoutError, `not a StoreTimeoutError: ${String(error)}`);
  return error;
}

describe('withTimeouts', () => {
  it('fails a call that gets no answer after the request timeout, naming the location, the call, the key and the limit', async () => {
    const { time, store } = await stalledStore((method) => (method === 'head' ? 'answer' : undefined), {
      requestMs: 2 * SECOND,
    });
    const head = store.head('backups/a/velero-backup.json');
    head.catch(() => undefined);
    await time.advance(1900);
    assert.equal(await settled(head), false, 'not before its limit');
    await time.advance(200);
    const error = timeoutOf(await head.catch((e: unknown) => e));
    assert.equal(
      error.message,
      'location "minio": head "backups/a/velero-backup.json": no answer in 2 s (request timeout)',
    );
    assert.deepEqual(
      [error.operation, error.limit, error.limitMs, error.transient],
      ['head', 'request', 2000, true],
    );
    // Other calls are not held up.
    assert.equal((await store.get('backups/a/velero-backup.json').then(buffer)).toString(), '{}');
  });

  it('fails the call even when the driver does not hear its signal', async () => {
    const { time, store } = await stalledStore((method) => (method === 'delete' ? 'deaf' : undefined), {
      requestMs: 5 * SECOND,
    });
    const deleting = store.delete('backups/a/a.tar.gz');
    deleting.catch(() => undefined);
    await time.advance(5 * SECOND);
    assert.equal(timeoutOf(await deleting.catch((e: unknown) => e)).operation, 'delete');
  });

  it('tells of a stall while it lasts, every 30 s, before it fails', async () => {
    const { time, notices, store } = await stalledStore((m) => (m === 'head' ? 'answer' : undefined), {
      requestMs: 100 * SECOND,
    });
    const head = store.head('backups/a/velero-backup.json');
    head.catch(() => undefined);
    for (let i = 0; i < 10; i++) await time.advance(10 * SECOND);
    assert.deepEqual(
      notices.map((n) => n.message),
      [30, 60, 90].map(
        (s) =>
          `location minio: no progress for ${s} s (head "backups/a/velero-backup.json"; the limit is 100 s)`,
      ),
    );
    timeoutOf(await head.catch((e: unknown) => e));
  });

  it('fails a get whose stream stops moving while it is read, with the idle limit, and frees the call', async () => {
    const { time, store, activity } = await stalledStore((m, key) =>
      m === 'get' && key.endsWith('.tar.gz') ? 'body' : undefined,
    );
    const stream = await store.get('backups/a/a.tar.gz');
    const reading = buffer(stream);
    reading.catch(() => undefined);
    await time.advance(59 * SECOND);
    assert.equal(await settled(reading), false);
    await time.advance(2 * SECOND);
    const error = timeoutOf(await reading.catch((e: unknown) => e));
    assert.equal(
      error.message,
      'location "minio": get "backups/a/a.tar.gz": no progress for 60 s (idle timeout)',
    );
    assert.ok(activity.snapshot(time.clock.now()).inFlight.every((op) => op.count === 0));
  });

  it('never fails a get whose reader takes its time: a full buffer waits on the reader, not the store', async () => {
    const { time, store } = await stalledStore(() => undefined, { idleMs: 10 * SECOND });
    const stream = await store.get('backups/a/a.tar.gz');
    await time.advance(5 * 60 * SECOND); // nobody reads
    assert.equal((await buffer(stream)).length, 256 * 1024);
  });

  it('fails a put whose store stops reading the body, with the idle limit', async () => {
    const { time, store, memory } = await stalledStore((m) => (m === 'put' ? 'body' : undefined));
    const body = new PassThrough();
    const putting = store.put('backups/b/b.tar.gz', body);
    putting.catch(() => undefined);
    body.write(Buffer.alloc(64 * 1024, 1));
    body.write(Buffer.alloc(64 * 1024, 2));
    await time.advance(30 * SECOND);
    body.write(Buffer.alloc(64 * 1024, 3)); // bytes still wait for the store
    await time.advance(31 * SECOND);
    const error = timeoutOf(await putting.catch((e: unknown) => e));
    assert.equal(
      error.message,
      'location "minio": put "backups/b/b.tar.gz": no progress for 60 s (idle timeout)',
    );
    assert.equal(await memory.head('backups/b/b.tar.gz'), undefined);
  });

  it('never fails a put whose producer is slow, nor a long upload that keeps moving', async () => {
    const { time, store, memory, notices } = await stalledStore(() => undefined, {
      requestMs: 10 * SECOND,
      idleMs: 10 * SECOND,
    });
    const body = new PassThrough();
    const putting = store.put('backups/c/c.tar.gz', body);
    // Five minutes of upload, a chunk every 9 s, and one pause of the producer of 40 s.
    for (let i = 0; i < 33; i++) {
      body.write(Buffer.alloc(1024, i));
      await time.advance(i === 10 ? 40 * SECOND : 9 * SECOND);
    }
    body.end();
    await putting;
    assert.equal((await memory.head('backups/c/c.tar.gz'))?.size, 33 * 1024);
    assert.deepEqual(notices, []);
  });

  it('never fails a put of a large Buffer that keeps moving, and fails one that stops, with the idle limit', async () => {
    const time = manualClock(0);
    const memory = new MemoryStore();
    const slow = (toldSteps: number) =>
      withTimeouts(slowLink(memory, time.clock, 12, toldSteps), {
        location: 'minio',
        requestMs: 60 * SECOND,
        idleMs: 60 * SECOND,
        clock: time.clock,
      });
    // A 16 MiB restic pack that takes two minutes, telling its progress every 10 s.
    const pack = Buffer.alloc(16 * 1024 * 1024, 5);
    const putting = slow(12).put('restic/data/00/pack', pack);
    for (let i = 0; i < 13; i++) await time.advance(10 * SECOND);
    await putting;
    assert.equal((await memory.head('restic/data/00/pack'))?.size, pack.length);

    // One whose store goes quiet after 30 s fails 60 s later, not before.
    const stopping = slow(3).put('restic/data/01/pack', pack);
    stopping.catch(() => undefined);
    for (let i = 0; i < 8; i++) await time.advance(10 * SECOND);
    assert.equal(await settled(stopping), false, 'not before 60 s without progress');
    await time.advance(10 * SECOND);
    const error = timeoutOf(await stopping.catch((e: unknown) => e));
    assert.deepEqual([error.limit, error.limitMs], ['idle', 60 * SECOND]);
  });

  it('never fails a put stream whose store still sends the parts it holds after the body ended, telling as it goes', async () => {
    const time = manualClock(0);
    const memory = new MemoryStore();
    const store = withTimeouts(slowLink(memory, time.clock, 12), {
      location: 'minio',
      idleMs: 30 * SECOND,
      clock: time.clock,
    });
    const putting = store.put('backups/d/d.tar.gz', Readable.from([Buffer.alloc(32 * 1024 * 1024, 1)]));
    for (let i = 0; i < 13; i++) await time.advance(10 * SECOND);
    await putting;
    assert.equal((await memory.head('backups/d/d.tar.gz'))?.size, 32 * 1024 * 1024);
  });

  it('does not keep the process alive through a get stream its caller abandoned', async (t) => {
    // A child process reads one chunk of a get stream, then neither reads on nor destroys it: it must
    // exit by itself. The deadline is generous; the assertion is that it exited, not how fast.
    const script = `
      import { mkdtempSync } from 'node:fs';
      import { tmpdir } from 'node:os';
      import { join } from 'node:path';
      import { FilesystemStore, withTimeouts } from ${JSON.stringify(new URL('../../src/storage/index.ts', import.meta.url).href)};
      const store = withTimeouts(new FilesystemStore({ root: mkdtempSync(join(tmpdir(), 'cairn-abandon-')) }), {
        location: 'fs',
      });
      await store.put('big', Buffer.alloc(4 * 1024 * 1024, 1));
      const stream = await store.get('big');
      await new Promise((resolve) => stream.once('readable', resolve));
      stream.read();
      console.log('abandoned');
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    t.after(() => child.kill('SIGKILL'));
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const deadline = AbortSignal.timeout(60 * SECOND);
    const [code] = await once(child, 'exit', { signal: deadline }).catch(() => [undefined]);
    assert.equal(out.trim(), 'abandoned');
    assert.equal(code, 0, 'the process did not exit by itself within 60 s');
  });

  it('bounds each page of a listing, not the time the caller takes between entries', async () => {
    const hung = await stalledStore((m) => (m === 'list' ? 'answer' : undefined), { requestMs: SECOND });
    const listing = (async () => {
      for await (const entry of hung.store.list('backups/')) void entry;
    })();
    listing.catch(() => undefined);
    await hung.time.advance(SECOND);
    assert.equal(timeoutOf(await listing.catch((e: unknown) => e)).message.includes('list "backups/"'), true);

    const slow = await stalledStore(() => undefined, { requestMs: SECOND });
    const keys: string[] = [];
    for await (const entry of slow.store.list('backups/')) {
      keys.push(entry.type === 'object' ? entry.key : entry.prefix);
      await slow.time.advance(5 * SECOND);
    }
    assert.deepEqual(keys, ['backups/a/a.tar.gz', 'backups/a/velero-backup.json']);
  });

  it('is retried by withRetry, which gives up with the timeout after its attempts', async () => {
    let hangs = 1;
    const time = manualClock(0);
    const memory = await seeded();
    const retried = (store: ObjectStore) =>
      withRetry(withTimeouts(store, { location: 'minio', requestMs: SECOND, clock: time.clock }), {
        attempts: 3,
        baseDelayMs: 10,
        maxDelayMs: 10,
        sleep: (ms, signal) => time.clock.sleep(ms, signal),
      });
    const once = retried(withStalls(memory, (m) => (m === 'head' && hangs-- > 0 ? 'answer' : undefined)));
    const head = once.head('backups/a/velero-backup.json');
    await time.advance(2 * SECOND);
    assert.equal((await head)?.size, 2);

    const always = retried(withStalls(memory, (m) => (m === 'head' ? 'answer' : undefined)));
    const failing = always.head('backups/a/velero-backup.json');
    failing.catch(() => undefined);
    for (let i = 0; i < 5; i++) await time.advance(SECOND);
    const error = timeoutOf(await failing.catch((e: unknown) => e));
    assert.equal(error.transient, false, 'not retried again by an outer layer');
    assert.equal(
      error.message,
      'location "minio": head "backups/a/velero-backup.json": no answer in 1 s (request timeout, 3 attempts)',
    );
  });

  it('counts the calls in flight by location and operation, and the age of the oldest', async () => {
    const { time, store, activity } = await stalledStore((m) => (m === 'head' ? 'answer' : undefined));
    const heads = [store.head('x'), store.head('y')];
    for (const head of heads) head.catch(() => undefined);
    await time.advance(20 * SECOND);
    await store.put('z', Buffer.from('1'));
    const during = activity.snapshot(time.clock.now());
    assert.deepEqual(during.inFlight, [
      { location: 'minio', operation: 'head', count: 2 },
      { location: 'minio', operation: 'put', count: 0 },
    ]);
    assert.deepEqual(during.oldest, [{ location: 'minio', seconds: 20 }]);
    await time.advance(40 * SECOND);
    await Promise.allSettled(heads);
    const after = activity.snapshot(time.clock.now());
    assert.ok(after.inFlight.every((op) => op.count === 0));
    assert.deepEqual(after.oldest, [{ location: 'minio', seconds: 0 }]);
  });

  it('refuses a limit that is not above 0, naming it', () => {
    assert.throws(
      () => withTimeouts(new MemoryStore(), { location: 'x', idleMs: 0 }),
      /idleMs must be above 0, got 0/,
    );
  });

  it('passes a whole stream through untouched', async () => {
    const { store, memory } = await stalledStore(() => undefined);
    const bytes = Buffer.alloc(3 * 1024 * 1024 + 5, 9);
    await store.put('big', Readable.from([bytes.subarray(0, 1000), bytes.subarray(1000)]));
    assert.ok((await buffer(await memory.get('big'))).equals(bytes));
  });
});
