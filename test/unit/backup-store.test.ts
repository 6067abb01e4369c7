// The backup store's write-once commit protocol, on the in-memory reference store and the filesystem
// driver (the object-store conformance suite holds the real cloud drivers to the same contract).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import type { Backup } from '../../src/api/index.ts';
import {
  BackupExistsError,
  BackupNotFoundError,
  BackupStore,
  ChecksumMismatchError,
  MissingFileError,
  LocationKeyMismatchError,
  manifestOf,
  MissingKeyError,
  NoChecksumsError,
} from '../../src/storage/backup-store.ts';
import { generateLocationKey, keyId } from '../../src/storage/encryption.ts';
import { ObjectExistsError, ObjectNotFoundError, StoreUnavailableError } from '../../src/storage/errors.ts';
import { FilesystemStore } from '../../src/storage/filesystem-store.ts';
import { MemoryStore } from '../../src/storage/memory-store.ts';
import { LOCATION_METADATA_KEY } from '../../src/storage/layout.ts';
import type { ObjectStore } from '../../src/storage/object-store.ts';
import { buffer } from 'node:stream/consumers';
import { withRetry } from '../../src/storage/wrappers.ts';
import { withFaults } from '../helpers/faulty-store.ts';

function backupObject(name: string, encryption?: { algorithm: string; keyId: string }): Backup {
  return {
    apiVersion: 'velero.io/v1',
    kind: 'Backup',
    metadata: { name },
    spec: { includedNamespaces: ['shop'] },
    status: { phase: 'Completed', formatVersion: '1.1.0', version: 1, ...(encryption ? { encryption } : {}) },
  };
}

/** A committed backup of an archive and a log, as createBackup leaves it. */
async function committed(backups: BackupStore, name: string, archive: Buffer): Promise<void> {
  const files = [
    await backups.writeFile(name, 'archive', archive),
    await backups.writeFile(name, 'logs', Buffer.from('{}\n')),
  ];
  const { manifest, sha256 } = manifestOf(name, files, backups.encryption);
  const backup = backupObject(name, backups.encryption);
  backup.status = { ...backup.status, checksums: sha256 };
  await backups.commit(backup, manifest);
}

const claim = (name: string) => ({ name, startedAt: '2026-11-25T00:00:00Z', client: 'test' });

