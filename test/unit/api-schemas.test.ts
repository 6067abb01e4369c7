import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { CHART_CRD_DIR, CRD_DIR, renderCrdFiles } from '../../scripts/gen-crds.ts';
import {
  BackupSchema,
  CAIRN_KINDS,
  conforms,
  customResourceDefinitions,
  problemText,
  schemaProblems,
  specProblems,
  specWithDefaults,
  statusProblems,
  structuralSchema,
  type CairnKind,
  type JSONSchemaProps,
  type ScheduleSpec,
  type SpecProblem,
} from '../../src/api/index.ts';
import { decideRetention, type RetentionPolicy } from '../../src/controller/index.ts';
import { Type } from '@sinclair/typebox';

const kinds = Object.keys(CAIRN_KINDS) as CairnKind[];

/** Every node of a schema, with its path. */
function* nodes(schema: JSONSchemaProps, path = ''): Generator<[string, JSONSchemaProps]> {
  yield [path || '.', schema];
  for (const [name, child] of Object.entries(schema.properties ?? {})) yield* nodes(child, `${path}.${name}`);
  if (schema.items) yield* nodes(schema.items, `${path}[]`);
  if (schema.additionalProperties) yield* nodes(schema.additionalProperties, `${path}[*]`);
}

const problemOf = (problems: SpecProblem[], field: string) => problems.find((p) => p.field === field);

