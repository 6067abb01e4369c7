// `cairn restore create|get|describe|logs|delete` as a user runs them: a deleted namespace brought back
// (after a dry run that changes nothing), the restore records read back, a migration into the second
// cluster, conflicts, transformation rules, and a clear error with nothing restored for bad input.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { loadKubeConfig, type KubeClient, type KubeObject } from '../../src/kube/index.ts';
import { cairn, type CliResult } from '../helpers/cli.ts';
import { clusterClient, eventually, testbedEnv, uniqueSuffix } from '../helpers/testbed.ts';

type Env = Record<string, string | undefined>;

interface Standalone {
  env: Env;
  run: (...args: string[]) => Promise<CliResult>;
  /** Removes the private directories. */
  remove: () => Promise<void>;
}

/** A private standalone setup: fresh XDG config and data directories, cluster a as the current cluster. */
async function standalone(): Promise<Standalone> {
  const root = await mkdtemp(join(tmpdir(), 'cairn-restore-e2e-'));
  const env: Env = {
    ...process.env,
    KUBECONFIG: testbedEnv('KUBECONFIG'),
    XDG_CONFIG_HOME: join(root, 'config'),
    XDG_DATA_HOME: join(root, 'data'),
  };
  return {
    env,
    run: (...args) => cairn(args, env),
    remove: () => rm(root, { recursive: true, force: true }),
  };
}

let a: KubeClient;
let b: KubeClient;
before(() => {
  a = clusterClient('a');
  b = clusterClient('b');
});

/** The API server address of cluster a or b, as the restore names it on stderr. */
const serverOf = (variable: 'KUBECONFIG' | 'KUBECONFIG_B') =>
  loadKubeConfig({ kubeconfig: testbedEnv(variable), env: {} }).getCurrentCluster()?.server ?? '';

/** A file's permission bits in octal: `600`. */
const modeOf = (info: { mode: number }) => (info.mode & 0o777).toString(8);

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The object at `path`, or undefined when the API server answers 404. */
async function live(client: KubeClient, path: string): Promise<KubeObject | undefined> {
  // One read: a second one could find the object gone (a namespace still terminating) and throw.
  const response = await client.send({ path });
  if (response.status === 404) return undefined;
  if (response.status < 200 || response.status > 299)
    throw new Error(`GET ${path}: status ${response.status}: ${response.body.toString('utf8')}`);
  return JSON.parse(response.body.toString('utf8')) as KubeObject;
}

/** A small shop in a new namespace: a Deployment, its Service, a ConfigMap and a Secret. */
async function createShop(client: KubeClient, ns: string): Promise<void> {
  const post = (path: string, body: unknown) => client.json({ method: 'POST', path, body });
  await post('/api/v1/namespaces', { metadata: { name: ns } });
  const labels = { app: 'shop' };
  await post(`/api/v1/namespaces/${ns}/configmaps`, {
    metadata: { name: 'settings', labels },
    data: { currency: 'EUR' },
  });
  await post(`/api/v1/namespaces/${ns}/secrets`, {
    metadata: { name: 'db-password', labels },
    stringData: { password: 'change-me' },
  });
  await post(`/apis/apps/v1/namespaces/${ns}/deployments`, {
    metadata: { name: 'web', labels },
    spec: {
      replicas: 2,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: { containers: [{ name: 'web', image: 'nginx:1.27', ports: [{ containerPort: 80 }] }] },
      },
    },
  });
  await post(`/api/v1/namespaces/${ns}/services`, {
    metadata: { name: 'web', labels },
    spec: { selector: labels, ports: [{ port: 80, targetPort: 80 }] },
  });
}

/** Deletes a namespace without waiting (cleanup). */
async function dropNamespace(client: KubeClient, ns: string): Promise<void> {
  await client.send({ method: 'DELETE', path: `/api/v1/namespaces/${ns}` });
}

/** Deletes a namespace and waits until it is gone, as `kubectl delete namespace` does. */
async function deleteNamespace(client: KubeClient, ns: string): Promise<void> {
  await dropNamespace(client, ns);
  await eventually(
    `namespace ${ns} to be gone`,
    async () => ((await live(client, `/api/v1/namespaces/${ns}`)) ? undefined : true),
    120_000,
  );
}

async function backupCreate(s: Standalone, name: string, ns: string): Promise<void> {
  const result = await s.run('backup', 'create', name, '--include-namespaces', ns);
  assert.equal(result.code, 0, result.stderr + result.stdout);
}

/** The "Items:" of `restore describe --details`: kind → items. */
function itemsOf(text: string): Map<string, string[]> {
  const items = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of text.slice(text.indexOf('\nItems:\n')).split('\n').slice(2)) {
    const kind = /^ {2}(\S+):$/.exec(line)?.[1];
    const item = /^ {4}- (.+)$/.exec(line)?.[1];
    if (kind) items.set(kind, (current = []));
    else if (item && current) current.push(item);
  }
  return items;
}

