// The Repository on the in-memory backend: dedup, packs, index files, reopening, JSON files, upload
// backpressure, and the errors a user sees when files are missing or damaged.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { zstdDecompressSync } from 'node:zlib';
import {
  BlobNotFoundError,
  ConfigError,
  IndexFileError,
  MacError,
  MemoryBackend,
  Repository,
  RepositoryFailedError,
  decrypt,
  encrypt,
  findKey,
  type Backend,
  type FileInfo,
  type FileType,
  type RepositoryOptions,
} from '../../src/repo/index.ts';
import { flip, rejection } from '../helpers/bytes.ts';
import { wrapBackend } from '../helpers/repo-backend.ts';

const KiB = 1024;
const polynomial = '3da3358b4dc173';
const keyParams = { N: 1024, r: 8, p: 1 };

async function fresh(options: RepositoryOptions & { backend?: Backend } = {}) {
  const backend = options.backend ?? new MemoryBackend({ description: 'memory:repo-test' });
  const repo = await Repository.init(backend, {
    password: 'pw',
    polynomial,
    keyParams,
    packSize: 64 * KiB,
    ...options,
  });
  return { backend, repo };
}

async function listed(backend: Backend, type: Exclude<FileType, 'config'>): Promise<FileInfo[]> {
  const files: FileInfo[] = [];
  for await (const info of backend.list(type)) files.push(info);
  return files;
}

/** Compressible, distinct blobs of about `size` bytes. */
const blob = (n: number, size = 10 * KiB) => Buffer.from(`blob ${n} `.repeat(size).slice(0, size));
const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');