for (const [kind, open] of [
  ['memory', () => Promise.resolve({ store: new MemoryStore(), cleanup: () => Promise.resolve() })],
  [
    'filesystem',
    async () => {
      const root = await mkdtemp(join(tmpdir(), 'cairn-backup-store-'));
      return {
        store: new FilesystemStore({ root }) as ObjectStore,
        cleanup: () => rm(root, { recursive: true, force: true }),
      };
    },
  ],
] as const) {
  describe(`the backup store on the ${kind} store`, () => {
    it('stores an encrypted archive that reads back as the original, and commits it last', async (t) => {
      const { store, cleanup } = await open();
      t.after(cleanup);
      const key = generateLocationKey();
      const backups = new BackupStore({ location: 'primary', store, key });
      const archive = randomBytes(300_000);

      await backups.claim(claim('nightly'));
      const stored = await backups.writeFile(
        'nightly',
        'archive',
        Readable.from([archive.subarray(0, 1000), archive.subarray(1000)]),
      );
      assert.equal(stored.key, 'backups/nightly/nightly.tar.gz');
      const raw = await buffer(await store.get(stored.key));
      assert.equal(raw.subarray(0, 8).toString(), 'CAIRNENC', 'encrypted at rest');
      assert.ok(!raw.includes(archive.subarray(0, 64)), 'no plaintext in the stored bytes');
      await backups.verify(stored);

      const listedBefore = [];
      for await (const entry of backups.listBackups()) listedBefore.push(entry);
      assert.deepEqual(listedBefore, [{ name: 'nightly', complete: false, claim: claim('nightly') }]);

      const { manifest, sha256 } = manifestOf('nightly', [stored], backups.encryption);
      const backup = backupObject('nightly', backups.encryption);
      backup.status = { ...backup.status, checksums: sha256 };
      await backups.commit(backup, manifest);
      assert.deepEqual(backups.encryption, { algorithm: 'AES-256-GCM', keyId: keyId(key) });

      const listed = [];
      for await (const entry of backups.listBackups()) listed.push(entry);
      assert.equal(listed.length, 1);
      assert.equal(listed[0]?.complete, true);
      assert.deepEqual(await buffer(await backups.openFile('nightly', 'archive')), archive);
      const keys = [];
      for await (const entry of store.list('backups/nightly/'))
        if (entry.type === 'object') keys.push(entry.key);
      assert.deepEqual(keys, [
        'backups/nightly/nightly-checksums.json',
        'backups/nightly/nightly-claim.json',
        'backups/nightly/nightly.tar.gz',
        'backups/nightly/velero-backup.json',
      ]);
    });

    it('stores a plaintext location’s files as they are, for Velero', async (t) => {
      const { store, cleanup } = await open();
      t.after(cleanup);
      const backups = new BackupStore({ location: 'velero-compatible', store });
      const stored = await backups.writeFile('plain', 'results', Buffer.from('{"errors":{}}'));
      assert.deepEqual(await buffer(await store.get(stored.key)), Buffer.from('{"errors":{}}'));
      assert.equal(backups.encryption, undefined);
    });

    it('refuses a name that is taken, by a claim or by a committed backup, and writes nothing', async (t) => {
      const { store, cleanup } = await open();
      t.after(cleanup);
      const backups = new BackupStore({ location: 'primary', store, key: generateLocationKey() });
      await backups.claim(claim('taken'));
      await assert.rejects(
        backups.claim(claim('taken')),
        (e: unknown) =>
          e instanceof BackupExistsError &&
          e.message ===
            'a backup named "taken" already exists in location "primary" (`cairn backup get taken` shows it; `cairn backup delete taken` clears the name, its files with it)',
      );
      // A backup written by Velero has no claim, only its metadata.
      await store.put(
        'backups/velero-made/velero-backup.json',
        Buffer.from(JSON.stringify(backupObject('velero-made'))),
      );
      await assert.rejects(backups.claim(claim('velero-made')), BackupExistsError);
      const claims = [];
      for await (const entry of store.list('backups/velero-made/')) claims.push(entry);
      assert.equal(claims.length, 1, 'no claim was written beside the Velero backup');
    });

    it('never rewrites a stored file', async (t) => {
      const { store, cleanup } = await open();
      t.after(cleanup);
      const backups = new BackupStore({ location: 'primary', store, key: generateLocationKey() });
      await backups.writeFile('once', 'logs', Buffer.from('first'));
      await assert.rejects(backups.writeFile('once', 'logs', Buffer.from('second')), ObjectExistsError);
    });

    it('finds a stored file whose bytes changed', async (t) => {
      const { store, cleanup } = await open();
      t.after(cleanup);
      const backups = new BackupStore({ location: 'primary', store, key: generateLocationKey() });
      const stored = await backups.writeFile('rot', 'archive', randomBytes(1000));
      await store.put(stored.key, randomBytes(1000)); // the store loses the bytes behind our back
      await assert.rejects(
        backups.verify(stored),
        (e: unknown) => e instanceof ChecksumMismatchError && e.expected.sha256 === stored.sha256,
      );
    });

    it('refuses to read a plaintext file that is not the one written, naming the file and location', async (t) => {
      const { store, cleanup } = await open();
      t.after(cleanup);
      const backups = new BackupStore({ location: 'velero-compatible', store });
      const archive = randomBytes(50_000);
      await committed(backups, 'cut', archive);
      await store.put('backups/cut/cut.tar.gz', archive.subarray(0, 20_000)); // truncated behind our back
      await assert.rejects(
        buffer(await backups.openFile('cut', 'archive')),
        (e: unknown) =>
          e instanceof ChecksumMismatchError &&
          e.message ===
            'backups/cut/cut.tar.gz in location "velero-compatible" is corrupt: 20000 bytes are stored, but 50000 were written (truncated or damaged)',
      );
    });

    it('tells a written file that is gone from one the backup never had', async (t) => {
      const { store, cleanup } = await open();
      t.after(cleanup);
      const backups = new BackupStore({ location: 'velero-compatible', store });
      await committed(backups, 'lost', randomBytes(1000));
      await store.delete('backups/lost/lost-logs.gz');
      await assert.rejects(
        backups.openFile('lost', 'logs'),
        (e: unknown) =>
          e instanceof MissingFileError &&
          e.message ===
            'backups/lost/lost-logs.gz in location "velero-compatible" is missing: the backup\'s checksum manifest lists it, so it was written',
      );
      // The results file was never written (the manifest does not list it): simply not there.
      await assert.rejects(backups.openFile('lost', 'results'), ObjectNotFoundError);
    });

    it('checks every stored file against the manifest without the key, and records the outcome', async (t) => {
      const { store, cleanup } = await open();
      t.after(cleanup);
      const key = generateLocationKey();
      const writer = new BackupStore({ location: 'primary', store, key });
      await committed(writer, 'shop', randomBytes(10_000));
      const keyless = new BackupStore({ location: 'primary', store });
      const now = () => new Date('2026-12-01T10:00:00Z');
      assert.equal(await keyless.getVerification('shop'), undefined);
      const passed = await keyless.verifyChecksums('shop', { now });
      assert.deepEqual(passed, {
        verifiedAt: '2026-12-01T10:00:00.000Z',
        method: 'checksums',
        outcome: 'Passed',
        files: 2,
        problems: [],
      });

      const raw = await buffer(await store.get('backups/shop/shop.tar.gz'));
      raw.writeUInt8((raw.at(-1) ?? 0) ^ 1, raw.length - 1); // one flipped bit
      await store.put('backups/shop/shop.tar.gz', raw);
      await store.delete('backups/shop/shop-logs.gz');
      const failed = await keyless.verifyChecksums('shop', { now });
      assert.equal(failed.outcome, 'Failed');
      assert.equal(failed.problems.length, 2);
      assert.match(
        failed.problems[0] ?? '',
        /^backups\/shop\/shop\.tar\.gz in location "primary" is corrupt: its SHA-256 is /,
      );
      assert.equal(failed.problems[1], 'backups/shop/shop-logs.gz in location "primary" is missing');
      await keyless.recordVerification('shop', failed);
      assert.deepEqual(await keyless.getVerification('shop'), failed);
      await keyless.recordVerification('shop', passed);
      assert.deepEqual(await keyless.getVerification('shop'), passed, 'each verification replaces the last');
    });

    it('finds a checksum manifest that was replaced, and says a Velero backup has none', async (t) => {
      const { store, cleanup } = await open();
      t.after(cleanup);
      const backups = new BackupStore({ location: 'primary', store });
      await committed(backups, 'shop', randomBytes(100));
      await store.put('backups/shop/shop-checksums.json', Buffer.from('{"files":{}}'));
      const now = () => new Date();
      const result = await backups.verifyChecksums('shop', { now });
      assert.deepEqual(result.problems, [
        'the checksum manifest backups/shop/shop-checksums.json in location "primary" is not the one written (its SHA-256 differs)',
      ]);
      await backups.commit(backupObject('velero'), { backup: 'velero', algorithm: 'sha256', files: {} });
      await store.delete('backups/velero/velero-checksums.json');
      await assert.rejects(backups.verifyChecksums('velero', { now }), NoChecksumsError);
    });

    it('leaves no file when the data stream fails halfway', async (t) => {
      const { store, cleanup } = await open();
      t.after(cleanup);
      const backups = new BackupStore({ location: 'primary', store, key: generateLocationKey() });
      const failing = new Readable({ read() {} });
      failing.push(randomBytes(100_000));
      setImmediate(() => failing.destroy(new Error('the cluster went away')));
      await assert.rejects(backups.writeFile('broken', 'archive', failing), /the cluster went away/);
      assert.equal(await store.head('backups/broken/broken.tar.gz'), undefined);
    });

    it('says which key a backup needs when read with another or none', async (t) => {
      const { store, cleanup } = await open();
      t.after(cleanup);
      const key = generateLocationKey();
      const writer = new BackupStore({ location: 'primary', store, key });
      const stored = await writer.writeFile('locked', 'archive', Buffer.from('secret objects'));
      const { manifest } = manifestOf('locked', [stored], writer.encryption);
      await writer.commit(backupObject('locked', writer.encryption), manifest);

      const otherKey = generateLocationKey();
      const other = new BackupStore({
        location: 'primary',
        store,
        key: otherKey,
        keySource: 'the key file /keys/primary.key',
      });
      await assert.rejects(other.openFile('locked', 'archive'), (e: unknown) => {
        assert.ok(e instanceof LocationKeyMismatchError);
        assert.equal(
          e.message,
          `backup "locked" in location "primary" is encrypted with key ${keyId(key)}, but the key given is ` +
            `${keyId(otherKey)} (the key file /keys/primary.key). To fix: run \`cairn location key-export primary\` ` +
            `on the machine that has key ${keyId(key)}, and put its output in the key file /keys/primary.key`,
        );
        return true;
      });
      const keyless = new BackupStore({ location: 'primary', store });
      await assert.rejects(
        keyless.openFile('locked', 'archive'),
        (e: unknown) =>
          e instanceof MissingKeyError &&
          e.message.includes(keyId(key)) &&
          !e.message.includes(key.toString('hex')),
      );
    });

    it('records the key id (never the key) in the location at the first claim', async (t) => {
      const { store, cleanup } = await open();
      t.after(cleanup);
      const key = generateLocationKey();
      const backups = new BackupStore({ location: 'primary', store, key });
      assert.equal(await backups.expectedKeyId(), undefined);
      await backups.claim(claim('first'));
      const text = (await buffer(await store.get(LOCATION_METADATA_KEY))).toString('utf8');
      assert.deepEqual(JSON.parse(text), {
        kind: 'CairnLocation',
        version: 1,
        encryption: { algorithm: 'AES-256-GCM', keyId: keyId(key) },
      });
      assert.ok(!text.includes(key.toString('base64')) && !text.includes(key.toString('hex')));
      assert.equal(await backups.expectedKeyId(), keyId(key));
      await backups.claim(claim('second')); // the same key goes on writing
    });

    it('refuses a claim with another key, naming both key ids, and writes nothing', async (t) => {
      const { store, cleanup } = await open();
      t.after(cleanup);
      const key = generateLocationKey();
      await new BackupStore({ location: 'primary', store, key }).claim(claim('first'));
      const swapped = generateLocationKey();
      const writer = new BackupStore({
        location: 'primary',
        store,
        key: swapped,
        keySource: 'Secret "cairn-key-primary" in namespace cairn',
      });
      await assert.rejects(writer.claim(claim('second')), (e: unknown) => {
        assert.ok(e instanceof LocationKeyMismatchError);
        assert.equal(e.expectedKeyId, keyId(key));
        assert.equal(e.givenKeyId, keyId(swapped));
        assert.match(
          e.message,
          new RegExp(
            `^location "primary" is encrypted with key ${keyId(key)}, but the key given is ${keyId(swapped)} ` +
              `\\(Secret "cairn-key-primary" in namespace cairn\\)\\. To fix: run \`cairn location key-export primary\` ` +
              `on the machine that has key ${keyId(key)}`,
          ),
        );
        return true;
      });
      assert.equal(await store.head('backups/second/second-claim.json'), undefined);
    });

    it('takes a location written before key records by the key of its backups, and records it then', async (t) => {
      const { store, cleanup } = await open();
      t.after(cleanup);
      const key = generateLocationKey();
      const old = new BackupStore({ location: 'primary', store, key });
      // A backup as written before records: its status names the key, the location has no record.
      await old.commit(backupObject('old', old.encryption), manifestOf('old', [], old.encryption).manifest);
      assert.equal(await store.head(LOCATION_METADATA_KEY), undefined);

      const swapped = new BackupStore({ location: 'primary', store, key: generateLocationKey() });
      await assert.rejects(swapped.claim(claim('new')), LocationKeyMismatchError);
      assert.equal(await store.head(LOCATION_METADATA_KEY), undefined, 'a refused key records nothing');

      await old.claim(claim('new'));
      assert.equal(await old.expectedKeyId(), keyId(key));
      assert.ok(await store.head(LOCATION_METADATA_KEY));
    });

    it('records nothing for a plaintext location', async (t) => {
      const { store, cleanup } = await open();
      t.after(cleanup);
      await new BackupStore({ location: 'velero', store }).claim(claim('plain'));
      assert.equal(await store.head(LOCATION_METADATA_KEY), undefined);
    });

    it('deletes a backup metadata first, then every other file', async (t) => {
      const { store, cleanup } = await open();
      t.after(cleanup);
      const backups = new BackupStore({ location: 'primary', store, key: generateLocationKey() });
      await backups.claim(claim('old'));
      const stored = await backups.writeFile('old', 'archive', Buffer.from('x'));
      await backups.commit(
        backupObject('old', backups.encryption),
        manifestOf('old', [stored], backups.encryption).manifest,
      );
      const order: string[] = [];
      const recording: ObjectStore = {
        description: store.description,
        put: (key, body, options) => store.put(key, body, options),
        get: (key, options) => store.get(key, options),
        head: (key, options) => store.head(key, options),
        list: (prefix, options) => store.list(prefix, options),
        delete: (key, options) => {
          order.push(key);
          return store.delete(key, options);
        },
      };
      assert.deepEqual(await new BackupStore({ location: 'primary', store: recording }).deleteBackup('old'), {
        deleted: 4,
        uploadsAborted: 0, // no store here keeps incomplete uploads
      });
      assert.equal(order[0], 'backups/old/velero-backup.json');
      assert.equal(await backups.getBackup('old'), undefined);
      await assert.rejects(backups.deleteBackup('old'), BackupNotFoundError);
    });
  });
}