/** The restore name from the summary line of `restore create`. */
function restoreNameOf(stdout: string): string {
  const name = /^Restore "([^"]+)" /m.exec(stdout)?.[1];
  assert.ok(name, `a summary line names the restore:\n${stdout}`);
  return name;
}

describe('cairn restore, a deleted namespace brought back', () => {
  let s: Standalone;
  let ns: string;
  let backup: string;
  let restore: string;

  before(async () => {
    s = await standalone();
    ns = `rt-${uniqueSuffix()}`;
    backup = `shop-${uniqueSuffix()}`;
    await createShop(a, ns);
    await backupCreate(s, backup, ns);
    await deleteNamespace(a, ns);
  });
  after(async () => {
    await dropNamespace(a, ns);
    await s.remove();
  });

  it('previews the restore with --dry-run: the plan as a table, exit 0, and nothing changed', async () => {
    const result = await s.run('restore', 'create', '--from-backup', backup, '--dry-run');
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^Dry run: nothing was changed\. The restore would do this:$/m);
    assert.match(result.stdout, /^ACTION\s+RESOURCE\s+NAMESPACE\s+NAME\s+REASON$/m);
    for (const [resource, name] of [
      ['configmaps', 'settings'],
      ['secrets', 'db-password'],
      ['services', 'web'],
      ['deployments.apps', 'web'],
    ] as const)
      assert.match(result.stdout, new RegExp(`^create\\s+${escape(resource)}\\s+${ns}\\s+${name}\\s`, 'm'));
    assert.match(result.stdout, new RegExp(`^create\\s+namespaces\\s+${ns}\\s`, 'm'));
    assert.match(
      result.stdout,
      new RegExp(
        `^skip\\s+configmaps\\s+${ns}\\s+kube-root-ca\\.crt\\s+the target cluster publishes its own`,
        'm',
      ),
    );
    assert.match(result.stdout, /^Would create \d+, update 0, leave \d+ unchanged, skip \d+, fail 0\.$/m);

    assert.equal(await live(a, `/api/v1/namespaces/${ns}`), undefined, 'the namespace is still gone');
    const get = await s.run('restore', 'get');
    assert.equal(get.code, 0, get.stderr);
    assert.equal(get.stdout, 'No restores.\n', 'a dry run is not recorded');
  });

  it('restores the namespace: exit 0, a summary line, and every object back with its data', async () => {
    const result = await s.run('restore', 'create', '--from-backup', backup);
    assert.equal(result.code, 0, result.stderr + result.stdout);
    restore = restoreNameOf(result.stdout);
    assert.match(restore, new RegExp(`^${backup}-\\d{14}$`), 'the default name is <backup>-<timestamp>');
    assert.match(
      result.stdout,
      new RegExp(
        `^Restore "${restore}" Completed: [1-9]\\d* created, 0 updated, \\d+ unchanged, \\d+ skipped, 0 failed; 0 errors, 0 warnings\\.$`,
        'm',
      ),
    );
    assert.ok(
      result.stderr.includes(
        `Restoring backup "${backup}" from location "default" into ${serverOf('KUBECONFIG')} (context "`,
      ),
      `stderr names the backup, the location and the target cluster:\n${result.stderr}`,
    );

    const settings = await live(a, `/api/v1/namespaces/${ns}/configmaps/settings`);
    assert.deepEqual(settings?.data, { currency: 'EUR' });
    assert.equal(settings?.metadata.labels?.['cairn.dev/restore-name'], restore);
    assert.equal(settings?.metadata.labels?.['cairn.dev/backup-name'], backup);
    const secret = await live(a, `/api/v1/namespaces/${ns}/secrets/db-password`);
    assert.deepEqual(secret?.data, { password: Buffer.from('change-me').toString('base64') });
    const deployment = await live(a, `/apis/apps/v1/namespaces/${ns}/deployments/web`);
    assert.equal((deployment?.spec as { replicas?: number } | undefined)?.replicas, 2);
    const service = await live(a, `/api/v1/namespaces/${ns}/services/web`);
    assert.deepEqual(
      (service?.spec as { ports?: { port: number }[] } | undefined)?.ports?.map((p) => p.port),
      [80],
    );
  });

  it("lists the restore under restore get's columns, and prints it with -o json and -o yaml", async () => {
    const table = await s.run('restore', 'get');
    assert.equal(table.code, 0, table.stderr);
    const [header, ...rows] = table.stdout.trimEnd().split('\n');
    assert.match(
      header ?? '',
      /^NAME\s+BACKUP\s+STATUS\s+STARTED\s+COMPLETED\s+ERRORS\s+WARNINGS\s+CREATED\s+SELECTOR$/,
    );
    const time = '\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d \\+0000 UTC';
    assert.equal(rows.length, 1);
    assert.match(
      rows[0] ?? '',
      new RegExp(
        `^${restore}\\s+${backup}\\s+Completed\\s+${time}\\s+${time}\\s+0\\s+0\\s+${time}\\s+<none>$`,
      ),
    );

    const json = await s.run('restore', 'get', '-o', 'json');
    assert.equal(json.code, 0, json.stderr);
    const list = JSON.parse(json.stdout) as {
      kind: string;
      items: {
        kind: string;
        metadata: { name: string };
        spec: { backupName: string };
        status: { phase: string };
      }[];
    };
    assert.equal(list.kind, 'List');
    assert.deepEqual(
      list.items.map((r) => [r.kind, r.metadata.name, r.spec.backupName, r.status.phase]),
      [['Restore', restore, backup, 'Completed']],
    );

    const yaml = await s.run('restore', 'get', restore, '-o', 'yaml');
    assert.equal(yaml.code, 0, yaml.stderr);
    const one = parse(yaml.stdout) as {
      apiVersion: string;
      kind: string;
      status: { counts: { failed: number } };
    };
    assert.equal(one.apiVersion, 'cairn.dev/v1');
    assert.equal(one.kind, 'Restore');
    assert.equal(one.status.counts.failed, 0);
  });

  it('describes the restore: backup, location, policies, outcome, and its warnings and errors', async () => {
    const result = await s.run('restore', 'describe', restore);
    assert.equal(result.code, 0, result.stderr);
    const field = (name: string, value: string) =>
      assert.match(result.stdout, new RegExp(`^${name}:\\s+${value}$`, 'm'), `describe shows ${name}`);
    field('Name', restore);
    field('Phase', 'Completed');
    field('Backup', backup);
    field('Storage location', 'default');
    field('Namespaces', 'included \\*; excluded <none>');
    field('Conflict policy', 'skip-on-conflict \\(namespaced\\), use-existing-version \\(cluster-scoped\\)');
    field('Transformation rules', '<none>');
    field('Items processed', '(\\d+) of \\1');
    field('Outcome', '[1-9]\\d* created, 0 updated, \\d+ unchanged, \\d+ skipped, 0 failed');
    // The lines agree: the items processed are those of the outcome, every one counted once.
    const processed = Number(/^Items processed:\s+(\d+) of/m.exec(result.stdout)?.[1]);
    const outcome = /^Outcome:\s+(.*)$/m.exec(result.stdout)?.[1] ?? '';
    const counted = [...outcome.matchAll(/(\d+) \w+/g)].reduce((sum, m) => sum + Number(m[1]), 0);
    assert.equal(counted, processed, `${outcome} against ${processed} processed`);
    assert.match(result.stdout, /^Warnings: {2}0$/m);
    assert.match(result.stdout, /^Errors: {4}0$/m);
    assert.ok(!result.stdout.includes('Items:'), 'the items only with --details');
  });

  it('lists every item with its outcome under describe --details', async () => {
    const result = await s.run('restore', 'describe', restore, '--details');
    assert.equal(result.code, 0, result.stderr);
    const items = itemsOf(result.stdout);
    assert.deepEqual(items.get('v1/Namespace'), [`${ns}(created)`]);
    assert.deepEqual(items.get('v1/ConfigMap'), [
      `${ns}/kube-root-ca.crt(skipped)`,
      `${ns}/settings(created)`,
    ]);
    assert.deepEqual(items.get('v1/Secret'), [`${ns}/db-password(created)`]);
    assert.deepEqual(items.get('v1/Service'), [`${ns}/web(created)`]);
    assert.deepEqual(items.get('apps/v1/Deployment'), [`${ns}/web(created)`]);
    const replicaSets = items.get('apps/v1/ReplicaSet') ?? [];
    assert.equal(replicaSets.length, 1);
    assert.match(
      replicaSets[0] ?? '',
      new RegExp(`^${ns}/web-[a-z0-9]+\\(skipped\\)$`),
      'left to the Deployment',
    );
  });

  it('prints the log: what was restored resource by resource, and the outcome', async () => {
    const result = await s.run('restore', 'logs', restore);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^\S+Z info +restoring configmaps \(\d+ in the backup, as version v1\)$/m);
    assert.match(
      result.stdout,
      /^\S+Z info +done: \d+ created, 0 updated, \d+ unchanged, \d+ skipped, 0 failed$/m,
    );
  });

  it('deletes the record with --confirm only, and leaves the restored objects alone', async () => {
    const refused = await s.run('restore', 'delete', restore);
    assert.equal(refused.code, 1, 'no terminal and no --confirm');
    assert.match(refused.stderr, /--confirm/);
    assert.equal((await s.run('restore', 'get', restore)).code, 0, 'the record is still there');

    const deleted = await s.run('restore', 'delete', restore, '--confirm');
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.equal(
      deleted.stdout,
      `Deleted the record of restore "${restore}" (the restored objects are untouched).\n`,
    );
    const get = await s.run('restore', 'get', restore);
    assert.equal(get.code, 1);
    assert.equal(get.stderr, `error: no restore named "${restore}"\n`);
    assert.ok(await live(a, `/api/v1/namespaces/${ns}/configmaps/settings`), 'the objects stay');
    assert.ok(await live(a, `/apis/apps/v1/namespaces/${ns}/deployments/web`), 'the objects stay');
  });
});

