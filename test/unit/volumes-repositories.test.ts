// Changing a volume-data repository's password (`cairn repo rotate-key`): whichever step fails, a password
// that opens the repository is kept; once it succeeds, only the new one opens it. Real repositories on the
// in-memory object store, with faults injected into the store and into where passwords are kept.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Repository, WrongPasswordError } from '../../src/repo/index.ts';
import { MemoryStore, type ObjectStore, type SignalOptions } from '../../src/storage/index.ts';
import {
  OldKeyNotRemovedError,
  PasswordRotationError,
  StoreBackend,
  VolumeRepositories,
  type RepositoryPasswords,
} from '../../src/volumes/index.ts';

/** Passwords kept in a map; `failReplace` makes replacing fail. */
function memoryPasswords(options: { failReplace?: boolean | undefined } = {}) {
  const kept = new Map<string, string>();
  const passwords: RepositoryPasswords = {
    where: (location, namespace) => `memory ${location}/${namespace}`,
    get: (location, namespace) => Promise.resolve(kept.get(`${location}/${namespace}`)),
    create: (location, namespace, password) => {
      const key = `${location}/${namespace}`;
      if (!kept.has(key)) kept.set(key, password);
      return Promise.resolve(kept.get(key) as string);
    },
    replace: (location, namespace, password) => {
      if (options.failReplace) return Promise.reject(new Error('the disk is full'));
      kept.set(`${location}/${namespace}`, password);
      return Promise.resolve();
    },
  };
  return { passwords, kept };
}

/** The store, failing puts or deletes of key files when told to. */
function faultyStore(store: ObjectStore, faults: { putKey?: boolean; deleteKey?: boolean }): ObjectStore {
  return {
    description: store.description,
    put: (key, body, options) =>
      faults.putKey && key.includes('/keys/')
        ? Promise.reject(new Error('put refused'))
        : store.put(key, body, options),
    get: (key, options) => store.get(key, options),
    head: (key, options) => store.head(key, options),
    list: (prefix, options) => store.list(prefix, options),
    delete: (key: string, options?: SignalOptions) =>
      faults.deleteKey && key.includes('/keys/')
        ? Promise.reject(new Error('delete refused'))
        : store.delete(key, options),
  };
}

/** A location with the repository of namespace shop, made with its first password. */
async function location(faults: { putKey?: boolean; deleteKey?: boolean; failReplace?: boolean } = {}) {
  const store = new MemoryStore();
  const { passwords, kept } = memoryPasswords({ failReplace: faults.failReplace });
  const setup = new VolumeRepositories({ location: 'default', store, passwords });
  await setup.repository('shop', { create: true });
  await setup.close();
  const oldPassword = kept.get('default/shop') as string;
  const repositories = new VolumeRepositories({
    location: 'default',
    store: faultyStore(store, faults),
    passwords,
  });
  const opens = async (password: string) => {
    try {
      await Repository.open(new StoreBackend(store, 'shop'), { password });
      return true;
    } catch (error) {
      if (error instanceof WrongPasswordError) return false;
      throw error;
    }
  };
  const keyFiles = async () => {
    let n = 0;
    for await (const _ of new StoreBackend(store, 'shop').list('keys')) n++;
    return n;
  };
  const locks = async () => {
    let n = 0;
    for await (const _ of new StoreBackend(store, 'shop').list('locks')) n++;
    return n;
  };
  return { repositories, kept, oldPassword, opens, keyFiles, locks };
}

describe('rotating the password of a volume-data repository', () => {
  it('keeps only the new password working, and keeps it where passwords are kept', async () => {
    const l = await location();
    const rotation = await l.repositories.rotatePassword('shop');
    await l.repositories.close();
    const newPassword = l.kept.get('default/shop') as string;
    assert.notEqual(newPassword, l.oldPassword);
    assert.match(newPassword, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(await l.opens(newPassword), true);
    assert.equal(await l.opens(l.oldPassword), false);
    assert.equal(await l.keyFiles(), 1);
    assert.equal(await l.locks(), 0);
    assert.equal(rotation.password, 'memory default/shop');
    assert.notEqual(rotation.newKey, rotation.oldKey);
  });

  it('changes nothing when the new key file cannot be written', async () => {
    const l = await location({ putKey: true });
    await assert.rejects(l.repositories.rotatePassword('shop'), (error: unknown) => {
      assert.ok(error instanceof PasswordRotationError);
      assert.equal(error.step, 'adding a key file for the new password');
      assert.match(error.message, /put refused; the old password still opens it$/);
      return true;
    });
    await l.repositories.close();
    assert.equal(l.kept.get('default/shop'), l.oldPassword);
    assert.equal(await l.opens(l.oldPassword), true);
    assert.equal(await l.keyFiles(), 1);
  });

  it('removes the new key file again when the password cannot be replaced', async () => {
    const l = await location({ failReplace: true });
    await assert.rejects(l.repositories.rotatePassword('shop'), (error: unknown) => {
      assert.ok(error instanceof PasswordRotationError);
      assert.match(error.message, /replacing the password in memory default\/shop failed: the disk is full/);
      return true;
    });
    await l.repositories.close();
    assert.equal(l.kept.get('default/shop'), l.oldPassword);
    assert.equal(await l.opens(l.oldPassword), true);
    assert.equal(await l.keyFiles(), 1, 'the new key file was removed again');
    assert.equal(await l.locks(), 0);
  });

  it('leaves both passwords working when the old key file cannot be removed, and says which file it is', async () => {
    const l = await location({ deleteKey: true });
    await assert.rejects(l.repositories.rotatePassword('shop'), (error: unknown) => {
      assert.ok(error instanceof OldKeyNotRemovedError);
      assert.match(error.path, /^restic\/shop\/keys\/[0-9a-f]{64}$/);
      assert.match(error.message, /the old password still opens it until that file is removed/);
      return true;
    });
    await l.repositories.close();
    const newPassword = l.kept.get('default/shop') as string;
    assert.notEqual(newPassword, l.oldPassword);
    assert.equal(await l.opens(newPassword), true);
    assert.equal(await l.opens(l.oldPassword), true);
  });
});
