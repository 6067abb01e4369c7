// The wrappers' own promises: readOnly refuses writes, withRetry retries only what may succeed later
// (with injected faults and an injected sleep: no real waiting), withPrefix keeps its keys inside.
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { describe, it } from 'node:test';
import {
  InvalidKeyError,
  MemoryStore,
  ObjectExistsError,
  ObjectNotFoundError,
  RangeNotSatisfiableError,
  ReadOnlyStoreError,
  StoreUnavailableError,
  readOnly,
  withPrefix,
  withRetry,
  type ByteRange,
  type ObjectStore,
  type StoreRetryOptions,
} from '../../src/storage/index.ts';
import { withFaults } from '../helpers/faulty-store.ts';

const transient = (n: number) => new StoreUnavailableError('memory://memory', `503 slow down (${n})`, true);

async function seeded(): Promise<MemoryStore> {
  const store = new MemoryStore();
  await store.put('backups/nightly/velero-backup.json', Buffer.from('{}'));
  await store.put('backups/weekly/velero-backup.json', Buffer.from('{"a":1}'));
  return store;
}

async function keys(store: ObjectStore, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for await (const e of store.list(prefix)) out.push(e.type === 'object' ? e.key : e.prefix);
  return out;
}

async function text(store: ObjectStore, key: string): Promise<string> {
  let out = '';
  for await (const chunk of await store.get(key)) out += String(chunk);
  return out;
}

/** The store, recording the range of every get that reaches it. */
function recordingRanges(store: ObjectStore): { store: ObjectStore; ranges: (ByteRange | undefined)[] } {
  const ranges: (ByteRange | undefined)[] = [];
  return {
    ranges,
    store: {
      ...store,
      get: (key, options) => {
        ranges.push(options?.range);
        return store.get(key, options);
      },
    },
  };
}

/** Retry options that record the waits instead of waiting. */
function recorded(attempts: number, extra: Partial<StoreRetryOptions> = {}) {
  const sleeps: number[] = [];
  const options: StoreRetryOptions = {
    attempts,
    baseDelayMs: 100,
    maxDelayMs: 1000,
    random: () => 0.5,
    sleep: (ms) => {
      sleeps.push(ms);
      return Promise.resolve();
    },
    ...extra,
  };
  return { options, sleeps };
}

describe('readOnly', () => {
  it('refuses put and delete with ReadOnlyStoreError naming the store and the key, changing nothing', async () => {
    const inner = await seeded();
    const store = readOnly(inner);
    for (const [operation, call] of [
      ['put', () => store.put('backups/new/velero-backup.json', Buffer.from('x'))],
      ['delete', () => store.delete('backups/new/velero-backup.json')],
    ] as const) {
      await assert.rejects(call(), (error: unknown) => {
        assert.ok(error instanceof ReadOnlyStoreError);
        assert.equal(error.operation, operation);
        assert.equal(error.key, 'backups/new/velero-backup.json');
        assert.equal(
          error.message,
          `cannot ${operation} "backups/new/velero-backup.json": memory://memory is read-only`,
        );
        return true;
      });
    }
    await assert.rejects(store.delete('backups/nightly/velero-backup.json'), ReadOnlyStoreError);
    assert.deepEqual(await keys(inner), [
      'backups/nightly/velero-backup.json',
      'backups/weekly/velero-backup.json',
    ]);
  });

  it('passes get, head and list through', async () => {
    const store = readOnly(await seeded());
    assert.equal(await text(store, 'backups/weekly/velero-backup.json'), '{"a":1}');
    const range = { offset: 1, length: 3 };
    assert.equal(
      String(await buffer(await store.get('backups/weekly/velero-backup.json', { range }))),
      '"a"',
    );
    assert.equal((await store.head('backups/nightly/velero-backup.json'))?.size, 2);
    assert.deepEqual(await keys(store, 'backups/n'), ['backups/nightly/velero-backup.json']);
    assert.equal(store.signedUrl, undefined);
  });
});