describe('cairn restore into another cluster', () => {
  it('restores a backup of cluster a into cluster b with --kubeconfig, leaving cluster a alone', async (t) => {
    const s = await standalone();
    const ns = `mig-${uniqueSuffix()}`;
    t.after(async () => {
      await dropNamespace(a, ns);
      await dropNamespace(b, ns);
      await s.remove();
    });
    await createShop(a, ns);
    const backup = `mig-${uniqueSuffix()}`;
    await backupCreate(s, backup, ns);
    const before = (await live(a, `/api/v1/namespaces/${ns}/configmaps/settings`))?.metadata.resourceVersion;
    assert.equal(await live(b, `/api/v1/namespaces/${ns}`), undefined, 'cluster b starts without it');

    const result = await s.run(
      '--kubeconfig',
      testbedEnv('KUBECONFIG_B'),
      'restore',
      'create',
      'to-b',
      '--from-backup',
      backup,
    );
    assert.equal(result.code, 0, result.stderr + result.stdout);
    assert.match(result.stdout, /^Restore "to-b" Completed: [1-9]\d* created, .* 0 failed; 0 errors/m);
    assert.ok(result.stderr.includes(` into ${serverOf('KUBECONFIG_B')} (context "`), result.stderr);

    assert.deepEqual((await live(b, `/api/v1/namespaces/${ns}/configmaps/settings`))?.data, {
      currency: 'EUR',
    });
    assert.ok(await live(b, `/api/v1/namespaces/${ns}/secrets/db-password`));
    assert.ok(await live(b, `/api/v1/namespaces/${ns}/services/web`));
    assert.ok(await live(b, `/apis/apps/v1/namespaces/${ns}/deployments/web`));
    assert.equal(
      (await live(a, `/api/v1/namespaces/${ns}/configmaps/settings`))?.metadata.resourceVersion,
      before,
      'cluster a is not touched',
    );
    const describe = await s.run('restore', 'describe', 'to-b');
    assert.match(describe.stdout, /^Phase:\s+Completed$/m, 'the record is kept on this machine');
  });
});

