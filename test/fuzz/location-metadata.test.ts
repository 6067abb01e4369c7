// Bad input in a location's metadata files, read by the backup store (src/storage/backup-store.ts) and
// src/api/velero-files.ts: velero-backup.json, the checksum manifest, the claim, the verification record
// and the location record (metadata/cairn-location.json), as random bytes, mutations of valid files and
// random JSON. Everything that reads them (the catalog, a restore's open, verify, a new backup's claim)
// answers or refuses with one of the storage layer's typed errors.
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { fromStoredResults, type Backup } from '../../src/api/index.ts';
import {
  BackupExistsError,
  BackupNotFoundError,
  BackupStore,
  ChecksumManifestError,
  ChecksumMismatchError,
  ClaimLostError,
  CorruptMetadataError,
  EncryptionError,
  LOCATION_METADATA_KEY,
  LocationKeyMismatchError,
  MemoryStore,
  MissingFileError,
  MissingKeyError,
  NoChecksumsError,
  UnreadableFileError,
  backupKeys,
  generateLocationKey,
  manifestOf,
} from '../../src/storage/index.ts';
import { ObjectStoreError } from '../../src/storage/errors.ts';
import { FUZZ_TEST_TIMEOUT_MS, checkParser, fuzzRuns, mutationOf, type ErrorClass } from '../helpers/fuzz.ts';
import { Outcomes, recordReliability } from '../helpers/reliability.ts';

const STORE_ERRORS: ErrorClass[] = [
  BackupExistsError,
  BackupNotFoundError,
  ChecksumManifestError,
  ChecksumMismatchError,
  ClaimLostError,
  CorruptMetadataError,
  EncryptionError,
  LocationKeyMismatchError,
  MissingFileError,
  MissingKeyError,
  NoChecksumsError,
  ObjectStoreError,
  UnreadableFileError,
];
const options = { timeout: FUZZ_TEST_TIMEOUT_MS };
const key = generateLocationKey();

/** A location holding one committed, encrypted backup `nightly`; returns the stored bytes of its files. */
async function location(): Promise<{ store: MemoryStore; backups: BackupStore; files: Map<string, Buffer> }> {
  const store = new MemoryStore();
  const backups = new BackupStore({ location: 'fuzz', store, key });
  await backups.claim({
    name: 'nightly',
    startedAt: '2026-01-02T03:04:05Z',
    client: 'test',
    host: 'h',
    pid: 1,
    uid: 'u',
  });
  const stored = await backups.writeFile('nightly', 'archive', Buffer.from('archive bytes'));
  const { manifest, sha256 } = manifestOf('nightly', [stored], backups.encryption);
  const backup: Backup = {
    apiVersion: 'velero.io/v1',
    kind: 'Backup',
    metadata: { name: 'nightly' },
    spec: { includedNamespaces: ['shop'], labelSelector: 'app=web', orLabelSelectors: ['tier in (a,b)'] },
    status: {
      phase: 'Completed',
      formatVersion: '1.1.0',
      version: 1,
      checksums: sha256,
      encryption: backups.encryption,
    },
  } as Backup;
  await backups.commit(backup, manifest);
  await backups.recordVerification('nightly', {
    verifiedAt: '2026-01-02T04:00:00Z',
    method: 'checksums',
    outcome: 'Passed',
    files: 1,
    problems: [],
  });
  const files = new Map<string, Buffer>();
  for await (const entry of store.list(''))
    if (entry.type === 'object') files.set(entry.key, await buffer(await store.get(entry.key)));
  return { store, backups, files };
}

/** Everything that reads a location's metadata, one after the other (each may refuse). */
async function readEverything(backups: BackupStore): Promise<void> {
  const problems: unknown[] = [];
  const attempt = async (work: () => Promise<unknown>) => {
    try {
      await work();
    } catch (error) {
      problems.push(error);
    }
  };
  await attempt(async () => {
    for await (const entry of backups.listBackups({ verification: true })) void entry;
  });
  await attempt(() => backups.getEntry('nightly', { verification: true }));
  await attempt(() => backups.expectedKeyId());
  await attempt(() => backups.verifyChecksums('nightly', { now: () => new Date(0) }));
  await attempt(async () => buffer(await backups.openFile('nightly', 'archive')));
  await attempt(() =>
    backups.claim({ name: 'another', startedAt: 'now', client: 'c', host: 'h', pid: 2, uid: 'v' }),
  );
  if (problems.length > 0) throw problems[0];
}

