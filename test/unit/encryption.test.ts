import assert from 'node:assert/strict';
import { createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, it } from 'node:test';
import {
  InvalidKeyError,
  NotEncryptedError,
  TamperedObjectError,
  TruncatedObjectError,
  UnsupportedFormatError,
  WrongKeyError,
  decryptBuffer,
  decryptStream,
  encryptBuffer,
  encryptStream,
  generateLocationKey,
  keyId,
} from '../../src/storage/encryption.ts';
import { flip, rejection } from '../helpers/bytes.ts';

const CHUNK = 65536;
const SEALED = CHUNK + 16;
const HEADER = 54;

/** Feeds `data` in pieces of `pieceSize` bytes through `transform` and collects the output. */
async function through(transform: Transform, data: Buffer, pieceSize = 10_000): Promise<Buffer> {
  const pieces: Buffer[] = [];
  for (let i = 0; i < data.length; i += pieceSize) pieces.push(data.subarray(i, i + pieceSize));
  const out: Buffer[] = [];
  await pipeline(Readable.from(pieces), transform, async (source: AsyncIterable<Buffer>) => {
    for await (const chunk of source) out.push(chunk);
  });
  return Buffer.concat(out);
}

/** A copy of `data` with `bits` flipped in byte `offset`. */

/** An object of `chunks` full chunks plus a short final one. */
function sample(key: Buffer, chunks = 3): { plaintext: Buffer; sealed: Buffer } {
  const plaintext = randomBytes(chunks * CHUNK + 100);
  return { plaintext, sealed: encryptBuffer(key, plaintext) };
}

