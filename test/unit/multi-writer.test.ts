// One backup written to several locations at once, on the in-memory reference store and the filesystem
// driver: every location claimed, teed, verified and committed alike; a location that fails drops out
// with its reason while the others complete; the signal tells the producer when none is left.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { describe, it, type TestContext } from 'node:test';
import type { Backup } from '../../src/api/index.ts';
import {
  BackupExistsError,
  BackupStore,
  ClaimLostError,
  EveryLocationFailedError,
  FilesystemStore,
  generateLocationKey,
  MemoryStore,
  MultiLocationWriter,
  type BackupClaim,
  type ObjectStore,
} from '../../src/storage/index.ts';
import { withFaults } from '../helpers/faulty-store.ts';

const NAME = 'nightly';
const claim: BackupClaim = { name: NAME, startedAt: '2026-12-01T10:00:00.000Z', client: 'test' };
/** Larger than a location's slack, so that the slowest upload paces the stream. */
const archive = randomBytes(6 * 1024 * 1024 + 123);
const logs = Buffer.from('{"msg":"backup done"}\n');

/** The metadata each location commits, as a backup writes it (its encryption tells readers to decrypt). */
const backupFor =
  (phase: 'Completed' | 'Failed') =>
  (location: { location: string; encryption: BackupStore['encryption']; checksums: string }): Backup => ({
    apiVersion: 'velero.io/v1',
    kind: 'Backup',
    metadata: { name: NAME, labels: { 'velero.io/storage-location': location.location } },
    spec: {},
    status: {
      phase,
      ...(location.encryption ? { encryption: location.encryption } : {}),
      checksums: location.checksums,
    },
  });

/** The archive in chunks, as an archive writer produces it. */
function archiveStream(): Readable {
  const chunks: Buffer[] = [];
  for (let at = 0; at < archive.length; at += 256 * 1024) chunks.push(archive.subarray(at, at + 256 * 1024));
  return Readable.from(chunks);
}

/** Keys stored under the backup's directory. */
async function keysOf(store: ObjectStore): Promise<string[]> {
  const keys: string[] = [];
  for await (const entry of store.list(`backups/${NAME}/`))
    if (entry.type === 'object') keys.push(entry.key.slice(`backups/${NAME}/`.length));
  return keys;
}

/** A store whose stored copy of the logs is not what was sent (a store that damages what it keeps). */
function damagingLogs(store: ObjectStore): ObjectStore {
  return {
    description: store.description,
    put: async (key, body, options) => {
      if (!key.endsWith('-logs.gz')) return store.put(key, body, options);
      const bytes = Buffer.isBuffer(body) ? Buffer.from(body) : await buffer(body);
      bytes[0] = (bytes[0] ?? 0) ^ 0xff;
      return store.put(key, bytes, options);
    },
    get: (key, options) => store.get(key, options),
    head: (key, options) => store.head(key, options),
    list: (prefix, options) => store.list(prefix, options),
    delete: (key, options) => store.delete(key, options),
  };
}

/** The whole write, as a backup does it; returns the backups committed. */
async function writeEverything(writer: MultiLocationWriter, evenWhereFailed = false): Promise<Backup[]> {
  await writer.claim(claim);
  await writer.tee('archive', archiveStream());
  await writer.writeFiles(() => [{ file: 'logs', body: logs }]);
  await writer.verify();
  await writer.checkClaims(claim);
  const { committed } = await writer.commit({ backupFor: backupFor('Completed'), evenWhereFailed });
  return committed;
}

