// The object-store conformance suite: every ObjectStore (memory, filesystem, S3, Azure Blob, GCS, and
// the wrappers) runs these tests unchanged. `open` returns a fresh, empty store and its cleanup.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, it, type TestContext } from 'node:test';
import {
  ContentLengthMismatchError,
  InvalidKeyError,
  ObjectExistsError,
  ObjectNotFoundError,
  RangeNotSatisfiableError,
  compareKeys,
  type ByteRange,
  type ListOptions,
  type ObjectStore,
} from '../../src/storage/index.ts';
import { buffer } from 'node:stream/consumers';
import { rejection } from '../helpers/bytes.ts';

export type OpenStore = () => Promise<{ store: ObjectStore; cleanup: () => Promise<void> }>;

const MiB = 1024 * 1024;
/** Over 1,000 keys, so S3 and GCS list in more than one page. */
const manyKeys = 1050;

export function objectStoreConformance(name: string, open: OpenStore): void {
  async function fresh(t: TestContext): Promise<ObjectStore> {
    const { store, cleanup } = await open();
    t.after(cleanup);
    return store;
  }

  describe(name, () => {
    it('returns the bytes of a stored buffer', async (t) => {
      const store = await fresh(t);
      const body = Buffer.from('{"kind":"Backup","metadata":{"name":"nightly"}}\n');
      await store.put('backups/nightly/velero-backup.json', body);
      assert.deepEqual(await storedBytes(store, 'backups/nightly/velero-backup.json'), body);
    });

    it('streams a 12 MiB body in and out unchanged, and the process warns of nothing', async (t) => {
      // A warning (MaxListenersExceededWarning, a deprecation) reaches the user's terminal from every
      // command that reads a backup.
      const warnings: string[] = [];
      const onWarning = (warning: Error) => warnings.push(`${warning.name}: ${warning.message}`);
      process.on('warning', onWarning);
      t.after(() => process.off('warning', onWarning));
      const store = await fresh(t);
      const { stream, digest } = generated(12 * MiB);
      await store.put('big/archive.tar.gz', stream);
      assert.equal(await sha256(await store.get('big/archive.tar.gz')), digest());
      assert.equal((await store.head('big/archive.tar.gz'))?.size, 12 * MiB);
      await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
      assert.deepEqual(warnings, []);
    });

    it('tells the progress of a put as it takes the body, of a large Buffer and of a stream', async (t) => {
      const store = await fresh(t);
      let told = 0;
      const onProgress = () => void told++;
      await store.put('packs/buffer', randomBytes(3 * MiB), { onProgress });
      assert.ok(told >= 1, `told ${told} times of a 3 MiB Buffer`);
      told = 0;
      await store.put('packs/stream', generated(12 * MiB).stream, { onProgress });
      assert.ok(told >= 2, `told ${told} times of a 12 MiB stream`);
      assert.equal((await store.head('packs/stream'))?.size, 12 * MiB);
    });

    it('reads a range from the middle, to the end, the first byte and the last byte', async (t) => {
      const store = await fresh(t);
      const body = randomBytes(1000);
      await store.put('packs/00/pack', body);
      const cases: [ByteRange, Buffer][] = [
        [{ offset: 100, length: 250 }, body.subarray(100, 350)],
        [{ offset: 640 }, body.subarray(640)],
        [{ offset: 0, length: 1 }, body.subarray(0, 1)],
        [{ offset: 999, length: 1 }, body.subarray(999)],
        [{ offset: 999 }, body.subarray(999)],
        [{ offset: 0 }, body],
        [{ offset: 0, length: 1000 }, body],
        [{ offset: 1, length: 999 }, body.subarray(1)],
      ];
      for (const [range, expected] of cases)
        assert.deepEqual(await storedBytes(store, 'packs/00/pack', range), expected, JSON.stringify(range));
    });

    it('reads a range of a 10 MiB object byte for byte, across S3 parts and Azure blocks', async (t) => {
      const store = await fresh(t);
      const body = randomBytes(10 * MiB);
      const chunks = Array.from({ length: 10 }, (_, i) => body.subarray(i * MiB, (i + 1) * MiB));
      await store.put('packs/big', Readable.from(chunks));
      const ranges: ByteRange[] = [
        { offset: 6 * MiB + 4321, length: 3 * MiB }, // across the 8 MiB part (and block) boundary
        { offset: 1, length: 5 * MiB + 7 },
        { offset: 10 * MiB - 4096 }, // a pack header read from the tail
      ];
      for (const range of ranges) {
        const got = await storedBytes(store, 'packs/big', range);
        const expected = body.subarray(range.offset, range.offset + (range.length ?? body.length));
        assert.ok(got.equals(expected), `${JSON.stringify(range)}: ${got.length} bytes, not the slice`);
      }
    });

    it('refuses a range that does not lie inside the object with RangeNotSatisfiableError', async (t) => {
      const store = await fresh(t);
      await store.put('packs/small', Buffer.from('0123456789'));
      await store.put('packs/empty', Buffer.alloc(0));
      const cases: [string, ByteRange][] = [
        ['packs/small', { offset: 10 }], // at the end
        ['packs/small', { offset: 10, length: 1 }],
        ['packs/small', { offset: 25, length: 5 }], // past the end
        ['packs/small', { offset: 8, length: 3 }], // ending one byte past the end
        ['packs/small', { offset: 0, length: 11 }],
        ['packs/empty', { offset: 0 }], // no range fits an empty object
        ['packs/empty', { offset: 0, length: 1 }],
      ];
      for (const [key, range] of cases) {
        const error = await rejection(store.get(key, { range }));
        const what = `${key} ${JSON.stringify(range)}`;
        assert.ok(error instanceof RangeNotSatisfiableError, `${what}: ${String(error)}`);
        assert.deepEqual(
          [error.key, error.offset, error.length, error.size],
          [key, range.offset, range.length, key === 'packs/empty' ? 0 : 10],
          what,
        );
        assert.ok(error.message.includes(JSON.stringify(key)), error.message);
        assert.ok(error.message.includes(store.description), error.message);
      }
      // The objects are still whole, and readable by range.
      assert.deepEqual(await storedBytes(store, 'packs/small', { offset: 9 }), Buffer.from('9'));
      assert.deepEqual(await storedBytes(store, 'packs/empty'), Buffer.alloc(0));
    });

    it('refuses a malformed or zero-length range with RangeError before asking the store', async (t) => {
      const store = await fresh(t);
      await store.put('packs/small', Buffer.from('0123456789'));
      const ranges: ByteRange[] = [
        { offset: 0, length: 0 },
        { offset: 5, length: 0 },
        { offset: -1 },
        { offset: -1, length: 2 },
        { offset: 1.5, length: 2 },
        { offset: Number.NaN },
        { offset: Number.POSITIVE_INFINITY },
        { offset: 0, length: -3 },
        { offset: 0, length: 2.5 },
        { offset: 0, length: Number.POSITIVE_INFINITY },
        { offset: Number.MAX_SAFE_INTEGER, length: 2 },
      ];
      for (const range of ranges) {
        // Of a missing key too: the range is refused before any request, not found missing by one.
        for (const key of ['packs/small', 'packs/missing']) {
          const error = await rejection(store.get(key, { range }));
          assert.ok(error instanceof RangeError, `${key} ${JSON.stringify(range)}: ${String(error)}`);
          assert.match(error.message, /^range (offset|length)/);
        }
      }
    });

    it('fails a ranged get of a missing key with ObjectNotFoundError', async (t) => {
      const store = await fresh(t);
      await store.put('packs/other', Buffer.from('0123456789'));
      for (const range of [{ offset: 0, length: 1 }, { offset: 3 }, { offset: 1_000_000, length: 10 }]) {
        const error = await rejection(store.get('packs/missing', { range }));
        assert.ok(error instanceof ObjectNotFoundError, `${JSON.stringify(range)}: ${String(error)}`);
        assert.equal(error.key, 'packs/missing');
      }
    });

    it('heads a present key with its size and time, and a missing key as undefined', async (t) => {
      const store = await fresh(t);
      await store.put('a/present.txt', Buffer.from('12345'));
      const info = await store.head('a/present.txt');
      assert.equal(info?.key, 'a/present.txt');
      assert.equal(info.size, 5);
      assert.ok(
        Math.abs(info.lastModified.getTime() - Date.now()) < 10 * 60_000,
        `${info.lastModified.toString()}`,
      );
      assert.equal(await store.head('a/missing.txt'), undefined);
      assert.equal(await store.head('a'), undefined);
    });

    it('fails to get a missing key with ObjectNotFoundError naming the key and the store', async (t) => {
      const store = await fresh(t);
      const error = await rejection(store.get('backups/nope/velero-backup.json'));
      assert.ok(error instanceof ObjectNotFoundError, String(error));
      assert.equal(error.key, 'backups/nope/velero-backup.json');
      assert.match(error.message, /backups\/nope\/velero-backup\.json/);
      assert.ok(error.message.includes(store.description));
    });

    it('refuses a write-once put of an existing key, keeping the original', async (t) => {
      const store = await fresh(t);
      const original = Buffer.from('original');
      await store.put('once/key', original, { ifAbsent: true });
      for (const body of [
        Buffer.from('second'),
        Readable.from([Buffer.from('third')]),
        generated(9 * MiB).stream,
      ]) {
        const error = await rejection(store.put('once/key', body, { ifAbsent: true }));
        assert.ok(error instanceof ObjectExistsError, String(error));
        assert.equal(error.key, 'once/key');
      }
      assert.deepEqual(await storedBytes(store, 'once/key'), original);
    });

    it('lets exactly one of concurrent write-once puts of a key win', async (t) => {
      const store = await fresh(t);
      const bodies = Array.from({ length: 5 }, (_, i) => Buffer.from(`writer ${i}`));
      const results = await Promise.allSettled(
        bodies.map((b) => store.put('race/key', b, { ifAbsent: true })),
      );
      const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
      assert.equal(won.length, 1, `winners: ${won.join(', ')}`);
      for (const r of results) if (r.status === 'rejected') assert.ok(r.reason instanceof ObjectExistsError);
      assert.deepEqual(await storedBytes(store, 'race/key'), bodies[won[0]!]);
    });

    it('replaces an object on a put without ifAbsent', async (t) => {
      const store = await fresh(t);
      await store.put('k', Buffer.from('first'));
      await store.put('k', Readable.from([Buffer.from('second, longer')]));
      assert.deepEqual(await storedBytes(store, 'k'), Buffer.from('second, longer'));
      assert.equal((await store.head('k'))?.size, 14);
    });

    it('lists the keys under a prefix in key order with their sizes', async (t) => {
      const store = await fresh(t);
      await putAll(store, layout);
      const listed = await entries(store, 'backups/');
      assert.deepEqual(
        listed.map((e) => (e.type === 'object' ? [e.key, e.size] : e.prefix)),
        [
          ['backups/a-2', 4],
          ['backups/a/1', 3],
          ['backups/a/2', 3],
          ['backups/b/x', 3],
          ['backups/top.json', 8],
        ],
      );
      assert.deepEqual(names(await entries(store, 'backups/a')), [
        'backups/a-2',
        'backups/a/1',
        'backups/a/2',
      ]);
    });

    it('lists each common prefix once, with the objects at that level, given a delimiter', async (t) => {
      const store = await fresh(t);
      await putAll(store, layout);
      assert.deepEqual(await entries(store, 'backups/', { delimiter: '/' }), [
        { type: 'object', key: 'backups/a-2', size: 4 },
        { type: 'prefix', prefix: 'backups/a/' },
        { type: 'prefix', prefix: 'backups/b/' },
        { type: 'object', key: 'backups/top.json', size: 8 },
      ]);
      assert.deepEqual(names(await entries(store, '', { delimiter: '/' })), [
        'backups/',
        'backupsX',
        'other/',
      ]);
      assert.deepEqual(names(await entries(store, 'backups/', { delimiter: '-' })), [
        'backups/a-',
        'backups/a/1',
        'backups/a/2',
        'backups/b/x',
        'backups/top.json',
      ]);
    });

    it('lists nothing under a prefix without keys, and nothing in an empty store', async (t) => {
      const store = await fresh(t);
      assert.deepEqual(await entries(store, ''), []);
      assert.deepEqual(await entries(store, '', { delimiter: '/' }), []);
      await store.put('backups/one', Buffer.from('1'));
      assert.deepEqual(await entries(store, 'restores/'), []);
      assert.deepEqual(await entries(store, 'backups/one/', { delimiter: '/' }), []);
    });

    it(`pages through ${manyKeys} keys, each listed once in order`, async (t) => {
      const store = await fresh(t);
      const keys = Array.from({ length: manyKeys }, (_, i) => `many/${String(i).padStart(5, '0')}`);
      const started = Date.now();
      await pool(keys, 32, (key) => store.put(key, Buffer.from(key)));
      const listed = await entries(store, 'many/');
      t.diagnostic(`put and listed ${manyKeys} keys in ${Date.now() - started} ms`);
      assert.deepEqual(names(listed), keys);
      assert.deepEqual(await entries(store, '', { delimiter: '/' }), [{ type: 'prefix', prefix: 'many/' }]);
    });

    it('deletes an object, and deletes a missing key without error', async (t) => {
      const store = await fresh(t);
      await store.put('d/one', Buffer.from('1'));
      await store.put('d/two', Buffer.from('2'));
      await store.delete('d/one');
      await store.delete('d/one');
      await store.delete('never/was');
      assert.equal(await store.head('d/one'), undefined);
      assert.deepEqual(names(await entries(store, '')), ['d/two']);
      await store.delete('d/two');
      assert.deepEqual(await entries(store, '', { delimiter: '/' }), []);
    });

    it('keeps keys with spaces, unicode and deep paths', async (t) => {
      const store = await fresh(t);
      const keys = [
        'name with spaces/file (1).txt',
        'données/été/résumé.json',
        'emoji/🎉 party.bin',
        'a/b/c/d/e/f/g/h/i/j/k/l/deep.txt',
        'symbols/plus+percent%25&amp=;semi,colon:at@.txt',
      ];
      for (const key of keys) await store.put(key, Buffer.from(key));
      for (const key of keys) assert.deepEqual(await storedBytes(store, key), Buffer.from(key));
      assert.deepEqual(names(await entries(store, '')), [...keys].sort(compareKeys));
      assert.deepEqual(names(await entries(store, 'données/', { delimiter: '/' })), ['données/été/']);
    });

    it('refuses invalid keys with InvalidKeyError naming the key, storing nothing', async (t) => {
      const store = await fresh(t);
      for (const key of ['../escape', 'a/../b', './a', '/absolute', 'a//b', 'trailing/', '']) {
        for (const call of [
          () => store.put(key, Buffer.from('x')),
          () => store.get(key),
          () => store.head(key),
          () => store.delete(key),
        ]) {
          const error = await rejection(call());
          assert.ok(error instanceof InvalidKeyError, `${JSON.stringify(key)}: ${String(error)}`);
          assert.equal(error.key, key);
          assert.ok(error.message.includes(JSON.stringify(key)), error.message);
        }
      }
      assert.deepEqual(await entries(store, ''), []);
    });

    it('rejects every operation given an aborted signal', async (t) => {
      const store = await fresh(t);
      await store.put('k', Buffer.from('v'));
      const signal = AbortSignal.abort();
      for (const call of [
        () => store.put('k2', Buffer.from('v'), { signal }),
        () => store.put('k3', Readable.from([Buffer.from('v')]), { signal }),
        () => store.get('k', { signal }),
        () => store.get('k', { signal, range: { offset: 0, length: 1 } }),
        () => store.head('k', { signal }),
        () => store.delete('k', { signal }),
        () => entries(store, '', { signal }),
      ]) {
        await assert.rejects(call(), { name: 'AbortError' });
      }
      assert.deepEqual(names(await entries(store, '')), ['k']);
    });

    it('stores nothing when a streamed put is aborted midway', async (t) => {
      const store = await fresh(t);
      const controller = new AbortController();
      const { stream, firstRead } = stalling(MiB);
      const putting = store.put('aborted/key', stream, { signal: controller.signal });
      await firstRead;
      await new Promise((done) => setTimeout(done, 100));
      controller.abort();
      await assert.rejects(putting, { name: 'AbortError' });
      assert.equal(await store.head('aborted/key'), undefined);
      assert.deepEqual(await entries(store, ''), []);
    });

    it('stores nothing when the body stream fails halfway', async (t) => {
      const store = await fresh(t);
      const failure = new Error('disk on fire');
      function* failing() {
        for (let i = 0; i < 9; i++) yield randomBytes(MiB);
        throw failure;
      }
      const error = await rejection(store.put('crashed/key', Readable.from(failing())));
      assert.ok(causes(error).includes(failure), `put failed with ${String(error)}`);
      assert.equal(await store.head('crashed/key'), undefined);
      assert.deepEqual(await entries(store, ''), []);
    });

    it('fails a put whose body is not contentLength bytes long, storing nothing', async (t) => {
      const store = await fresh(t);
      for (const body of [Buffer.from('four'), Readable.from([Buffer.from('four')])]) {
        const error = await rejection(store.put('sized', body, { contentLength: 5 }));
        assert.ok(
          causes(error).some((e) => e instanceof ContentLengthMismatchError),
          String(error),
        );
      }
      await store.put('sized', Readable.from([Buffer.from('fo'), Buffer.from('ur')]), { contentLength: 4 });
      assert.deepEqual(names(await entries(store, '')), ['sized']);
    });

    it('serves an object at a signed URL without credentials, where the store signs URLs', async (t) => {
      const store = await fresh(t);
      if (!store.signedUrl) {
        t.skip(`${store.description} has no signed URLs`);
        return;
      }
      await store.put('signed/file.txt', Buffer.from('hello'));
      const url = await store.signedUrl('signed/file.txt', { expiresInSeconds: 60 });
      const response = await fetch(url);
      assert.equal(response.status, 200);
      assert.equal(await response.text(), 'hello');
    });
  });
}