describe('withRetry', () => {
  it('retries transient failures with growing, jittered waits, then succeeds', async () => {
    const faulty = withFaults(await seeded(), [
      { method: 'get', call: 1, error: transient(1) },
      { method: 'get', call: 2, error: transient(2) },
    ]);
    const { options, sleeps } = recorded(3);
    assert.equal(await text(withRetry(faulty, options), 'backups/weekly/velero-backup.json'), '{"a":1}');
    assert.equal(faulty.calls.get, 3);
    assert.deepEqual(sleeps, [75, 150]); // half of 100 and of 200, plus half of the rest (random 0.5)
  });

  it('retries a ranged get with the same range, and does not retry a range past the end', async () => {
    const faulty = withFaults(await seeded(), [{ method: 'get', call: 1, error: transient(1) }]);
    const seen = recordingRanges(faulty);
    const store = withRetry(seen.store, recorded(3).options);
    const range = { offset: 1, length: 5 };
    const bytes = await buffer(await store.get('backups/weekly/velero-backup.json', { range }));
    assert.equal(String(bytes), '"a":1');
    assert.deepEqual(seen.ranges, [range, range]);
    assert.equal(faulty.calls.get, 2);
    await assert.rejects(
      store.get('backups/weekly/velero-backup.json', { range: { offset: 7 } }),
      RangeNotSatisfiableError,
    );
    assert.equal(faulty.calls.get, 3);
  });

  it('caps the wait at maxDelayMs', async () => {
    const plan = [1, 2, 3, 4, 5].map((call) => ({ method: 'head' as const, call, error: transient(call) }));
    const { options, sleeps } = recorded(6, { maxDelayMs: 300, random: () => 0 });
    await withRetry(withFaults(await seeded(), plan), options).head('backups/nightly/velero-backup.json');
    assert.deepEqual(sleeps, [50, 100, 150, 150, 150]);
  });

  it('gives up after `attempts` tries with the last error as the cause', async () => {
    const errors = [transient(1), transient(2), transient(3)];
    const faulty = withFaults(
      await seeded(),
      errors.map((error, i) => ({ method: 'delete', call: i + 1, error })),
    );
    const { options, sleeps } = recorded(3);
    await assert.rejects(
      withRetry(faulty, options).delete('backups/nightly/velero-backup.json'),
      (error: unknown) => {
        assert.ok(error instanceof StoreUnavailableError);
        assert.equal(error.transient, false);
        assert.equal(error.cause, errors[2]);
        assert.match(error.message, /gave up after 3 attempts: 503 slow down \(3\)/);
        return true;
      },
    );
    assert.equal(faulty.calls.delete, 3);
    assert.equal(sleeps.length, 2);
  });

  it('does not retry ObjectNotFoundError or a store that is unavailable for good', async () => {
    const gone = new StoreUnavailableError('memory://memory', 'bucket "b" does not exist', false);
    const faulty = withFaults(await seeded(), [{ method: 'head', call: 1, error: gone }]);
    const { options, sleeps } = recorded(5);
    const store = withRetry(faulty, options);
    await assert.rejects(store.get('backups/missing'), ObjectNotFoundError);
    await assert.rejects(store.head('backups/nightly/velero-backup.json'), (e) => e === gone);
    assert.deepEqual([faulty.calls.get, faulty.calls.head, sleeps.length], [1, 1, 0]);
  });

  it('retries a put of a buffer, but not of a stream, which the first try consumed', async () => {
    const faulty = withFaults(new MemoryStore(), [
      { method: 'put', call: 1, error: transient(1) },
      { method: 'put', call: 3, error: transient(3) },
    ]);
    const store = withRetry(faulty, recorded(3).options);
    await store.put('buffer', Buffer.from('b'));
    assert.equal(faulty.calls.put, 2);
    await assert.rejects(store.put('stream', Readable.from([Buffer.from('s')])), StoreUnavailableError);
    assert.equal(faulty.calls.put, 3);
    assert.deepEqual(await keys(faulty), ['buffer']);
  });

  it('accepts a write-once put whose lost first try had stored the same bytes', async () => {
    const inner = new MemoryStore();
    const faulty = withFaults(inner, [{ method: 'put', call: 1, error: transient(1), when: 'after' }]);
    const store = withRetry(faulty, recorded(3).options);
    await store.put('once', Buffer.from('mine'), { ifAbsent: true });
    assert.equal(faulty.calls.put, 2);
    assert.equal(await text(inner, 'once'), 'mine');

    await inner.put('taken', Buffer.from('theirs'));
    const racing = withRetry(
      withFaults(inner, [{ method: 'put', call: 1, error: transient(1) }]),
      recorded(3).options,
    );
    await assert.rejects(racing.put('taken', Buffer.from('mine'), { ifAbsent: true }), ObjectExistsError);
  });

  it('resumes a failed listing after the last entry it yielded', async () => {
    const inner = await seeded();
    await inner.put('backups/zeta/velero-backup.json', Buffer.from('z'));
    const faulty = withFaults(inner, [{ method: 'list', call: 1, error: transient(1), when: 'after' }]);
    const store = withRetry(faulty, recorded(3).options);
    assert.deepEqual(await keys(store, 'backups/'), [
      'backups/nightly/velero-backup.json',
      'backups/weekly/velero-backup.json',
      'backups/zeta/velero-backup.json',
    ]);
    assert.equal(faulty.calls.list, 2);
  });

  it('stops waiting and retrying when the signal aborts', async () => {
    const controller = new AbortController();
    const faulty = withFaults(await seeded(), [{ method: 'get', call: 1, error: transient(1) }]);
    const store = withRetry(faulty, {
      ...recorded(5).options,
      sleep: (_ms, signal) => {
        controller.abort();
        return Promise.reject(signal?.reason as Error);
      },
    });
    await assert.rejects(store.get('backups/nightly/velero-backup.json', { signal: controller.signal }), {
      name: 'AbortError',
    });
    assert.equal(faulty.calls.get, 1);
  });
});

