// The backup catalog of standalone mode as a user reads it: `cairn backup get|describe|logs|download|delete`,
// over the embedded default location, a MinIO bucket and a read-only location.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it, type TestContext } from 'node:test';
import { CreateBucketCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { openArchive, readArchive } from '../../src/archive/index.ts';
import type { KubeClient } from '../../src/kube/index.ts';
import { keyId } from '../../src/storage/index.ts';
import { cairn, cairnBin, type CliResult } from '../helpers/cli.ts';
import { goDecode, goLogLine, veleroBucket, veleroSelectorBackupJson } from '../helpers/velero-fixture.ts';
import { clusterClient, minioOptions, testbedEnv, testNamespace, uniqueSuffix } from '../helpers/testbed.ts';

type Env = Record<string, string | undefined>;

interface Standalone {
  env: Env;
  config: string;
  data: string;
  /** The embedded default location's directory. */
  defaultDir: string;
  run: (...args: string[]) => Promise<CliResult>;
}

/** A private standalone setup: fresh XDG config and data directories, the testbed's cluster and stores. */
async function standalone(t: TestContext): Promise<Standalone> {
  const root = await mkdtemp(join(tmpdir(), 'cairn-catalog-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const env: Env = {
    ...process.env,
    KUBECONFIG: testbedEnv('KUBECONFIG'),
    XDG_CONFIG_HOME: join(root, 'config'),
    XDG_DATA_HOME: join(root, 'data'),
  };
  return {
    env,
    config: join(root, 'config', 'cairn'),
    data: join(root, 'data', 'cairn'),
    defaultDir: join(root, 'data', 'cairn', 'locations', 'default'),
    run: (...args) => cairn(args, env),
  };
}

/** Runs cairn in another working directory (to see where `download` writes by default). */
function cairnIn(cwd: string, args: string[], env: Env): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cairnBin, ...args], { env, cwd }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

let client: KubeClient;
before(() => {
  client = clusterClient('a');
});

/** A namespace with a config map and a secret in it. */
async function shopNamespace(t: TestContext): Promise<string> {
  const ns = await testNamespace(t, client, 'cat');
  await client.json({
    method: 'POST',
    path: `/api/v1/namespaces/${ns}/configmaps`,
    body: { metadata: { name: 'settings' }, data: { color: 'blue' } },
  });
  await client.json({
    method: 'POST',
    path: `/api/v1/namespaces/${ns}/secrets`,
    body: { metadata: { name: 'db-password' }, stringData: { password: 'hunter2' } },
  });
  return ns;
}

async function backupCreate(s: Standalone, name: string, ns: string, ...extra: string[]): Promise<void> {
  const result = await s.run('backup', 'create', name, '--include-namespaces', ns, ...extra);
  assert.equal(result.code, 0, result.stderr + result.stdout);
}

async function filesOf(dir: string): Promise<string[]> {
  return existsSync(dir) ? (await readdir(dir)).sort() : [];
}

/** The "Resource list:" of `describe --details`: kind → items. */
function resourceList(text: string): Map<string, string[]> {
  const list = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of text.slice(text.indexOf('Resource list:\n')).split('\n').slice(1)) {
    const kind = /^ {2}(\S+):$/.exec(line)?.[1];
    const item = /^ {4}- (.+)$/.exec(line)?.[1];
    if (kind) list.set(kind, (current = []));
    else if (item && current) current.push(item);
  }
  return list;
}

interface BackupList {
  kind: string;
  items: {
    metadata: { name: string; annotations?: Record<string, string> };
    status?: { phase?: string };
  }[];
}

