// The files Cairn stores in Velero's layout, held against Velero's Go types and Velero-written fixtures
// (test/helpers/velero-fixture.ts), never against Cairn's own earlier output.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buffer } from 'node:stream/consumers';
import {
  fromStoredResults,
  labelSelectorProblem,
  Results,
  storedLogLine,
  type Backup,
} from '../../src/api/index.ts';
import { BackupStore } from '../../src/storage/backup-store.ts';
import { MemoryStore } from '../../src/storage/memory-store.ts';
import {
  goBackup,
  goDecode,
  goLogLine,
  goResults,
  veleroBackupJson,
  veleroSelectorBackupJson,
} from '../helpers/velero-fixture.ts';

/** What Cairn adds to Velero's Backup: fields Velero's decoder ignores. */
const CAIRN_ADDITIONS = [
  'spec.storageLocations',
  'spec.consistency',
  'spec.includeSecrets',
  'spec.deleteLockDays',
  'status.consistency',
  'status.encryption',
  'status.locations',
  'status.checksums',
];

/** A Backup as createBackup commits it, with a label selector as the CLI's --selector gives it. */
function cairnBackup(name: string, spec: Partial<Backup['spec']>): Backup {
  return {
    apiVersion: 'velero.io/v1',
    kind: 'Backup',
    metadata: {
      name,
      uid: 'b7a1f3de-2c41-4c55-9a0e-6f1d2b3c4d5e',
      labels: { 'velero.io/storage-location': 'default' },
      creationTimestamp: '2026-05-20T10:00:00.000Z',
    },
    spec: {
      includedNamespaces: ['shop'],
      ttl: '720h0m0s',
      storageLocation: 'default',
      storageLocations: ['default'],
      consistency: 'snapshot',
      ...spec,
    },
    status: {
      version: 1,
      formatVersion: '1.1.0',
      phase: 'Completed',
      startTimestamp: '2026-05-20T10:00:00.000Z',
      completionTimestamp: '2026-05-20T10:00:02.000Z',
      expiration: '2026-06-19T10:00:00.000Z',
      progress: { itemsBackedUp: 10, totalItems: 10 },
      errors: 0,
      warnings: 0,
      consistency: { mode: 'snapshot', revision: '4242', bestEffortResources: [] },
      locations: [{ name: 'default', phase: 'Completed', bytes: 2048, archiveBytes: 1024 }],
      checksums: 'ab'.repeat(32),
    },
  };
}

async function committed(backup: Backup): Promise<{ stored: Record<string, unknown>; read: Backup }> {
  const store = new MemoryStore();
  const backups = new BackupStore({ location: 'default', store });
  await backups.commit(backup, { backup: backup.metadata.name, algorithm: 'sha256', files: {} });
  const bytes = await buffer(await store.get(`backups/${backup.metadata.name}/velero-backup.json`));
  const read = await backups.getBackup(backup.metadata.name);
  assert.ok(read);
  return { stored: JSON.parse(bytes.toString()) as Record<string, unknown>, read };
}

const specOf = (json: Record<string, unknown>) => json['spec'] as Record<string, unknown>;

