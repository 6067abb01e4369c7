// Bad input to the reader of encrypted objects (src/storage/encryption.ts): random bytes, mutations of a
// valid object, and one byte flipped at every position of a small one. Every case is refused with an
// EncryptionError; no mutated object ever yields plaintext, streaming or in one call.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';
import { describe, it } from 'node:test';
import {
  EncryptionError,
  decryptBuffer,
  decryptStream,
  encryptBuffer,
  generateLocationKey,
} from '../../src/storage/encryption.ts';
import {
  FUZZ_TEST_TIMEOUT_MS,
  checkParser,
  fuzzRuns,
  mutationOf,
  randomBytesAfter,
} from '../helpers/fuzz.ts';
import { Outcomes, recordReliability } from '../helpers/reliability.ts';

const key = generateLocationKey();
const options = { timeout: FUZZ_TEST_TIMEOUT_MS };
const subject = 'encrypted-object reader (decryptStream, decryptBuffer)';

/** Decrypts in small pieces through the stream, as a restore reads; returns the plaintext. */
async function streamed(bytes: Buffer): Promise<Buffer> {
  const pieces = [];
  for (let at = 0; at < bytes.length; at += 97) pieces.push(bytes.subarray(at, at + 97));
  const out: Buffer[] = [];
  await pipeline(Readable.from(pieces), decryptStream(key), async function (source) {
    for await (const chunk of source) out.push(chunk as Buffer);
  });
  return Buffer.concat(out);
}

describe('the encrypted-object reader, given bad bytes', () => {
  const plaintext = randomBytes(700);
  const valid = encryptBuffer(key, plaintext, { chunkSize: 256 });

  it('refuses random bytes (some behind a valid header) with an EncryptionError', options, async () => {
    const outcomes = await checkParser({
      inputs: randomBytesAfter([valid.subarray(0, 8), valid.subarray(0, 54)]),
      parse: (bytes) => decryptBuffer(key, bytes),
      typed: [EncryptionError],
      runs: fuzzRuns(300),
    });
    recordReliability({
      section: 'Bad input',
      subject,
      tried: 'random bytes (some after a valid magic or header)',
      cases: outcomes.cases,
      outcome: outcomes.summary(),
      lost: 'nothing: no plaintext released',
    });
  });

  it(
    'refuses every mutation of a valid object, streaming or in one call, releasing no plaintext',
    options,
    async () => {
      const outcomes = new Outcomes();
      await checkParser({
        inputs: mutationOf(valid, [10, 54 + 256, -16]).filter((bytes) => !bytes.equals(valid)),
        parse: async (bytes) => {
          assert.throws(() => decryptBuffer(key, bytes), EncryptionError);
          const out = await streamed(bytes).catch((error: unknown) => error);
          assert.ok(!Buffer.isBuffer(out), 'a mutated object decrypted');
          throw out;
        },
        typed: [EncryptionError],
        runs: fuzzRuns(300),
        outcomes,
      });
      recordReliability({
        section: 'Bad input',
        subject,
        tried:
          'mutated encrypted object (bits flipped, bytes inserted/deleted/repeated, cut short, huge chunk size)',
        cases: outcomes.cases,
        outcome: outcomes.summary(),
        lost: 'nothing: no plaintext released',
      });
    },
  );

  it('refuses the object with any one byte flipped, at every position', async () => {
    const outcomes = new Outcomes();
    for (let at = 0; at < valid.length; at++) {
      const tampered = Buffer.from(valid);
      tampered[at] = (tampered[at] as number) ^ 0x40;
      const error = await streamed(tampered).then(
        () => assert.fail(`byte ${at} flipped was read`),
        (e: unknown) => e,
      );
      assert.ok(error instanceof EncryptionError, `byte ${at}: ${String(error)}`);
      outcomes.add(error.name);
    }
    recordReliability({
      section: 'Security',
      subject,
      tried: 'one byte flipped, at every position of a 3-chunk object',
      cases: outcomes.cases,
      outcome: outcomes.summary(),
      lost: 'nothing: no plaintext released',
    });
  });

  it('streams a valid object back whole (the cases above are refused for their damage alone)', async () => {
    assert.ok((await streamed(valid)).equals(plaintext));
    assert.ok((await buffer(Readable.from([valid]).pipe(decryptStream(key)))).equals(plaintext));
  });
});