describe("a location's metadata files, given bad bytes", () => {
  const targets = [
    ['velero-backup.json', backupKeys('nightly').metadata],
    ['checksum manifest', backupKeys('nightly').checksums],
    ['claim', backupKeys('nightly').claim],
    ['verification record', backupKeys('nightly').verification],
    ['location record', LOCATION_METADATA_KEY],
  ] as const;

  for (const [what, target] of targets)
    it(`reads or refuses every mutation of the ${what}, and random JSON in it`, options, async () => {
      const { store, backups, files } = await location();
      const valid = files.get(target);
      assert.ok(valid, `${target} is written`);
      const json = JSON.parse(valid.toString('utf8')) as Record<string, unknown>;
      const outcomes = await checkParser({
        inputs: fc.oneof(
          mutationOf(valid),
          fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v) ?? '')),
          // The file's own fields, each kept or replaced by a random value.
          fc
            .record(Object.fromEntries(Object.keys(json).map((k) => [k, fc.option(fc.jsonValue())])))
            .map((fields) =>
              Buffer.from(
                JSON.stringify(Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, v ?? json[k]]))),
              ),
            ),
        ),
        parse: async (bytes: Buffer) => {
          await store.delete(target);
          await store.put(target, Readable.from([bytes]));
          // The claim of `another` is written by readEverything: gone again for the next case.
          await store.delete(backupKeys('another').claim).catch(() => {});
          await readEverything(backups);
        },
        typed: STORE_ERRORS,
        runs: fuzzRuns(120),
      });
      recordReliability({
        section: 'Bad input',
        subject: `location metadata: ${what} (BackupStore readers)`,
        tried: 'mutated file, random JSON, its fields with random values',
        cases: outcomes.cases,
        outcome: outcomes.summary(),
        lost: 'nothing: no stored file changed but the test claim',
      });
    });

  // Found by the properties above; each was a TypeError or a SyntaxError from deep inside.
  it('regression: velero-backup.json of null, of [], not JSON, or without metadata is a CorruptMetadataError', async () => {
    const { store, backups } = await location();
    const key = backupKeys('nightly').metadata;
    for (const [content, reason] of [
      ['null', 'it is not a JSON object'],
      ['[]', 'it is not a JSON object'],
      ['{"spec":{}}', 'it has no metadata.name'],
      ['{"metadata":{"name":"nightly"},"status":{"encryption":5}}', 'its status.encryption has no keyId'],
      ['{"metad', 'it is not JSON'],
    ] as const) {
      await store.delete(key);
      await store.put(key, Buffer.from(content));
      await assert.rejects(backups.getBackup('nightly'), {
        name: 'CorruptMetadataError',
        message: `${key} in location "fuzz" is corrupt: ${reason}`,
      });
    }
  });

  it('regression: a location record or a claim of null is no record; a manifest without files is refused', async () => {
    const { store, backups } = await location();
    await store.delete(LOCATION_METADATA_KEY);
    await store.put(LOCATION_METADATA_KEY, Buffer.from('null'));
    assert.equal(await backups.expectedKeyId(), backups.encryption?.keyId, 'the key id of its backups');
    const claim = backupKeys('nightly').claim;
    await store.delete(claim);
    await store.put(claim, Buffer.from('7'));
    await store.delete(backupKeys('nightly').metadata);
    assert.deepEqual(await backups.getEntry('nightly'), { name: 'nightly', complete: false });
    const { manifest } = manifestOf('x', [], undefined);
    const checksums = backupKeys('nightly').checksums;
    await store.delete(checksums);
    await store.put(checksums, Buffer.from(JSON.stringify({ ...manifest, files: { 'x.tar.gz': 5 } })));
    const backup = { metadata: { name: 'nightly' } } as Backup;
    await assert.rejects(backups.readManifest(backup), {
      name: 'ChecksumManifestError',
      message: /is not a checksum manifest: file "x.tar.gz" has no sha256 and size/,
    });
  });

  it('reads any JSON as a results file (fromStoredResults)', options, async () => {
    const outcomes = new Outcomes();
    await checkParser({
      inputs: fc.jsonValue(),
      parse: (value) => fromStoredResults(value),
      typed: [],
      runs: fuzzRuns(300),
      outcomes,
    });
    recordReliability({
      section: 'Bad input',
      subject: 'location metadata: results file (fromStoredResults)',
      tried: 'random JSON',
      cases: outcomes.cases,
      outcome: outcomes.summary(),
      lost: 'nothing (read only)',
    });
  });
});
