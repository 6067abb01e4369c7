// The dashboard's page logic that needs no browser: the backups table's filters, the restore wizard's
// request, and the charts' data.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BackupRow } from '../../src/api/index.ts';
import { filterBackups, filterChoices, NO_SCHEDULE } from '../../src/ui/backup-filter.ts';
import { BY_HAND, chartData } from '../../src/ui/chart-data.ts';
import { formatLogLine, parseLog } from '../../src/ui/log.ts';
import { parseNamespaceList, restoreRequest, type RestoreForm } from '../../src/ui/restore-form.ts';

const now = Date.parse('2026-12-07T12:00:00Z');
const hoursAgo = (h: number) => new Date(now - h * 3_600_000).toISOString();

function row(name: string, fields: Partial<BackupRow> = {}): BackupRow {
  return {
    name,
    phase: 'Completed',
    schedule: '',
    namespaces: ['shop'],
    locations: ['default'],
    warnings: 0,
    errors: 0,
    ...fields,
  };
}

const rows = [
  row('nightly-1', { schedule: 'nightly', started: hoursAgo(30), durationSeconds: 60, sizeBytes: 100 }),
  row('nightly-2', { schedule: 'nightly', started: hoursAgo(6), phase: 'Failed', durationSeconds: 5 }),
  row('all-1', {
    schedule: 'cluster',
    namespaces: ['*'],
    locations: ['archive', 'default'],
    started: hoursAgo(2),
    durationSeconds: 300,
    sizeBytes: 9000,
  }),
  row('by-hand', { namespaces: ['web'], started: hoursAgo(0.5), durationSeconds: 12, sizeBytes: 50 }),
  row('new-one', { phase: 'New' }),
];
const names = (list: BackupRow[]) => list.map((r) => r.name);

describe('the backups table filters', () => {
  it('pass every row when none is set', () => {
    assert.deepEqual(names(filterBackups(rows, {}, now)), names(rows));
  });

  it('by phase, schedule and location', () => {
    assert.deepEqual(names(filterBackups(rows, { phase: 'Failed' }, now)), ['nightly-2']);
    assert.deepEqual(names(filterBackups(rows, { schedule: 'nightly' }, now)), ['nightly-1', 'nightly-2']);
    assert.deepEqual(names(filterBackups(rows, { schedule: NO_SCHEDULE }, now)), ['by-hand', 'new-one']);
    assert.deepEqual(names(filterBackups(rows, { location: 'archive' }, now)), ['all-1']);
    assert.deepEqual(names(filterBackups(rows, { phase: 'Completed', schedule: 'nightly' }, now)), [
      'nightly-1',
    ]);
  });

  it('by namespace, counting a backup of every namespace as holding it', () => {
    assert.deepEqual(names(filterBackups(rows, { namespace: 'web' }, now)), ['all-1', 'by-hand']);
  });

  it('by age, leaving out a backup that has not started', () => {
    assert.deepEqual(names(filterBackups(rows, { age: '1h' }, now)), ['by-hand']);
    assert.deepEqual(names(filterBackups(rows, { age: '24h' }, now)), ['nightly-2', 'all-1', 'by-hand']);
    assert.deepEqual(names(filterBackups(rows, { age: 'forever' }, now)), names(rows));
  });

  it('offer the values the rows hold', () => {
    assert.deepEqual(filterChoices(rows), {
      phases: ['Completed', 'Failed', 'New'],
      schedules: ['cluster', 'nightly'],
      namespaces: ['shop', 'web'],
      locations: ['archive', 'default'],
    });
  });
});