describe('Repository', () => {
  it('saves a blob once: saving the same bytes again is known, also while its pack is still open', async () => {
    const { repo } = await fresh();
    const first = await repo.saveBlob('data', blob(1));
    assert.deepEqual({ id: first.id, known: first.known }, { id: sha(blob(1)), known: false });
    assert.ok(first.storedBytes > 0 && first.storedBytes < 10 * KiB, `compressed: ${first.storedBytes}`);
    assert.deepEqual(await repo.saveBlob('data', blob(1)), { id: first.id, known: true, storedBytes: 0 });
    await repo.flush();
    assert.deepEqual(await repo.saveBlob('data', blob(1)), { id: first.id, known: true, storedBytes: 0 });
    assert.equal((await repo.saveBlob('tree', blob(1))).known, false, 'a tree blob is another blob');
    assert.deepEqual({ saved: repo.stats.blobsSaved, known: repo.stats.blobsKnown }, { saved: 2, known: 2 });
  });

  it('loads what it saved after flush, from packs near the target size, data and tree in separate packs', async () => {
    const { backend, repo } = await fresh({ compression: false });
    const ids = [];
    for (let n = 0; n < 20; n++) ids.push((await repo.saveBlob('data', blob(n))).id);
    const tree = await repo.saveBlob('tree', Buffer.from('{"nodes":[]}\n'));
    await repo.flush();
    for (const [n, id] of ids.entries()) assert.deepEqual(await repo.loadBlob('data', id), blob(n));
    assert.equal((await repo.loadBlob('tree', tree.id)).toString(), '{"nodes":[]}\n');
    // 20 blobs of 10 KiB in packs closed at 64 KiB: 7 + 7 + 6 blobs; and one pack for the tree.
    const sizes = (await listed(backend, 'data')).map((p) => p.size).sort((a, b) => a - b);
    assert.equal(sizes.length, 4, JSON.stringify(sizes));
    assert.ok(
      (sizes[0] ?? 0) < 1 * KiB && (sizes[1] ?? 0) < 64 * KiB && (sizes[2] ?? 0) >= 64 * KiB,
      JSON.stringify(sizes),
    );
    const treePacks = new Set((await repo.lookupBlob('tree', tree.id)).map((e) => e.pack));
    const dataPacks = new Set<string>();
    for (const id of ids) for (const e of await repo.lookupBlob('data', id)) dataPacks.add(e.pack);
    assert.deepEqual(
      [...treePacks].filter((p) => dataPacks.has(p)),
      [],
    );
    assert.equal((await listed(backend, 'index')).length, 1);
  });

  it('reopened, reads the index files and finds every blob; saving them again stores nothing', async () => {
    const { backend, repo } = await fresh();
    const ids = [];
    for (let n = 0; n < 10; n++) ids.push((await repo.saveBlob('data', blob(n))).id);
    await repo.close();
    const reopened = await Repository.open(backend, { password: 'pw' });
    for (const [n, id] of ids.entries()) assert.deepEqual(await reopened.loadBlob('data', id), blob(n));
    for (let n = 0; n < 10; n++) assert.equal((await reopened.saveBlob('data', blob(n))).known, true);
    assert.equal(reopened.indexStats.blobs, 10);
    assert.equal(reopened.indexStats.indexFiles, 1);
  });

  it('compresses data blobs by default, not when asked not to; tree blobs always', async () => {
    const { repo } = await fresh();
    const compressed = await repo.saveBlob('data', blob(1));
    const plain = await repo.saveBlob('data', blob(2), { compress: false });
    const tree = await repo.saveBlob('tree', blob(3));
    await repo.flush();
    assert.equal((await repo.lookupBlob('data', compressed.id))[0]?.uncompressedLength, 10 * KiB);
    assert.equal((await repo.lookupBlob('data', plain.id))[0]?.uncompressedLength, undefined);
    assert.equal(plain.storedBytes, 10 * KiB + 32);
    assert.equal((await repo.lookupBlob('tree', tree.id))[0]?.uncompressedLength, 10 * KiB);
  });

  it('writes an index file every indexMaxBlobs blobs, and the rest at flush', async () => {
    const { backend, repo } = await fresh({ indexMaxBlobs: 12, compression: false });
    for (let n = 0; n < 30; n++) await repo.saveBlob('data', blob(n));
    await repo.flush();
    // Packs of 7 blobs (10 KiB each in 64 KiB packs), and a last one of 2. A file is full, as restic's,
    // once it holds 12 blobs or more (a pack's blobs stay in one file): which packs share a file depends
    // on the order their uploads end (7+7, or 7+2+7 when the last, small pack ends first), so the files
    // are checked for that rule, not counted.
    const files = await listed(backend, 'index');
    assert.equal(repo.stats.indexFilesWritten, files.length);
    const sizes: number[] = [];
    for (const file of files) {
      const index = (await repo.loadJson('index', file.name)) as { packs: { blobs: unknown[] }[] };
      sizes.push(index.packs.reduce((n, pack) => n + pack.blobs.length, 0));
    }
    assert.equal(
      sizes.reduce((a, b) => a + b, 0),
      30,
      `every blob is in one index file: ${sizes.join()}`,
    );
    assert.ok(sizes.filter((n) => n < 12).length <= 1, `at most the last file is not full: ${sizes.join()}`);
    assert.ok(
      sizes.every((n) => n < 12 + 7),
      `a file is closed once full: ${sizes.join()}`,
    );
    assert.ok(files.length >= 2, `30 blobs need at least two files: ${sizes.join()}`);
  });

  it('names an index file that is listed but cannot be loaded, when a blob is looked up', async () => {
    const { backend, repo } = await fresh();
    const saved = await repo.saveBlob('data', blob(1));
    await repo.close();
    const phantom = 'ee'.repeat(32);
    const listsPhantom = wrapBackend(backend, {
      list: async function* (type, options) {
        yield* backend.list(type, options);
        if (type === 'index') yield { name: phantom, size: 100 };
      },
    });
    const reopened = await Repository.open(listsPhantom, { password: 'pw' });
    const error = await rejection(reopened.loadBlob('data', saved.id));
    assert.ok(error instanceof IndexFileError, String(error));
    assert.match(
      error.message,
      new RegExp(
        `^cannot load index file index/${phantom} of memory:repo-test: file index/${phantom} not found`,
      ),
    );
  });

  it('says which blob is not in the index when the index file that listed it is gone', async () => {
    const { backend, repo } = await fresh();
    const saved = await repo.saveBlob('data', blob(1));
    await repo.close();
    for (const { name } of await listed(backend, 'index')) await backend.remove({ type: 'index', name });
    const reopened = await Repository.open(backend, { password: 'pw' });
    const error = await rejection(reopened.loadBlob('data', saved.id));
    assert.ok(error instanceof BlobNotFoundError, String(error));
    assert.equal(
      error.message,
      `data blob ${saved.id} is not in the index of memory:repo-test (0 index files loaded)`,
    );
  });

  it('fails to load a blob from a pack with a flipped byte, naming the pack, returning no plaintext', async () => {
    const { backend, repo } = await fresh();
    const saved = await repo.saveBlob('data', blob(1));
    await repo.flush();
    const [entry] = await repo.lookupBlob('data', saved.id);
    assert.ok(entry);
    const handle = { type: 'data', name: entry.pack } as const;
    const bytes = await backend.load(handle);
    await backend.remove(handle);
    await backend.save(handle, flip(bytes, entry.offset + 40));
    const error = await rejection(repo.loadBlob('data', saved.id));
    assert.ok(error instanceof MacError, String(error));
    assert.match(error.message, new RegExp(`in pack data/${entry.pack.slice(0, 2)}/${entry.pack}`));
  });

  it('stores JSON files as 0x02 || zstd under the master key, named by their hash, and reads plain JSON too', async () => {
    const { backend, repo } = await fresh();
    const snapshot = {
      time: '2026-12-06T12:00:00Z',
      tree: 'ab'.repeat(32),
      paths: ['/data'],
      hostname: 'node-a',
    };
    const id = await repo.saveJson('snapshots', snapshot);
    assert.deepEqual(await repo.loadJson('snapshots', id), snapshot);
    const stored = await backend.load({ type: 'snapshots', name: id });
    assert.equal(sha(stored), id);
    const { key } = await findKey(backend, 'pw');
    const plaintext = decrypt(key, stored, 'snapshot');
    assert.equal(plaintext[0], 2);
    assert.deepEqual(JSON.parse(zstdDecompressSync(plaintext.subarray(1)).toString()), snapshot);

    const v1Style = encrypt(key, Buffer.from(JSON.stringify({ written: 'by restic 0.9' })));
    await backend.save({ type: 'snapshots', name: sha(v1Style) }, v1Style);
    assert.deepEqual(await repo.loadJson('snapshots', sha(v1Style)), { written: 'by restic 0.9' });
  });

  it('refuses to init where a repository exists, and to open where there is none', async () => {
    const { backend } = await fresh();
    const exists = await rejection(Repository.init(backend, { password: 'pw', polynomial, keyParams }));
    assert.ok(
      exists instanceof ConfigError && exists.message.includes('a repository exists here already'),
      String(exists),
    );
    const none = await rejection(
      Repository.open(new MemoryBackend({ description: 'memory:empty' }), { password: 'pw' }),
    );
    assert.ok(none instanceof ConfigError, String(none));
    assert.equal(none.message, 'repository memory:empty: there is no repository here (no config)');
  });

  it('uploads at most uploadConcurrency packs at once, and makes savers wait when packs pile up', async () => {
    const memory = new MemoryBackend();
    const gates: (() => void)[] = [];
    let running = 0;
    let most = 0;
    const slow = wrapBackend(memory, {
      save: async (handle, bytes, options) => {
        if (handle.type === 'data') {
          running++;
          most = Math.max(most, running);
          await new Promise<void>((resolve) => gates.push(resolve));
          running--;
        }
        return memory.save(handle, bytes, options);
      },
    });
    const { repo } = await fresh({
      backend: slow,
      compression: false,
      uploadConcurrency: 2,
      maxPendingPacks: 3,
    });
    let saved = 0;
    const saving = (async () => {
      for (let n = 0; n < 40; n++) {
        await repo.saveBlob('data', randomBytes(20 * KiB));
        saved++;
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(most, 2);
    assert.ok(saved < 20, `saveBlob waits for uploads: ${saved} saved while none could finish`);
    while (saved < 40) {
      gates.shift()?.();
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await saving;
    const flushing = repo.flush();
    while (gates.length > 0 || running > 0) {
      gates.shift()?.();
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await flushing;
    assert.equal(most, 2);
    assert.equal(repo.stats.packsUploaded, 10); // 4 blobs of 20 KiB fill a 64 KiB pack
  });

  it('fails for good after a pack upload fails: later saves and flush say why', async () => {
    const memory = new MemoryBackend();
    const failing = wrapBackend(memory, {
      save: (handle, bytes, options) =>
        handle.type === 'data' ? Promise.reject(new Error('disk full')) : memory.save(handle, bytes, options),
    });
    const { repo } = await fresh({ backend: failing, compression: false });
    for (let n = 0; n < 7; n++) await repo.saveBlob('data', blob(n)).catch(() => {});
    const error = await rejection(repo.flush());
    assert.ok(error instanceof RepositoryFailedError, String(error));
    assert.match(error.message, /^writing to memory failed earlier: disk full/);
    assert.ok((await rejection(repo.saveBlob('data', blob(99)))) instanceof RepositoryFailedError);
  });
});