describe('cairn restore over objects that differ from the backup', () => {
  let s: Standalone;
  let ns: string;
  let backup: string;
  const settingsPath = () => `/api/v1/namespaces/${ns}/configmaps/settings`;

  before(async () => {
    s = await standalone();
    ns = `conf-${uniqueSuffix()}`;
    backup = `conf-${uniqueSuffix()}`;
    await createShop(a, ns);
    await backupCreate(s, backup, ns);
    await a.json({
      method: 'PATCH',
      path: settingsPath(),
      contentType: 'application/merge-patch+json',
      body: { data: { currency: 'USD' } },
    });
  });
  after(async () => {
    await dropNamespace(a, ns);
    await s.remove();
  });

  it("shows the conflict's difference in the --dry-run plan", async () => {
    const result = await s.run('restore', 'create', '--from-backup', backup, '--dry-run');
    assert.equal(result.code, 0, result.stderr);
    assert.match(
      result.stdout,
      new RegExp(
        `^skip\\s+configmaps\\s+${ns}\\s+settings\\s+already exists and differs from the backup`,
        'm',
      ),
    );
    assert.match(
      result.stdout,
      new RegExp(
        `^configmaps ${ns}/settings differs from the backup:\\n {2}~ /data/currency: "USD" → "EUR"$`,
        'm',
      ),
    );
  });

  it('fails the item under --conflict-policy fail-on-conflict: exit 2, PartiallyFailed, the item named', async () => {
    const result = await s.run(
      'restore',
      'create',
      'strict',
      '--from-backup',
      backup,
      '--conflict-policy',
      'fail-on-conflict',
    );
    assert.equal(result.code, 2, result.stderr + result.stdout);
    assert.match(result.stdout, /^Restore "strict" PartiallyFailed: .* 1 failed; 1 errors, 0 warnings\.$/m);
    assert.match(
      result.stdout,
      new RegExp(
        `^ {2}failed: configmaps ${ns}/settings: already exists and differs from the backup \\(fail-on-conflict\\)$`,
        'm',
      ),
    );
    assert.deepEqual((await live(a, settingsPath()))?.data, { currency: 'USD' }, 'the live object is kept');

    const describe = await s.run('restore', 'describe', 'strict');
    assert.equal(describe.code, 0, describe.stderr);
    assert.match(describe.stdout, /^Phase:\s+PartiallyFailed$/m);
    assert.match(
      describe.stdout,
      new RegExp(
        `^Errors: {4}1\\n {2}Namespaces:\\n {4}${ns}:\\n {6}configmaps ${ns}/settings: already exists and differs from the backup \\(fail-on-conflict\\):\\n {8}~ /data/currency: "USD" → "EUR"$`,
        'm',
      ),
    );

    const logs = await s.run('restore', 'logs', 'strict');
    assert.equal(logs.code, 0, logs.stderr);
    assert.match(
      logs.stdout,
      new RegExp(
        `^\\S+Z error +\\[${ns}\\] configmaps ${ns}/settings: already exists and differs from the backup \\(fail-on-conflict\\):\\n {4}~ /data/currency: "USD" → "EUR"$`,
        'm',
      ),
    );
  });

  it('keeps the live object under the default skip-on-conflict, with a warning in describe', async () => {
    const result = await s.run('restore', 'create', 'lenient', '--from-backup', backup);
    assert.equal(result.code, 0, result.stderr + result.stdout);
    assert.match(result.stdout, /^Restore "lenient" Completed: .* 0 failed; 0 errors, 1 warnings\.$/m);
    assert.deepEqual((await live(a, settingsPath()))?.data, { currency: 'USD' });

    const describe = await s.run('restore', 'describe', 'lenient');
    assert.match(
      describe.stdout,
      new RegExp(
        `^Warnings: {2}1\\n {2}Namespaces:\\n {4}${ns}:\\n {6}configmaps ${ns}/settings already exists and differs from the backup; the live object was kept$`,
        'm',
      ),
    );
    assert.match(describe.stdout, /^Errors: {4}0$/m);
  });

  it('counts, in the --dry-run totals, the objects it would recreate (fields the API will not change differ)', async () => {
    // The live ConfigMap made immutable: its data can no longer change in place.
    await a.json({ method: 'DELETE', path: settingsPath() });
    await a.json({
      method: 'POST',
      path: `/api/v1/namespaces/${ns}/configmaps`,
      body: { metadata: { name: 'settings' }, immutable: true, data: { currency: 'USD' } },
    });
    const result = await s.run(
      'restore',
      'create',
      '--from-backup',
      backup,
      '--dry-run',
      '--conflict-policy',
      'update-on-conflict',
    );
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`^recreate\\s+configmaps\\s+${ns}\\s+settings\\s`, 'm'));
    assert.match(
      result.stdout,
      /^Would create \d+, update \d+, recreate 1, leave \d+ unchanged, skip \d+, fail 0\.$/m,
    );
  });
});

