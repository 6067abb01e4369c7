// The chunk workers' sealing of blobs the main thread read and hashed itself (a small file's): many at
// once go in batches, each comes back as the blob it was asked for (openBlob gives its plaintext back),
// compressed or not as asked; closing the workers fails what is still under way instead of leaving it
// waiting.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { generateMasterKey, openBlob, sha256 } from '../../src/repo/index.ts';
import { ChunkWorkers } from '../../src/repo/chunk-workers.ts';

const POLYNOMIAL = '3da3358b4dc173';

describe('the chunk workers’ sealing', () => {
  it('seal 150 blobs asked for at once (three batches) and in a later turn, each as asked', async (t) => {
    const key = generateMasterKey();
    const workers = new ChunkWorkers(2, { polynomial: POLYNOMIAL, key });
    t.after(() => workers.close());
    const plaintexts = Array.from({ length: 150 }, (_, i) =>
      i % 2 ? randomBytes(100 + i) : Buffer.alloc(2000 + i, `text ${i} `),
    );
    const sealed = await Promise.all(plaintexts.map((p, i) => workers.seal(p, i % 3 !== 0)));
    const later = await workers.seal(plaintexts[7] as Buffer, true);
    for (const [i, blob] of [...sealed.entries(), [7, later] as const]) {
      const plaintext = plaintexts[i] as Buffer;
      const compressed = i === 7 || i % 3 !== 0;
      assert.equal(blob.uncompressedLength, compressed ? plaintext.length : undefined, `blob ${i}`);
      const id = sha256(plaintext);
      const ciphertext = Buffer.from(blob.ciphertext);
      const opened = await openBlob(
        key,
        'p'.repeat(64),
        {
          type: 'data',
          id,
          offset: 0,
          length: ciphertext.length,
          uncompressedLength: blob.uncompressedLength,
        },
        ciphertext,
      );
      assert.deepEqual(opened, plaintext, `blob ${i} opens to its plaintext`);
    }
    // Compressible text is stored smaller than it is.
    assert.ok((sealed[2] as { ciphertext: Uint8Array }).ciphertext.length < (plaintexts[2] as Buffer).length);
  });

  it('fail the blobs still to seal when the workers close', async () => {
    const workers = new ChunkWorkers(1, { polynomial: POLYNOMIAL, key: generateMasterKey() });
    const pending = assert.rejects(workers.seal(randomBytes(1000), true), /the chunk workers are closed/);
    await workers.close();
    await pending;
    await assert.rejects(workers.seal(randomBytes(10), true), /the chunk workers are closed/);
  });
});
