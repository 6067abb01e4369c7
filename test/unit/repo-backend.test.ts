// The repository backends run the conformance suite: MemoryBackend, and LocalBackend in a temporary
// directory. LocalBackend's own promises (restic's paths and modes, temporary files) follow.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { LocalBackend, MemoryBackend } from '../../src/repo/index.ts';
import { repoBackendConformance } from '../conformance/repo-backend.ts';

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-repo-backend-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

repoBackendConformance('MemoryBackend', () => Promise.resolve(new MemoryBackend()));
repoBackendConformance(
  'LocalBackend',
  async (t) => new LocalBackend({ root: join(await tempDir(t), 'repo') }),
);

describe('LocalBackend', () => {
  const pack = '4f3a' + 'ab'.repeat(30);

  it('lays files out as restic does, read-only, in private directories', async (t) => {
    const root = join(await tempDir(t), 'repo');
    const backend = new LocalBackend({ root });
    await backend.save({ type: 'config', name: '' }, Buffer.from('c'));
    await backend.save({ type: 'data', name: pack }, Buffer.from('p'));
    await backend.save({ type: 'snapshots', name: pack }, Buffer.from('s'));
    assert.equal((await stat(join(root, 'config'))).mode & 0o777, 0o400);
    assert.equal((await stat(join(root, 'data', '4f', pack))).mode & 0o777, 0o400);
    assert.equal((await stat(join(root, 'snapshots', pack))).mode & 0o777, 0o400);
    assert.equal((await stat(join(root, 'data', '4f'))).mode & 0o777, 0o700);
    assert.deepEqual(await readdir(join(root, 'data', '4f')), [pack]);
  });

  it('creates the directories of an empty repository: data/00 to data/ff and the others', async (t) => {
    const root = join(await tempDir(t), 'repo');
    await new LocalBackend({ root }).create();
    assert.deepEqual((await readdir(root)).sort(), ['data', 'index', 'keys', 'locks', 'snapshots']);
    const data = await readdir(join(root, 'data'));
    assert.equal(data.length, 256);
    assert.ok(data.includes('00') && data.includes('ff'));
  });

  it('leaves no temporary file behind, and does not list one left by a crash', async (t) => {
    const root = join(await tempDir(t), 'repo');
    const backend = new LocalBackend({ root });
    await backend.save({ type: 'index', name: pack }, Buffer.from('i'));
    assert.deepEqual(await readdir(join(root, 'index')), [pack]);
    const crashed = new LocalBackend({ root });
    await crashed.save({ type: 'index', name: `${pack}-tmp-0123` }, Buffer.from('partial')).catch(() => {});
    const listed: string[] = [];
    for await (const info of backend.list('index')) listed.push(info.name);
    assert.deepEqual(listed, [pack]);
  });
});