describe('cairn restore over a Secret that differs from the backup', () => {
  let s: Standalone;
  let ns: string;
  let backup: string;
  // The backed-up value and the live one, as kubectl apply leaves them (in data and in its annotation).
  const backedUp = 'backed-up-pass-4711';
  const rotated = 'rotated-pass-0815';
  const secretOf = (password: string) => ({
    metadata: {
      name: 'db',
      annotations: {
        'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify({
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: 'db', namespace: ns },
          stringData: { password },
        }),
      },
    },
    data: { password: Buffer.from(password).toString('base64') },
  });
  /** Fails when a text holds either value, plain or base64. */
  const assertNoSecretIn = (what: string, text: string) => {
    for (const value of [backedUp, rotated]) {
      for (const form of [value, Buffer.from(value).toString('base64')])
        assert.ok(!text.includes(form), `${what} shows a Secret value ("${form}"):\n${text}`);
    }
  };
  const changed = /~ \/data\/password: changed \(sha256 [0-9a-f]{4}…→[0-9a-f]{4}…\)/;

  before(async () => {
    s = await standalone();
    ns = `sec-${uniqueSuffix()}`;
    backup = `sec-${uniqueSuffix()}`;
    await a.json({ method: 'POST', path: '/api/v1/namespaces', body: { metadata: { name: ns } } });
    await a.json({ method: 'POST', path: `/api/v1/namespaces/${ns}/secrets`, body: secretOf(backedUp) });
    await backupCreate(s, backup, ns);
    await a.json({ method: 'PUT', path: `/api/v1/namespaces/${ns}/secrets/db`, body: secretOf(rotated) });
  });
  after(async () => {
    await dropNamespace(a, ns);
    await s.remove();
  });

  it('says a value changed with a hash prefix in the --dry-run plan, in text and in json', async () => {
    const result = await s.run('restore', 'create', '--from-backup', backup, '--dry-run');
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`^secrets ${ns}/db differs from the backup:$`, 'm'));
    assert.match(result.stdout, changed);
    assert.match(
      result.stdout,
      /~ \/metadata\/annotations\/kubectl\.kubernetes\.io~1last-applied-configuration: changed \(sha256 [0-9a-f]{4}…→[0-9a-f]{4}…\)/,
    );
    assertNoSecretIn('the dry run', result.stdout + result.stderr);

    for (const format of ['json', 'yaml']) {
      const structured = await s.run('restore', 'create', '--from-backup', backup, '--dry-run', '-o', format);
      assert.equal(structured.code, 0, structured.stderr);
      assert.match(structured.stdout, /sha256:[0-9a-f]{4}…/);
      assertNoSecretIn(`the dry run as ${format}`, structured.stdout + structured.stderr);
    }
  });

  it('records the conflict without the values: describe, logs and the record files (0600, in 0700 directories)', async () => {
    const result = await s.run(
      'restore',
      'create',
      'strict-secret',
      '--from-backup',
      backup,
      '--conflict-policy',
      'fail-on-conflict',
    );
    assert.equal(result.code, 2, result.stderr + result.stdout);
    assertNoSecretIn('restore create', result.stdout + result.stderr);

    const describe = await s.run('restore', 'describe', 'strict-secret', '--details');
    assert.equal(describe.code, 0, describe.stderr);
    assert.match(describe.stdout, changed);
    assertNoSecretIn('restore describe', describe.stdout);
    const logs = await s.run('restore', 'logs', 'strict-secret');
    assert.equal(logs.code, 0, logs.stderr);
    assert.match(logs.stdout, changed);
    assertNoSecretIn('restore logs', logs.stdout);

    const data = join(s.env.XDG_DATA_HOME ?? '', 'cairn');
    const dir = join(data, 'restores', 'strict-secret');
    const files = await readdir(dir);
    assert.deepEqual(files.sort(), [
      'cairn-restore.json',
      'restore-strict-secret-logs.gz',
      'restore-strict-secret-resource-list.json.gz',
      'restore-strict-secret-results.gz',
    ]);
    for (const file of files) {
      const bytes = await readFile(join(dir, file));
      assertNoSecretIn(file, (file.endsWith('.gz') ? gunzipSync(bytes) : bytes).toString('utf8'));
      assert.equal(modeOf(await stat(join(dir, file))), '600', `${file} is 0600`);
    }
    for (const path of [data, join(data, 'restores'), dir])
      assert.equal(modeOf(await stat(path)), '700', `${path} is 0700`);
  });
});