describe('encryptStream and decryptStream', () => {
  it('round-trip objects of 0, 1, chunkSize-1, chunkSize, chunkSize+1 bytes and 5 MiB', async () => {
    const key = generateLocationKey();
    for (const size of [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 5 * 1024 * 1024]) {
      const plaintext = randomBytes(size);
      const sealed = await through(encryptStream(key), plaintext, 7_777);
      const chunks = Math.max(1, Math.ceil(size / CHUNK));
      assert.equal(sealed.length, HEADER + size + 16 * chunks, `size ${size}`);
      assert.ok((await through(decryptStream(key), sealed, 4_321)).equals(plaintext), `size ${size}`);
      assert.ok(decryptBuffer(key, sealed).equals(plaintext), `size ${size}`);
    }
  });

  it('writes the same bytes as encryptBuffer, whatever the input pieces', async () => {
    const key = generateLocationKey();
    const salt = randomBytes(32);
    const plaintext = randomBytes(3 * CHUNK + 5);
    const streamed = await through(encryptStream(key, { randomBytes: () => salt }), plaintext, 999);
    assert.ok(streamed.equals(encryptBuffer(key, plaintext, { randomBytes: () => salt })));
  });

  it('starts with a 54-byte header: magic, version 1, AES-256-GCM, chunk size, key id, salt', () => {
    const key = generateLocationKey();
    const salt = randomBytes(32);
    const header = encryptBuffer(key, Buffer.from('x'), {
      chunkSize: 4096,
      randomBytes: () => salt,
    }).subarray(0, 54);
    assert.equal(header.subarray(0, 8).toString('ascii'), 'CAIRNENC');
    assert.deepEqual([header[8], header[9], header.readUInt32BE(10)], [1, 1, 4096]);
    assert.equal(header.subarray(14, 22).toString('hex'), keyId(key));
    assert.ok(header.subarray(22, 54).equals(salt));
  });

  it('gives different ciphertext for the same plaintext (a fresh salt per object)', () => {
    const key = generateLocationKey();
    const plaintext = Buffer.from('the same secret twice');
    assert.ok(!encryptBuffer(key, plaintext).equals(encryptBuffer(key, plaintext)));
  });

  it('refuses a wrong key with WrongKeyError naming both key ids and never the key', async () => {
    const right = generateLocationKey();
    const wrong = generateLocationKey();
    const error = await rejection(through(decryptStream(wrong), encryptBuffer(right, Buffer.from('secret'))));
    assert.ok(error instanceof WrongKeyError);
    assert.equal(error.objectKeyId, keyId(right));
    assert.equal(error.givenKeyId, keyId(wrong));
    assert.ok(error.message.includes(keyId(right)) && error.message.includes(keyId(wrong)));
    for (const key of [right, wrong]) {
      for (const encoding of ['hex', 'base64', 'base64url'] as const) {
        assert.ok(!error.message.includes(key.toString(encoding)));
      }
    }
  });

  it('reports a flipped byte in a chunk as TamperedObjectError naming the chunk', async () => {
    const key = generateLocationKey();
    const { sealed } = sample(key);
    for (const [offset, chunk] of [
      [HEADER + 10, 0],
      [HEADER + SEALED + 5, 1],
      [HEADER + 2 * SEALED - 1, 1], // the tag of chunk 1
      [sealed.length - 1, 3],
      [30, 0], // the salt: the header is in every chunk's additional data
    ] as const) {
      const damaged = flip(sealed, offset);
      const error = await rejection(through(decryptStream(key), damaged));
      assert.ok(error instanceof TamperedObjectError, `offset ${offset}: ${String(error)}`);
      assert.equal(error.chunk, chunk, `offset ${offset}`);
      assert.ok(error.message.includes(`chunk ${chunk}`));
    }
  });

  it('releases no plaintext of a chunk whose tag does not verify', async () => {
    const key = generateLocationKey();
    const { plaintext, sealed } = sample(key);
    const damaged = flip(sealed, HEADER + 2 * SEALED + 3); // inside chunk 2
    const released: Buffer[] = [];
    const decrypt = decryptStream(key);
    decrypt.on('data', (chunk: Buffer) => released.push(chunk));
    const error = await rejection(
      new Promise((resolve, reject) => {
        decrypt.on('error', reject).on('end', resolve);
        decrypt.end(damaged);
      }),
    );
    assert.ok(error instanceof TamperedObjectError);
    assert.ok(Buffer.concat(released).equals(plaintext.subarray(0, 2 * CHUNK)));
  });

  it('reports whole chunks dropped from the end as TruncatedObjectError', async () => {
    const key = generateLocationKey();
    const { sealed } = sample(key);
    for (const cut of [HEADER + SEALED, HEADER + 3 * SEALED]) {
      const error = await rejection(through(decryptStream(key), sealed.subarray(0, cut)));
      assert.ok(error instanceof TruncatedObjectError, `cut at ${cut}: ${String(error)}`);
      assert.match(error.message, /not its final chunk/);
    }
  });

  it('reports a cut inside a chunk as TamperedObjectError, and inside the header as TruncatedObjectError', async () => {
    const key = generateLocationKey();
    const { sealed } = sample(key);
    const insideChunk = await rejection(
      through(decryptStream(key), sealed.subarray(0, HEADER + SEALED + 100)),
    );
    assert.ok(insideChunk instanceof TamperedObjectError);
    assert.equal(insideChunk.chunk, 1);
    for (const cut of [4, 20, HEADER]) {
      const error = await rejection(through(decryptStream(key), sealed.subarray(0, cut)));
      assert.ok(error instanceof TruncatedObjectError, `cut at ${cut}`);
    }
  });

  it('detects swapped chunks', async () => {
    const key = generateLocationKey();
    const { sealed } = sample(key);
    const chunk = (i: number) => sealed.subarray(HEADER + i * SEALED, HEADER + (i + 1) * SEALED);
    const swapped = Buffer.concat([
      sealed.subarray(0, HEADER),
      chunk(1),
      chunk(0),
      sealed.subarray(HEADER + 2 * SEALED),
    ]);
    const error = await rejection(through(decryptStream(key), swapped));
    assert.ok(error instanceof TamperedObjectError);
    assert.equal(error.chunk, 0);
  });

  it('detects junk or a repeated chunk appended after the final chunk', async () => {
    const key = generateLocationKey();
    const { sealed } = sample(key);
    const empty = encryptBuffer(key, Buffer.alloc(0));
    for (const extended of [
      Buffer.concat([sealed, Buffer.from('junk')]),
      Buffer.concat([sealed, sealed.subarray(sealed.length - 116)]),
      Buffer.concat([empty, randomBytes(SEALED + 1)]),
      Buffer.concat([empty, empty.subarray(HEADER)]),
    ]) {
      assert.ok((await rejection(through(decryptStream(key), extended))) instanceof TamperedObjectError);
    }
  });

  it('refuses plaintext (a Velero object) with NotEncryptedError', async () => {
    const key = generateLocationKey();
    for (const plaintext of ['{"apiVersion":"velero.io/v1","kind":"Backup"}', 'CAIRN?', '']) {
      const error = await rejection(through(decryptStream(key), Buffer.from(plaintext)));
      assert.ok(error instanceof NotEncryptedError, JSON.stringify(plaintext));
    }
  });

  it('refuses an unknown format version, algorithm or chunk size with UnsupportedFormatError', async () => {
    const key = generateLocationKey();
    const sealed = encryptBuffer(key, Buffer.from('x'));
    for (const [field, offset, value] of [
      ['version', 8, 2],
      ['algorithm', 9, 7],
      ['chunkSize', 10, 0x7f],
    ] as const) {
      const damaged = Buffer.from(sealed);
      damaged[offset] = value;
      const error = await rejection(through(decryptStream(key), damaged));
      assert.ok(error instanceof UnsupportedFormatError, field);
      assert.equal(error.field, field);
    }
  });

  it('refuses a key that is not 32 bytes, without showing it', () => {
    const short = randomBytes(16);
    assert.throws(
      () => encryptStream(short),
      (error: unknown) =>
        error instanceof InvalidKeyError &&
        error.length === 16 &&
        !error.message.includes(short.toString('hex')),
    );
    assert.throws(() => decryptBuffer(randomBytes(33), Buffer.alloc(0)), InvalidKeyError);
  });
});

