// Pack files: blobs sealed one by one (compressed or not), the encrypted header at the tail, read back
// by range and verified.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  BlobIdMismatchError,
  CorruptDataError,
  MacError,
  MemoryBackend,
  PackerBrokenError,
  Packer,
  decrypt,
  generateMasterKey,
  loadPackedBlob,
  openBlob,
  readPackHeader,
  sealBlob,
  sha256,
  type BlobType,
  type Backend,
  type LoadOptions,
  type Handle,
} from '../../src/repo/index.ts';
import { flip, rejection } from '../helpers/bytes.ts';
import { wrapBackend } from '../helpers/repo-backend.ts';

const key = generateMasterKey();

async function sealed(type: BlobType, plaintext: Buffer, compress: boolean) {
  return sealBlob(key, { type, id: sha256(plaintext), plaintext }, { compress });
}

/** Counts the range reads a backend serves. */
function counting(backend: Backend): { backend: Backend; reads: LoadOptions[] } {
  const reads: LoadOptions[] = [];
  const wrapped = wrapBackend(backend, {
    load: (handle: Handle, options?: LoadOptions) => {
      reads.push({ offset: options?.offset, length: options?.length });
      return backend.load(handle, options);
    },
  });
  return { backend: wrapped, reads };
}

describe('repository packs', () => {
  it('writes blobs, header and header length; the header lists types, offsets, lengths and ids', async () => {
    const blobs = [
      await sealed('data', Buffer.from('plain data blob'), false),
      await sealed('data', Buffer.alloc(5000, 7), true),
      await sealed('tree', Buffer.from('{"nodes":[]}\n'), true),
      await sealed('tree', Buffer.from('{"nodes":[1]}\n'), false),
    ];
    const packer = new Packer({ key });
    for (const blob of blobs) packer.add(blob);
    const pack = packer.finish();
    assert.equal(pack.id, sha256(pack.bytes));
    assert.equal(pack.bytes.length, packer.fileSize);
    const headerLength = pack.bytes.readUInt32LE(pack.bytes.length - 4);
    assert.equal(headerLength, 32 + 37 + 41 + 41 + 37);
    const header = decrypt(key, pack.bytes.subarray(pack.bytes.length - 4 - headerLength, -4), 'header');
    assert.deepEqual([...header.subarray(0, 1), header[37], header[78], header[119]], [0, 2, 3, 1]);

    const backend = new MemoryBackend();
    await backend.save({ type: 'data', name: pack.id }, pack.bytes);
    const listed = await readPackHeader(backend, key, pack.id);
    assert.deepEqual(listed, pack.blobs);
    assert.equal(listed[1]?.uncompressedLength, 5000);
    assert.ok((listed[1]?.length ?? 0) < 5000);
    assert.equal(listed[0]?.uncompressedLength, undefined);
    for (const [i, blob] of listed.entries()) {
      const plaintext = await loadPackedBlob(backend, key, pack.id, blob);
      assert.equal(sha256(plaintext), blobs[i]?.id);
    }
  });

  it('reads the header of a small pack with one range read of the tail, of a large one with two', async () => {
    for (const [count, expectedReads] of [
      [3, 1],
      [40, 2],
    ] as const) {
      const packer = new Packer({ key });
      for (let i = 0; i < count; i++) packer.add(await sealed('data', randomBytes(100), i % 2 === 0));
      const pack = packer.finish();
      const memory = new MemoryBackend();
      await memory.save({ type: 'data', name: pack.id }, pack.bytes);
      const { backend, reads } = counting(memory);
      assert.equal((await readPackHeader(backend, key, pack.id, { size: pack.bytes.length })).length, count);
      assert.equal(reads.length, expectedReads, JSON.stringify(reads));
    }
  });

  it('fails to open a blob with a flipped byte with MacError naming pack and blob, returning no plaintext', async () => {
    const blob = await sealed('data', Buffer.from('customer records'), true);
    const entry = {
      type: 'data' as const,
      id: blob.id,
      offset: 0,
      length: blob.ciphertext.length,
      uncompressedLength: 16,
    };
    const error = await rejection(openBlob(key, 'ab'.repeat(32), entry, flip(blob.ciphertext, 20)));
    assert.ok(error instanceof MacError, String(error));
    assert.match(error.message, new RegExp(`data blob ${blob.id} in pack data/ab/${'ab'.repeat(32)}`));
  });

  it('fails with BlobIdMismatchError naming pack and blob when the plaintext is not the recorded blob', async () => {
    const blob = await sealed('tree', Buffer.from('tree one'), false);
    const other = sha256(Buffer.from('tree two'));
    const entry = { type: 'tree' as const, id: other, offset: 0, length: blob.ciphertext.length };
    const error = await rejection(openBlob(key, 'cd'.repeat(32), entry, blob.ciphertext));
    assert.ok(error instanceof BlobIdMismatchError, String(error));
    assert.equal(error.blob, other);
    assert.equal(error.pack, `data/cd/${'cd'.repeat(32)}`);
  });

  it('refuses a pack whose header length does not fit, naming the pack', async () => {
    const packer = new Packer({ key });
    packer.add(await sealed('data', Buffer.from('x'), false));
    const pack = packer.finish();
    const broken = Buffer.from(pack.bytes);
    broken.writeUInt32LE(broken.length + 10, broken.length - 4);
    const backend = new MemoryBackend();
    await backend.save({ type: 'data', name: pack.id }, broken);
    const error = await rejection(readPackHeader(backend, key, pack.id));
    assert.ok(error instanceof CorruptDataError, String(error));
    assert.match(error.message, new RegExp(`pack data/${pack.id.slice(0, 2)}/${pack.id}`));
  });

  it('is unusable after its first error, and after it finished', async () => {
    const packer = new Packer({ key });
    const good = await sealed('data', Buffer.from('good'), false);
    assert.throws(() => packer.add({ ...good, id: 'not-an-id' }), RangeError);
    assert.throws(() => packer.add(good), PackerBrokenError);
    assert.throws(() => packer.finish(), PackerBrokenError);

    const finished = new Packer({ key });
    finished.add(good);
    finished.finish();
    assert.throws(() => finished.add(good), PackerBrokenError);
  });
});