const layout: Record<string, string> = {
  'backups/a/1': 'one',
  'backups/a/2': 'two',
  'backups/a-2': 'dash',
  'backups/b/x': 'xxx',
  'backups/top.json': '{"a":1}\n',
  backupsX: 'sibling',
  'other/z': 'zzz',
};
/** A list entry without its time (checked to be a valid Date), to compare listings whole. */
type Listed = { type: 'object'; key: string; size: number } | { type: 'prefix'; prefix: string };

async function putAll(store: ObjectStore, objects: Record<string, string>): Promise<void> {
  for (const [key, value] of Object.entries(objects)) await store.put(key, Buffer.from(value));
}

async function entries(store: ObjectStore, prefix: string, options?: ListOptions): Promise<Listed[]> {
  const out: Listed[] = [];
  for await (const entry of store.list(prefix, options)) {
    if (entry.type === 'prefix') {
      out.push(entry);
      continue;
    }
    assert.ok(entry.lastModified instanceof Date && !Number.isNaN(entry.lastModified.getTime()), entry.key);
    out.push({ type: 'object', key: entry.key, size: entry.size });
  }
  return out;
}

function names(list: Listed[]): string[] {
  return list.map((e) => (e.type === 'object' ? e.key : e.prefix));
}

async function sha256(stream: Readable): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of stream) hash.update(chunk as Uint8Array);
  return hash.digest('hex');
}

