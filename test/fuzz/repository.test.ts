// Bad input to the volume-data repository's decoders (src/repo): the authenticated encryption of every
// file and blob, pack files and their headers, unpacked files (index, snapshots, locks), tree blobs, the
// config and key files. Ciphertexts are fuzzed as stored; the decoders behind the MAC are fuzzed with
// their plaintext mutated and then sealed with the key, so the bytes reach them (a repository whose key
// leaked, or a bug in a writer). Every case is accepted or refused with a RepoError or a TreeFormatError.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  Packer,
  RepoError,
  TreeFormatError,
  decodeConfig,
  decodeHeader,
  decodeKeyFile,
  decodeTree,
  decodeUnpacked,
  decrypt,
  encodeConfig,
  encodeKeyFile,
  encodeTree,
  encodeUnpacked,
  encrypt,
  generateMasterKey,
  indexFileJson,
  masterKeyFromJson,
  masterKeyToJson,
  newConfig,
  openBlob,
  parseIndexFile,
  parseLock,
  parsePack,
  parseSnapshot,
  sealBlob,
  sha256,
  type Node,
} from '../../src/repo/index.ts';
import {
  FUZZ_TEST_TIMEOUT_MS,
  checkParser,
  fuzzRuns,
  mutationOf,
  randomBytesAfter,
  type ErrorClass,
} from '../helpers/fuzz.ts';
import { Outcomes, recordReliability } from '../helpers/reliability.ts';

const key = generateMasterKey();
const REPO_ERRORS: ErrorClass[] = [RepoError, TreeFormatError];
const options = { timeout: FUZZ_TEST_TIMEOUT_MS };
const ID = 'a'.repeat(64);
const time = { unixNano: 1_700_000_000_123_456_789n, utcOffsetMinutes: 60 };

const record = (subject: string, tried: string, outcomes: Outcomes, lost = 'nothing (read only)') =>
  recordReliability({
    section: 'Bad input',
    subject: `repository: ${subject}`,
    tried,
    cases: outcomes.cases,
    outcome: outcomes.summary(),
    lost,
  });

/** Random JSON documents, and objects with the decoder's own field names holding random values. */
function jsonDocuments(fields: readonly string[]): fc.Arbitrary<unknown> {
  return fc.oneof(
    fc.jsonValue(),
    fc.dictionary(fc.constantFrom(...fields), fc.jsonValue(), { maxKeys: fields.length }),
  );
}

async function validPack(): Promise<{ bytes: Buffer; blob: Buffer }> {
  const packer = new Packer({ key });
  const blob = randomBytes(300);
  packer.add(await sealBlob(key, { type: 'data', id: sha256(blob), plaintext: blob }, { compress: true }));
  const text = Buffer.from('hello '.repeat(50));
  packer.add(await sealBlob(key, { type: 'tree', id: sha256(text), plaintext: text }, { compress: false }));
  return { bytes: packer.finish().bytes, blob };
}

function sampleNodes(): Node[] {
  const base = { mode: 0o644, mtime: time, atime: time, ctime: time, uid: 1000, gid: 1000 };
  return [
    { ...base, name: 'a file', type: 'file', size: 5, content: [ID], inode: 12n, links: 2 },
    { ...base, name: 'dir\nname', type: 'dir', mode: 2 ** 31 + 0o755, content: null, subtree: ID },
    { ...base, name: 'link', type: 'symlink', linkTarget: '../x', content: null },
  ];
}

