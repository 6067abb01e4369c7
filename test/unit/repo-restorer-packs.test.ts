// The restorer's pack-wise reads: each pack read once per batch for all the blobs needed from it, a blob
// written to every place that holds it, a failed blob failing every file that needs it, and the bytes of
// pack data in flight kept under the cap.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it, type TestContext } from 'node:test';
import {
  MemoryBackend,
  Repository,
  encodeTree,
  polynomialToHex,
  randomPolynomial,
  restoreSnapshot,
  sha256,
  type Backend,
  type FileInfo,
  type FileType,
  type Handle,
  type LoadOptions,
  type Node,
} from '../../src/repo/index.ts';

const repoOptions = {
  password: 'restorer test',
  keyParams: { N: 1024, r: 8, p: 1 },
  packSize: 1024 * 1024,
};

/** A Backend that counts the reads of pack files and the bytes they ask for at once. */
class CountingBackend implements Backend {
  readonly description = 'counting memory';
  readonly inner = new MemoryBackend();
  /** Reads of pack files: pack, offset, length. */
  readonly loads: { name: string; offset: number; length: number }[] = [];
  inFlight = 0;
  peakInFlight = 0;
  delayMs = 0;

  save(handle: Handle, bytes: Buffer, options?: { signal?: AbortSignal | undefined }): Promise<void> {
    return this.inner.save(handle, bytes, options);
  }
  async load(handle: Handle, options?: LoadOptions): Promise<Buffer> {
    if (handle.type !== 'data') return this.inner.load(handle, options);
    const offset = options?.offset ?? 0;
    const length = options?.length ?? ((await this.inner.stat(handle))?.size ?? 0) - offset;
    this.loads.push({ name: handle.name, offset, length });
    this.inFlight += length;
    this.peakInFlight = Math.max(this.peakInFlight, this.inFlight);
    try {
      if (this.delayMs > 0) await sleep(this.delayMs);
      return await this.inner.load(handle, options);
    } finally {
      this.inFlight -= length;
    }
  }
  stat(handle: Handle, options?: { signal?: AbortSignal | undefined }): Promise<FileInfo | undefined> {
    return this.inner.stat(handle, options);
  }
  list(type: Exclude<FileType, 'config'>, options?: { signal?: AbortSignal | undefined }) {
    return this.inner.list(type, options);
  }
  remove(handle: Handle, options?: { signal?: AbortSignal | undefined }): Promise<void> {
    return this.inner.remove(handle, options);
  }
}