describe('cairn backup get', () => {
  it("lists a backup as one row under Velero's columns", async (t) => {
    const s = await standalone(t);
    const ns = await shopNamespace(t);
    const name = `shop-${uniqueSuffix()}`;
    await backupCreate(s, name, ns);

    const result = await s.run('backup', 'get');
    assert.equal(result.code, 0, result.stderr);
    const [header, ...rows] = result.stdout.trimEnd().split('\n');
    assert.match(
      header ?? '',
      /^NAME\s+STATUS\s+ERRORS\s+WARNINGS\s+CREATED\s+EXPIRES\s+STORAGE LOCATION\s+SELECTOR$/,
    );
    assert.equal(rows.length, 1);
    assert.match(
      rows[0] ?? '',
      new RegExp(
        `^${name}\\s+Completed\\s+0\\s+0\\s+\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d \\+0000 UTC\\s+29d\\s+default\\s+<none>$`,
      ),
    );

    const named = await s.run('backup', 'get', name);
    assert.equal(named.code, 0, named.stderr);
    assert.match(named.stdout, new RegExp(`^${name}\\s+Completed`, 'm'));
  });

  it('prints a List of Backup objects with -o json and -o yaml', async (t) => {
    const s = await standalone(t);
    const ns = await shopNamespace(t);
    const name = `json-${uniqueSuffix()}`;
    await backupCreate(s, name, ns, '-l', 'app=none');

    const json = await s.run('backup', 'get', '-o', 'json');
    assert.equal(json.code, 0, json.stderr);
    const list = JSON.parse(json.stdout) as BackupList;
    assert.equal(list.kind, 'List');
    assert.deepEqual(
      list.items.map((i) => [i.metadata.name, i.status?.phase]),
      [[name, 'Completed']],
    );

    const yaml = await s.run('backup', 'get', name, '-o', 'yaml');
    assert.equal(yaml.code, 0, yaml.stderr);
    assert.match(yaml.stdout, /^kind: List$/m);
    assert.match(yaml.stdout, new RegExp(`name: ${name}$`, 'm'));

    const table = await s.run('backup', 'get', name);
    assert.match(table.stdout, /\s+app=none$/m, 'the SELECTOR column shows the label selector');
  });

  it('fails with exit code 1 naming a backup that exists nowhere', async (t) => {
    const s = await standalone(t);
    const result = await s.run('backup', 'get', 'no-such-backup');
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      /backup "no-such-backup" was not found in any location \(searched: default\)/,
    );
  });

  it('shows an unfinished backup as InProgress, and as Incomplete after an hour; delete needs --force for a running one', async (t) => {
    const s = await standalone(t);
    const claim = async (name: string, startedAt: Date) => {
      await mkdir(join(s.defaultDir, 'backups', name), { recursive: true });
      await writeFile(
        join(s.defaultDir, 'backups', name, `${name}-claim.json`),
        JSON.stringify({ name, startedAt: startedAt.toISOString(), client: 'cairn test' }),
      );
    };
    assert.equal((await s.run('location', 'get')).code, 0); // sets up the default location
    await claim('running', new Date());
    await claim('crashed', new Date(Date.now() - 2 * 3600_000));

    const result = await s.run('backup', 'get');
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^crashed\s+Incomplete\s+0\s+0\s+.+ UTC\s+n\/a\s+default\s+<none>$/m);
    assert.match(result.stdout, /^running\s+InProgress\s+/m);

    const deleted = await s.run('backup', 'delete', 'crashed', '--confirm');
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.deepEqual(await filesOf(join(s.defaultDir, 'backups', 'crashed')), []);

    const refused = await s.run('backup', 'delete', 'running', '--confirm');
    assert.equal(refused.code, 1);
    assert.match(
      refused.stderr,
      /backup "running" is InProgress in location "default": its writer \(cairn test\) is alive, .*pass --force to delete it now/,
    );
    assert.equal((await filesOf(join(s.defaultDir, 'backups', 'running'))).length, 1, 'nothing was deleted');
    const forced = await s.run('backup', 'delete', 'running', '--confirm', '--force');
    assert.equal(forced.code, 0, forced.stderr);
    assert.deepEqual(await filesOf(join(s.defaultDir, 'backups', 'running')), []);
  });
});