describe('cairn restore create with transformation rules and -o json', () => {
  let s: Standalone;
  let ns: string;
  let backup: string;
  const copies: string[] = [];

  before(async () => {
    s = await standalone();
    ns = `tr-${uniqueSuffix()}`;
    backup = `tr-${uniqueSuffix()}`;
    await createShop(a, ns);
    await backupCreate(s, backup, ns);
  });
  after(async () => {
    for (const name of [ns, ...copies]) await dropNamespace(a, name);
    await s.remove();
  });

  it('applies a --transform rules file (a merge patch annotating config maps) in a mapped namespace', async (t) => {
    const copy = `${ns}-copy`;
    copies.push(copy);
    const rules = join(await mkdtemp(join(tmpdir(), 'cairn-rules-')), 'rules.yaml');
    t.after(() => rm(join(rules, '..'), { recursive: true, force: true }));
    await writeFile(
      rules,
      [
        'version: v1',
        'resourceModifierRules:',
        '  - name: mark-configmaps',
        '    conditions:',
        '      groupResource: configmaps',
        '    mergePatches:',
        '      - patchData: |',
        '          {"metadata": {"annotations": {"example.com/restored-by": "cairn"}}}',
        '',
      ].join('\n'),
    );
    const result = await s.run(
      'restore',
      'create',
      'annotated',
      '--from-backup',
      backup,
      '--namespace-mappings',
      `${ns}:${copy}`,
      '--transform',
      rules,
    );
    assert.equal(result.code, 0, result.stderr + result.stdout);

    const settings = await live(a, `/api/v1/namespaces/${copy}/configmaps/settings`);
    assert.equal(settings?.metadata.annotations?.['example.com/restored-by'], 'cairn');
    assert.deepEqual(settings?.data, { currency: 'EUR' });
    const deployment = await live(a, `/apis/apps/v1/namespaces/${copy}/deployments/web`);
    assert.ok(deployment, 'the deployment is restored');
    assert.equal(
      deployment.metadata.annotations?.['example.com/restored-by'],
      undefined,
      'the rule touches config maps only',
    );
    const original = await live(a, `/api/v1/namespaces/${ns}/configmaps/settings`);
    assert.equal(original?.metadata.annotations?.['example.com/restored-by'], undefined, 'the source stays');

    const describe = await s.run('restore', 'describe', 'annotated');
    assert.match(describe.stdout, /^Transformation rules:\s+1 given with the restore \(mark-configmaps\)$/m);
    assert.match(describe.stdout, new RegExp(`^Namespace mappings:\\s+${ns}:${copy}$`, 'm'));
  });

  it('prints the finished Restore with -o json, and the Restore and its plan for a dry run', async () => {
    const copy = `${ns}-json`;
    copies.push(copy);
    const dry = await s.run(
      'restore',
      'create',
      'as-json',
      '--from-backup',
      backup,
      '--namespace-mappings',
      `${ns}:${copy}`,
      '--dry-run',
      '-o',
      'json',
    );
    assert.equal(dry.code, 0, dry.stderr);
    const preview = JSON.parse(dry.stdout) as {
      restore: { kind: string; spec: { dryRun?: boolean } };
      plan: { outcome: string; groupResource: string; namespace?: string; name: string }[];
    };
    assert.equal(preview.restore.kind, 'Restore');
    assert.equal(preview.restore.spec.dryRun, true);
    assert.ok(
      preview.plan.some(
        (p) =>
          p.outcome === 'created' &&
          p.groupResource === 'configmaps' &&
          p.namespace === copy &&
          p.name === 'settings',
      ),
      dry.stdout,
    );
    assert.equal(await live(a, `/api/v1/namespaces/${copy}`), undefined, 'the dry run created nothing');

    const result = await s.run(
      'restore',
      'create',
      'as-json',
      '--from-backup',
      backup,
      '--namespace-mappings',
      `${ns}:${copy}`,
      '-o',
      'json',
    );
    assert.equal(result.code, 0, result.stderr);
    const restore = JSON.parse(result.stdout) as {
      apiVersion: string;
      kind: string;
      metadata: { name: string };
      spec: { backupName: string; storageLocation: string; namespaceMapping: Record<string, string> };
      status: { phase: string; errors: number; counts: { created: number; failed: number } };
    };
    assert.equal(restore.apiVersion, 'cairn.dev/v1');
    assert.equal(restore.kind, 'Restore');
    assert.equal(restore.metadata.name, 'as-json');
    assert.equal(restore.spec.backupName, backup);
    assert.equal(restore.spec.storageLocation, 'default');
    assert.deepEqual(restore.spec.namespaceMapping, { [ns]: copy });
    assert.equal(restore.status.phase, 'Completed');
    assert.ok(restore.status.counts.created > 0);
    assert.equal(restore.status.counts.failed, 0);
    assert.ok(await live(a, `/api/v1/namespaces/${copy}/configmaps/settings`));
  });
});

