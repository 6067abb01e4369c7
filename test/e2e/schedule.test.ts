// `cairn schedule ...` as a user runs it against the testbed (the CRDs installed; the server's behaviour
// with schedules is tested in test/integration/server-lifecycle.test.ts).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Schedule } from '../../src/api/index.ts';
import { patchStatus } from '../../src/controller/index.ts';
import type { KubeClient } from '../../src/kube/index.ts';
import { cairn } from '../helpers/cli.ts';
import { createCr, getCr, installCrds } from '../helpers/server.ts';
import { clusterClient, uniqueSuffix } from '../helpers/testbed.ts';

let client: KubeClient;
let namespace: string;

describe('cairn schedule', () => {
  before(async () => {
    client = clusterClient('a');
    await installCrds(client);
    namespace = `cairn-sched-${uniqueSuffix()}`;
    await client.json({
      method: 'POST',
      path: '/api/v1/namespaces',
      body: { metadata: { name: namespace } },
    });
  });

  after(async () => {
    await client.send({ method: 'DELETE', path: `/api/v1/namespaces/${namespace}` });
  });

  it('refuses a schedule that is not one, naming it, and creates nothing', async () => {
    const bad = await cairn(['schedule', 'create', 'bad', '--schedule', '0 25 * * *', '-n', namespace]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /--schedule "0 25 \* \* \*"/);
    assert.equal(await getCr(client, namespace, 'Schedule', 'bad'), undefined);
    const badTtl = await cairn([
      'schedule',
      'create',
      'bad',
      '--schedule',
      '@daily',
      '--ttl',
      'a week',
      '-n',
      namespace,
    ]);
    assert.equal(badTtl.code, 1);
    assert.match(badTtl.stderr, /option '--ttl <duration>' argument 'a week' is invalid/);
  });

  it('creates a schedule with its template and retention, lists it, pauses and unpauses it', async () => {
    const created = await cairn([
      'schedule',
      'create',
      'nightly',
      '--schedule',
      'CRON_TZ=Europe/Paris 0 3 * * *',
      '--include-namespaces',
      'shop',
      '--exclude-resources',
      'secrets',
      '--ttl',
      '168h',
      '--keep-last',
      '1',
      '--keep-daily',
      '2',
      '--delete-lock-days',
      '1',
      '--paused',
      '-n',
      namespace,
    ]);
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /Schedule "nightly" created .*\(paused\)/);
    const schedule = await getCr<Schedule>(client, namespace, 'Schedule', 'nightly');
    assert.deepEqual(schedule?.spec.template.includedNamespaces, ['shop']);
    assert.deepEqual(schedule?.spec.template.excludedResources, ['secrets']);
    assert.equal(schedule?.spec.template.deleteLockDays, 1);
    // keepFailed: the CRD's default, filled in by the API server.
    assert.deepEqual(schedule?.spec.retention, { keepLast: 1, daily: 2, keepFailed: 3 });

    const listed = await cairn(['schedule', 'get', '-n', namespace]);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(
      listed.stdout,
      /^NAME\s+STATUS\s+CREATED\s+SCHEDULE\s+BACKUP TTL\s+LAST BACKUP\s+NEXT RUN\s+SELECTOR\s+PAUSED$/m,
    );
    assert.match(
      listed.stdout,
      /^nightly\s+New\s+.*CRON_TZ=Europe\/Paris 0 3 \* \* \*\s+168h\s+n\/a\s+n\/a\s+<none>\s+true$/m,
    );
    const json = await cairn(['schedule', 'get', 'nightly', '-n', namespace, '-o', 'json']);
    assert.equal((JSON.parse(json.stdout) as Schedule).spec.schedule, 'CRON_TZ=Europe/Paris 0 3 * * *');

    assert.equal((await cairn(['schedule', 'unpause', 'nightly', '-n', namespace])).code, 0);
    assert.equal((await getCr<Schedule>(client, namespace, 'Schedule', 'nightly'))?.spec.paused, false);
    assert.equal((await cairn(['schedule', 'pause', 'nightly', '-n', namespace])).code, 0);
    assert.equal((await getCr<Schedule>(client, namespace, 'Schedule', 'nightly'))?.spec.paused, true);
  });

  it('describes which retention rule keeps each of its backups', async () => {
    const day = (n: number) => new Date(Date.now() - n * 86_400_000).toISOString();
    const backups: [string, string][] = [
      ['nightly-3', day(3)],
      ['nightly-2', day(2)],
      ['nightly-1', day(1)],
    ];
    for (const [name, started] of backups) {
      await createCr(
        client,
        namespace,
        'Backup',
        name,
        {},
        { labels: { 'cairn.dev/schedule-name': 'nightly' } },
      );
      await patchStatus({ client, namespace }, 'Backup', name, {
        phase: 'Completed',
        startTimestamp: started,
        expiration: new Date(Date.now() + 86_400_000).toISOString(),
      });
    }
    const described = await cairn(['schedule', 'describe', 'nightly', '-n', namespace]);
    assert.equal(described.code, 0, described.stderr);
    assert.match(described.stdout, /^Schedule:\s+CRON_TZ=Europe\/Paris 0 3 \* \* \*$/m);
    assert.match(described.stdout, /^Retention:\s+keepLast 1, daily 2, keepFailed 3$/m);
    assert.match(described.stdout, /^Backups \(3\):$/m);
    assert.match(described.stdout, /^ {2}nightly-1\s+Completed\s+.*last 1, daily \d{4}-\d\d-\d\d$/m);
    assert.match(described.stdout, /^ {2}nightly-2\s+Completed\s+.*daily \d{4}-\d\d-\d\d$/m);
    assert.match(
      described.stdout,
      /^ {2}nightly-3\s+Completed\s+.*nothing: deleted at the next collection$/m,
    );
    // The next run, once the server has set it, in UTC and in the schedule's zone.
    assert.equal((await cairn(['schedule', 'unpause', 'nightly', '-n', namespace])).code, 0);
    await patchStatus({ client, namespace }, 'Schedule', 'nightly', { nextRun: '2026-12-08T02:00:00Z' });
    const next = await cairn(['schedule', 'describe', 'nightly', '-n', namespace]);
    assert.match(
      next.stdout,
      /^Next run:\s+2026-12-08 02:00:00 \+0000 UTC \(2026-12-08 03:00:00 Europe\/Paris\)$/m,
    );
    const json = await cairn(['schedule', 'describe', 'nightly', '-n', namespace, '-o', 'json']);
    assert.equal(json.code, 0, json.stderr);
    const parsed = JSON.parse(json.stdout) as { backups: { name: string; keep: boolean }[] };
    assert.deepEqual(
      parsed.backups.map((b) => [b.name, b.keep]),
      [
        ['nightly-1', true],
        ['nightly-2', true],
        ['nightly-3', false],
      ],
    );
  });

  it('deletes a schedule only with --confirm', async () => {
    const refused = await cairn(['schedule', 'delete', 'nightly', '-n', namespace]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /--confirm/);
    const deleted = await cairn(['schedule', 'delete', 'nightly', '-n', namespace, '--confirm']);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.equal(await getCr(client, namespace, 'Schedule', 'nightly'), undefined);
  });
});
