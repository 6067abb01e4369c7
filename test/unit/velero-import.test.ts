// The conversions of `cairn import velero` (src/api/velero-import.ts): Velero's objects in, Cairn's out, with
// the warnings and problems a user reads.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  IMPORTED_FROM_ANNOTATION,
  SYNCED_FROM_ANNOTATION,
  fromVelero,
  fromVeleroBackup,
  fromVeleroBackupStorageLocation,
  fromVeleroSchedule,
  labelSelectorText,
  specProblems,
  type SpecProblem,
  type VeleroConversion,
  type VeleroObject,
} from '../../src/api/index.ts';
import {
  labelSelectorFromObject,
  matchesLabels,
  parseLabelSelector,
  type LabelSelectorObject,
} from '../../src/api/index.ts';

const options = { namespace: 'cairn' };

function converted<T>(result: VeleroConversion<T>): { object: T; warnings: string[] } {
  if ('problems' in result)
    assert.fail(`expected a conversion, got problems: ${JSON.stringify(result.problems, null, 2)}`);
  return result;
}

function problems<T>(result: VeleroConversion<T>): SpecProblem[] {
  if (!('problems' in result)) assert.fail(`expected problems, got ${JSON.stringify(result.object)}`);
  return result.problems;
}

const warningAbout = (warnings: string[], field: string) => warnings.find((w) => w.startsWith(`${field}:`));

const schedule = (template: Record<string, unknown>, spec: Record<string, unknown> = {}): VeleroObject => ({
  apiVersion: 'velero.io/v1',
  kind: 'Schedule',
  metadata: { name: 'nightly', namespace: 'velero' },
  spec: { schedule: '0 3 * * *', paused: true, template, ...spec },
});

const location = (spec: Record<string, unknown>): VeleroObject => ({
  apiVersion: 'velero.io/v1',
  kind: 'BackupStorageLocation',
  metadata: { name: 'default', namespace: 'velero' },
  spec: {
    provider: 'aws',
    objectStorage: { bucket: 'backups' },
    config: { region: 'eu-west-1' },
    credential: { name: 'cloud-credentials', key: 'cloud' },
    ...spec,
  },
});

const backup = (status: Record<string, unknown>, spec: Record<string, unknown> = {}): VeleroObject => ({
  apiVersion: 'velero.io/v1',
  kind: 'Backup',
  metadata: { name: 'nightly-20260520030000', namespace: 'velero' },
  spec: { includedNamespaces: ['shop'], storageLocation: 'default', ttl: '720h0m0s', ...spec },
  status,
});