async function scratch(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-restorer-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function newRepo(backend = new CountingBackend()) {
  const polynomial = polynomialToHex(randomPolynomial((n) => randomBytes(n)));
  const repo = await Repository.init(backend, { ...repoOptions, polynomial });
  return { backend, repo };
}

const time = { unixNano: 1_700_000_000_000_000_000n, utcOffsetMinutes: 0 };

function fileNode(name: string, content: string[], size: number): Node {
  return {
    name,
    type: 'file',
    mode: 0o644,
    mtime: time,
    atime: time,
    ctime: time,
    uid: process.getuid?.() ?? 0,
    gid: process.getgid?.() ?? 0,
    size,
    content,
  };
}

function dirNode(name: string, subtree: string): Node {
  return { ...fileNode(name, [], 0), type: 'dir', mode: (0o755 | 0x80000000) >>> 0, content: null, subtree };
}

/** Saves `files` (name → blobs) as a tree; returns its id. */
async function saveTree(repo: Repository, files: Record<string, Buffer[]>): Promise<string> {
  const nodes: Node[] = [];
  for (const name of Object.keys(files).sort()) {
    const blobs = files[name] as Buffer[];
    const ids = [];
    for (const blob of blobs) ids.push((await repo.saveBlob('data', blob)).id);
    nodes.push(
      fileNode(
        name,
        ids,
        blobs.reduce((n, b) => n + b.length, 0),
      ),
    );
  }
  return (await repo.saveBlob('tree', encodeTree(nodes))).id;
}

async function packsOf(repo: Repository, blobs: Buffer[]): Promise<Set<string>> {
  const packs = new Set<string>();
  for (const blob of blobs) for (const e of await repo.lookupBlob('data', sha256(blob))) packs.add(e.pack);
  return packs;
}

describe('the restorer’s pack-wise reads', () => {
  it('write a blob shared by several files, and repeated within one, to every place, reading its pack once', async (t) => {
    const work = await scratch(t);
    const { backend, repo } = await newRepo();
    const a = randomBytes(3000);
    const b = Buffer.from('b'.repeat(5000));
    const zero = Buffer.alloc(4096);
    const files = {
      aba: [a, b, a],
      ba: [b, a],
      a: [a],
      holes: [a, zero, a, zero],
      empty: [],
    };
    const tree = await saveTree(repo, files);
    await repo.flush();
    const packs = await packsOf(repo, [a, b, zero]);
    backend.loads.length = 0;

    // Blobs verified and written by worker threads, and on the main thread: the same files.
    for (const workers of [2, 0]) {
      backend.loads.length = 0;
      const target = join(work, `restored-${workers}`);
      const restored = await restoreSnapshot(repo, { treeId: tree, target, workers });
      assert.deepEqual(restored.problems, []);
      assert.equal(restored.stats.files, 5);
      for (const [name, blobs] of Object.entries(files))
        assert.deepEqual(await readFile(join(target, name)), Buffer.concat(blobs), name);
      const dataLoads = backend.loads.filter((load) => packs.has(load.name));
      assert.equal(dataLoads.length, packs.size, 'each pack of data is read once');
      assert.equal(restored.stats.sparseBytes, 2 * 4096);
      assert.equal(restored.stats.bytesWritten, 3000 * 2 + 5000 + 5000 + 3000 + 3000 + 2 * 3000);
      const holes = await stat(join(target, 'holes'));
      assert.equal(holes.size, 2 * 3000 + 2 * 4096);
    }
  });

  it('read the bytes of a pack once for the many small files in it, in ranges of at most 64 blobs', async (t) => {
    const work = await scratch(t);
    const { backend, repo } = await newRepo();
    const contents: Buffer[] = [];
    const dirs: Node[] = [];
    for (const dir of ['one', 'two']) {
      const files: Record<string, Buffer[]> = {};
      for (let i = 0; i < 150; i++) {
        const content = randomBytes(1000 + i * 7);
        contents.push(content);
        files[`file-${i}`] = [content];
      }
      dirs.push(dirNode(dir, await saveTree(repo, files)));
    }
    const root = (await repo.saveBlob('tree', encodeTree(dirs))).id;
    await repo.flush();
    const packs = await packsOf(repo, contents);
    backend.loads.length = 0;

    const target = join(work, 'restored');
    const restored = await restoreSnapshot(repo, { treeId: root, target });
    assert.deepEqual(restored.problems, []);
    assert.equal(restored.stats.files, 300);
    assert.equal(restored.stats.dirs, 2);
    let n = 0;
    for (const dir of ['one', 'two'])
      for (let i = 0; i < 150; i++)
        assert.deepEqual(await readFile(join(target, dir, `file-${i}`)), contents[n++]);
    const dataLoads = backend.loads.filter((load) => packs.has(load.name));
    // Ranges of at most 64 blobs (so that reading, writing and finishing files overlap), none read twice.
    assert.ok(dataLoads.length >= Math.ceil(300 / 64), `${dataLoads.length} reads`);
    assert.ok(dataLoads.length <= packs.size + Math.ceil(300 / 64), `${dataLoads.length} reads`);
    for (const pack of packs) {
      const reads = dataLoads.filter((load) => load.name === pack).sort((a, b) => a.offset - b.offset);
      for (let i = 1; i < reads.length; i++) {
        const before = reads[i - 1] as { offset: number; length: number };
        assert.ok(before.offset + before.length <= (reads[i] as { offset: number }).offset, 'no byte twice');
      }
    }
  });

  it('fail every file that needs a corrupted shared blob, and leave none of them under its name', async (t) => {
    const work = await scratch(t);
    const { backend, repo } = await newRepo();
    const shared = randomBytes(6000);
    const good = randomBytes(2000);
    const tree = await saveTree(repo, {
      first: [shared],
      second: [good, shared],
      third: [shared, good, shared],
      fine: [good],
    });
    await repo.flush();
    const [where] = await repo.lookupBlob('data', sha256(shared));
    assert.ok(where);
    const handle = { type: 'data', name: where.pack } as const;
    const pack = await backend.inner.load(handle);
    pack.writeUInt8(pack.readUInt8(where.offset + 40) ^ 0x01, where.offset + 40);
    await backend.inner.remove(handle);
    await backend.inner.save(handle, pack);

    const reopened = await Repository.open(backend, repoOptions);
    for (const workers of [2, 0]) {
      const target = join(work, `restored-${workers}`);
      const restored = await restoreSnapshot(reopened, { treeId: tree, target, workers });
      assert.deepEqual(restored.problems.map((p) => p.path).sort(), ['first', 'second', 'third']);
      for (const problem of restored.problems) assert.match(problem.reason, new RegExp(sha256(shared)));
      assert.deepEqual(await readdir(target), ['fine'], 'no failed file under its name, no temporary file');
      assert.deepEqual(await readFile(join(target, 'fine')), good);
      assert.equal(restored.stats.files, 1);
    }
  });

  it('keep the bytes of pack data in flight within maxPackBytes', async (t) => {
    const work = await scratch(t);
    const { backend, repo } = await newRepo();
    const files: Record<string, Buffer[]> = {};
    for (let i = 0; i < 12; i++) files[`file-${i}`] = [randomBytes(200 * 1024)];
    const tree = await saveTree(repo, files);
    await repo.flush();
    backend.loads.length = 0;
    backend.delayMs = 10;

    const cap = 450 * 1024;
    const target = join(work, 'restored');
    const restored = await restoreSnapshot(repo, { treeId: tree, target, maxPackBytes: cap, concurrency: 8 });
    assert.deepEqual(restored.problems, []);
    for (const [name, blobs] of Object.entries(files))
      assert.deepEqual(await readFile(join(target, name)), Buffer.concat(blobs), name);
    assert.ok(backend.peakInFlight <= cap, `peak ${backend.peakInFlight} bytes in flight, cap ${cap}`);
    assert.ok(backend.peakInFlight > 200 * 1024, 'more than one range was read at once');
    for (const load of backend.loads) assert.ok(load.length <= cap);
    const dataLoads = backend.loads.filter((load) => load.length > 100 * 1024);
    assert.ok(dataLoads.length >= 6, `${dataLoads.length} reads of data: the cap splits the packs`);
  });
});