describe("velero-backup.json against Velero's Backup type", () => {
  it("is a type Velero's decoder reads: the Velero fixture decodes cleanly (the type table is right)", () => {
    for (const json of [
      veleroBackupJson('plain'),
      veleroSelectorBackupJson('one', 'labelSelector'),
      veleroSelectorBackupJson('or', 'orLabelSelectors'),
    ]) {
      assert.deepEqual(goDecode(json, goBackup), { errors: [], unknown: [] });
    }
  });

  it('stores --selector as the LabelSelector object Velero writes, and reads it back as text', async () => {
    const { stored, read } = await committed(
      cairnBackup('shop-selected', { labelSelector: 'app=shop,tier in (a,b)' }),
    );
    const decoded = goDecode(stored, goBackup);
    assert.deepEqual(decoded.errors, []);
    // Anything Velero's type lacks is one of Cairn's documented additions, which Velero ignores.
    assert.deepEqual(
      decoded.unknown.filter((field) => !CAIRN_ADDITIONS.includes(field)),
      [],
    );
    const velero = veleroSelectorBackupJson('shop-selected', 'labelSelector');
    assert.deepEqual(specOf(stored)['labelSelector'], specOf(velero)['labelSelector']);
    // Every field both write has Velero's value and shape.
    for (const field of ['includedNamespaces', 'ttl', 'storageLocation'])
      assert.deepEqual(specOf(stored)[field], specOf(velero)[field], field);
    assert.equal(stored['apiVersion'], velero['apiVersion']);
    assert.equal(stored['kind'], velero['kind']);
    assert.equal(read.spec.labelSelector, 'app=shop,tier in (a,b)');
  });

  it('stores --or-selector as a list of LabelSelector objects, and reads it back as text', async () => {
    const { stored, read } = await committed(
      cairnBackup('shop-or', { orLabelSelectors: ['app=shop', 'tier notin (c)'] }),
    );
    assert.deepEqual(goDecode(stored, goBackup).errors, []);
    assert.deepEqual(
      specOf(stored)['orLabelSelectors'],
      specOf(veleroSelectorBackupJson('shop-or', 'orLabelSelectors'))['orLabelSelectors'],
    );
    assert.deepEqual(read.spec.orLabelSelectors, ['app=shop', 'tier notin (c)']);
  });

  it('stores != as the NotIn expression that matches the same objects, and an empty selector not at all', async () => {
    const { stored } = await committed(cairnBackup('ne', { labelSelector: 'tier!=db,!legacy' }));
    assert.deepEqual(specOf(stored)['labelSelector'], {
      matchExpressions: [
        { key: 'legacy', operator: 'DoesNotExist' },
        { key: 'tier', operator: 'NotIn', values: ['db'] },
      ],
    });
    const empty = await committed(cairnBackup('all', { labelSelector: '' }));
    assert.equal('labelSelector' in specOf(empty.stored), false);
  });

  it("reads a Velero backup's selector objects as selector text", async () => {
    const store = new MemoryStore();
    const backups = new BackupStore({ location: 'velero', store });
    for (const [name, kind] of [
      ['one', 'labelSelector'],
      ['or', 'orLabelSelectors'],
    ] as const)
      await store.put(
        `backups/${name}/velero-backup.json`,
        Buffer.from(JSON.stringify(veleroSelectorBackupJson(name, kind))),
      );
    assert.equal((await backups.getBackup('one'))?.spec.labelSelector, 'app=shop,tier in (a,b)');
    assert.deepEqual((await backups.getBackup('or'))?.spec.orLabelSelectors, ['app=shop', 'tier notin (c)']);
  });

  it('reads the selector text that earlier Cairn versions stored', async () => {
    const store = new MemoryStore();
    const old = cairnBackup('old', { labelSelector: 'sxs=1' });
    await store.put('backups/old/velero-backup.json', Buffer.from(JSON.stringify(old)));
    await store.put(
      'backups/old-or/velero-backup.json',
      Buffer.from(JSON.stringify(cairnBackup('old-or', { orLabelSelectors: ['a=1', 'b=2'] }))),
    );
    const backups = new BackupStore({ location: 'default', store });
    assert.equal((await backups.getBackup('old'))?.spec.labelSelector, 'sxs=1');
    assert.deepEqual((await backups.getBackup('old-or'))?.spec.orLabelSelectors, ['a=1', 'b=2']);
  });

  it('refuses a backup selector with > or <, which has no LabelSelector form', () => {
    assert.match(
      labelSelectorProblem('n>5', { objectForm: true }) ?? '',
      /"n>5" is not a label requirement: the operator > has no metav1\.LabelSelector form/,
    );
    assert.equal(labelSelectorProblem('n>5'), undefined, 'a restore or a rule may still use it');
  });
});

describe("the results file against Velero's Result type", () => {
  it("keeps Cairn's own messages under Velero's `velero` key, and reads them back", () => {
    const results = new Results();
    results.error('cairn', 'the backup failed: the cluster is unreachable');
    results.warning({ namespace: 'shop' }, 'related persistentvolumeclaims shop/data does not exist');
    results.warning('cluster', 'nodes is no longer served');
    const stored = JSON.parse(JSON.stringify(results.toJSON())) as unknown;
    assert.deepEqual(goDecode(stored, goResults), { errors: [], unknown: [] });
    assert.deepEqual(stored, {
      errors: { velero: ['the backup failed: the cluster is unreachable'] },
      warnings: {
        cluster: ['nodes is no longer served'],
        namespaces: { shop: ['related persistentvolumeclaims shop/data does not exist'] },
      },
    });
    assert.deepEqual(fromStoredResults(stored).errors, {
      cairn: ['the backup failed: the cluster is unreachable'],
    });
  });

  it('reads the `cairn` key that earlier Cairn versions wrote', () => {
    assert.deepEqual(fromStoredResults({ errors: { cairn: ['x'] }, warnings: {} }), {
      errors: { cairn: ['x'] },
      warnings: {},
    });
  });
});

describe("the log against logrus's JSON lines", () => {
  it('writes time, level and msg, then the fields', () => {
    const line = JSON.parse(
      storedLogLine('2026-05-20T10:00:00.000Z', {
        level: 'warning',
        message: 'related persistentvolumeclaims shop/data does not exist',
        namespace: 'shop',
      }),
    ) as Record<string, unknown>;
    assert.deepEqual(Object.keys(line), ['time', 'level', 'msg', 'namespace']);
    assert.deepEqual(goDecode(line, goLogLine).errors, []);
  });
});