describe('cairn backup describe', () => {
  it('shows locations, revision, encryption key id, counts, and every item with --details', async (t) => {
    const s = await standalone(t);
    const ns = await shopNamespace(t);
    const name = `desc-${uniqueSuffix()}`;
    await backupCreate(s, name, ns);
    const key = Buffer.from((await readFile(join(s.config, 'keys', 'default.key'), 'utf8')).trim(), 'base64');

    const result = await s.run('backup', 'describe', name);
    assert.equal(result.code, 0, result.stderr);
    const out = result.stdout;
    assert.match(out, /^Phase:\s+Completed$/m);
    assert.match(out, new RegExp(`^  Included:\\s+${ns}$`, 'm'));
    assert.match(out, /^ {2}Cluster-scoped:\s+auto$/m);
    assert.match(out, /^Storage locations:\n {2}default:\s+Completed$/m);
    assert.match(out, /^Consistency:\s+snapshot, at storage revision \d+$/m);
    assert.match(out, new RegExp(`^  default:\\s+AES-256-GCM, key id ${keyId(key)}$`, 'm'));
    assert.match(out, /^TTL:\s+720h0m0s$/m);
    assert.match(out, /^Expiration:\s+.+ UTC \(29d\)$/m);
    // the namespace, its config map, its secret, and the service account and root CA the cluster adds
    assert.match(out, /^Items backed up:\s+[4-9]$/m);
    assert.match(out, /^Errors:\s+0$/m);
    assert.match(out, /^Warnings:\s+0$/m);
    assert.doesNotMatch(out, /Resource list:/);
    assert.ok(!out.includes(key.toString('base64')), 'describe never prints the key');

    const details = await s.run('backup', 'describe', name, '--details');
    assert.equal(details.code, 0, details.stderr);
    const items = resourceList(details.stdout);
    assert.ok(items.get('v1/ConfigMap')?.includes(`${ns}/settings`), details.stdout);
    assert.deepEqual(items.get('v1/Secret'), [`${ns}/db-password`]);
    assert.deepEqual(items.get('v1/Namespace'), [ns]);

    const json = await s.run('backup', 'describe', name, '-o', 'json');
    const backup = JSON.parse(json.stdout) as { kind: string; status: { encryption: { keyId: string } } };
    assert.equal(backup.kind, 'Backup');
    assert.equal(backup.status.encryption.keyId, keyId(key));
  });

  it('names the missing key of an encrypted backup', async (t) => {
    const s = await standalone(t);
    const ns = await shopNamespace(t);
    const name = `nokey-${uniqueSuffix()}`;
    await backupCreate(s, name, ns);
    await rm(join(s.config, 'keys', 'default.key'));

    const logs = await s.run('backup', 'logs', name);
    assert.equal(logs.code, 1);
    assert.match(
      logs.stderr,
      new RegExp(
        `backup "${name}" in location "default" is encrypted with key [0-9a-f]+, and the location has no key`,
      ),
    );
    const describe = await s.run('backup', 'describe', name);
    assert.equal(describe.code, 1);
    assert.match(describe.stdout, /^Phase:\s+Completed$/m, 'the plaintext metadata is still shown');
    assert.match(describe.stderr, /cannot read the results from location "default": .*has no key/);
  });
});

describe('cairn backup logs', () => {
  it('prints the decrypted log as readable lines, or as JSON lines with -o json', async (t) => {
    const s = await standalone(t);
    const ns = await shopNamespace(t);
    const name = `logs-${uniqueSuffix()}`;
    await backupCreate(s, name, ns);

    const text = await s.run('backup', 'logs', name);
    assert.equal(text.code, 0, text.stderr);
    assert.match(
      text.stdout,
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z info +listing .*at storage revision \d+/m,
    );

    const json = await s.run('backup', 'logs', name, '-o', 'json');
    assert.equal(json.code, 0, json.stderr);
    const lines = json.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.ok(lines.length > 0);
    // logrus's JSON lines, as Velero's --log-format=json writes them.
    for (const line of lines) assert.deepEqual(goDecode(line, goLogLine).errors, [], JSON.stringify(line));
    assert.ok(lines.every((l) => typeof l['msg'] === 'string' && !('message' in l)));
  });
});