describe("a backup's small files", () => {
  for (const encrypted of [false, true])
    it(`are tried again after a transient failure (${encrypted ? 'encrypted' : 'plaintext'})`, async () => {
      const faulty = withFaults(new MemoryStore(), [
        {
          method: 'put',
          call: 1,
          error: new StoreUnavailableError('memory', '503 SlowDown', true, 'backups/b/b-logs.gz'),
        },
      ]);
      const backups = new BackupStore({
        location: 'flaky',
        store: withRetry(faulty, { attempts: 3, baseDelayMs: 1, maxDelayMs: 1 }),
        ...(encrypted ? { key: generateLocationKey() } : {}),
      });
      const stored = await backups.writeFile('b', 'logs', Buffer.from('{"level":"info"}\n'));
      assert.equal(faulty.calls.put, 2);
      await backups.verify(stored);
    });
});

describe('listing a location with many backups', () => {
  it('lists every backup in key order, complete or not, across read batches', async () => {
    const store = new MemoryStore();
    const backups = new BackupStore({ location: 'primary', store });
    const names = Array.from({ length: 40 }, (_, i) => `b-${String(i).padStart(2, '0')}`);
    for (const [i, name] of names.entries()) {
      if (i % 7 === 3) await backups.claim(claim(name));
      else
        await store.put(
          `backups/${name}/velero-backup.json`,
          Buffer.from(JSON.stringify(backupObject(name))),
        );
    }
    const listed: [string, boolean][] = [];
    for await (const entry of backups.listBackups()) listed.push([entry.name, entry.complete]);
    assert.deepEqual(
      listed,
      names.map((name, i) => [name, i % 7 !== 3]),
    );
  });
});
