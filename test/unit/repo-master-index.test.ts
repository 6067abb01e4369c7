// The master index: blob locations by (type, id), merged from index files, compact for many blobs; and
// the index file JSON it is loaded from and written as.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  CorruptDataError,
  MasterIndex,
  indexFileJson,
  parseIndexFile,
  type PackBlob,
} from '../../src/repo/index.ts';

const id = (n: number | string) => createHash('sha256').update(String(n)).digest('hex');

describe('repository master index', () => {
  it('finds a blob by type and id, with its pack, offset, lengths', () => {
    const index = new MasterIndex();
    index.addPack(id('pack-1'), [
      { type: 'data', id: id(1), offset: 0, length: 100 },
      { type: 'data', id: id(2), offset: 100, length: 60, uncompressedLength: 400 },
    ]);
    index.addPack(id('pack-2'), [
      { type: 'tree', id: id(3), offset: 0, length: 80, uncompressedLength: 200 },
    ]);
    assert.deepEqual(index.lookup('data', id(2)), [
      { type: 'data', id: id(2), pack: id('pack-1'), offset: 100, length: 60, uncompressedLength: 400 },
    ]);
    assert.deepEqual(index.lookup('data', id(1))[0]?.uncompressedLength, undefined);
    assert.equal(index.has('tree', id(3)), true);
    assert.equal(index.has('data', id(3)), false, 'types are separate');
    assert.deepEqual(index.lookup('data', id(99)), []);
    assert.deepEqual([...index.packs()], [id('pack-1'), id('pack-2')]);
    assert.equal(index.blobCount, 3);
  });

  it('keeps every copy of a blob stored in two packs, and ignores a pack listed twice', () => {
    const index = new MasterIndex();
    const blob: PackBlob = { type: 'data', id: id('dup'), offset: 0, length: 10 };
    index.addPack(id('a'), [blob]);
    index.addPack(id('b'), [{ ...blob, offset: 50 }]);
    index.addPack(id('a'), [blob]);
    assert.deepEqual(
      index.lookup('data', id('dup')).map((e) => [e.pack, e.offset]),
      [
        [id('a'), 0],
        [id('b'), 50],
      ],
    );
    assert.equal(index.packCount, 2);
  });

  it('holds 200,000 blobs in under 80 bytes each after trimming, and finds them all', (t) => {
    const index = new MasterIndex();
    const count = 200_000;
    const ids: string[] = [];
    for (let p = 0; p < count / 10; p++) {
      const blobs: PackBlob[] = [];
      for (let b = 0; b < 10; b++) {
        const blobId = randomBytes(32).toString('hex');
        ids.push(blobId);
        blobs.push({ type: b === 0 ? 'tree' : 'data', id: blobId, offset: b * 1000, length: 1000 });
      }
      index.addPack(randomBytes(32).toString('hex'), blobs);
    }
    index.trim();
    const perBlob = index.memoryBytes / count;
    t.diagnostic(`master index: ${perBlob.toFixed(1)} bytes per blob (${count} blobs, 10 per pack)`);
    assert.ok(perBlob < 80, `${perBlob} bytes per blob`);
    for (const [i, blobId] of ids.entries()) {
      if (i % 97 !== 0) continue;
      assert.equal(index.lookup(i % 10 === 0 ? 'tree' : 'data', blobId)[0]?.offset, (i % 10) * 1000);
    }
  });

  it('writes index file JSON as restic does, and reads it back', () => {
    const packs = [
      {
        id: id('p'),
        blobs: [
          { type: 'data' as const, id: id(1), offset: 0, length: 38 },
          { type: 'tree' as const, id: id(2), offset: 38, length: 112, uncompressedLength: 511 },
        ],
      },
    ];
    const json = JSON.parse(JSON.stringify(indexFileJson({ supersedes: [], packs }))) as object;
    assert.deepEqual(json, {
      packs: [
        {
          id: id('p'),
          blobs: [
            { id: id(1), type: 'data', offset: 0, length: 38 },
            { id: id(2), type: 'tree', offset: 38, length: 112, uncompressed_length: 511 },
          ],
        },
      ],
    });
    assert.deepEqual(parseIndexFile(json, 'index/x'), { supersedes: [], packs });
    assert.deepEqual(parseIndexFile({ supersedes: [id('old')], packs: [] }, 'index/x').supersedes, [
      id('old'),
    ]);
  });

  it('refuses an index file with an invalid entry, naming the file and the blob', () => {
    const bad = { packs: [{ id: id('p'), blobs: [{ id: id(1), type: 'data', offset: -1, length: 3 }] }] };
    assert.throws(
      () => parseIndexFile(bad, 'index/abc'),
      (error: unknown) => {
        assert.ok(error instanceof CorruptDataError);
        assert.match(error.message, new RegExp(`^index/abc is corrupt: blob ${id(1)} has an invalid offset`));
        return true;
      },
    );
  });
});