describe('a backup written by Velero', () => {
  /** A ReadOnly plaintext location holding Velero's files for `name`, with its selectors, without results. */
  async function veleroLocation(
    t: TestContext,
    name: string,
    selectors: 'labelSelector' | 'orLabelSelectors',
  ) {
    const s = await standalone(t);
    const dir = join(s.data, 'velero-bucket');
    for (const [key, bytes] of veleroBucket(name)) {
      if (key.endsWith('-results.gz')) continue; // Velero may leave it out; it is optional
      const content = key.endsWith('/velero-backup.json')
        ? Buffer.from(JSON.stringify(veleroSelectorBackupJson(name, selectors), null, 2))
        : bytes;
      await mkdir(join(dir, key, '..'), { recursive: true });
      await writeFile(join(dir, key), content);
    }
    const created = await s.run(
      'location',
      'create',
      'velero',
      '--provider',
      'fs',
      '--path',
      dir,
      '--plaintext',
      '--access-mode',
      'ReadOnly',
    );
    assert.equal(created.code, 0, created.stderr);
    return s;
  }

  it('shows its label selectors as selector text in get and describe', async (t) => {
    const name = `velero-${uniqueSuffix()}`;
    const s = await veleroLocation(t, name, 'labelSelector');
    const get = await s.run('backup', 'get', name);
    assert.equal(get.code, 0, get.stderr);
    assert.match(
      get.stdout,
      new RegExp(`^${name}\\s+Completed\\s.*\\svelero\\s+app=shop,tier in \\(a,b\\)$`, 'm'),
    );
    const described = await s.run('backup', 'describe', name);
    assert.match(described.stdout, /^Label selector:\s+app=shop,tier in \(a,b\)$/m);
    assert.doesNotMatch(described.stdout + get.stdout, /\[object Object\]/);

    const or = `velero-or-${uniqueSuffix()}`;
    const s2 = await veleroLocation(t, or, 'orLabelSelectors');
    const orDescribed = await s2.run('backup', 'describe', or);
    assert.match(orDescribed.stdout, /^Or label selectors:\s+app=shop or tier notin \(c\)$/m);
  });

  it('is best-effort, and describe --details without a results file shows none and succeeds', async (t) => {
    const name = `velero-${uniqueSuffix()}`;
    const s = await veleroLocation(t, name, 'labelSelector');
    const described = await s.run('backup', 'describe', name, '--details');
    assert.equal(described.code, 0, described.stderr);
    assert.equal(described.stderr, '');
    assert.match(
      described.stdout,
      /^Consistency:\s+best-effort \(not recorded: a Velero backup lists each resource at its latest\)$/m,
    );
    assert.doesNotMatch(described.stdout, /<unknown>/);
    assert.match(described.stdout, /^Errors:\s+0$/m);
    assert.deepEqual(resourceList(described.stdout).get('apps/v1/Deployment'), ['shop/web']);
  });

  it('verify --quick says a copy without checksums cannot be checked, and exits 1 when no copy could be', async (t) => {
    const name = `velero-${uniqueSuffix()}`;
    const s = await veleroLocation(t, name, 'labelSelector');
    const quick = await s.run('backup', 'verify', name, '--quick');
    assert.equal(quick.code, 1, quick.stderr);
    assert.match(quick.stdout, /^Location "velero": NOT CHECKED: .*has no checksum manifest/m);
    assert.match(
      quick.stdout,
      new RegExp(`^NOT verified: no copy of backup "${name}" could be checked\\.$`, 'm'),
    );
  });
});