describe('the repository decoders, given bad bytes', () => {
  it(
    'refuses random and mutated ciphertexts (MacError, CorruptDataError), never returning plaintext',
    options,
    async () => {
      const valid = encrypt(key, Buffer.from('{"some":"json"}'));
      const outcomes = await checkParser({
        inputs: fc.oneof(
          randomBytesAfter(),
          mutationOf(valid).filter((bytes) => !bytes.equals(valid)),
        ),
        parse: (bytes) => decrypt(key, bytes, 'fuzz'),
        typed: REPO_ERRORS,
        runs: fuzzRuns(300),
      });
      assert.ok(!outcomes.summary().includes('read without error'), 'no damaged ciphertext decrypts');
      record(
        'ciphertext (decrypt)',
        'random and mutated ciphertexts',
        outcomes,
        'nothing: no plaintext returned',
      );
    },
  );

  it('reads or refuses every mutation of a pack file, and random bytes', options, async () => {
    const { bytes } = await validPack();
    const outcomes = await checkParser({
      inputs: fc.oneof(randomBytesAfter(), mutationOf(bytes, [-4, -8])),
      parse: async (pack) => {
        const { blobs } = await parsePack(key, ID, pack);
        // A header that still opens lists blobs; each is then opened from the (maybe mutated) bytes.
        for (const blob of blobs)
          await openBlob(key, ID, blob, pack.subarray(blob.offset, blob.offset + blob.length));
      },
      typed: REPO_ERRORS,
      runs: fuzzRuns(300),
    });
    record('pack file (parsePack, openBlob)', 'random bytes, mutated packs (huge header length)', outcomes);
  });

  it(
    'refuses every mutation of a pack header behind its MAC with CorruptDataError, or reads it',
    options,
    async () => {
      const { bytes } = await validPack();
      const { headerSize } = await parsePack(key, ID, bytes);
      const plain = decrypt(key, bytes.subarray(bytes.length - headerSize, bytes.length - 4), 'header');
      const outcomes = await checkParser({
        inputs: fc.oneof(randomBytesAfter(), mutationOf(plain, [1, 5, 38, 42])),
        parse: (header) => decodeHeader(header, 'fuzz'),
        typed: REPO_ERRORS,
        runs: fuzzRuns(300),
      });
      record('pack header (decodeHeader)', 'random and mutated plaintext headers', outcomes);
    },
  );

  it(
    'reads or refuses every mutation of an unpacked file (sealed again), and random JSON in an index, snapshot or lock',
    options,
    async () => {
      const index = indexFileJson({
        supersedes: [],
        packs: [{ id: ID, blobs: [{ type: 'data', id: ID, offset: 0, length: 50, uncompressedLength: 80 }] }],
      });
      const { bytes } = await encodeUnpacked(index, { key, version: 2 });
      const plain = decrypt(key, bytes, 'index');
      const unpacked = await checkParser({
        inputs: fc.oneof(randomBytesAfter([Buffer.of(2)]), mutationOf(plain, [1, 5])),
        parse: async (plaintext) => {
          const sealed = encrypt(key, plaintext);
          const value = await decodeUnpacked(sealed, key, { path: 'index/fuzz', id: sha256(sealed) });
          parseIndexFile(value, 'index/fuzz');
        },
        typed: REPO_ERRORS,
        runs: fuzzRuns(200),
      });
      record(
        'unpacked file (decodeUnpacked, parseIndexFile)',
        'mutated compressed JSON, sealed again',
        unpacked,
      );
      const stored = await checkParser({
        inputs: fc.oneof(
          randomBytesAfter(),
          mutationOf(bytes).filter((changed) => !changed.equals(bytes)),
        ),
        parse: (sealed) => decodeUnpacked(sealed, key, { path: 'index/fuzz', id: sha256(bytes) }),
        typed: REPO_ERRORS,
        runs: fuzzRuns(100),
      });
      assert.ok(!stored.summary().includes('read without error'), 'no changed file passes its name or MAC');
      record('unpacked file (decodeUnpacked)', 'random and mutated stored bytes', stored);
      const documents = new Outcomes();
      const parsers: [string, (value: unknown) => unknown, readonly string[]][] = [
        ['index', (v) => parseIndexFile(v, 'index/x'), ['supersedes', 'packs', 'id', 'blobs']],
        [
          'snapshot',
          (v) => parseSnapshot(v, ID),
          ['time', 'tree', 'paths', 'parent', 'hostname', 'uid', 'tags'],
        ],
        ['lock', (v) => parseLock(v, 'locks/x'), ['time', 'exclusive', 'hostname', 'pid', 'uid']],
        ['master key', (v) => masterKeyFromJson(v, 'keys/x'), ['mac', 'encrypt', 'k', 'r']],
      ];
      for (const [, parse, fields] of parsers)
        await checkParser({
          inputs: jsonDocuments(fields),
          parse,
          typed: REPO_ERRORS,
          runs: fuzzRuns(150),
          outcomes: documents,
        });
      record(
        'index, snapshot, lock, master key JSON',
        'random JSON documents, with and without their field names',
        documents,
      );
    },
  );

  it('reads or refuses every mutation of a tree blob', options, async () => {
    const valid = encodeTree(sampleNodes());
    const outcomes = await checkParser({
      inputs: fc.oneof(
        randomBytesAfter([Buffer.from('{"nodes":[')]),
        mutationOf(valid),
        jsonDocuments(['nodes']).map((v) => Buffer.from(JSON.stringify(v) ?? '')),
      ),
      parse: (bytes) => decodeTree(bytes),
      typed: REPO_ERRORS,
      runs: fuzzRuns(400),
    });
    record('tree blob (decodeTree)', 'random bytes and JSON, mutated trees', outcomes);
  });

  it(
    'reads or refuses every mutation of the config (sealed again), and refuses a changed stored one',
    options,
    async () => {
      const config = newConfig({ polynomial: '3da3358b4dc173' });
      const stored = encodeConfig(config, key);
      const plain = decrypt(key, stored, 'config');
      const outcomes = await checkParser({
        inputs: fc.oneof(
          mutationOf(plain).map((bytes) => encrypt(key, bytes)),
          mutationOf(stored),
          jsonDocuments(['version', 'id', 'chunker_polynomial']).map((v) =>
            encrypt(key, Buffer.from(JSON.stringify(v) ?? '')),
          ),
        ),
        parse: (bytes) => decodeConfig(bytes, key),
        typed: REPO_ERRORS,
        runs: fuzzRuns(300),
      });
      record('config (decodeConfig)', 'mutated config, sealed again or as stored; random JSON', outcomes);
    },
  );

  it('reads or refuses every mutation of a key file', options, async () => {
    const params = { N: 1024, r: 8, p: 1 };
    const { name, bytes } = await encodeKeyFile(key, 'fuzz password', { params });
    const outcomes = await checkParser({
      inputs: fc.oneof(
        mutationOf(bytes),
        jsonDocuments(['kdf', 'N', 'r', 'p', 'salt', 'data']).map((v) =>
          Buffer.from(JSON.stringify(v) ?? ''),
        ),
      ),
      parse: (file) => decodeKeyFile(file, 'fuzz password', name),
      typed: REPO_ERRORS,
      runs: fuzzRuns(100),
    });
    record('key file (decodeKeyFile)', 'mutated key files, random JSON', outcomes);
  });

  it('regression: a config whose JSON is null is a CorruptDataError (was a TypeError)', () => {
    assert.throws(() => decodeConfig(encrypt(key, Buffer.from('null')), key), {
      name: 'CorruptDataError',
      message: 'config is corrupt: it is not a JSON object',
    });
  });

  it('still reads what it wrote (the refusals above are for the damage alone)', async () => {
    const { bytes } = await validPack();
    assert.equal((await parsePack(key, ID, bytes)).blobs.length, 2);
    assert.deepEqual(decodeTree(encodeTree(sampleNodes())), sampleNodes());
    assert.deepEqual(masterKeyFromJson(masterKeyToJson(key), 'k'), key);
  });
});
