// The repository-backend conformance suite: every Backend (MemoryBackend, LocalBackend, and later the
// adapter over the object stores) runs these tests unchanged. `open` returns a fresh, empty backend.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it, type TestContext } from 'node:test';
import {
  FileExistsError,
  FileNotFoundError,
  InvalidHandleError,
  ShortFileError,
  type Backend,
  type FileInfo,
  type FileType,
} from '../../src/repo/index.ts';
import { rejection } from '../helpers/bytes.ts';

export type OpenBackend = (t: TestContext) => Promise<Backend>;

const id = (text: string) => createHash('sha256').update(text).digest('hex');

async function names(backend: Backend, type: Exclude<FileType, 'config'>): Promise<FileInfo[]> {
  const found: FileInfo[] = [];
  for await (const info of backend.list(type)) found.push(info);
  return found.sort((a, b) => a.name.localeCompare(b.name));
}

export function repoBackendConformance(name: string, open: OpenBackend): void {
  describe(name, () => {
    it('returns the bytes of a saved file of every type, and the config at its one place', async (t) => {
      const backend = await open(t);
      for (const type of ['keys', 'data', 'index', 'snapshots', 'locks'] as const) {
        const body = Buffer.from(`a ${type} file`);
        await backend.save({ type, name: id(type) }, body);
        assert.deepEqual(await backend.load({ type, name: id(type) }), body);
      }
      await backend.save({ type: 'config', name: '' }, Buffer.from('config bytes'));
      assert.deepEqual(await backend.load({ type: 'config', name: 'anything' }), Buffer.from('config bytes'));
    });

    it('reads a range of a file, and refuses a range past its end with ShortFileError', async (t) => {
      const backend = await open(t);
      const handle = { type: 'data', name: id('pack') } as const;
      await backend.save(handle, Buffer.from('0123456789'));
      assert.equal((await backend.load(handle, { offset: 3, length: 4 })).toString(), '3456');
      assert.equal((await backend.load(handle, { offset: 6 })).toString(), '6789');
      assert.equal((await backend.load(handle, { length: 2 })).toString(), '01');
      assert.equal((await backend.load(handle, { offset: 10, length: 0 })).length, 0);
      const error = await rejection(backend.load(handle, { offset: 8, length: 4 }));
      assert.ok(error instanceof ShortFileError, String(error));
    });

    it('fails to load a missing file with FileNotFoundError naming its path and the backend', async (t) => {
      const backend = await open(t);
      const error = await rejection(backend.load({ type: 'index', name: id('missing') }));
      assert.ok(error instanceof FileNotFoundError, String(error));
      assert.equal(error.path, `index/${id('missing')}`);
      assert.ok(error.message.includes(backend.description), error.message);
    });

    it('refuses to save a file that exists, keeping the original', async (t) => {
      const backend = await open(t);
      const handle = { type: 'snapshots', name: id('s') } as const;
      await backend.save(handle, Buffer.from('first'));
      const error = await rejection(backend.save(handle, Buffer.from('second')));
      assert.ok(error instanceof FileExistsError, String(error));
      assert.equal((await backend.load(handle)).toString(), 'first');
      await backend.save({ type: 'config', name: '' }, Buffer.from('c1'));
      assert.ok(
        (await rejection(backend.save({ type: 'config', name: '' }, Buffer.from('c2')))) instanceof
          FileExistsError,
      );
    });

    it('stores a copy: changing the saved or loaded buffer changes nothing stored', async (t) => {
      const backend = await open(t);
      const handle = { type: 'keys', name: id('k') } as const;
      const body = Buffer.from('original');
      await backend.save(handle, body);
      body.fill(0);
      const loaded = await backend.load(handle);
      loaded.fill(1);
      assert.equal((await backend.load(handle)).toString(), 'original');
    });

    it('lists the files of one type with their sizes, packs across their subdirectories', async (t) => {
      const backend = await open(t);
      const packs = ['00', '4f', 'ff'].map((prefix) => prefix + id(prefix).slice(2));
      for (const [i, pack] of packs.entries())
        await backend.save({ type: 'data', name: pack }, Buffer.alloc(i + 1));
      await backend.save({ type: 'index', name: id('index') }, Buffer.alloc(7));
      await backend.save({ type: 'config', name: '' }, Buffer.alloc(3));
      assert.deepEqual(
        await names(backend, 'data'),
        packs.map((name, i) => ({ name, size: i + 1 })),
      );
      assert.deepEqual(await names(backend, 'index'), [{ name: id('index'), size: 7 }]);
      assert.deepEqual(await names(backend, 'snapshots'), []);
      assert.deepEqual(await names(backend, 'locks'), []);
    });

    it('stats a present file with its size, and a missing one as undefined', async (t) => {
      const backend = await open(t);
      await backend.save({ type: 'locks', name: id('l') }, Buffer.alloc(42));
      assert.deepEqual(await backend.stat({ type: 'locks', name: id('l') }), { name: id('l'), size: 42 });
      assert.equal(await backend.stat({ type: 'locks', name: id('other') }), undefined);
      assert.equal(await backend.stat({ type: 'config', name: '' }), undefined);
    });

    it('removes a file, and removing a missing file is not an error', async (t) => {
      const backend = await open(t);
      const handle = { type: 'data', name: id('gone') } as const;
      await backend.save(handle, Buffer.from('x'));
      await backend.remove(handle);
      assert.equal(await backend.stat(handle), undefined);
      assert.deepEqual(await names(backend, 'data'), []);
      await backend.remove(handle);
      await backend.save(handle, Buffer.from('again'));
      assert.equal((await backend.load(handle)).toString(), 'again');
    });

    it('refuses names that are not file names', async (t) => {
      const backend = await open(t);
      for (const name of ['', '..', 'a/b', 'x\\y']) {
        const error = await rejection(backend.save({ type: 'index', name }, Buffer.from('x')));
        assert.ok(error instanceof InvalidHandleError, `${name}: ${String(error)}`);
      }
    });

    it('rejects calls whose signal has aborted, and writes nothing', async (t) => {
      const backend = await open(t);
      const stop = new AbortController();
      stop.abort(new Error('stopped'));
      const handle = { type: 'snapshots', name: id('aborted') } as const;
      await assert.rejects(backend.save(handle, Buffer.from('x'), { signal: stop.signal }), /stopped/);
      assert.equal(await backend.stat(handle), undefined);
      await assert.rejects(backend.load(handle, { signal: stop.signal }), /stopped/);
      await assert.rejects(listWithAbortedSignal(backend, stop.signal), /stopped/);
    });
  });
}

async function listWithAbortedSignal(backend: Backend, signal: AbortSignal): Promise<void> {
  await backend.save({ type: 'index', name: id('one') }, Buffer.from('x'));
  for await (const _ of backend.list('index', { signal })) {
    // the listing must not get here
  }
}