describe('cairn backup download', () => {
  it('writes the decrypted Velero archive, and overwrites only with --force', async (t) => {
    const s = await standalone(t);
    const ns = await shopNamespace(t);
    const name = `dl-${uniqueSuffix()}`;
    await backupCreate(s, name, ns);
    const cwd = await mkdtemp(join(tmpdir(), 'cairn-download-'));
    t.after(() => rm(cwd, { recursive: true, force: true }));

    const result = await cairnIn(cwd, ['backup', 'download', name], s.env);
    assert.equal(result.code, 0, result.stderr);
    const file = join(cwd, `${name}-data.tar.gz`);
    const size = (await stat(file)).size;
    assert.match(result.stdout, new RegExp(`\\./${name}-data\\.tar\\.gz \\(${size} bytes\\)`));
    assert.equal((await stat(file)).mode & 0o777, 0o600, 'the plaintext archive is private');

    const archive = await openArchive(createReadStream(file));
    assert.equal(archive.formatVersion, '1.1.0');
    await archive.close();
    const items: string[] = [];
    for await (const item of readArchive(createReadStream(file))) items.push(item.path);
    assert.ok(items.includes(`resources/configmaps/namespaces/${ns}/settings.json`), items.join('\n'));
    assert.ok(items.includes(`resources/secrets/namespaces/${ns}/db-password.json`));
    assert.ok(items.includes(`resources/namespaces/cluster/${ns}.json`));

    await writeFile(file, 'precious');
    const again = await cairnIn(cwd, ['backup', 'download', name], s.env);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already exists; pass --force/);
    assert.equal(await readFile(file, 'utf8'), 'precious');

    const forced = await cairnIn(cwd, ['backup', 'download', name, '--force'], s.env);
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal((await stat(file)).size, size);

    const other = join(cwd, 'elsewhere.tar.gz');
    const named = await s.run('backup', 'download', name, '-o', other);
    assert.equal(named.code, 0, named.stderr);
    assert.equal((await stat(other)).size, size);
    assert.deepEqual(
      (await readdir(cwd)).sort(),
      [`${name}-data.tar.gz`, 'elsewhere.tar.gz'],
      'no partial files',
    );
  });
});

describe('checksums: download and verify --quick', () => {
  it('refuses to download a truncated archive from a plaintext location, and leaves no file', async (t) => {
    const s = await standalone(t);
    const ns = await shopNamespace(t);
    const dir = join(s.data, 'plain');
    const created = await s.run(
      'location',
      'create',
      'plain',
      '--provider',
      'fs',
      '--path',
      dir,
      '--plaintext',
    );
    assert.equal(created.code, 0, created.stderr);
    const name = `cut-${uniqueSuffix()}`;
    await backupCreate(s, name, ns, '--storage-location', 'plain');
    const archive = join(dir, 'backups', name, `${name}.tar.gz`);
    const whole = await readFile(archive);
    await writeFile(archive, whole.subarray(0, Math.floor(whole.length / 2)));
    const cwd = await mkdtemp(join(tmpdir(), 'cairn-download-'));
    t.after(() => rm(cwd, { recursive: true, force: true }));

    const result = await cairnIn(cwd, ['backup', 'download', name], s.env);
    assert.equal(result.code, 1, result.stdout);
    assert.match(
      result.stderr,
      new RegExp(
        `^error: backups/${name}/${name}\\.tar\\.gz in location "plain" is corrupt: ${Math.floor(whole.length / 2)} bytes are stored, but ${whole.length} were written`,
        'm',
      ),
    );
    assert.deepEqual(await readdir(cwd), [], 'no corrupt or partial file');
  });

  it('verify --quick checks every file without a cluster, records it, and get and describe show it', async (t) => {
    const s = await standalone(t);
    const ns = await shopNamespace(t);
    const name = `rot-${uniqueSuffix()}`;
    await backupCreate(s, name, ns);
    const { KUBECONFIG: _kubeconfig, ...noCluster } = s.env;
    const quick = (...extra: string[]) => cairn(['backup', 'verify', name, '--quick', ...extra], noCluster);

    const never = await s.run('backup', 'describe', name);
    assert.match(
      never.stdout,
      new RegExp(`^Last verified:\\n {2}default: {2}never \\(\`cairn backup verify ${name} --quick\``, 'm'),
    );
    const passed = await quick();
    assert.equal(passed.code, 0, passed.stderr);
    assert.match(passed.stdout, /^Location "default": Passed, 4 files as written\.$/m);
    const described = await s.run('backup', 'describe', name);
    assert.match(
      described.stdout,
      /^ {2}default: {2}\d{4}-.+ UTC: Passed \(checksums: 4 files as written\)$/m,
    );

    const archive = join(s.defaultDir, 'backups', name, `${name}.tar.gz`);
    const bytes = await readFile(archive);
    bytes.writeUInt8((bytes.at(100) ?? 0) ^ 0xff, 100);
    await writeFile(archive, bytes);
    const failed = await quick();
    assert.equal(failed.code, 2, failed.stderr);
    assert.match(failed.stdout, /^Location "default": FAILED$/m);
    assert.match(
      failed.stdout,
      new RegExp(
        `^ {2}backups/${name}/${name}\\.tar\\.gz in location "default" is corrupt: its SHA-256 is`,
        'm',
      ),
    );
    assert.match(
      failed.stdout,
      new RegExp(`^NOT verified: backup "${name}" is corrupt in "default"\\.$`, 'm'),
    );

    const get = await s.run('backup', 'get', name);
    assert.match(get.stdout, new RegExp(`^${name}\\s+Corrupt \\(verify failed\\)\\s+0\\s+0`, 'm'));
    const json = JSON.parse((await s.run('backup', 'get', name, '-o', 'json')).stdout) as BackupList;
    assert.equal(json.items[0]?.metadata.annotations?.['cairn.dev/corrupt-in-locations'], 'default');
    const after = await s.run('backup', 'describe', name);
    assert.match(
      after.stdout,
      /^ {2}default: {2}\d{4}-.+ UTC: FAILED \(checksums\)\n {4}backups\/.+ is corrupt/m,
    );
    const download = await s.run('backup', 'download', name, '-o', join(s.data, 'out.tar.gz'));
    assert.equal(download.code, 1);
    assert.match(download.stderr, /in location "default" is corrupt/);
    assert.equal(existsSync(join(s.data, 'out.tar.gz')), false);
  });
});