describe("the restore wizard's request", () => {
  const form = (fields: Partial<RestoreForm>): RestoreForm => ({
    backupName: 'nightly-1',
    namespaces: undefined,
    mappings: [],
    policy: 'skip-on-conflict',
    ...fields,
  });

  it('restores every namespace when none is chosen, and sends the conflict policy', () => {
    assert.deepEqual(restoreRequest(form({})), {
      request: { backupName: 'nightly-1', namespacedConflictPolicy: 'skip-on-conflict' },
    });
  });

  it('sends the namespaces chosen and the mappings filled in, ignoring empty mapping rows', () => {
    const result = restoreRequest(
      form({
        namespaces: ['shop', 'web'],
        mappings: [
          { from: ' shop ', to: 'shop-copy' },
          { from: '', to: '' },
        ],
        policy: 'update-on-conflict',
      }),
    );
    assert.deepEqual(result, {
      request: {
        backupName: 'nightly-1',
        includedNamespaces: ['shop', 'web'],
        namespaceMapping: { shop: 'shop-copy' },
        namespacedConflictPolicy: 'update-on-conflict',
      },
    });
  });

  it('names every problem a person can fix before asking the server', () => {
    const result = restoreRequest(
      form({
        backupName: '',
        namespaces: ['shop', 'Bad_Name'],
        mappings: [
          { from: 'shop', to: '' },
          { from: 'web', to: 'web2' },
          { from: 'shop', to: 'a' },
          { from: 'shop', to: 'b' },
        ],
      }),
    );
    assert.deepEqual(result, {
      problems: [
        'choose a backup',
        'namespace "Bad_Name" is not a valid name',
        'a mapping needs both namespaces (shop → ?)',
        'namespace "web" is mapped but not restored',
        'namespace "shop" is mapped twice',
      ],
    });
    assert.deepEqual(restoreRequest(form({ namespaces: [] })), {
      problems: ['choose at least one namespace'],
    });
  });

  it('reads a typed list of namespaces separated by commas or spaces, each once', () => {
    assert.deepEqual(parseNamespaceList(' shop, web  shop,,api\n'), ['shop', 'web', 'api']);
    assert.deepEqual(parseNamespaceList('   '), []);
  });
});

describe("the overview's charts", () => {
  it('draw one line per schedule over the start times, by hand last, with gaps where another line has a point', () => {
    const chart = chartData(rows, (r) => r.durationSeconds);
    const at = (h: number) => (now - h * 3_600_000) / 1000;
    assert.deepEqual(chart.x, [at(30), at(6), at(2), at(0.5)]);
    assert.deepEqual(chart.lines, [
      { label: 'cluster', values: [null, null, 300, null] },
      { label: 'nightly', values: [60, 5, null, null] },
      { label: BY_HAND, values: [null, null, null, 12] },
    ]);
    assert.equal(chart.points, 4);
  });

  it('leave out the backups without the value charted', () => {
    const chart = chartData(rows, (r) => r.sizeBytes);
    assert.equal(chart.points, 3);
    assert.deepEqual(
      chart.lines.map((l) => l.label),
      ['cluster', 'nightly', BY_HAND],
    );
    assert.deepEqual(
      chartData([], (r) => r.sizeBytes),
      { x: [], lines: [], points: 0 },
    );
  });
});

describe("a backup's log", () => {
  const log = [
    '{"time":"2026-12-07T14:28:30.529Z","level":"info","msg":"listing every resource"}',
    '{"time":"2026-12-07T14:28:31.100Z","level":"warning","msg":"pod has no volumes","namespace":"shop","name":"web-1"}',
    'a line that is not JSON',
    '',
  ].join('\n');

  it('reads each JSON line into its time, level, message and other fields, and keeps other lines whole', () => {
    assert.deepEqual(parseLog(log), [
      { time: '2026-12-07T14:28:30.529Z', level: 'info', message: 'listing every resource', fields: '' },
      {
        time: '2026-12-07T14:28:31.100Z',
        level: 'warning',
        message: 'pod has no volumes',
        fields: 'namespace=shop name=web-1',
      },
      { level: '', message: 'a line that is not JSON', fields: '' },
    ]);
  });

  it('writes a line as time, level, message and fields', () => {
    assert.deepEqual(parseLog(log).map(formatLogLine), [
      '14:28:30.529Z  info     listing every resource',
      '14:28:31.100Z  warning  pod has no volumes  namespace=shop name=web-1',
      'a line that is not JSON',
    ]);
  });
});