describe('cairn restore create with bad input', () => {
  let s: Standalone;
  let ns: string;
  let backup: string;

  before(async () => {
    s = await standalone();
    ns = `bad-${uniqueSuffix()}`;
    backup = `bad-${uniqueSuffix()}`;
    await createShop(a, ns);
    await backupCreate(s, backup, ns);
  });
  after(async () => {
    await dropNamespace(a, ns);
    await s.remove();
  });

  /** Nothing was restored or recorded: no restore records, and `target` (a namespace) does not exist. */
  async function assertNothingRestored(target?: string) {
    const get = await s.run('restore', 'get');
    assert.equal(get.stdout, 'No restores.\n');
    if (target) assert.equal(await live(a, `/api/v1/namespaces/${target}`), undefined);
  }

  it('creates nothing on this machine for a refused restore, or for restore get: no config, key or records', async () => {
    const fresh = await standalone();
    try {
      const refused = await fresh.run('restore', 'create', '--from-backup', 'no-such-backup');
      assert.equal(refused.code, 1);
      assert.equal((await fresh.run('restore', 'get')).stdout, 'No restores.\n');
      const root = join(fresh.env.XDG_DATA_HOME ?? '', '..');
      assert.deepEqual(await readdir(root), [], 'no configuration, key or data directory was made');
    } finally {
      await fresh.remove();
    }
  });

  it('refuses an unknown backup, naming it and the locations searched', async () => {
    const result = await s.run('restore', 'create', '--from-backup', 'no-such-backup');
    assert.equal(result.code, 1);
    assert.equal(result.stdout, '');
    assert.equal(
      result.stderr,
      'error: backup "no-such-backup" was not found in any location (searched: default)\n',
    );
    await assertNothingRestored();
  });

  it('refuses a schedule with no Completed backup, naming the schedule', async () => {
    const result = await s.run('restore', 'create', '--from-schedule', 'no-such-schedule');
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      /^ {2}scheduleName "no-such-schedule": location "default" has no Completed backup of that schedule$/m,
    );
    await assertNothingRestored();
  });

  it('refuses --namespace-mappings that is not source:target', async () => {
    const result = await s.run('restore', 'create', '--from-backup', backup, '--namespace-mappings', 'bad');
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      /^error: option '--namespace-mappings <list>' argument 'bad' is invalid\. "bad" is not a mapping \(source:target\)$/m,
    );
    await assertNothingRestored();
  });

  it('asks which backup when neither --from-backup nor --from-schedule is given, and refuses both', async () => {
    const neither = await s.run('restore', 'create');
    assert.equal(neither.code, 1);
    assert.match(
      neither.stderr,
      /^error: which backup\? give --from-backup BACKUP, or --from-schedule SCHEDULE/m,
    );
    assert.ok(!neither.stderr.includes('name "'), 'no complaint about a made-up restore name');

    const both = await s.run('restore', 'create', '--from-backup', backup, '--from-schedule', 'nightly');
    assert.equal(both.code, 1);
    assert.match(
      both.stderr,
      /^error: option '--from-backup <backup>' cannot be used with option '--from-schedule <schedule>'$/m,
    );
    await assertNothingRestored();
  });

  it('names a --transform file that does not exist, and restores nothing', async () => {
    const target = `${ns}-x`;
    const missing = join(tmpdir(), `cairn-missing-${uniqueSuffix()}.yaml`);
    const result = await s.run(
      'restore',
      'create',
      '--from-backup',
      backup,
      '--namespace-mappings',
      `${ns}:${target}`,
      '--transform',
      missing,
    );
    assert.equal(result.code, 1);
    assert.ok(
      result.stderr.startsWith(
        `error: option '--transform <file>' argument '${missing}' is invalid. no such file\n`,
      ),
      result.stderr,
    );
    await assertNothingRestored(target);
  });

  it('names the rule and field of a --transform file that is wrong, and restores nothing', async (t) => {
    const target = `${ns}-y`;
    const dir = await mkdtemp(join(tmpdir(), 'cairn-rules-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const rules = join(dir, 'rules.yaml');
    await writeFile(
      rules,
      'version: v1\nresourceModifierRules:\n  - name: broken\n    conditions:\n      groupResource: configmaps\n      resourceNameRegex: "(["\n    mergePatches:\n      - patchData: "{}"\n',
    );
    const result = await s.run(
      'restore',
      'create',
      '--from-backup',
      backup,
      '--namespace-mappings',
      `${ns}:${target}`,
      '--transform',
      rules,
    );
    assert.equal(result.code, 1);
    assert.ok(
      result.stderr.startsWith(
        `error: --transform ${rules}: rule "broken": resourceModifierRules[0].conditions.resourceNameRegex "([": not a valid regular expression`,
      ),
      result.stderr,
    );
    await assertNothingRestored(target);
  });
});