/** A stream of `size` random bytes in 1 MiB chunks, and the SHA-256 of what it produced. */
function generated(size: number): { stream: Readable; digest: () => string } {
  const hash = createHash('sha256');
  function* chunks() {
    for (let left = size; left > 0; left -= MiB) {
      const chunk = randomBytes(Math.min(MiB, left));
      hash.update(chunk);
      yield chunk;
    }
  }
  return { stream: Readable.from(chunks()), digest: () => hash.digest('hex') };
}

/** A stream that gives `size` bytes, then waits forever; `firstRead` resolves once they were read. */
function stalling(size: number): { stream: Readable; firstRead: Promise<void> } {
  let notify = () => {};
  const firstRead = new Promise<void>((resolve) => (notify = resolve));
  let sent = false;
  const stream = new Readable({
    read() {
      if (sent) return;
      sent = true;
      this.push(randomBytes(size));
      notify();
    },
  });
  return { stream, firstRead };
}

/** The error and its causes. */
function causes(error: unknown): unknown[] {
  const out: unknown[] = [];
  for (let e = error; e !== undefined && out.length < 10; e = e instanceof Error ? e.cause : undefined)
    out.push(e);
  return out;
}

async function pool<T>(items: T[], width: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: width }, worker));
}

async function storedBytes(store: ObjectStore, key: string, range?: ByteRange): Promise<Buffer> {
  return buffer(await store.get(key, { range }));
}