describe('cairn backup delete', () => {
  it('deletes with --confirm: the files are gone and get no longer lists it', async (t) => {
    const s = await standalone(t);
    const ns = await shopNamespace(t);
    const name = `del-${uniqueSuffix()}`;
    const keep = `keep-${uniqueSuffix()}`;
    await backupCreate(s, name, ns);
    await backupCreate(s, keep, ns);
    assert.equal((await filesOf(join(s.defaultDir, 'backups', name))).length, 7);

    const result = await s.run('backup', 'delete', name, '--confirm');
    assert.equal(result.code, 0, result.stderr);
    assert.match(
      result.stdout,
      new RegExp(`^Deleted backup "${name}" from location "default" \\(7 files\\)\\.$`, 'm'),
    );
    assert.deepEqual(await filesOf(join(s.defaultDir, 'backups', name)), []);

    const get = await s.run('backup', 'get');
    assert.doesNotMatch(get.stdout, new RegExp(`^${name}\\s`, 'm'));
    assert.match(get.stdout, new RegExp(`^${keep}\\s+Completed`, 'm'));
    assert.equal((await s.run('backup', 'get', name)).code, 1);

    const again = await s.run('backup', 'delete', name, '--confirm');
    assert.equal(again.code, 1);
    assert.match(again.stderr, new RegExp(`backup "${name}" was not found in any location`));
  });

  it('refuses without --confirm when stdin is not a terminal, and deletes nothing', async (t) => {
    const s = await standalone(t);
    const ns = await shopNamespace(t);
    const name = `nodel-${uniqueSuffix()}`;
    await backupCreate(s, name, ns);

    const result = await s.run('backup', 'delete', name);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /stdin is not a terminal; pass --confirm/);
    assert.equal((await filesOf(join(s.defaultDir, 'backups', name))).length, 7);
    assert.match((await s.run('backup', 'get', name)).stdout, new RegExp(`^${name}\\s+Completed`, 'm'));
  });
});