describe('cairn restore --help', () => {
  it('shows examples for create, get, describe, logs and delete', async () => {
    for (const command of ['create', 'get', 'describe', 'logs', 'delete']) {
      const result = await cairn(['restore', command, '--help']);
      assert.equal(result.code, 0, `${command}: ${result.stderr}`);
      assert.match(result.stdout, new RegExp(`\\nExamples:\\n {2}cairn restore ${command}[ \\n]`), command);
    }
  });

  it('lists the selection, mapping, policy, transform and output flags of create', async () => {
    const result = await cairn(['restore', 'create', '--help']);
    for (const flag of [
      '--from-backup',
      '--from-schedule',
      '--storage-location',
      '--include-namespaces',
      '--exclude-resources',
      '--selector',
      '--namespace-mappings',
      '--storage-class-mappings',
      '--conflict-policy',
      '--cluster-conflict-policy',
      '--existing-resource-policy',
      '--transform',
      '--transform-configmap',
      '--dry-run',
      '--output',
    ])
      assert.ok(result.stdout.includes(flag), `--help lists ${flag}`);
  });
});

describe('cairn backup verify', () => {
  it('restores a backup into a scratch namespace, finds every object equal, cleans up and exits 0', async (t) => {
    const s = await standalone();
    const ns = `verify-${uniqueSuffix()}`;
    t.after(async () => {
      await a.send({ method: 'DELETE', path: `/api/v1/namespaces/${ns}` });
      await s.remove();
    });
    await createShop(a, ns);
    const backup = await s.run('backup', 'create', 'v1', '--include-namespaces', ns);
    assert.equal(backup.code, 0, backup.stderr);
    const result = await s.run('backup', 'verify', 'v1', '-o', 'json');
    assert.equal(result.code, 0, result.stderr);
    const report = JSON.parse(result.stdout) as {
      compared: number;
      equal: number;
      differences: unknown[];
      namespaces: Record<string, string>;
      cleanedUp: boolean;
    };
    assert.ok(report.compared >= 4, result.stdout);
    assert.equal(report.equal, report.compared);
    assert.deepEqual(report.differences, []);
    assert.match(report.namespaces[ns] ?? '', new RegExp(`^${ns}-verify-[0-9a-f]{6}$`));
    assert.equal(report.cleanedUp, true);
    const text = await s.run('backup', 'verify', 'v1');
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^Verified: the backup restores as it was taken\.$/m);
  });

  it('names a backup that does not exist, exit code 1', async (t) => {
    const s = await standalone();
    t.after(() => s.remove());
    const result = await s.run('backup', 'verify', 'no-such-backup');
    assert.equal(result.code, 1);
    assert.match(result.stderr, /no-such-backup/);
  });
});
