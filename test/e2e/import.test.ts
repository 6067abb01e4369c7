// `cairn import velero` as a user runs it: from Velero's YAML (test/fixtures/velero-import/, written from
// Velero's documented examples) and from Velero's namespace in a cluster with Velero's CRDs, into Cairn's
// namespace of testbed cluster a.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import {
  specWithDefaults,
  type Backup,
  type BackupLocation,
  type BackupLocationSpec,
  type BackupSpec,
  type Schedule,
  type ScheduleSpec,
} from '../../src/api/index.ts';
import { KubeApiError, type KubeClient } from '../../src/kube/index.ts';
import { cairn, envWithoutCluster } from '../helpers/cli.ts';
import { getCr, installCrds, listCrs } from '../helpers/server.ts';
import { clusterClient, eventually, testNamespace, testbedEnv } from '../helpers/testbed.ts';

const fixtures = 'test/fixtures/velero-import';
const files = ['-f', `${fixtures}/velero.yaml`, '-f', `${fixtures}/backups.yaml`];

/** What the fixtures become (the specs; the API server then fills in the CRDs' defaults). */
const expected = {
  location: {
    provider: 's3',
    objectStorage: { bucket: 'mybucket' },
    config: { region: 'us-west-2', profile: 'default' },
    credential: { name: 'secret-name', key: 'key-in-secret' },
    backupSyncPeriod: '2m0s',
    plaintext: true,
  } satisfies BackupLocationSpec,
  schedule: {
    schedule: '0 7 * * *',
    paused: true,
    template: {
      includedNamespaces: ['*'],
      excludedNamespaces: ['some-namespace'],
      includedResources: ['*'],
      excludedResources: ['storageclasses.storage.k8s.io'],
      labelSelector: 'app=velero,!canary,component=server,tier in (backend,frontend)',
      storageLocation: 'aws-primary',
      ttl: '24h0m0s',
      metadata: { labels: { labelname: 'somelabelvalue' } },
      hooks: {
        resources: [
          {
            name: 'my-hook',
            includedNamespaces: ['*'],
            excludedNamespaces: ['some-namespace'],
            includedResources: ['pods'],
            excludedResources: [],
            labelSelector: 'app=velero,component=server',
            pre: [
              {
                exec: {
                  container: 'my-container',
                  command: ['/bin/uname', '-a'],
                  onError: 'Fail',
                  timeout: '10s',
                },
              },
            ],
          },
        ],
      },
    },
  } satisfies ScheduleSpec,
  backup: {
    includedNamespaces: ['*'],
    excludedNamespaces: ['some-namespace'],
    includedResources: ['*'],
    excludedResources: ['storageclasses.storage.k8s.io'],
    labelSelector: 'app=velero,component=server',
    storageLocation: 'aws-primary',
    defaultVolumesToFsBackup: true,
    ttl: '24h0m0s',
  } satisfies BackupSpec,
};

/** A CRD of Velero's kind that keeps whatever it is given: enough to serve Velero's objects. */
const veleroCrd = (kind: string, plural: string) => ({
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: `${plural}.velero.io` },
  spec: {
    group: 'velero.io',
    scope: 'Namespaced',
    names: { kind, plural, singular: kind.toLowerCase(), listKind: `${kind}List` },
    versions: [
      {
        name: 'v1',
        served: true,
        storage: true,
        schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
      },
    ],
  },
});

let client: KubeClient;
/** The Velero CRDs this test made (and removes): none that were there before. */
const madeCrds: string[] = [];

async function installVeleroCrds(): Promise<void> {
  for (const [kind, plural] of [
    ['Schedule', 'schedules'],
    ['BackupStorageLocation', 'backupstoragelocations'],
    ['Backup', 'backups'],
  ] as const) {
    const crd = veleroCrd(kind, plural);
    try {
      await client.json({
        method: 'POST',
        path: '/apis/apiextensions.k8s.io/v1/customresourcedefinitions',
        body: crd,
      });
      madeCrds.push(crd.metadata.name);
    } catch (error) {
      if (!(error instanceof KubeApiError && error.status === 409)) throw error;
    }
    await eventually(`CRD ${crd.metadata.name} established`, async () => {
      const live = await client.json<{ status?: { conditions?: { type: string; status: string }[] } }>({
        path: `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}`,
      });
      return (
        live.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') || undefined
      );
    });
  }
}

