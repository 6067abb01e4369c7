// The restorer's blob workers: as many as asked for, and `extra` more only while the main thread is idle
// (a probe the tests set, instead of the main thread's measured load). Real worker threads open real
// sealed blobs of a repository and write them into a real file.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { BlobWorkers, type RangeBlob } from '../../src/repo/blob-workers.ts';
import {
  MemoryBackend,
  Repository,
  polynomialToHex,
  randomPolynomial,
  sha256,
  type IndexEntry,
} from '../../src/repo/index.ts';

const BLOBS = 3;

/** A repository holding BLOBS blobs in one pack, and a file to write them into (each at its place). */
async function setup(t: TestContext) {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-blob-workers-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const repo = await Repository.init(new MemoryBackend(), {
    password: 'blob workers test',
    keyParams: { N: 1024, r: 8, p: 1 },
    polynomial: polynomialToHex(randomPolynomial((n) => randomBytes(n))),
  });
  const plaintexts = Array.from({ length: BLOBS }, () => randomBytes(1000));
  for (const plaintext of plaintexts) await repo.saveBlob('data', plaintext);
  await repo.flush();
  const entries: IndexEntry[] = [];
  for (const plaintext of plaintexts)
    entries.push((await repo.lookupBlob('data', sha256(plaintext)))[0] as IndexEntry);
  const path = join(dir, 'file');
  const fd = openSync(path, 'w');
  t.after(() => closeSync(fd));
  const pack = (entries[0] as IndexEntry).pack;
  assert.ok(
    entries.every((e) => e.pack === pack),
    'the blobs share a pack',
  );
  const start = Math.min(...entries.map((e) => e.offset));
  const end = Math.max(...entries.map((e) => e.offset + e.length));
  const blobs: RangeBlob[] = entries.map((entry, i) => ({
    type: 'data',
    id: sha256(plaintexts[i] as Buffer),
    pack,
    offset: entry.offset,
    at: entry.offset - start,
    length: entry.length,
    uncompressedLength: entry.uncompressedLength,
    writes: [fd, i * 1000],
  }));
  return {
    key: repo.blobSealing.key,
    /** The pack's range of the blobs, read afresh (a range given to a worker is transferred). */
    range: () => repo.loadPackRange(pack, start, end - start),
    blobs,
    written: () => readFileSync(path),
    expected: Buffer.concat(plaintexts),
  };
}

describe('the restorer’s blob workers', () => {
  it('start an extra worker while the main thread is idle, and write every blob', async (t) => {
    const { key, range, blobs, written, expected } = await setup(t);
    const workers = new BlobWorkers(1, key, { extra: 1, mainThreadIdle: () => true });
    t.after(() => workers.close());
    const ranges = await Promise.all([range(), range()]);
    const outcomes = await Promise.all(ranges.map((bytes) => workers.open(bytes, blobs, false)));
    assert.equal(workers.running, 2);
    for (const outcome of outcomes.flat()) assert.deepEqual(outcome, { ok: true, length: 1000, zero: false });
    assert.deepEqual(written(), expected);
  });

  it('start no extra worker while the main thread is busy', async (t) => {
    const { key, range, blobs, written, expected } = await setup(t);
    const workers = new BlobWorkers(1, key, { extra: 1, mainThreadIdle: () => false });
    t.after(() => workers.close());
    const ranges = await Promise.all([range(), range(), range()]);
    await Promise.all(ranges.map((bytes) => workers.open(bytes, blobs, false)));
    assert.equal(workers.running, 1);
    assert.deepEqual(written(), expected);
  });

  it('start exactly the count asked for when no extra one is allowed, however idle the main thread', async (t) => {
    const { key, range, blobs } = await setup(t);
    const workers = new BlobWorkers(2, key, { mainThreadIdle: () => true });
    t.after(() => workers.close());
    const ranges = await Promise.all([range(), range(), range(), range()]);
    await Promise.all(ranges.map((bytes) => workers.open(bytes, blobs, false)));
    assert.equal(workers.running, 2);
  });

  it('hand a lent range’s memory back whole once its blobs are written', async (t) => {
    const { key, range, blobs, written, expected } = await setup(t);
    const workers = new BlobWorkers(1, key);
    t.after(() => workers.close());
    const bytes = await range();
    const lent = Buffer.allocUnsafeSlow(64 * 1024);
    bytes.copy(lent);
    const returned: ArrayBuffer[] = [];
    const outcomes = await workers.open(lent.subarray(0, bytes.length), blobs, false, 'best-effort', (m) =>
      returned.push(m),
    );
    assert.deepEqual(
      outcomes.map((o) => o.ok),
      [true, true, true],
    );
    assert.deepEqual(written(), expected);
    assert.equal(lent.buffer.byteLength, 0, 'the memory moved to the worker');
    assert.equal(returned.length, 1);
    assert.equal(returned[0]?.byteLength, 64 * 1024, 'and came back whole');
    assert.deepEqual(Buffer.from(returned[0], 0, bytes.length), bytes, 'unchanged');
  });

  it('refuses an extra count that is not a whole number, naming it', () => {
    const key = undefined as never;
    assert.throws(() => new BlobWorkers(1, key, { extra: -1 }), /-1 extra blob workers/);
    assert.throws(() => new BlobWorkers(1, key, { extra: 0.5 }), /0\.5 extra blob workers/);
  });
});