for (const [kind, open] of [
  ['memory', () => Promise.resolve(new MemoryStore() as ObjectStore)],
  ['filesystem', undefined],
] as const) {
  describe(`writing a backup to several locations on the ${kind} store`, () => {
    /** A fresh object store of this kind, removed after the test. */
    async function store(t: TestContext): Promise<ObjectStore> {
      if (open) return open();
      const root = await mkdtemp(join(tmpdir(), 'cairn-multi-writer-'));
      t.after(() => rm(root, { recursive: true, force: true }));
      return new FilesystemStore({ root });
    }
    const writerOver = (stores: BackupStore[]) =>
      new MultiLocationWriter({ name: NAME, stores, now: () => new Date() });

    it('stores the same files in every location, each verified and committed last', async (t) => {
      const plain = await store(t);
      const encrypted = await store(t);
      const stores = [
        new BackupStore({ location: 'plain', store: plain }),
        new BackupStore({ location: 'sealed', store: encrypted, key: generateLocationKey() }),
      ];
      const writer = writerOver(stores);
      const committed = await writeEverything(writer);

      assert.deepEqual(
        committed.map((b) => b.metadata.labels?.['velero.io/storage-location']),
        ['plain', 'sealed'],
      );
      for (const [backups, objects] of [
        [stores[0], plain],
        [stores[1], encrypted],
      ] as const) {
        assert.deepEqual(await keysOf(objects), [
          `${NAME}-checksums.json`,
          `${NAME}-claim.json`,
          `${NAME}-logs.gz`,
          `${NAME}.tar.gz`,
          'velero-backup.json',
        ]);
        // Compared whole: a diff of megabytes would take minutes to print.
        assert.ok((await buffer(await backups!.openFile(NAME, 'archive'))).equals(archive));
        assert.deepEqual(await buffer(await backups!.openFile(NAME, 'logs')), logs);
        assert.equal((await backups!.getBackup(NAME))?.status?.phase, 'Completed');
      }
      assert.deepEqual(
        writer.outcomes().map((o) => [o.location, o.ok, o.files.map((f) => f.file)]),
        [
          ['plain', true, ['archive', 'logs']],
          ['sealed', true, ['archive', 'logs']],
        ],
      );
      assert.equal(writer.outcome('plain')?.files[0]?.size, archive.length);
      assert.ok((writer.outcome('sealed')?.files[0]?.size ?? 0) > archive.length, 'encrypted, larger');
      assert.equal(writer.signal.aborted, false);
      assert.deepEqual(
        writer.uploads.map((u) => [u.location, u.waiting()]),
        [
          ['plain', false],
          ['sealed', false],
        ],
        'each upload was metered, and nothing waits once it is done',
      );
    });

    it('drops a location whose upload fails, names it, and completes the others', async (t) => {
      // A plaintext location's first put is its claim, the second the archive.
      const failing = withFaults(await store(t), [{ method: 'put', call: 2, error: new Error('disk full') }]);
      const good = await store(t);
      const writer = writerOver([
        new BackupStore({ location: 'bad', store: failing }),
        new BackupStore({ location: 'good', store: good }),
      ]);
      const committed = await writeEverything(writer);

      assert.equal(writer.signal.aborted, false, 'one location is left: the stream goes on');
      const [bad, fine] = writer.outcomes();
      assert.deepEqual(bad && { ...bad, files: bad.files.map((f) => f.file) }, {
        location: 'bad',
        ok: false,
        reason: 'storing the archive failed: disk full',
        claimLost: false,
        files: ['logs'],
      });
      assert.equal(fine?.ok, true);
      assert.deepEqual(
        committed.map((b) => b.metadata.labels?.['velero.io/storage-location']),
        ['good'],
      );
      assert.ok((await keysOf(good)).includes('velero-backup.json'));
      assert.deepEqual(
        await keysOf(failing),
        [`${NAME}-claim.json`, `${NAME}-logs.gz`],
        'no archive and no commit where the archive failed: visibly incomplete',
      );
    });

    it('records a failed backup even where a location failed, when asked', async (t) => {
      const failing = withFaults(await store(t), [{ method: 'put', call: 2, error: new Error('disk full') }]);
      const writer = writerOver([new BackupStore({ location: 'bad', store: failing })]);
      const committed = await writeEverything(writer, true);
      assert.equal(committed.length, 1);
      assert.ok((await keysOf(failing)).includes('velero-backup.json'));
    });

    it('aborts its signal when every location failed to take the stream', async (t) => {
      const writer = writerOver([
        new BackupStore({
          location: 'a',
          store: withFaults(await store(t), [{ method: 'put', call: 2, error: new Error('disk full') }]),
        }),
        new BackupStore({
          location: 'b',
          store: withFaults(await store(t), [{ method: 'put', call: 2, error: new Error('quota exceeded') }]),
        }),
      ]);
      await writer.claim(claim);
      // A producer that never ends its stream: only the signal stops it.
      const endless = new PassThrough();
      endless.write(archive.subarray(0, 1024));
      writer.signal.addEventListener('abort', () => endless.destroy(), { once: true });
      await writer.tee('archive', endless);

      assert.ok(writer.signal.aborted);
      const reason: unknown = writer.signal.reason;
      assert.ok(reason instanceof EveryLocationFailedError);
      assert.equal(
        reason.message,
        'every location failed to store the archive (location a: storing the archive failed: disk full; ' +
          'location b: storing the archive failed: quota exceeded)',
      );
      assert.deepEqual(reason.reasons, {
        a: 'storing the archive failed: disk full',
        b: 'storing the archive failed: quota exceeded',
      });
      assert.deepEqual(
        writer.outcomes().map((o) => o.ok),
        [false, false],
      );
    });

    it('fails a location whose stored file does not verify, and commits the others', async (t) => {
      const damaged = await store(t);
      const good = await store(t);
      const writer = writerOver([
        new BackupStore({ location: 'damaging', store: damagingLogs(damaged) }),
        new BackupStore({ location: 'good', store: good }),
      ]);
      const committed = await writeEverything(writer);

      const outcome = writer.outcome('damaging');
      assert.equal(outcome?.ok, false);
      assert.match(
        outcome.ok ? '' : outcome.reason,
        new RegExp(`^backups/${NAME}/${NAME}-logs\\.gz in location "damaging" is corrupt: its SHA-256 is `),
      );
      assert.deepEqual(
        committed.map((b) => b.metadata.labels?.['velero.io/storage-location']),
        ['good'],
      );
      assert.ok(!(await keysOf(damaged)).includes('velero-backup.json'));
    });

    it('gives back the claims made when a location refuses the name, and writes nothing', async (t) => {
      const first = await store(t);
      const taken = await store(t);
      await new BackupStore({ location: 'taken', store: taken }).claim({ ...claim, client: 'another' });
      const writer = writerOver([
        new BackupStore({ location: 'first', store: first }),
        new BackupStore({ location: 'taken', store: taken }),
      ]);
      const claiming = writer.claim(claim);
      const teeing = writer.tee('archive', archiveStream());
      await assert.rejects(
        claiming,
        (e: unknown) => e instanceof BackupExistsError && e.location === 'taken',
      );
      await teeing;
      assert.ok(writer.signal.reason instanceof BackupExistsError);
      assert.deepEqual(await keysOf(first), [], 'the claim was given back');
      assert.deepEqual(await keysOf(taken), [`${NAME}-claim.json`], "the other writer's claim stays");
    });

    it('writes and commits nothing more where its claim was lost, and aborts its signal', async (t) => {
      const kept = await store(t);
      const deleted = await store(t);
      const unnoticed = await store(t);
      const stores = [
        new BackupStore({ location: 'kept', store: kept }),
        new BackupStore({ location: 'deleted', store: deleted }),
        new BackupStore({ location: 'unnoticed', store: unnoticed }),
      ];
      const writer = writerOver(stores);
      await writer.claim(claim);
      await writer.tee('archive', archiveStream());
      // The backup is deleted in two locations while it runs (as orphaned): a heartbeat finds one of them
      // out; the other is found out by the check before the commits.
      await stores[1]!.deleteBackup(NAME);
      await stores[2]!.deleteBackup(NAME);
      writer.lose(new ClaimLostError('deleted', NAME));
      assert.ok(writer.signal.reason instanceof ClaimLostError);
      await writer.writeFiles(() => [{ file: 'logs', body: logs }]);
      await writer.verify();
      await writer.checkClaims(claim);
      const { committed } = await writer.commit({ backupFor: backupFor('Failed'), evenWhereFailed: true });

      assert.equal(writer.claimLost?.location, 'deleted', 'the first claim lost');
      assert.deepEqual(
        writer.outcomes().map((o) => [o.location, o.ok, !o.ok && o.claimLost]),
        [
          ['kept', true, false],
          ['deleted', false, true],
          ['unnoticed', false, true],
        ],
      );
      assert.deepEqual(
        committed.map((b) => b.metadata.labels?.['velero.io/storage-location']),
        ['kept'],
      );
      assert.deepEqual(await keysOf(deleted), [], 'nothing more written once the loss was seen');
      assert.deepEqual(await keysOf(unnoticed), [`${NAME}-logs.gz`], 'no claim and no commit brought back');
    });

    it('fails every upload of a stream that is destroyed before its end, storing no part of it', async (t) => {
      const objects = await store(t);
      const writer = writerOver([new BackupStore({ location: 'only', store: objects })]);
      await writer.claim(claim);
      const source = new PassThrough();
      source.write(archive.subarray(0, 64 * 1024));
      const teeing = writer.tee('archive', source);
      // Destroyed without an error, as a producer that stopped (an archive writer passes its own on).
      setImmediate(() => source.destroy());
      await teeing;
      const outcome = writer.outcome('only');
      assert.equal(
        outcome?.ok === false ? outcome.reason : 'ok',
        'storing the archive failed: the backup stopped before its archive was complete',
      );
      assert.deepEqual(await keysOf(objects), [`${NAME}-claim.json`]);
    });
  });
}

describe('the multi-location writer, before anything is claimed', () => {
  it('refuses to write before the name is claimed', async () => {
    const writer = new MultiLocationWriter({
      name: NAME,
      stores: [new BackupStore({ location: 'a', store: new MemoryStore() })],
      now: () => new Date(),
    });
    await assert.rejects(writer.tee('archive', archiveStream()), /must be claimed before/);
  });
});