describe('golden vector', () => {
  const key = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
  const salt = Buffer.from(Array.from({ length: 32 }, (_, i) => 0xa0 + i));
  const plaintext = Buffer.from('Cairn golden vector: 16-byte chunks, three full and one short!');
  const expected = [
    '434149524e454e43010100000010', // magic, version 1, algorithm 1, chunk size 16
    '630dcd2966c43366', // key id
    'a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf', // salt
    '7bc9310c0270734f2bf9d2304e20680059230236648a8cab3e8d7d46a3183548', // chunk 0: 16 bytes + tag
    '234949135394188224ebf1d2d8bb28ec417d6e1eebd7d829d22e4a6f50a4882c', // chunk 1: 16 bytes + tag
    '072146e63cda50e7a3d5ea553ed3aad260316dd8fff9310b2182a66f114b47ce', // chunk 2: 16 bytes + tag
    '0ca94bd064dc2bd0ff1a55028bb647ceae7cdcad6ca6f03e0a90e113694f', // final chunk: 14 bytes + tag
  ].join('');

  it('encrypts a fixed key, salt and plaintext to the committed bytes, so the format cannot drift', () => {
    const sealed = encryptBuffer(key, plaintext, { chunkSize: 16, randomBytes: () => salt });
    assert.equal(sealed.toString('hex'), expected);
    assert.equal(keyId(key), '630dcd2966c43366');
    assert.ok(decryptBuffer(key, Buffer.from(expected, 'hex')).equals(plaintext));
  });

  it('decrypts with node:crypto alone, following docs/formats/encryption.md step by step', () => {
    const data = Buffer.from(expected, 'hex');
    // Steps 1-3: the header.
    assert.equal(data.subarray(0, 8).toString('ascii'), 'CAIRNENC');
    const header = data.subarray(0, 54);
    assert.equal(header.readUInt8(8), 1);
    assert.equal(header.readUInt8(9), 1);
    const chunkSize = header.readUInt32BE(10);
    // Step 4: the key id.
    assert.ok(header.subarray(14, 22).equals(createHash('sha256').update(key).digest().subarray(0, 8)));
    // Step 5: the object key.
    const objectKey = Buffer.from(hkdfSync('sha256', key, header.subarray(22, 54), 'cairn object v1', 32));
    // Steps 6-7: the chunks.
    const body = data.subarray(54);
    const out: Buffer[] = [];
    for (let i = 0, offset = 0; offset < body.length; i += 1, offset += chunkSize + 16) {
      const sealed = body.subarray(offset, offset + chunkSize + 16);
      const last = offset + sealed.length === body.length;
      const nonce = Buffer.alloc(12);
      nonce.writeBigUInt64BE(BigInt(i), 4);
      const decipher = createDecipheriv('aes-256-gcm', objectKey, nonce);
      decipher.setAAD(Buffer.concat([header, Buffer.of(last ? 1 : 0)]));
      decipher.setAuthTag(sealed.subarray(sealed.length - 16));
      out.push(decipher.update(sealed.subarray(0, sealed.length - 16)), decipher.final());
    }
    assert.ok(Buffer.concat(out).equals(plaintext));
  });
});
