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

describe('two node agents making a namespace’s repository at once', () => {
  it('both end up in one repository, with one key file, and each one’s blobs are there for the other', async () => {
    for (let round = 0; round < 5; round++) {
      const store = new MemoryStore();
      const { passwords } = memoryPasswords();
      // Both look for the config before either writes one: the race of two first backups.
      let looked = 0;
      let bothLooked: () => void = () => {};
      const together = new Promise<void>((resolve) => (bothLooked = resolve));
      const racing: ObjectStore = {
        ...faultyStore(store, {}),
        head: async (key, options) => {
          const answer = await store.head(key, options);
          if (key.endsWith('/config') && answer === undefined && looked < 2 && ++looked === 2) bothLooked();
          if (key.endsWith('/config') && looked <= 2) await together;
          return answer;
        },
      };
      const agents = [0, 1].map(
        () => new VolumeRepositories({ location: 'default', store: racing, passwords }),
      );
      const [a, b] = await Promise.all(agents.map((agent) => agent.repository('shop', { create: true })));
      assert.ok(a && b);
      assert.equal(a.config.id, b.config.id, 'one repository');
      let keyFiles = 0;
      for await (const _ of new StoreBackend(store, 'shop').list('keys')) keyFiles++;
      assert.equal(keyFiles, 1, 'the losing init removed its key file');
      const fromA = await a.saveBlob('data', Buffer.from('written by agent a'));
      const fromB = await b.saveBlob('data', Buffer.from('written by agent b'));
      await Promise.all([a.flush(), b.flush()]);
      const reader = await Repository.open(new StoreBackend(store, 'shop'), {
        password: (await passwords.get('default', 'shop')) as string,
      });
      assert.equal((await reader.loadBlob('data', fromA.id)).toString(), 'written by agent a');
      assert.equal((await reader.loadBlob('data', fromB.id)).toString(), 'written by agent b');
      await Promise.all(agents.map((agent) => agent.close()));
    }
  });

  it('opens the repository past a key file of the same password that a crashed init left', async () => {
    const store = new MemoryStore();
    const { passwords } = memoryPasswords();
    const made = new VolumeRepositories({ location: 'default', store, passwords });
    const repo = await made.repository('shop', { create: true });
    await made.close();
    const password = (await passwords.get('default', 'shop')) as string;
    // Another init that wrote its key file and died before its config: the same password, another master
    // key. Key files are tried in name order; one that sorts before the repository's own is made.
    const backend = new StoreBackend(store, 'shop');
    for (let tries = 0; tries < 50; tries++) {
      const scratch = new MemoryStore();
      await Repository.init(new StoreBackend(scratch, 'shop'), {
        password,
        polynomial: repo.config.chunkerPolynomial,
        keyParams: { N: 1024, r: 8, p: 1 },
      });
      const scratchBackend = new StoreBackend(scratch, 'shop');
      for await (const { name } of scratchBackend.list('keys'))
        if (name < repo.keyName)
          await backend.save({ type: 'keys', name }, await scratchBackend.load({ type: 'keys', name }));
      let before = false;
      for await (const { name } of backend.list('keys')) before ||= name < repo.keyName;
      if (before) break;
    }
    const opened = await Repository.open(backend, { password });
    assert.equal(opened.config.id, repo.config.id);
    assert.equal(opened.keyName, repo.keyName, 'the key file whose master key opens the config');
  });
});
