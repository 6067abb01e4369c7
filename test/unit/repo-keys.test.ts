// Key files: the master key under a password with scrypt, in restic's JSON shape; opening by trying
// every key file; adding and removing passwords.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CurrentKeyError,
  KeyFileError,
  MemoryBackend,
  Repository,
  WrongPasswordError,
  addKey,
  decodeKeyFile,
  encodeKeyFile,
  findKey,
  generateMasterKey,
  listKeys,
  sha256,
  type KeyFileJson,
} from '../../src/repo/index.ts';
import { rejection } from '../helpers/bytes.ts';

const params = { N: 1024, r: 8, p: 1 };
const identity = { hostname: 'node-7', username: 'cairn', pid: 42 };
const clock = { now: () => Date.parse('2026-12-06T10:00:00Z'), sleep: () => Promise.resolve() };

describe('repository key files', () => {
  it('writes restic JSON named by its SHA-256, and opens with the password to the same master key', async () => {
    const master = generateMasterKey();
    const { name, bytes } = await encodeKeyFile(master, 'correct horse', { params, identity, clock });
    assert.equal(name, sha256(bytes));
    const json = JSON.parse(bytes.toString()) as KeyFileJson;
    assert.deepEqual(Object.keys(json), [
      'created',
      'username',
      'hostname',
      'kdf',
      'N',
      'r',
      'p',
      'salt',
      'data',
    ]);
    assert.deepEqual(
      {
        created: json.created,
        username: json.username,
        hostname: json.hostname,
        kdf: json.kdf,
        N: json.N,
        r: json.r,
        p: json.p,
      },
      {
        created: '2026-12-06T10:00:00.000Z',
        username: 'cairn',
        hostname: 'node-7',
        kdf: 'scrypt',
        N: 1024,
        r: 8,
        p: 1,
      },
    );
    assert.equal(Buffer.from(json.salt, 'base64').length, 64);
    assert.deepEqual(await decodeKeyFile(bytes, 'correct horse', name), master);
  });

  it('does not open with a wrong password', async () => {
    const { name, bytes } = await encodeKeyFile(generateMasterKey(), 'right', { params, identity });
    assert.equal(await decodeKeyFile(bytes, 'wrong', name), undefined);
  });

  it('fails to open a repository with a wrong password: "no key in <repo> opens with this password"', async () => {
    const backend = new MemoryBackend({ description: 'memory:keys-test' });
    await addKey(backend, generateMasterKey(), 'one', { params, identity });
    await addKey(backend, generateMasterKey(), 'two', { params, identity });
    const error = await rejection(findKey(backend, 'three'));
    assert.ok(error instanceof WrongPasswordError, String(error));
    assert.equal(error.message, 'no key in memory:keys-test opens with this password (2 key files tried)');
  });

  it('finds the key file a password opens among several', async () => {
    const backend = new MemoryBackend();
    const master = generateMasterKey();
    await addKey(backend, master, 'first', { params, identity });
    const second = await addKey(backend, master, 'second', { params, identity });
    const found = await findKey(backend, 'second');
    assert.equal(found.name, second);
    assert.deepEqual(found.key, master);
  });

  it('names a key file that is not a key file, and refuses scrypt parameters that would exhaust memory', async () => {
    const backend = new MemoryBackend();
    const { bytes } = await encodeKeyFile(generateMasterKey(), 'pw', { params, identity });
    const json = JSON.parse(bytes.toString()) as KeyFileJson;
    const huge = Buffer.from(JSON.stringify({ ...json, N: 2 ** 24, r: 16 }));
    await backend.save({ type: 'keys', name: sha256(huge) }, huge);
    const error = await rejection(findKey(backend, 'pw'));
    assert.ok(error instanceof KeyFileError, String(error));
    assert.match(error.message, new RegExp(`keys/${sha256(huge)}`));
    assert.match(error.message, /MiB, more than the 2048 MiB allowed/);
  });

  it('adds a password to a repository and removes the old one (rotate-key), refusing the current key', async () => {
    const backend = new MemoryBackend();
    const repo = await Repository.init(backend, {
      password: 'old',
      polynomial: '3da3358b4dc173',
      keyParams: params,
      identity,
      clock,
    });
    const added = await repo.addKey('new', { params });
    assert.deepEqual((await listKeys(backend)).map((k) => k.name).sort(), [repo.keyName, added].sort());
    const error = await rejection(repo.removeKey(repo.keyName));
    assert.ok(error instanceof CurrentKeyError, String(error));

    const reopened = await Repository.open(backend, { password: 'new' });
    await reopened.removeKey(repo.keyName);
    assert.deepEqual(
      (await reopened.listKeys()).map((k) => k.name),
      [added],
    );
    assert.ok((await rejection(Repository.open(backend, { password: 'old' }))) instanceof WrongPasswordError);
    assert.equal((await Repository.open(backend, { password: 'new' })).config.id, repo.config.id);
  });
});
