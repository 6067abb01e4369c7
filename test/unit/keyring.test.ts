// A location's keyring: its text (the key file's, the Secret's, key-export's), the old one-key format read
// as a ring of one, and what the backup store accepts and reads with a rotated ring (on the in-memory
// reference store; test/integration/location-key-rotation.test.ts runs the same against MinIO).
import assert from 'node:assert/strict';
import { buffer } from 'node:stream/consumers';
import { describe, it } from 'node:test';
import type { Backup } from '../../src/api/index.ts';
import { BackupStore, LocationKeyMismatchError, manifestOf } from '../../src/storage/backup-store.ts';
import { generateLocationKey, keyId } from '../../src/storage/encryption.ts';
import {
  formatKeyring,
  KeyringFormatError,
  LocationKeyring,
  parseKeyring,
} from '../../src/storage/keyring.ts';
import { LOCATION_METADATA_KEY, locationKeyRecordKey } from '../../src/storage/layout.ts';
import { MemoryStore } from '../../src/storage/memory-store.ts';

const source = 'the key file /keys/nas.key';

describe('the keyring text', () => {
  it('reads a key file of one key (the format before rotation) as a ring of one, and writes it back unchanged', () => {
    const key = generateLocationKey();
    const old = key.toString('base64') + '\n';
    const ring = parseKeyring(old, source);
    assert.ok(ring.current.equals(key));
    assert.deepEqual(ring.retired, []);
    assert.equal(formatKeyring(ring), old);
    // Without the trailing newline or padding, as a hand-made file may be.
    assert.ok(parseKeyring(key.toString('base64').replace(/=$/, ''), source).current.equals(key));
  });

  it('keeps the current key first and the retired keys newest first, through a round trip', () => {
    const [a, b, c] = [generateLocationKey(), generateLocationKey(), generateLocationKey()];
    const ring = new LocationKeyring(a).rotated(b).rotated(c);
    assert.equal(ring.currentId, keyId(c));
    assert.deepEqual(ring.retiredIds, [keyId(b), keyId(a)]);
    const text = formatKeyring(ring);
    const lines = text.trimEnd().split('\n');
    assert.equal(lines[0], c.toString('base64'));
    assert.match(lines[1] ?? '', new RegExp(`^# retired keys, newest first: .*${keyId(b)}, ${keyId(a)}`));
    assert.equal(lines.length, 4);
    const back = parseKeyring(text, source);
    assert.equal(back.currentId, keyId(c));
    assert.deepEqual(back.retiredIds, [keyId(b), keyId(a)]);
    assert.ok(back.byId(keyId(a))?.equals(a));
    assert.equal(back.byId(keyId(generateLocationKey())), undefined);
    assert.deepEqual(back.withoutRetired().retiredIds, []);
    assert.equal(back.withoutRetired().currentId, keyId(c));
  });

  it('refuses text that is not a keyring, naming the source and the line, never a key', () => {
    const key = generateLocationKey();
    const cases: [string, RegExp][] = [
      ['', /holds no key/],
      ['# only a comment\n\n', /holds no key/],
      [`${key.toString('base64')}\nnot a key\n`, /line 2 is not a 32-byte key in base64/],
      [generateLocationKey().subarray(0, 16).toString('base64'), /line 1 is not a 32-byte key/],
      [
        `${key.toString('base64')}\n${key.toString('base64')}\n`,
        new RegExp(`line 2 repeats key ${keyId(key)}`),
      ],
      [`${key.toString('base64')} trailing`, /line 1 is not a 32-byte key/],
    ];
    for (const [text, message] of cases) {
      assert.throws(
        () => parseKeyring(text, source),
        (e: unknown) =>
          e instanceof KeyringFormatError &&
          e.message.startsWith(`${source} is not a location keyring: `) &&
          message.test(e.message) &&
          !e.message.includes(key.toString('base64')),
        JSON.stringify(text),
      );
    }
  });
});

function backupObject(name: string, encryption?: { algorithm: string; keyId: string }): Backup {
  return {
    apiVersion: 'velero.io/v1',
    kind: 'Backup',
    metadata: { name },
    spec: { includedNamespaces: ['shop'] },
    status: { phase: 'Completed', formatVersion: '1.1.0', version: 1, ...(encryption ? { encryption } : {}) },
  };
}