describe('cairn import velero: conversions', () => {
  describe('label selectors', () => {
    const cases: [string, LabelSelectorObject, string][] = [
      [
        'matchLabels as k=v',
        { matchLabels: { app: 'web', 'app.kubernetes.io/part-of': 'shop' } },
        'app=web,app.kubernetes.io/part-of=shop',
      ],
      [
        'In and NotIn as set requirements',
        {
          matchExpressions: [
            { key: 'tier', operator: 'In', values: ['frontend', 'backend'] },
            { key: 'env', operator: 'NotIn', values: ['dev'] },
          ],
        },
        'env notin (dev),tier in (backend,frontend)',
      ],
      [
        'Exists as the key and DoesNotExist as !key',
        {
          matchExpressions: [
            { key: 'backup', operator: 'Exists' },
            { key: 'canary', operator: 'DoesNotExist', values: [] },
          ],
        },
        'backup,!canary',
      ],
      [
        'matchLabels and matchExpressions together (all must match)',
        { matchLabels: { app: 'web' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['a'] }] },
        'app=web,tier in (a)',
      ],
      ['an empty selector as the empty text (everything)', {}, ''],
    ];
    for (const [what, object, text] of cases) {
      it(`converts ${what}`, () => {
        assert.deepEqual(labelSelectorText(object, 'spec.labelSelector'), { text });
      });
    }

    it('gives text that selects the same objects as the object form, read back by the API server syntax', () => {
      const label = (entries: Record<string, string>) => entries;
      const samples = [
        label({}),
        label({ app: 'web' }),
        label({ app: 'web', tier: 'frontend' }),
        label({ app: 'web', tier: 'frontend', backup: 'yes' }),
        label({ app: 'web', tier: 'backend', backup: 'yes', canary: 'true' }),
        label({ app: 'db', tier: 'frontend', backup: 'yes', env: 'dev' }),
        label({ app: 'web', tier: 'backend', backup: '', env: 'prod' }),
      ];
      for (const [, object] of cases) {
        const converted = labelSelectorText(object, 'spec.labelSelector');
        assert.ok('text' in converted);
        const fromText = parseLabelSelector(converted.text);
        const fromObject = labelSelectorFromObject(object);
        assert.deepEqual(fromText, fromObject);
        for (const labels of samples)
          assert.equal(
            matchesLabels(fromText, labels),
            matchesLabels(fromObject, labels),
            JSON.stringify(labels),
          );
      }
      const both = labelSelectorFromObject({
        matchLabels: { app: 'web' },
        matchExpressions: [
          { key: 'tier', operator: 'In', values: ['frontend', 'backend'] },
          { key: 'backup', operator: 'Exists' },
          { key: 'canary', operator: 'DoesNotExist' },
        ],
      });
      assert.equal(matchesLabels(both, { app: 'web', tier: 'backend', backup: 'yes' }), true);
      assert.equal(matchesLabels(both, { app: 'web', tier: 'backend', backup: 'yes', canary: 'x' }), false);
    });

    it('refuses what the text form cannot say, naming the field', () => {
      const refused = (selector: unknown) => {
        const result = labelSelectorText(selector, 'spec.labelSelector');
        assert.ok('problems' in result, JSON.stringify(selector));
        return result.problems.map((p) => `${p.field} "${p.value}": ${p.message}`);
      };
      assert.deepEqual(refused({ matchExpressions: [{ key: 'n', operator: 'Gt', values: ['1'] }] }), [
        'spec.labelSelector.matchExpressions[0].operator "Gt": must be one of In, NotIn, Exists, DoesNotExist',
      ]);
      assert.match(
        refused({ matchExpressions: [{ key: 'tier', operator: 'In', values: [] }] })[0] ?? '',
        /^spec\.labelSelector\.matchExpressions\[0\]\.values .*at least 1 value/,
      );
      assert.match(
        refused({ matchExpressions: [{ key: 'tier', operator: 'Exists', values: ['a'] }] })[0] ?? '',
        /values .*must be empty/,
      );
      assert.match(
        refused({ matchLabels: { 'bad key': 'x' } })[0] ?? '',
        /^spec\.labelSelector\.matchLabels\["bad key"\] "x": not a label key/,
      );
      assert.match(
        refused({ matchLabels: { app: 'a,b' } })[0] ?? '',
        /matchLabels\["app"\] "a,b": not a label value/,
      );
      assert.match(
        refused('app=web')[0] ?? '',
        /^spec\.labelSelector "app=web": must be a label selector object/,
      );
    });

    it("converts a Backup spec's labelSelector and orLabelSelectors, and refuses both at once", () => {
      const one = converted(
        fromVeleroSchedule(schedule({ labelSelector: { matchLabels: { app: 'web' } } }), options),
      );
      assert.equal(one.object.spec.template.labelSelector, 'app=web');
      const any = converted(
        fromVeleroSchedule(
          schedule({
            orLabelSelectors: [
              { matchLabels: { app: 'web' } },
              { matchExpressions: [{ key: 'db', operator: 'Exists' }] },
            ],
          }),
          options,
        ),
      );
      assert.deepEqual(any.object.spec.template.orLabelSelectors, ['app=web', 'db']);
      assert.equal(any.object.spec.template.labelSelector, undefined);
      const empty = converted(fromVeleroSchedule(schedule({ labelSelector: {} }), options));
      assert.equal(empty.object.spec.template.labelSelector, undefined, 'everything: left unset');
      const both = problems(
        fromVeleroSchedule(
          schedule({
            labelSelector: { matchLabels: { a: 'b' } },
            orLabelSelectors: [{ matchLabels: { c: 'd' } }],
          }),
          options,
        ),
      );
      assert.deepEqual(
        both.map((p) => p.field),
        ['spec.template.orLabelSelectors'],
      );
      assert.match(both[0]?.message ?? '', /cannot be used with labelSelector/);
    });
  });

  describe('BackupStorageLocations', () => {
    for (const [velero, cairn] of [
      ['aws', 's3'],
      ['velero.io/aws', 's3'],
      ['gcp', 'gcs'],
      ['velero.io/gcp', 'gcs'],
      ['azure', 'azure'],
      ['velero.io/azure', 'azure'],
    ]) {
      it(`maps provider ${velero} to ${cairn}`, () => {
        const config = cairn === 'azure' ? { config: { storageAccount: 'backupsacct' } } : {};
        const result = converted(
          fromVeleroBackupStorageLocation(location({ provider: velero, ...config }), options),
        );
        assert.equal(result.object.spec.provider, cairn);
      });
    }

    it('converts an Azure location by its storage account, saying which Secret keys Cairn reads, and refuses one without', () => {
      const result = converted(
        fromVeleroBackupStorageLocation(
          location({
            provider: 'velero.io/azure',
            config: {
              resourceGroup: 'rg-backups',
              subscriptionId: '0000-1111',
              storageAccount: 'backupsacct',
              storageAccountKeyEnvVar: 'AZURE_STORAGE_KEY',
            },
          }),
          options,
        ),
      );
      assert.deepEqual(result.object.spec.config, {
        resourceGroup: 'rg-backups',
        subscriptionId: '0000-1111',
        storageAccount: 'backupsacct',
        storageAccountKeyEnvVar: 'AZURE_STORAGE_KEY',
      });
      assert.match(
        warningAbout(result.warnings, 'spec.config') ?? '',
        /Cairn ignores resourceGroup, subscriptionId/,
      );
      assert.match(
        result.warnings.filter((w) => w.startsWith('spec.credential:')).join('\n'),
        /AZURE_STORAGE_KEY=\.\.\. \(Velero's storageAccountKeyEnvVar\)/,
      );
      assert.deepEqual(
        problems(
          fromVeleroBackupStorageLocation(
            location({ provider: 'azure', config: { resourceGroup: 'rg' } }),
            options,
          ),
        ),
        [
          {
            field: 'spec.config.storageAccount',
            value: '',
            message:
              'is needed: Cairn reaches the storage account by name (resourceGroup and subscriptionId are not used)',
          },
        ],
      );
    });

    it('refuses a provider Cairn has no counterpart of, naming it', () => {
      assert.deepEqual(
        problems(fromVeleroBackupStorageLocation(location({ provider: 'velero.io/oracle' }), options)),
        [
          {
            field: 'spec.provider',
            value: 'velero.io/oracle',
            message:
              "has no Cairn counterpart: Cairn stores backups in s3 (Velero's aws), gcs (gcp), azure or fs",
          },
        ],
      );
    });

    it('keeps the fields Cairn has, makes the location plaintext, and says what to do about the Secret', () => {
      const result = converted(
        fromVeleroBackupStorageLocation(
          {
            ...location({
              objectStorage: { bucket: 'backups', prefix: 'cluster-a', caCert: 'LS0tLS1CRUdJTi==' },
              config: {
                region: 'eu-west-1',
                s3ForcePathStyle: 'true',
                profile: 'prod',
                insecureSkipTLSVerify: 'true',
              },
              default: true,
              accessMode: 'ReadOnly',
              validationFrequency: '5m0s',
              backupSyncPeriod: '0s',
            }),
            metadata: {
              name: 'primary',
              namespace: 'velero',
              uid: 'd1f7',
              resourceVersion: '99',
              labels: { component: 'velero' },
              annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}', note: 'kept' },
            },
          },
          options,
        ),
      );
      assert.deepEqual(result.object, {
        apiVersion: 'cairn.dev/v1',
        kind: 'BackupLocation',
        metadata: {
          name: 'primary',
          namespace: 'cairn',
          labels: { component: 'velero' },
          annotations: {
            note: 'kept',
            [IMPORTED_FROM_ANNOTATION]: 'velero.io/v1 BackupStorageLocation velero/primary',
          },
        },
        spec: {
          provider: 's3',
          objectStorage: { bucket: 'backups', prefix: 'cluster-a' },
          config: {
            region: 'eu-west-1',
            s3ForcePathStyle: 'true',
            profile: 'prod',
            insecureSkipTLSVerify: 'true',
          },
          credential: { name: 'cloud-credentials', key: 'cloud' },
          default: true,
          accessMode: 'ReadOnly',
          validationFrequency: '5m0s',
          backupSyncPeriod: '0s',
          plaintext: true,
        },
      });
      assert.deepEqual(specProblems('BackupLocation', result.object.spec), []);
      const w = result.warnings;
      assert.match(warningAbout(w, 'spec.plaintext') ?? '', /unencrypted, as Velero does/);
      assert.match(
        warningAbout(w, 'spec.credential') ?? '',
        /copy the Secret "cloud-credentials" \(key "cloud"\) from namespace velero to namespace cairn/,
      );
      assert.match(warningAbout(w, 'spec.objectStorage.caCert') ?? '', /not take a CA certificate/);
      assert.match(warningAbout(w, 'spec.config') ?? '', /Cairn ignores profile, insecureSkipTLSVerify/);
      assert.match(
        warningAbout(w, 'spec.config.profile') ?? '',
        /"prod": Cairn reads the \[default\] profile/,
      );
    });

    it('refuses an s3 location without a region, as Cairn refuses one', () => {
      assert.deepEqual(
        problems(
          fromVeleroBackupStorageLocation(location({ config: { s3ForcePathStyle: 'true' } }), options),
        ).map((p) => p.field),
        ['spec.config.region'],
      );
    });
  });

  describe('Schedules', () => {
    it('keeps the schedule and its template, and warns about each dropped field by name', () => {
      const result = converted(
        fromVeleroSchedule(
          {
            ...schedule(
              {
                includedNamespaces: ['shop'],
                excludedResources: ['events'],
                excludedNamespaceScopedResources: ['secrets'],
                includeClusterResources: null,
                ttl: '168h0m0s',
                storageLocation: 'default',
                metadata: { labels: { from: 'schedule' } },
                snapshotVolumes: true,
                defaultVolumesToFsBackup: true,
                hooks: {
                  resources: [
                    {
                      name: 'freeze',
                      labelSelector: { matchLabels: { app: 'db' } },
                      pre: [{ exec: { command: ['fsfreeze'] } }],
                    },
                  ],
                },
                volumeSnapshotLocations: ['aws-default'],
                csiSnapshotTimeout: '20m',
                itemOperationTimeout: '2h',
                datamover: 'custom',
                uploaderConfig: { parallelFilesUpload: 4 },
                resourcePolicy: { kind: 'configmap', name: 'policy' },
                orderedResources: { pods: 'shop/web-0,shop/web-1' },
                includedClusterScopedResources: ['storageclasses'],
              },
              { paused: false, skipImmediately: true, useOwnerReferencesInBackup: true },
            ),
            status: { phase: 'Enabled', lastBackup: '2026-05-20T03:00:00Z' },
          },
          options,
        ),
      );
      assert.deepEqual(result.object.spec, {
        schedule: '0 3 * * *',
        template: {
          includedNamespaces: ['shop'],
          excludedResources: ['events', 'secrets'],
          storageLocation: 'default',
          ttl: '168h0m0s',
          metadata: { labels: { from: 'schedule' } },
          snapshotVolumes: true,
          defaultVolumesToFsBackup: true,
          csiSnapshotTimeout: '20m',
          resourcePolicy: { kind: 'configmap', name: 'policy' },
          hooks: {
            resources: [
              { name: 'freeze', labelSelector: 'app=db', pre: [{ exec: { command: ['fsfreeze'] } }] },
            ],
          },
        },
        paused: true,
        skipImmediately: true,
        useOwnerReferencesInBackup: true,
      });
      assert.deepEqual(result.object.status, { lastBackup: '2026-05-20T03:00:00Z' });
      assert.deepEqual(specProblems('Schedule', result.object.spec), []);
      for (const field of [
        'volumeSnapshotLocations',
        'itemOperationTimeout',
        'datamover',
        'uploaderConfig',
        'resourcePolicy',
        'orderedResources',
        'includedClusterScopedResources',
        'excludedNamespaceScopedResources',
      ])
        assert.ok(warningAbout(result.warnings, `spec.template.${field}`), `a warning names ${field}`);
      assert.equal(warningAbout(result.warnings, 'spec.template.hooks'), undefined);
      // The volume fields Cairn has are kept without a word; the policy ConfigMap is read from Cairn's namespace.
      for (const field of ['snapshotVolumes', 'defaultVolumesToFsBackup', 'csiSnapshotTimeout'])
        assert.equal(warningAbout(result.warnings, `spec.template.${field}`), undefined, field);
      assert.match(
        warningAbout(result.warnings, 'spec.template.resourcePolicy') ?? '',
        /kept: Cairn reads ConfigMap policy from its own namespace/,
      );
      assert.match(
        warningAbout(result.warnings, 'spec.template.excludedNamespaceScopedResources') ?? '',
        /merged into excludedResources/,
      );
      assert.match(
        warningAbout(result.warnings, 'spec.paused') ?? '',
        /^spec\.paused: imported paused: pause Velero's schedule/,
      );
      // With unpause, it runs as Velero's does.
      const running = converted(
        fromVeleroSchedule(schedule({}, { paused: false }), { ...options, unpause: true }),
      );
      assert.equal(running.object.spec.paused, false);
      assert.match(warningAbout(running.warnings, 'spec.paused') ?? '', /both make backups/);
    });

    it("drops Velero's defaults silently: they lose nothing", () => {
      const result = converted(
        fromVeleroSchedule(
          schedule({
            hooks: {},
            metadata: {},
            csiSnapshotTimeout: '10m0s',
            itemOperationTimeout: '4h',
            snapshotMoveData: false,
            defaultVolumesToFsBackup: false,
            datamover: '',
            volumeSnapshotLocations: [],
            snapshotVolumes: null,
          }),
          options,
        ),
      );
      assert.deepEqual(result.object.spec.template, {});
      assert.deepEqual(result.warnings, []);
    });

    it('leaves a ttl of 0 (Velero: the server default) unset, which Cairn reads as its default', () => {
      const result = converted(fromVeleroSchedule(schedule({ ttl: '0s' }), options));
      assert.equal(result.object.spec.template.ttl, undefined);
      assert.match(warningAbout(result.warnings, 'spec.template.ttl') ?? '', /left unset/);
    });

    it('reports a spec Cairn refuses, naming the field and the value', () => {
      assert.deepEqual(
        problems(fromVeleroSchedule(schedule({ ttl: '30 days', includedNamespaces: 'shop' }), options)),
        [
          { field: 'spec.template.includedNamespaces', value: 'shop', message: 'must be a list' },
          {
            field: 'spec.template.ttl',
            value: '30 days',
            message: 'not a duration (examples: 720h, 24h30m, 90s)',
          },
        ],
      );
      assert.deepEqual(
        problems(fromVeleroSchedule({ ...schedule({}), spec: { template: {} } }, options)).map(
          (p) => `${p.field}: ${p.message}`,
        ),
        ['spec.schedule: is required'],
      );
      assert.deepEqual(
        problems(fromVeleroSchedule({ ...schedule({}), metadata: { namespace: 'velero' } }, options)).map(
          (p) => p.field,
        ),
        ['metadata.name'],
      );
    });
  });

  describe('Backups', () => {
    const finished = {
      version: 1,
      formatVersion: '1.1.0',
      startTimestamp: '2026-05-20T03:00:00Z',
      completionTimestamp: '2026-05-20T03:01:00Z',
      expiration: '2026-06-19T03:00:00Z',
      progress: { totalItems: 10, itemsBackedUp: 10 },
      errors: 0,
      warnings: 1,
    };

    for (const phase of ['Completed', 'PartiallyFailed', 'Failed', 'FailedValidation'])
      it(`keeps phase ${phase} and the status`, () => {
        const result = converted(fromVeleroBackup(backup({ ...finished, phase }), options));
        assert.deepEqual(result.object.status, { ...finished, phase });
        assert.equal(warningAbout(result.warnings, 'status.phase'), undefined);
      });

    for (const phase of [
      'WaitingForPluginOperations',
      'WaitingForPluginOperationsPartiallyFailed',
      'Finalizing',
      'FinalizingPartiallyFailed',
    ])
      it(`maps phase ${phase}, which Cairn does not have, to PartiallyFailed with a warning`, () => {
        const result = converted(fromVeleroBackup(backup({ ...finished, phase }), options));
        assert.equal(result.object.status?.phase, 'PartiallyFailed');
        assert.match(
          warningAbout(result.warnings, 'status.phase') ?? '',
          new RegExp(`^status.phase: ${phase} is not a phase of Cairn's: imported as PartiallyFailed`),
        );
      });

    for (const phase of ['', 'New', 'Queued', 'ReadyToStart', 'InProgress', 'Deleting'])
      it(`does not import a backup in phase "${phase}"`, () => {
        assert.deepEqual(
          problems(fromVeleroBackup(backup({ phase }), options)).map((p) => p.field),
          ['status.phase'],
        );
      });

    it('converts the spec as a template, marks the Backup as one the server must not run, and drops Velero-only status', () => {
      const result = converted(
        fromVeleroBackup(
          {
            ...backup(
              {
                ...finished,
                phase: 'Completed',
                validationErrors: null,
                failureReason: '',
                volumeSnapshotsAttempted: 2,
                volumeSnapshotsCompleted: 2,
                csiVolumeSnapshotsAttempted: 0,
                hookStatus: {},
              },
              {
                labelSelector: { matchLabels: { app: 'web' } },
                hooks: {},
                metadata: {},
                snapshotVolumes: true,
              },
            ),
            metadata: {
              name: 'nightly-20260520030000',
              namespace: 'velero',
              labels: { 'velero.io/schedule-name': 'nightly', 'velero.io/storage-location': 'default' },
              annotations: {
                'velero.io/source-cluster-k8s-gitversion': 'v1.34.4',
                'velero.io/resource-timeout': '10m0s',
              },
              ownerReferences: [{ apiVersion: 'velero.io/v1', kind: 'Schedule', name: 'nightly', uid: 'u' }],
              finalizers: ['x'],
            },
          },
          options,
        ),
      );
      assert.deepEqual(result.object.metadata, {
        name: 'nightly-20260520030000',
        namespace: 'cairn',
        labels: { 'velero.io/schedule-name': 'nightly', 'velero.io/storage-location': 'default' },
        annotations: {
          'velero.io/source-cluster-k8s-gitversion': 'v1.34.4',
          [IMPORTED_FROM_ANNOTATION]: 'velero.io/v1 Backup velero/nightly-20260520030000',
          [SYNCED_FROM_ANNOTATION]: 'default',
        },
      });
      assert.deepEqual(result.object.spec, {
        includedNamespaces: ['shop'],
        storageLocation: 'default',
        snapshotVolumes: true,
        ttl: '720h0m0s',
        labelSelector: 'app=web',
      });
      assert.deepEqual(result.object.status, { ...finished, phase: 'Completed' });
      assert.deepEqual(
        result.warnings.map((w) => w.slice(0, w.indexOf(':'))),
        ['metadata.ownerReferences', 'status.volumeSnapshotsAttempted', 'status.volumeSnapshotsCompleted'],
      );
    });

    it('keeps the hook counts of a backup whose hooks ran (Velero leaves a 0 out)', () => {
      const result = converted(
        fromVeleroBackup(
          backup({ ...finished, phase: 'PartiallyFailed', hookStatus: { hooksAttempted: 3 } }),
          options,
        ),
      );
      assert.deepEqual(result.object.status?.hookStatus, { hooksAttempted: 3, hooksFailed: 0 });
      assert.deepEqual(result.warnings, []);
    });

    it('reports a status Cairn refuses, naming the field', () => {
      assert.deepEqual(
        problems(
          fromVeleroBackup(backup({ ...finished, phase: 'Completed', startTimestamp: 'yesterday' }), options),
        ).map((p) => `${p.field} "${p.value}"`),
        ['status.startTimestamp "yesterday"'],
      );
    });
  });

  it('converts by kind, and refuses other kinds', () => {
    assert.equal(converted(fromVelero(schedule({}), options)).object.kind, 'Schedule');
    assert.equal(converted(fromVelero(location({}), options)).object.kind, 'BackupLocation');
    assert.equal(converted(fromVelero(backup({ phase: 'Completed' }), options)).object.kind, 'Backup');
    assert.deepEqual(
      problems(fromVelero({ apiVersion: 'velero.io/v1', kind: 'Restore' }, options)).map((p) => p.field),
      ['kind'],
    );
  });
});