describe('cairn import velero', () => {
  before(async () => {
    client = clusterClient('a');
    await installCrds(client);
  });

  after(async () => {
    for (const name of madeCrds)
      await client.send({
        method: 'DELETE',
        path: `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`,
      });
  });

  it("prints what Velero's YAML becomes with --dry-run, as YAML or a JSON List, without a cluster", async (t) => {
    const home = await mkdtemp(join(tmpdir(), 'cairn-import-'));
    t.after(() => rm(home, { recursive: true, force: true }));
    const env = envWithoutCluster(home);
    const result = await cairn(
      ['import', 'velero', ...files, '--dry-run', '-o', 'yaml', '-n', 'backups'],
      env,
    );
    assert.equal(result.code, 0, result.stderr);
    const objects = parseAllDocuments(result.stdout).map(
      (d) => d.toJS() as Backup | BackupLocation | Schedule,
    );
    assert.deepEqual(
      objects.map((o) => `${o.apiVersion} ${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`),
      [
        'cairn.dev/v1 BackupLocation backups/default',
        'cairn.dev/v1 Schedule backups/a',
        'cairn.dev/v1 Backup backups/a',
        'cairn.dev/v1 Backup backups/a-20190429070000',
      ],
    );
    const [location, schedule, backup, waiting] = objects as [BackupLocation, Schedule, Backup, Backup];
    assert.deepEqual(location.spec, expected.location);
    assert.deepEqual(schedule.spec, expected.schedule);
    assert.deepEqual(backup.spec, expected.backup);
    assert.deepEqual(backup.status, {
      phase: 'Completed',
      version: 1,
      formatVersion: '1.1.0',
      startTimestamp: '2019-04-29T15:58:43Z',
      completionTimestamp: '2019-04-29T15:58:56Z',
      expiration: '2019-04-30T15:58:43Z',
      errors: 0,
      warnings: 2,
      progress: { totalItems: 120, itemsBackedUp: 120 },
    });
    assert.deepEqual(waiting.spec.orLabelSelectors, ['app=velero', 'app=data-protection']);
    assert.equal(waiting.status?.phase, 'PartiallyFailed');
    // The report goes to stderr, so stdout is the objects alone.
    // The schedule's hook set is kept (its label selector in text form), without a warning.
    assert.doesNotMatch(result.stderr, /spec\.template\.hooks/);
    assert.match(result.stderr, /^ {2}warning: spec\.credential: copy the Secret "secret-name"/m);
    assert.match(
      result.stderr,
      /^ {2}warning: status\.phase: WaitingForPluginOperations is not a phase of Cairn's: imported as PartiallyFailed/m,
    );
    assert.match(
      result.stderr,
      /^Dry run, nothing was created: 4 objects to import into namespace backups, \d+ warnings, 0 with problems\.$/m,
    );

    const json = await cairn(
      ['import', 'velero', ...files, '--dry-run', '-o', 'json', '--kinds', 'backups'],
      env,
    );
    assert.equal(json.code, 0, json.stderr);
    const list = JSON.parse(json.stdout) as { kind: string; items: Backup[] };
    assert.equal(list.kind, 'List');
    assert.deepEqual(
      list.items.map((o) => `${o.kind} ${o.metadata.name}`),
      ['Backup a', 'Backup a-20190429070000'],
    );
  });

  it("creates them in Cairn's namespace, with the Backups' status, and skips them on a second run", async (t) => {
    const namespace = await testNamespace(t, client, 'cairn-import');
    const first = await cairn(['import', 'velero', ...files, '-n', namespace]);
    assert.equal(first.code, 0, first.stderr);
    for (const line of ['BackupLocation default', 'Schedule a', 'Backup a', 'Backup a-20190429070000'])
      assert.match(first.stdout, new RegExp(`^${line}: created$`, 'm'));
    assert.match(
      first.stdout,
      /^ {2}warning: spec\.plaintext: true: Cairn reads and writes this location unencrypted/m,
    );
    assert.match(
      first.stdout,
      new RegExp(`into namespace ${namespace}: 4 created, 0 skipped \\(already there\\)`),
    );

    const location = await getCr<BackupLocation>(client, namespace, 'BackupLocation', 'default');
    assert.deepEqual(location?.spec, specWithDefaults('BackupLocation', expected.location));
    const schedule = await getCr<Schedule>(client, namespace, 'Schedule', 'a');
    assert.deepEqual(schedule?.spec, specWithDefaults('Schedule', expected.schedule));
    assert.equal(schedule?.metadata.labels?.team, 'platform');
    const backup = await getCr<Backup>(client, namespace, 'Backup', 'a');
    assert.deepEqual(backup?.spec, specWithDefaults('Backup', expected.backup));
    assert.equal(backup?.status?.phase, 'Completed');
    assert.equal(backup?.status?.expiration, '2019-04-30T15:58:43Z');
    assert.deepEqual(backup?.status?.progress, { totalItems: 120, itemsBackedUp: 120 });
    assert.equal(backup?.metadata.annotations?.['cairn.dev/imported-from'], 'velero.io/v1 Backup velero/a');
    const waiting = await getCr<Backup>(client, namespace, 'Backup', 'a-20190429070000');
    assert.equal(waiting?.status?.phase, 'PartiallyFailed');
    assert.equal(waiting?.metadata.labels?.['velero.io/schedule-name'], 'a');

    const second = await cairn(['import', 'velero', ...files, '-n', namespace]);
    assert.equal(second.code, 0, second.stderr);
    assert.match(
      second.stdout,
      new RegExp(
        `^Schedule a: skipped: a Schedule of that name is already in namespace ${namespace} \\(not overwritten\\)$`,
        'm',
      ),
    );
    assert.match(second.stdout, /: 0 created, 4 skipped \(already there\)/);
    assert.equal((await listCrs<Backup>(client, namespace, 'Backup')).length, 2);
  });

  it('creates the objects without problems, not those with, naming the field and the value, and exits 1', async (t) => {
    const namespace = await testNamespace(t, client, 'cairn-import');
    const result = await cairn([
      'import',
      'velero',
      '-f',
      `${fixtures}/velero.yaml`,
      '-f',
      `${fixtures}/problems.yaml`,
      '-n',
      namespace,
    ]);
    assert.equal(result.code, 1);
    assert.match(
      result.stdout,
      /^Schedule broken: not imported:\n {2}spec\.template\.labelSelector\.matchExpressions\[0\]\.operator "Gt": must be one of In, NotIn, Exists, DoesNotExist\n {2}spec\.template\.ttl "30 days": not a duration/m,
    );
    assert.match(
      result.stdout,
      /^BackupLocation oracle: not imported:\n {2}spec\.provider "velero\.io\/oracle": has no Cairn counterpart/m,
    );
    assert.match(
      result.stdout,
      /2 created, 0 skipped \(already there\), \d+ warnings, 2 not imported \(problems\)\./,
    );
    assert.match(result.stderr, /^error: 2 objects had problems and were not imported$/m);
    assert.equal(await getCr(client, namespace, 'Schedule', 'broken'), undefined);
    assert.equal(await getCr(client, namespace, 'BackupLocation', 'oracle'), undefined);
    assert.ok(await getCr(client, namespace, 'Schedule', 'a'));
  });

  it("reads Velero's Schedules, locations and Backups from its namespace in the cluster", async (t) => {
    await installVeleroCrds();
    const velero = await testNamespace(t, client, 'velero');
    const create = (plural: string, body: Record<string, unknown>) =>
      client.json({ method: 'POST', path: `/apis/velero.io/v1/namespaces/${velero}/${plural}`, body });
    await create('backupstoragelocations', {
      apiVersion: 'velero.io/v1',
      kind: 'BackupStorageLocation',
      metadata: { name: 'minio' },
      spec: {
        provider: 'velero.io/aws',
        default: true,
        objectStorage: { bucket: 'velero', prefix: 'cluster-a' },
        config: { region: 'minio', s3Url: 'http://minio.velero.svc:9000', s3ForcePathStyle: 'true' },
      },
    });
    await create('schedules', {
      apiVersion: 'velero.io/v1',
      kind: 'Schedule',
      metadata: { name: 'shop-daily' },
      spec: {
        schedule: '@daily',
        useOwnerReferencesInBackup: false,
        template: {
          includedNamespaces: ['shop'],
          labelSelector: { matchExpressions: [{ key: 'app', operator: 'NotIn', values: ['cache'] }] },
          storageLocation: 'minio',
          ttl: '168h0m0s',
        },
      },
      status: { phase: 'Enabled', lastBackup: '2026-05-20T00:00:00Z' },
    });
    await create('backups', {
      apiVersion: 'velero.io/v1',
      kind: 'Backup',
      metadata: { name: 'shop-daily-20260520000000', labels: { 'velero.io/schedule-name': 'shop-daily' } },
      spec: { includedNamespaces: ['shop'], storageLocation: 'minio', ttl: '168h0m0s' },
      status: { phase: 'InProgress', startTimestamp: '2026-05-20T00:00:00Z' },
    });

    const namespace = await testNamespace(t, client, 'cairn-import');
    const result = await cairn(['import', 'velero', '--velero-namespace', velero, '-n', namespace]);
    assert.equal(result.code, 1, 'the backup still in progress is not imported');
    assert.match(result.stdout, /^BackupLocation minio: created$/m);
    assert.match(
      result.stdout,
      /^ {2}warning: spec\.credential: unset: Velero used its server's own credentials/m,
    );
    assert.match(result.stdout, /^Schedule shop-daily: created$/m);
    // Imported paused: Velero's schedule still runs.
    assert.match(
      result.stdout,
      /^ {2}warning: spec\.paused: imported paused: pause Velero's schedule \(velero schedule pause shop-daily\), then start this one \(cairn schedule unpause shop-daily\), or import with --unpause$/m,
    );
    assert.match(
      result.stdout,
      /^Backup shop-daily-20260520000000: not imported:\n {2}status\.phase "InProgress": the backup has not finished in Velero/m,
    );
    assert.match(
      result.stdout,
      new RegExp(
        `^Imported from namespace ${velero} of the cluster into namespace ${namespace}: 2 created`,
        'm',
      ),
    );

    const location = await getCr<BackupLocation>(client, namespace, 'BackupLocation', 'minio');
    assert.deepEqual(location?.spec, {
      provider: 's3',
      default: true,
      objectStorage: { bucket: 'velero', prefix: 'cluster-a' },
      config: { region: 'minio', s3Url: 'http://minio.velero.svc:9000', s3ForcePathStyle: 'true' },
      accessMode: 'ReadWrite',
      plaintext: true,
    });
    const schedule = await getCr<Schedule>(client, namespace, 'Schedule', 'shop-daily');
    assert.equal(schedule?.spec.template.labelSelector, 'app notin (cache)');
    assert.equal(schedule?.spec.useOwnerReferencesInBackup, false);
    assert.equal(schedule?.status?.lastBackup, '2026-05-20T00:00:00Z', "it goes on from Velero's last run");
    assert.equal(schedule?.spec.paused, true);
    // A dry run now says what the real run would: those already there are skipped.
    const again = await cairn([
      'import',
      'velero',
      '--velero-namespace',
      velero,
      '-n',
      namespace,
      '--dry-run',
    ]);
    assert.match(
      again.stderr,
      new RegExp(
        `^Schedule shop-daily: would be skipped: a Schedule of that name is already in namespace ${namespace} \\(not overwritten\\)$`,
        'm',
      ),
    );
    assert.match(again.stderr, /^BackupLocation minio: would be skipped/m);
    assert.match(again.stderr, /, 2 skipped \(already there\),/);

    const only = await testNamespace(t, client, 'cairn-import');
    const schedules = await cairn([
      'import',
      'velero',
      '--velero-namespace',
      velero,
      '-n',
      only,
      '--kinds',
      'schedules',
      '--unpause',
    ]);
    assert.equal(schedules.code, 0, schedules.stderr);
    // With --unpause it runs as Velero's does, and the warning says both make backups.
    assert.equal((await getCr<Schedule>(client, only, 'Schedule', 'shop-daily'))?.spec.paused, false);
    assert.match(
      schedules.stdout,
      /^ {2}warning: spec\.paused: false: while Velero's schedule runs too, both make backups/m,
    );
    assert.deepEqual(
      (await listCrs<Schedule>(client, only, 'Schedule')).map((s) => s.metadata.name),
      ['shop-daily'],
    );
    assert.deepEqual(await listCrs(client, only, 'BackupLocation'), []);

    const missing = await cairn(['import', 'velero', '--velero-namespace', `${velero}-missing`, '-n', only]);
    assert.equal(missing.code, 1);
    assert.match(
      missing.stderr,
      new RegExp(`^error: --velero-namespace "${velero}-missing": the namespace does not exist$`, 'm'),
    );
  });

  it('says so when the cluster has no Velero CRDs', async () => {
    // Cluster b: the testbed's second cluster, where nothing installs Velero's CRDs.
    const result = await cairn(['import', 'velero', '--dry-run'], {
      ...process.env,
      KUBECONFIG: testbedEnv('KUBECONFIG_B'),
    });
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      /^error: the cluster does not serve velero\.io\/v1 backupstoragelocations: Velero's CRDs are not installed \(no CRD backupstoragelocations\.velero\.io\)/m,
    );
  });
});
