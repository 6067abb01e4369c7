// The reference stores run the conformance suite: memory, the filesystem in a temporary directory,
// withPrefix and withRetry over memory, and withTimeouts over the filesystem. The filesystem store's own
// promises (paths, temporary files) follow.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, it, type TestContext } from 'node:test';
import {
  FilesystemStore,
  InvalidKeyError,
  MemoryStore,
  withPrefix,
  withRetry,
  withTimeouts,
} from '../../src/storage/index.ts';
import { objectStoreConformance } from '../conformance/object-store.ts';

async function tempRoot(): Promise<{ root: string; cleanup: () => Promise<void> }> {
  const root = await mkdtemp(join(tmpdir(), 'cairn-store-'));
  return { root, cleanup: () => rm(root, { recursive: true, force: true }) };
}

objectStoreConformance('MemoryStore', () =>
  Promise.resolve({ store: new MemoryStore(), cleanup: async () => {} }),
);

objectStoreConformance('FilesystemStore', async () => {
  const { root, cleanup } = await tempRoot();
  return { store: new FilesystemStore({ root: join(root, 'store') }), cleanup };
});

objectStoreConformance('withPrefix over MemoryStore', async () => {
  const memory = new MemoryStore();
  // A neighbour outside the prefix must never show through.
  await memory.put('velero-other/backups/x', Buffer.from('not ours'));
  return { store: withPrefix(memory, '/velero/'), cleanup: async () => {} };
});

objectStoreConformance('withRetry over MemoryStore', () =>
  Promise.resolve({
    store: withRetry(new MemoryStore(), { attempts: 3, baseDelayMs: 1, maxDelayMs: 1 }),
    cleanup: async () => {},
  }),
);

// Timeouts far longer than any call here: the wrapper must change nothing of the contract.
objectStoreConformance('withTimeouts over FilesystemStore', async () => {
  const { root, cleanup } = await tempRoot();
  const store = new FilesystemStore({ root: join(root, 'store') });
  return { store: withTimeouts(store, { location: 'fs', requestMs: 60_000, idleMs: 60_000 }), cleanup };
});

describe('FilesystemStore on disk', () => {
  async function fresh(t: TestContext) {
    const { root, cleanup } = await tempRoot();
    t.after(cleanup);
    return { root, store: new FilesystemStore({ root }) };
  }

  it('keeps key a/b/c as the file <root>/a/b/c', async (t) => {
    const { root, store } = await fresh(t);
    await store.put('backups/nightly/velero-backup.json', Buffer.from('{}'));
    assert.equal((await stat(join(root, 'backups', 'nightly', 'velero-backup.json'))).size, 2);
  });

  it('keeps its objects private: files 0600 and the directories it makes 0700, buffers and streams alike', async (t) => {
    const { root } = await fresh(t);
    const store = new FilesystemStore({ root: join(root, 'location') });
    await store.put('backups/nightly/nightly.tar.gz', Readable.from([Buffer.from('archive')]));
    await store.put('backups/nightly/velero-backup.json', Buffer.from('{}'), { ifAbsent: true });
    await store.put('restores/r/restore-r-logs.gz', Buffer.from('log'));
    const mode = async (...path: string[]) =>
      ((await stat(join(root, 'location', ...path))).mode & 0o777).toString(8);
    assert.equal(await mode('backups', 'nightly', 'nightly.tar.gz'), '600');
    assert.equal(await mode('backups', 'nightly', 'velero-backup.json'), '600');
    assert.equal(await mode('restores', 'r', 'restore-r-logs.gz'), '600');
    for (const dir of [[], ['backups'], ['backups', 'nightly'], ['restores', 'r'], ['.tmp']])
      assert.equal(await mode(...dir), '700', `${dir.join('/') || 'the root'} is 0700`);
  });

  it('refuses a key with ".." naming the key, and writes nothing outside the root', async (t) => {
    const { root, store } = await fresh(t);
    await assert.rejects(store.put('backups/../../escape', Buffer.from('x')), (error: unknown) => {
      assert.ok(error instanceof InvalidKeyError);
      assert.match(error.message, /"backups\/\.\.\/\.\.\/escape"/);
      return true;
    });
    assert.deepEqual(await readdir(join(root, '..')).then((names) => names.includes('escape')), false);
  });

  it('reserves .tmp for temporary files and never lists it', async (t) => {
    const { root, store } = await fresh(t);
    await store.put('a', Buffer.from('1'));
    await writeFile(join(root, '.tmp', 'stray'), 'left by a crash');
    await assert.rejects(store.put('.tmp/x', Buffer.from('1')), InvalidKeyError);
    const keys: string[] = [];
    for await (const e of store.list('')) if (e.type === 'object') keys.push(e.key);
    assert.deepEqual(keys, ['a']);
  });

  it('leaves no object and no temporary file after a put whose stream fails halfway', async (t) => {
    const { root, store } = await fresh(t);
    function* failing() {
      yield Buffer.alloc(64 * 1024, 1);
      throw new Error('crash');
    }
    await assert.rejects(store.put('half/written', Readable.from(failing())), /crash/);
    assert.equal(await store.head('half/written'), undefined);
    assert.deepEqual(await readdir(join(root, '.tmp')), []);
  });

  it('removes directories a delete leaves empty', async (t) => {
    const { root, store } = await fresh(t);
    await store.put('backups/nightly/one', Buffer.from('1'));
    await store.put('backups/keep', Buffer.from('1'));
    await store.delete('backups/nightly/one');
    assert.deepEqual((await readdir(join(root, 'backups'))).sort(), ['keep']);
  });

  it('refuses a key that is a directory of other keys, or below an object', async (t) => {
    const { store } = await fresh(t);
    await store.put('dir/child', Buffer.from('1'));
    await assert.rejects(store.put('dir', Buffer.from('1')), InvalidKeyError);
    await assert.rejects(store.put('dir/child/below', Buffer.from('1')), InvalidKeyError);
    await assert.rejects(store.put('dir', Buffer.from('1'), { ifAbsent: true }), InvalidKeyError);
  });
});