describe('several locations', () => {
  it('writes one backup to the default location and MinIO: one row, both results, delete from both', async (t) => {
    const s = await standalone(t);
    const ns = await shopNamespace(t);
    const bucket = `cairn-cat-${uniqueSuffix()}`;
    const s3 = new S3Client(minioOptions());
    t.after(() => s3.destroy());
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const credentials = join(s.config, '..', 'minio-credentials');
    await mkdir(join(s.config, '..'), { recursive: true });
    await writeFile(
      credentials,
      `[default]\naws_access_key_id=${testbedEnv('AWS_ACCESS_KEY_ID')}\naws_secret_access_key=${testbedEnv('AWS_SECRET_ACCESS_KEY')}\n`,
    );
    const created = await s.run(
      'location',
      'create',
      'minio',
      '--provider',
      'aws',
      '--bucket',
      bucket,
      '--prefix',
      'cluster-a',
      '--credentials-file',
      credentials,
      '--config',
      `region=us-east-1,s3Url=${testbedEnv('CAIRN_S3_ENDPOINT')},s3ForcePathStyle=true`,
    );
    assert.equal(created.code, 0, created.stderr);
    assert.doesNotMatch(created.stderr, /not reachable/);

    const name = `multi-${uniqueSuffix()}`;
    await backupCreate(s, name, ns, '--storage-location', 'default,minio');
    const keys = async () =>
      (
        (await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `cluster-a/backups/${name}/` })))
          .Contents ?? []
      )
        .map((o) => o.Key)
        .sort();
    assert.equal((await keys()).length, 7);
    assert.ok((await keys()).includes(`cluster-a/backups/${name}/velero-backup.json`));
    assert.equal((await filesOf(join(s.defaultDir, 'backups', name))).length, 7);

    const get = await s.run('backup', 'get');
    assert.equal(get.code, 0, get.stderr);
    const rows = get.stdout.trimEnd().split('\n').slice(1);
    assert.equal(rows.length, 1, get.stdout);
    assert.match(rows[0] ?? '', new RegExp(`^${name}\\s+Completed\\s+.*\\s+default,minio\\s+<none>$`));
    const list = JSON.parse((await s.run('backup', 'get', '-o', 'json')).stdout) as BackupList;
    assert.equal(list.items.length, 1);
    assert.equal(list.items[0]?.metadata.annotations?.['cairn.dev/found-in-locations'], 'default,minio');

    const minioKey = Buffer.from(
      (await readFile(join(s.config, 'keys', 'minio.key'), 'utf8')).trim(),
      'base64',
    );
    const describe = await s.run('backup', 'describe', name);
    assert.equal(describe.code, 0, describe.stderr);
    assert.match(describe.stdout, /^Storage locations:\n {2}default:\s+Completed\n {2}minio:\s+Completed$/m);
    assert.match(describe.stdout, new RegExp(`^  minio:\\s+AES-256-GCM, key id ${keyId(minioKey)}$`, 'm'));

    const fromMinio = await s.run('backup', 'logs', name, '--storage-location', 'minio');
    assert.equal(fromMinio.code, 0, fromMinio.stderr);
    assert.match(fromMinio.stdout, / info +listing /);

    const deleted = await s.run('backup', 'delete', name, '--confirm');
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.match(
      deleted.stdout,
      /from location "default" \(7 files\)\.\n.*from location "minio" \(7 files\)\./,
    );
    assert.deepEqual(await keys(), []);
    assert.deepEqual(await filesOf(join(s.defaultDir, 'backups', name)), []);
  });

  it('refuses to write into or delete from a ReadOnly location', async (t) => {
    const s = await standalone(t);
    const ns = await shopNamespace(t);
    const dir = join(s.data, 'shared');
    for (const [location, mode] of [
      ['rw', 'ReadWrite'],
      ['ro', 'ReadOnly'],
    ] as const) {
      const result = await s.run(
        'location',
        'create',
        location,
        '--provider',
        'fs',
        '--path',
        dir,
        '--access-mode',
        mode,
      );
      assert.equal(result.code, 0, result.stderr);
    }

    const refused = await s.run(
      'backup',
      'create',
      'into-ro',
      '--include-namespaces',
      ns,
      '--storage-location',
      'ro',
    );
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /location "ro" is ReadOnly: backups cannot be written to it/);
    assert.deepEqual(await filesOf(join(dir, 'backups')), [], 'nothing was written');

    const name = `ro-${uniqueSuffix()}`;
    await backupCreate(s, name, ns, '--storage-location', 'rw');
    const get = await s.run('backup', 'get', name);
    assert.match(get.stdout, new RegExp(`^${name}\\s+Completed\\s+.*\\s+rw,ro\\s+<none>$`, 'm'));

    const del = await s.run('backup', 'delete', name, '--storage-location', 'ro', '--confirm');
    assert.equal(del.code, 1);
    assert.match(
      del.stderr,
      new RegExp(`could not delete backup "${name}" from location "ro": the location is read-only`),
    );
    assert.equal((await filesOf(join(dir, 'backups', name))).length, 7, 'nothing was deleted');
  });
});