describe('withFaults', () => {
  it('fails the chosen call before or after it reaches the store, and counts calls', async () => {
    const inner = new MemoryStore();
    const boom = new Error('boom');
    const faulty = withFaults(inner, [
      { method: 'put', call: 1, error: boom },
      { method: 'put', call: 2, error: boom, when: 'after' },
    ]);
    await assert.rejects(faulty.put('a', Buffer.from('1')), (e) => e === boom);
    await assert.rejects(faulty.put('b', Buffer.from('2')), (e) => e === boom);
    await faulty.put('c', Buffer.from('3'));
    assert.deepEqual(await keys(inner), ['b', 'c']);
    assert.equal(faulty.calls.put, 3);
  });
});

describe('withPrefix', () => {
  it('stores keys under the prefix and lists and reports them without it', async () => {
    const inner = new MemoryStore();
    const store = withPrefix(inner, 'velero/');
    await store.put('backups/nightly/velero-backup.json', Buffer.from('{}'));
    assert.deepEqual(await keys(inner), ['velero/backups/nightly/velero-backup.json']);
    assert.deepEqual(await keys(store), ['backups/nightly/velero-backup.json']);
    assert.equal(
      (await store.head('backups/nightly/velero-backup.json'))?.key,
      'backups/nightly/velero-backup.json',
    );
    await assert.rejects(store.get('backups/missing'), (error: unknown) => {
      assert.ok(error instanceof ObjectNotFoundError);
      assert.equal(error.key, 'backups/missing');
      assert.equal(error.message, 'object "backups/missing" not found in memory://memory under "velero/"');
      return true;
    });
  });

  it('reads ranges inside the prefix and reports a range past the end without it', async () => {
    const inner = new MemoryStore();
    const store = withPrefix(inner, 'velero');
    await store.put('packs/p', Buffer.from('0123456789'));
    assert.equal(String(await buffer(await store.get('packs/p', { range: { offset: 7 } }))), '789');
    await assert.rejects(store.get('packs/p', { range: { offset: 4, length: 7 } }), (error: unknown) => {
      assert.ok(error instanceof RangeNotSatisfiableError);
      assert.deepEqual([error.key, error.offset, error.length, error.size], ['packs/p', 4, 7, 10]);
      assert.equal(
        error.message,
        'cannot read bytes 4-10 of "packs/p" in memory://memory under "velero/": the object is 10 bytes long',
      );
      return true;
    });
  });

  it('refuses a prefix or a key that would leave it', async () => {
    assert.throws(() => withPrefix(new MemoryStore(), 'velero/../other'), InvalidKeyError);
    const store = withPrefix(new MemoryStore(), 'velero');
    await assert.rejects(store.put('../escape', Buffer.from('x')), InvalidKeyError);
    await assert.rejects(store.get('/absolute'), InvalidKeyError);
  });
});
