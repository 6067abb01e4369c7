// A golden repository restic 0.14 wrote (test/fixtures/repo/restic-0.14-v2: `restic init
// --repository-version 2`, then `restic backup --host fixture volume`; restic's key file replaced by
// one for the password "fixture" with cheap scrypt parameters, so the test runs fast). Cairn must go on
// reading it: config, index, snapshot, trees and data blobs, pack headers.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { LocalBackend, Repository, findKey, readPackHeader } from '../../src/repo/index.ts';

const root = join(import.meta.dirname, '..', 'fixtures', 'repo', 'restic-0.14-v2');

/** The files that were backed up, regenerated. */
function volume(): Map<string, Buffer> {
  const lines = Array.from({ length: 5000 }, (_, n) => `line ${n}\n`).join('');
  const chain: Buffer[] = [];
  let h = Buffer.from('cairn');
  while (chain.length * 32 < 65536) chain.push((h = createHash('sha256').update(h).digest()));
  return new Map([
    ['volume/hello.txt', Buffer.from('hello from restic 0.14\n')],
    ['volume/lines.txt', Buffer.from(lines)],
    ['volume/sub/blob.bin', Buffer.concat(chain).subarray(0, 65536)],
  ]);
}

interface Node {
  name: string;
  type: string;
  subtree?: string;
  content?: string[] | null;
}

describe('golden repository written by restic 0.14', () => {
  it('opens with its config and reads the snapshot, the trees and every file, verified', async () => {
    const repo = await Repository.open(new LocalBackend({ root }), { password: 'fixture' });
    assert.deepEqual(repo.config, {
      version: 2,
      id: '43da506050b10eb7ee69bd0f31e2bdac86808a59ca55869cb6094568bafe0c44',
      chunkerPolynomial: '27c9b007fb73b9',
    });
    const snapshot = (await repo.loadJson(
      'snapshots',
      '243d540e3e51e429bf2703458efbdeef74e2f73d375640b81a8f638834c2cb24',
    )) as { time: string; tree: string; hostname: string };
    assert.equal(snapshot.time, '2026-12-06T12:00:00Z');
    assert.equal(snapshot.hostname, 'fixture');

    const files = new Map<string, Buffer>();
    const walk = async (tree: string, path: string): Promise<void> => {
      const { nodes } = JSON.parse((await repo.loadBlob('tree', tree)).toString()) as { nodes: Node[] };
      for (const node of nodes) {
        const at = path ? `${path}/${node.name}` : node.name;
        if (node.type === 'dir' && node.subtree) await walk(node.subtree, at);
        if (node.type === 'file')
          files.set(
            at,
            Buffer.concat(await Promise.all((node.content ?? []).map((id) => repo.loadBlob('data', id)))),
          );
      }
    };
    await walk(snapshot.tree, '');
    assert.deepEqual(files, volume());
  });

  it('lists the same blobs in its pack headers as in its index, all compressed', async () => {
    const backend = new LocalBackend({ root });
    const repo = await Repository.open(backend, { password: 'fixture' });
    const { key } = await findKey(backend, 'fixture');
    const packs: string[] = [];
    for await (const { name } of repo.list('data')) packs.push(name);
    assert.equal(packs.length, 2);
    let blobs = 0;
    for (const pack of packs) {
      for (const blob of await readPackHeader(backend, key, pack)) {
        blobs++;
        assert.deepEqual(await repo.lookupBlob(blob.type, blob.id), [{ ...blob, pack }]);
        assert.ok(blob.uncompressedLength !== undefined, `${blob.type} blob ${blob.id} is compressed`);
      }
    }
    assert.equal(blobs, 6);
    assert.equal(repo.indexStats.blobs, 6);
  });
});