describe('api schemas', () => {
  describe('the CRDs', () => {
    it('are committed in deploy/crds and the Helm chart’s crds/ exactly as the generator writes them', () => {
      const files = renderCrdFiles();
      for (const dir of [CRD_DIR, CHART_CRD_DIR]) {
        assert.deepEqual(
          readdirSync(dir)
            .filter((f) => f.endsWith('.cairn.dev.yaml'))
            .sort(),
          files.map((f) => f.file).sort(),
          `${dir}: run \`npm run gen-crds\``,
        );
        for (const { file, text } of files)
          assert.equal(
            readFileSync(join(dir, file), 'utf8'),
            text,
            `${dir}/${file}: run \`npm run gen-crds\``,
          );
      }
    });

    it('define every kind of cairn.dev/v1, namespaced, served and stored as v1, with a status subresource', () => {
      const crds = renderCrdFiles().map(
        ({ text }) => parse(text) as ReturnType<typeof customResourceDefinitions>[0],
      );
      assert.deepEqual(
        crds.map((crd) => crd.metadata.name),
        [
          'backups.cairn.dev',
          'restores.cairn.dev',
          'schedules.cairn.dev',
          'backuplocations.cairn.dev',
          'deletebackuprequests.cairn.dev',
          'downloadrequests.cairn.dev',
          'podvolumebackups.cairn.dev',
          'podvolumerestores.cairn.dev',
        ],
      );
      for (const crd of crds) {
        assert.equal(crd.apiVersion, 'apiextensions.k8s.io/v1');
        assert.equal(crd.spec.group, 'cairn.dev');
        assert.equal(crd.spec.scope, 'Namespaced');
        assert.deepEqual(crd.spec.names.categories, ['cairn']);
        assert.equal(crd.spec.versions.length, 1);
        const [version] = crd.spec.versions;
        assert.deepEqual(
          { name: version?.name, served: version?.served, storage: version?.storage },
          { name: 'v1', served: true, storage: true },
        );
        assert.deepEqual(version?.subresources, { status: {} });
      }
    });

    it("give short names that clash with no other's, and printer columns that point at real fields", () => {
      const shortNames = customResourceDefinitions().flatMap((crd) => crd.spec.names.shortNames);
      assert.deepEqual(shortNames, ['cbk', 'crs', 'csch', 'cbsl', 'cdbr', 'cdr', 'cpvb', 'cpvr']);
      // Velero's short names and the core ones that could be confused with them.
      for (const taken of ['bsl', 'vsl', 'ssr', 'cs', 'cm', 'crd', 'crds', 'sts', 'svc', 'pvb', 'pvr'])
        assert.ok(!shortNames.includes(taken), taken);
      for (const crd of customResourceDefinitions()) {
        const schema = crd.spec.versions[0]?.schema.openAPIV3Schema;
        assert.ok(schema);
        for (const column of crd.spec.versions[0]?.additionalPrinterColumns ?? []) {
          if (column.jsonPath.startsWith('.metadata.')) continue;
          let node: JSONSchemaProps | undefined = schema;
          for (const step of column.jsonPath.slice(1).split('.')) node = node?.properties?.[step];
          assert.ok(node, `${crd.metadata.name}: column ${column.name} points at ${column.jsonPath}`);
        }
      }
      const columns = (kind: string) =>
        customResourceDefinitions()
          .find((crd) => crd.spec.names.kind === kind)
          ?.spec.versions[0]?.additionalPrinterColumns.map((c) => c.name);
      assert.deepEqual(columns('Backup'), ['Status', 'Errors', 'Warnings', 'Created', 'Expires', 'Location']);
      assert.deepEqual(columns('Restore'), ['Backup', 'Status', 'Errors', 'Warnings', 'Created']);
      assert.deepEqual(columns('Schedule'), ['Status', 'Schedule', 'LastBackup', 'Paused', 'Age']);
      assert.deepEqual(columns('BackupLocation'), [
        'Phase',
        'Provider',
        'Bucket',
        'Access Mode',
        'Default',
        'Last Validated',
        'Age',
      ]);
    });

    it('have structural schemas: every node typed, no $ref, no additionalProperties: false', () => {
      for (const crd of customResourceDefinitions()) {
        const schema = crd.spec.versions[0]?.schema.openAPIV3Schema;
        assert.ok(schema);
        for (const [path, node] of nodes(schema)) {
          const where = `${crd.metadata.name} ${path}`;
          assert.ok(
            node.type !== undefined ||
              node['x-kubernetes-preserve-unknown-fields'] === true ||
              node['x-kubernetes-int-or-string'] === true,
            `${where} has no type`,
          );
          for (const keyword of [
            '$ref',
            '$id',
            '$schema',
            'anyOf',
            'oneOf',
            'allOf',
            'not',
            'const',
            'errorMessage',
          ])
            assert.ok(!(keyword in node), `${where} has ${keyword}`);
          assert.ok(
            !('additionalProperties' in node) || typeof node.additionalProperties === 'object',
            where,
          );
          assert.ok(!(node.properties && node.additionalProperties), `${where} mixes fields and a map`);
          if (node.enum && node.default !== undefined) assert.ok(node.enum.includes(node.default), where);
        }
      }
    });

    it('keep descriptions, defaults, enums, formats and patterns (as CEL rules with our message), and type maps of strings', () => {
      const schedule = customResourceDefinitions().find((crd) => crd.spec.names.kind === 'Schedule');
      const spec = schedule?.spec.versions[0]?.schema.openAPIV3Schema.properties?.spec;
      assert.deepEqual(spec?.required, ['schedule', 'template']);
      const ttl = spec?.properties?.template?.properties?.ttl;
      assert.equal(ttl?.type, 'string');
      assert.equal(ttl?.default, '720h0m0s');
      // A pattern with a message of ours is a CEL rule with that message, the regular expression unshown;
      // inside a list (cost counted per item) it stays a pattern.
      assert.equal(ttl?.pattern, undefined);
      assert.equal(ttl?.maxLength, 64);
      assert.deepEqual(ttl?.['x-kubernetes-validations'], [
        {
          rule: "self.matches(r'^(0|([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+)$')",
          message: 'not a duration (examples: 720h, 24h30m, 90s)',
          messageExpression: `'"' + self + '": ' + 'not a duration (examples: 720h, 24h30m, 90s)'`,
        },
      ]);
      const locations = spec?.properties?.template?.properties?.storageLocations?.items;
      assert.match(locations?.pattern ?? '', /^\^\[a-z0-9\]/);
      assert.equal(locations?.['x-kubernetes-validations'], undefined);
      assert.match(ttl?.description ?? '', /Go duration/);
      assert.deepEqual(spec?.properties?.template?.properties?.consistency?.enum, [
        'snapshot',
        'best-effort',
      ]);

      const location = customResourceDefinitions().find((crd) => crd.spec.names.kind === 'BackupLocation');
      const props = location?.spec.versions[0]?.schema.openAPIV3Schema.properties;
      assert.deepEqual(props?.spec?.properties?.config, {
        type: 'object',
        description: props?.spec?.properties?.config?.description,
        additionalProperties: { type: 'string' },
      });
      assert.deepEqual(props?.spec?.properties?.accessMode?.enum, ['ReadWrite', 'ReadOnly']);
      assert.equal(props?.spec?.properties?.accessMode?.default, 'ReadWrite');
      assert.equal(props?.status?.properties?.lastValidationTime?.format, 'date-time');
    });

    it('keep free-form values whole, and refuse what a structural schema cannot say', () => {
      assert.deepEqual(structuralSchema(Type.Record(Type.String(), Type.Unknown())), {
        type: 'object',
        'x-kubernetes-preserve-unknown-fields': true,
      });
      assert.deepEqual(structuralSchema(Type.Object({ raw: Type.Unknown() })), {
        type: 'object',
        properties: { raw: { 'x-kubernetes-preserve-unknown-fields': true } },
        required: ['raw'],
      });
      assert.deepEqual(structuralSchema(Type.Union([Type.Integer(), Type.String()])), {
        'x-kubernetes-int-or-string': true,
      });
      assert.throws(
        () => structuralSchema(Type.Union([Type.String(), Type.Boolean()])),
        /cannot say this union/,
      );
      assert.throws(() => structuralSchema(Type.Array(Type.String(), { uniqueItems: true })), /uniqueItems/);
    });
  });

  describe('validation', () => {
    it('accepts good specs of every kind', () => {
      const good: Record<CairnKind, unknown> = {
        Backup: {
          includedNamespaces: ['shop', 'app-*'],
          excludedResources: ['secrets'],
          labelSelector: 'app=web',
          ttl: '24h',
          storageLocations: ['primary', 'offsite'],
          consistency: 'best-effort',
          deleteLockDays: 7,
        },
        Restore: {
          backupName: 'shop-20260520',
          namespaceMapping: { shop: 'shop-copy' },
          namespacedConflictPolicy: 'update-on-conflict',
          restoreStatus: { includedResources: ['*'] },
          dryRun: true,
        },
        Schedule: {
          schedule: 'CRON_TZ=Europe/Paris 0 3 * * *',
          template: { includedNamespaces: ['shop'], ttl: '168h', metadata: { labels: { tier: 'gold' } } },
          retention: { keepLast: 3, daily: 7, weekly: 4, monthly: 12, keepFailed: 1 },
        },
        BackupLocation: {
          provider: 's3',
          objectStorage: { bucket: 'backups', prefix: 'cluster-a' },
          config: { region: 'eu-west-1', s3ForcePathStyle: 'true' },
          credential: { name: 'cairn-s3', key: 'cloud' },
          accessMode: 'ReadOnly',
          validationFrequency: '5m',
        },
        DeleteBackupRequest: { backupName: 'shop-20260520' },
        DownloadRequest: { target: { kind: 'BackupLog', name: 'shop-20260520' } },
        PodVolumeBackup: {
          backupName: 'shop-20260520',
          node: 'node-a',
          pod: { namespace: 'shop', name: 'db-0', uid: '5e0c2a4e-1b7f-4c1e-9a55-0d3c0a9f1e21' },
          volume: 'data',
          volumeDir: 'pvc-5e0c2a4e/mount',
          persistentVolumeClaim: 'data-db-0',
          location: 'primary',
          repository: 'shop',
          tags: { backup: 'shop-20260520' },
        },
        PodVolumeRestore: {
          restoreName: 'shop-20260520-1',
          backupName: 'shop-20260520',
          pod: { namespace: 'shop', name: 'db-0', uid: '8a1d5e2b-3c4f-4d6e-8f90-1a2b3c4d5e6f' },
          volume: 'data',
          location: 'primary',
          repository: 'shop',
          snapshotID: 'b2f3c9d1e4a5',
        },
      };
      for (const kind of kinds) assert.deepEqual(specProblems(kind, good[kind]), [], kind);
    });

    it('names the field path, the value and the reason of each problem', () => {
      const problems = specProblems('Backup', {
        includedNamespaces: ['shop', 7],
        includeSecrets: 'no',
        ttl: '3 days',
        storageLocations: ['Primary_Store'],
        consistency: 'fast',
        deleteLockDays: -1,
        includeNamespaces: ['typo'],
      });
      assert.deepEqual(problemOf(problems, 'includedNamespaces[1]'), {
        field: 'includedNamespaces[1]',
        value: '7',
        message: 'must be a string',
      });
      assert.deepEqual(problemOf(problems, 'includeSecrets'), {
        field: 'includeSecrets',
        value: 'no',
        message: 'must be true or false',
      });
      assert.deepEqual(problemOf(problems, 'ttl'), {
        field: 'ttl',
        value: '3 days',
        message: 'not a duration (examples: 720h, 24h30m, 90s)',
      });
      assert.equal(problemOf(problems, 'storageLocations[0]')?.value, 'Primary_Store');
      assert.deepEqual(problemOf(problems, 'consistency'), {
        field: 'consistency',
        value: 'fast',
        message: 'must be one of snapshot, best-effort',
      });
      assert.deepEqual(problemOf(problems, 'deleteLockDays'), {
        field: 'deleteLockDays',
        value: '-1',
        message: 'must be ≥ 0',
      });
      assert.deepEqual(problemOf(problems, 'includeNamespaces'), {
        field: 'includeNamespaces',
        value: '["typo"]',
        message: 'is not a field of this kind',
      });
      assert.equal(problems.length, 7, JSON.stringify(problems));
      assert.equal(
        problemText(problemOf(problems, 'ttl')!),
        'ttl "3 days": not a duration (examples: 720h, 24h30m, 90s)',
      );
    });

    it('reports missing required fields and problems inside nested objects', () => {
      assert.deepEqual(specProblems('Schedule', {}), [
        { field: 'schedule', value: '', message: 'is required' },
        { field: 'template', value: '', message: 'is required' },
      ]);
      const problems = specProblems('Schedule', {
        schedule: '@every 6h',
        template: { ttl: 'forever', excludedNamespaces: 'kube-system' },
        paused: 'yes',
        retention: { keepLast: -1, daily: 1.5, forever: 1 },
      });
      assert.deepEqual(
        problems.map((p) => [p.field, p.value, p.message]).sort(),
        [
          ['paused', 'yes', 'must be true or false'],
          ['retention.forever', '1', 'is not a field of this kind'],
          ['retention.keepLast', '-1', 'must be ≥ 0'],
          ['retention.daily', '1.5', 'must be a whole number'],
          ['template.excludedNamespaces', 'kube-system', 'must be a list'],
          ['template.ttl', 'forever', 'not a duration (examples: 720h, 24h30m, 90s)'],
        ].sort(),
      );
      assert.deepEqual(specProblems('DeleteBackupRequest', {}), [
        { field: 'backupName', value: '', message: 'is required' },
      ]);
    });

    it('leaves cron syntax to the schedule controller', () => {
      assert.deepEqual(specProblems('Schedule', { schedule: 'not a cron', template: {} }), []);
    });

    it('checks enums and map values, quoting keys that are not plain names', () => {
      const location = specProblems('BackupLocation', {
        provider: 'aws',
        accessMode: 'RW',
        config: { region: 5, 'velero.io/x': true },
        credential: { name: 'cairn-s3' },
      });
      assert.deepEqual(
        location.map((p) => [p.field, p.value, p.message]),
        [
          ['provider', 'aws', 'must be one of fs, s3, azure, gcs'],
          ['config.region', '5', 'must be a string'],
          ['config["velero.io/x"]', 'true', 'must be a string'],
          ['credential.key', '', 'is required'],
          ['accessMode', 'RW', 'must be one of ReadWrite, ReadOnly'],
        ],
      );
      const restore = specProblems('Restore', {
        backupName: 'shop',
        namespacedConflictPolicy: 'overwrite',
        resourceModifier: { kind: 'Secret', name: 'rules' },
      });
      assert.deepEqual(
        restore.map((p) => [p.field, p.value, p.message]),
        [
          [
            'namespacedConflictPolicy',
            'overwrite',
            'must be one of fail-on-conflict, skip-on-conflict, update-on-conflict, delete-and-restore',
          ],
          ['resourceModifier.kind', 'Secret', 'must be ConfigMap'],
        ],
      );
    });

    it('checks statuses and whole objects, with a prefix on the paths when asked', () => {
      assert.deepEqual(statusProblems('Backup', { phase: 'Done', startTimestamp: 'yesterday' }), [
        {
          field: 'phase',
          value: 'Done',
          message:
            'must be one of New, FailedValidation, InProgress, Completed, PartiallyFailed, Failed, Deleting',
        },
        {
          field: 'startTimestamp',
          value: 'yesterday',
          message: 'not a time in RFC 3339 form (example: 2026-05-20T10:00:00Z)',
        },
      ]);
      assert.deepEqual(
        statusProblems('Backup', { phase: 'Completed', startTimestamp: '2026-05-20T10:00:00.123Z' }),
        [],
      );
      const backup = {
        apiVersion: 'cairn.dev/v1',
        kind: 'Backup',
        metadata: { name: 'shop', resourceVersion: '12', managedFields: [] },
        spec: { ttl: 'x' },
      };
      assert.ok(!conforms(BackupSchema, backup));
      assert.deepEqual(schemaProblems(BackupSchema, backup, { prefix: 'backup' }), [
        { field: 'backup.spec.ttl', value: 'x', message: 'not a duration (examples: 720h, 24h30m, 90s)' },
      ]);
    });
  });

  describe('defaults', () => {
    it('fill in what is unset, as the API server does, and leave the value given alone', () => {
      const given = {};
      assert.deepEqual(specWithDefaults('Backup', given), {
        includeSecrets: true,
        ttl: '720h0m0s',
        consistency: 'snapshot',
      });
      assert.deepEqual(given, {});
      assert.deepEqual(specWithDefaults('Backup', { ttl: '1h', includeSecrets: false }), {
        ttl: '1h',
        includeSecrets: false,
        consistency: 'snapshot',
      });
      assert.deepEqual(specWithDefaults('BackupLocation', { provider: 'fs', config: { path: '/backups' } }), {
        provider: 'fs',
        config: { path: '/backups' },
        default: false,
        accessMode: 'ReadWrite',
        plaintext: false,
      });
      assert.deepEqual(specWithDefaults('Restore', { backupName: 'shop' }), {
        backupName: 'shop',
        clusterConflictPolicy: 'use-existing-version',
      });
    });

    it("reach into a schedule's template and retention, and leave unset objects unset", () => {
      assert.deepEqual(specWithDefaults('Schedule', { schedule: '@daily', template: {} }), {
        schedule: '@daily',
        template: { includeSecrets: true, ttl: '720h0m0s', consistency: 'snapshot' },
        paused: false,
      });
      const spec = specWithDefaults('Schedule', {
        schedule: '@daily',
        template: {},
        retention: { daily: 7 },
      });
      assert.deepEqual(spec.retention, { daily: 7, keepFailed: 3 });
    });

    it('give a retention policy that the retention decisions take as it is', () => {
      const spec: ScheduleSpec = { schedule: '@daily', template: {}, retention: { keepLast: 1 } };
      const policy: RetentionPolicy | undefined = spec.retention;
      const decisions = decideRetention(
        [
          { name: 'a', startTimestamp: '2026-05-19T03:00:00Z', phase: 'Completed' },
          { name: 'b', startTimestamp: '2026-05-20T03:00:00Z', phase: 'Completed' },
        ],
        policy,
        new Date('2026-05-21T00:00:00Z'),
      );
      assert.deepEqual(
        decisions.map((d) => [d.name, d.keep]),
        [
          ['a', false],
          ['b', true],
        ],
      );
    });
  });
});