/** Claims, writes and commits a backup holding `archive`, as createBackup does. */
async function backUp(backups: BackupStore, name: string, archive: string): Promise<void> {
  await backups.claim({ name, startedAt: '2026-12-07T00:00:00Z', client: 'test' });
  const files = [await backups.writeFile(name, 'archive', Buffer.from(archive))];
  const { manifest, sha256 } = manifestOf(name, files, backups.encryption);
  const backup = backupObject(name, backups.encryption);
  backup.status = { ...backup.status, checksums: sha256 };
  await backups.commit(backup, manifest);
}

const read = async (backups: BackupStore, name: string) =>
  (await buffer(await backups.openFile(name, 'archive'))).toString();

const storeWith = (store: MemoryStore, ring: LocationKeyring) =>
  new BackupStore({
    location: 'nas',
    store,
    key: ring.current,
    retiredKeys: ring.retired,
    keySource: source,
  });

describe('the backup store with a rotated keyring', () => {
  it('writes with the current key, reads each backup with its own key, and records the new key once', async () => {
    const store = new MemoryStore();
    const first = new LocationKeyring(generateLocationKey());
    await backUp(storeWith(store, first), 'one', 'written with key 1');
    const second = first.rotated();
    const rotated = storeWith(store, second);
    await backUp(rotated, 'two', 'written with key 2');

    assert.equal((await rotated.getBackup('one'))?.status?.encryption?.keyId, first.currentId);
    assert.equal((await rotated.getBackup('two'))?.status?.encryption?.keyId, second.currentId);
    assert.equal(await read(rotated, 'one'), 'written with key 1');
    assert.equal(await read(rotated, 'two'), 'written with key 2');
    // The location record is the first key's, unchanged; the new key has a write-once record of its own.
    const record = JSON.parse((await buffer(await store.get(LOCATION_METADATA_KEY))).toString()) as {
      encryption: { keyId: string };
    };
    assert.equal(record.encryption.keyId, first.currentId);
    const keyRecord = JSON.parse(
      (await buffer(await store.get(locationKeyRecordKey(second.currentId)))).toString(),
    ) as Record<string, unknown>;
    assert.deepEqual(keyRecord, {
      kind: 'CairnLocationKey',
      version: 1,
      encryption: { algorithm: 'AES-256-GCM', keyId: second.currentId },
      follows: first.currentId,
    });
    assert.deepEqual(await rotated.knownKeyIds(), [first.currentId, second.currentId]);
    assert.equal(await rotated.expectedKeyId(), second.currentId);
    assert.deepEqual(
      [...(await rotated.backupsPerKeyId())].sort(),
      [
        [first.currentId, 1],
        [second.currentId, 1],
      ].sort(),
    );

    // Once recorded, the new key is the location's even without its retired keys (after --drop-retired).
    const dropped = storeWith(store, second.withoutRetired());
    await backUp(dropped, 'three', 'written with key 2 again');
    await assert.rejects(
      dropped.openFile('one', 'archive'),
      (e: unknown) => e instanceof LocationKeyMismatchError && e.expectedKeyId === first.currentId,
    );
  });

  it('refuses an unrelated key, and a new ring that retired only an unrelated key, as before rotation', async () => {
    const store = new MemoryStore();
    const first = new LocationKeyring(generateLocationKey());
    await backUp(storeWith(store, first), 'one', 'key 1');
    const second = first.rotated();
    await backUp(storeWith(store, second), 'two', 'key 2');
    for (const ring of [
      new LocationKeyring(generateLocationKey()),
      new LocationKeyring(generateLocationKey()).rotated(),
    ]) {
      const stranger = storeWith(store, ring);
      await assert.rejects(
        stranger.claim({ name: 'three', startedAt: '2026-12-07T00:00:00Z', client: 'test' }),
        (e: unknown) => {
          assert.ok(e instanceof LocationKeyMismatchError);
          // It names the newest key the location knows: the one to go and find.
          assert.equal(e.expectedKeyId, second.currentId);
          assert.equal(e.givenKeyId, ring.currentId);
          return true;
        },
      );
      await assert.rejects(stranger.openFile('one', 'archive'), LocationKeyMismatchError);
    }
    assert.equal(await store.head('backups/three/three-claim.json'), undefined, 'nothing was written');
    assert.deepEqual(await storeWith(store, second).knownKeyIds(), [first.currentId, second.currentId]);
  });
});
