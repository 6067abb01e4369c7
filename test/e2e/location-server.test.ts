// `cairn location get|create|set|set-default|delete|key-export` in server mode, as a user runs them: with
// the server's Deployment in the namespace, they manage its BackupLocation resources and the Secrets of
// their credentials; checked flags name the flag and the value, and nothing is written; no key or
// credential is ever printed. And `cairn install --readonly-location` with --dry-run.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseAllDocuments, parse } from 'yaml';
import type { BackupLocation } from '../../src/api/index.ts';
import { KubeApiError, type KubeClient, type KubeObject } from '../../src/kube/index.ts';
import { cairn } from '../helpers/cli.ts';
import {
  createCr,
  createServerDeployment,
  getCr,
  installCrds,
  listCrs,
  startServer,
} from '../helpers/server.ts';
import { clusterClient, eventually, uniqueSuffix } from '../helpers/testbed.ts';

interface Secret extends KubeObject {
  data?: Record<string, string>;
}

let client: KubeClient;
let namespace: string;
let dir: string;
/** A credentials file, and the secret in it that must never be printed. */
let credentialsFile: string;
const SECRET_VALUE = `s3cr3t-${uniqueSuffix()}`;

const env = () => ({
  ...process.env,
  XDG_CONFIG_HOME: join(dir, 'config'),
  XDG_DATA_HOME: join(dir, 'data'),
});
const run = (...args: string[]) => cairn([...args, '-n', namespace], env());

async function secretOf(name: string): Promise<Secret | undefined> {
  try {
    return await client.json<Secret>({ path: `/api/v1/namespaces/${namespace}/secrets/${name}` });
  } catch (error) {
    if (error instanceof KubeApiError && error.status === 404) return undefined;
    throw error;
  }
}

const locationOf = (name: string) => getCr<BackupLocation>(client, namespace, 'BackupLocation', name);

async function defaults(): Promise<string[]> {
  return (await listCrs<BackupLocation>(client, namespace, 'BackupLocation'))
    .filter((l) => l.spec.default === true)
    .map((l) => l.metadata.name);
}

describe('cairn location in server mode', () => {
  before(async () => {
    client = clusterClient('a');
    await installCrds(client);
    namespace = `cairn-loc-${uniqueSuffix()}`;
    await client.json({
      method: 'POST',
      path: '/api/v1/namespaces',
      body: { metadata: { name: namespace } },
    });
    await createServerDeployment(client, namespace);
    dir = await mkdtemp(join(tmpdir(), 'cairn-loc-server-'));
    credentialsFile = join(dir, 'credentials');
    await writeFile(
      credentialsFile,
      `[default]\naws_access_key_id = AKIAEXAMPLE\naws_secret_access_key = ${SECRET_VALUE}\n`,
    );
  });

  after(async () => {
    await client.send({ method: 'DELETE', path: `/api/v1/namespaces/${namespace}` });
    await rm(dir, { recursive: true, force: true });
  });

  it('creates a BackupLocation and its credentials Secret, and get lists it; no credential is printed', async () => {
    const created = await run(
      'location',
      'create',
      'minio',
      '--provider',
      'aws',
      '--bucket',
      'backups',
      '--prefix',
      'cluster-a',
      '--config',
      'region=us-east-1,s3Url=http://minio.example:9000,s3ForcePathStyle=true',
      '--credentials-file',
      credentialsFile,
      '--backup-sync-period',
      '5m',
      '--validation-frequency',
      '2m',
      '--default',
    );
    assert.equal(created.code, 0, created.stderr);
    assert.match(
      created.stdout,
      new RegExp(
        `^Backup location "minio" created in namespace ${namespace}: s3://backups/cluster-a, ReadWrite\\.$`,
        'm',
      ),
    );
    assert.match(created.stdout, /^Its credentials are in Secret cairn-credentials-minio\.$/m);
    assert.match(
      created.stdout,
      /The server makes its encryption key on its first backup, in Secret cairn-key-minio/,
    );
    const location = await locationOf('minio');
    assert.deepEqual(location?.spec, {
      provider: 's3',
      objectStorage: { bucket: 'backups', prefix: 'cluster-a' },
      config: { region: 'us-east-1', s3Url: 'http://minio.example:9000', s3ForcePathStyle: 'true' },
      credential: { name: 'cairn-credentials-minio', key: 'cloud' },
      default: true,
      accessMode: 'ReadWrite',
      backupSyncPeriod: '5m',
      validationFrequency: '2m',
      plaintext: false,
    });
    const secret = await secretOf('cairn-credentials-minio');
    assert.match(Buffer.from(secret?.data?.cloud ?? '', 'base64').toString(), new RegExp(SECRET_VALUE));
    assert.equal(secret?.metadata.labels?.['cairn.dev/credentials-of'], 'minio');

    const table = await run('location', 'get');
    assert.equal(table.code, 0, table.stderr);
    assert.match(
      table.stdout,
      /^NAME\s+PROVIDER\s+BUCKET\/PREFIX\s+PHASE\s+LAST VALIDATED\s+ACCESS MODE\s+DEFAULT\s+ENCRYPTION$/m,
    );
    assert.match(
      table.stdout,
      /^minio\s+s3\s+s3:\/\/backups\/cluster-a\s+Unknown\s+<n\/a>\s+ReadWrite\s+true\s+encrypted$/m,
    );
    const json = await run('location', 'get', 'minio', '-o', 'json');
    assert.equal(json.code, 0, json.stderr);
    assert.deepEqual((JSON.parse(json.stdout) as BackupLocation).spec, location?.spec);
    const yaml = await run('location', 'get', '-o', 'yaml');
    assert.equal(yaml.code, 0, yaml.stderr);
    const list = parse(yaml.stdout) as { kind: string; items: BackupLocation[] };
    assert.equal(list.kind, 'List');
    assert.deepEqual(
      list.items.map((l) => l.metadata.name),
      ['minio'],
    );
    for (const output of [created, table, json, yaml])
      assert.ok(!`${output.stdout}${output.stderr}`.includes(SECRET_VALUE), 'no credential is printed');
  });

  it('refuses bad flags naming the flag and the value, and writes nothing', async () => {
    const bad = await run(
      'location',
      'create',
      'bad',
      '--provider',
      'aws',
      '--bucket',
      'b',
      '--credentials-file',
      credentialsFile,
    );
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^error: the request is invalid; nothing was changed:$/m);
    assert.match(
      bad.stderr,
      /^ {2}config\.region "": an s3 location needs a region \(or an s3Url\) \(--config region=\.\.\.\)$/m,
    );
    assert.equal(await locationOf('bad'), undefined);
    // A value that is not a duration is refused as the flag is read, before anything else.
    const badPeriod = await run(
      'location',
      'create',
      'bad',
      '--provider',
      'aws',
      '--bucket',
      'b',
      '--config',
      'region=eu-west-1',
      '--backup-sync-period',
      '5 minutes',
      '--credentials-file',
      credentialsFile,
    );
    assert.equal(badPeriod.code, 1);
    assert.match(badPeriod.stderr, /--backup-sync-period <duration>' argument '5 minutes' is invalid/);
    const badMode = await run(
      'location',
      'create',
      'bad',
      '--provider',
      'aws',
      '--access-mode',
      'ReadMostly',
    );
    assert.equal(badMode.code, 1);
    assert.match(badMode.stderr, /--access-mode <mode>' argument 'ReadMostly' is invalid/);
    assert.equal(await locationOf('bad'), undefined);
    assert.equal(await secretOf('cairn-credentials-bad'), undefined, 'no Secret is made either');

    const missingSecret = await run(
      'location',
      'create',
      'bad',
      '--provider',
      'gcs',
      '--bucket',
      'b',
      '--credential',
      'nowhere/key.json',
    );
    assert.equal(missingSecret.code, 1);
    assert.match(
      missingSecret.stderr,
      new RegExp(
        `^ {2}credential "nowhere/key.json": no Secret "nowhere" in namespace ${namespace} \\(--credential\\)$`,
        'm',
      ),
    );
    const both = await run(
      'location',
      'create',
      'bad',
      '--provider',
      'gcs',
      '--bucket',
      'b',
      '--credential',
      'nowhere/key.json',
      '--credentials-file',
      credentialsFile,
    );
    assert.equal(both.code, 1);
    assert.match(both.stderr, /not both \(--credential\)/);
    const relative = await run('location', 'create', 'bad', '--provider', 'fs', '--path', 'backups');
    assert.equal(relative.code, 1);
    assert.match(relative.stderr, /^ {2}config\.path "backups": .*give an absolute path \(--path\)$/m);
    const taken = await run('location', 'create', 'minio', '--provider', 'gcs', '--bucket', 'other');
    assert.equal(taken.code, 1);
    assert.match(taken.stderr, /a BackupLocation named "minio" exists already/);
    assert.equal(await locationOf('bad'), undefined);
    assert.equal((await locationOf('minio'))?.spec.provider, 's3', 'the existing location is unchanged');
  });

  it('a ReadOnly location with an existing Secret; set changes only the fields given', async () => {
    await client.json({
      method: 'POST',
      path: `/api/v1/namespaces/${namespace}/secrets`,
      body: {
        metadata: { name: 'prod-credentials' },
        data: { 'key.json': Buffer.from('{"type":"service_account"}').toString('base64') },
      },
    });
    const created = await run(
      'location',
      'create',
      'prod',
      '--provider',
      'gcp',
      '--bucket',
      'prod-backups',
      '--credential',
      'prod-credentials/key.json',
      '--access-mode',
      'ReadOnly',
    );
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /ReadOnly\.\n/);
    assert.match(
      created.stdout,
      /Restoring its backups needs the key they were written with in Secret cairn-key-prod/,
    );
    const before = await locationOf('prod');
    assert.deepEqual(before?.spec.credential, { name: 'prod-credentials', key: 'key.json' });
    assert.equal(before?.spec.accessMode, 'ReadOnly');

    const set = await run('location', 'set', 'prod', '--config', 'project=p1', '--backup-sync-period', '0');
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stdout, /^Backup location "prod" changed: config, backupSyncPeriod\.$/m);
    const after = await locationOf('prod');
    assert.deepEqual(after?.spec, { ...before?.spec, config: { project: 'p1' }, backupSyncPeriod: '0' });

    const badSet = await run(
      'location',
      'set',
      'prod',
      '--validation-frequency',
      'often',
      '--credential',
      'gone/x',
    );
    assert.equal(badSet.code, 1);
    assert.match(badSet.stderr, /--validation-frequency <duration>' argument 'often' is invalid/);
    assert.deepEqual((await locationOf('prod'))?.spec, after?.spec, 'nothing changed');
    const noSuch = await run('location', 'set', 'nowhere', '--default');
    assert.equal(noSuch.code, 1);
    assert.match(noSuch.stderr, new RegExp(`no BackupLocation named "nowhere" in namespace ${namespace}`));
  });

  it('--default takes the mark from the location that had it, on create, set and set-default', async () => {
    assert.deepEqual(await defaults(), ['minio']);
    const created = await run(
      'location',
      'create',
      'second',
      '--provider',
      'gcs',
      '--bucket',
      'b2',
      '--default',
    );
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /^Backup location "minio" is no longer the default\.$/m);
    assert.deepEqual(await defaults(), ['second']);
    const set = await run('location', 'set', 'minio', '--default');
    assert.equal(set.code, 0, set.stderr);
    assert.deepEqual(await defaults(), ['minio']);
    const setDefault = await run('location', 'set-default', 'second');
    assert.equal(setDefault.code, 0, setDefault.stderr);
    assert.deepEqual(await defaults(), ['second']);
  });

  it('delete asks for --confirm, removes the location and the Secret it made, and says what stays', async () => {
    await createCr(
      client,
      namespace,
      'Backup',
      'old',
      { storageLocation: 'minio' },
      { labels: { 'velero.io/storage-location': 'minio' } },
    );
    const unconfirmed = await run('location', 'delete', 'minio');
    assert.equal(unconfirmed.code, 1);
    assert.ok(await locationOf('minio'), 'nothing is deleted without --confirm');
    const deleted = await run('location', 'delete', 'minio', '--confirm');
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.match(
      deleted.stdout,
      /^Backup location "minio" deleted from namespace .*; its stored backups in s3:\/\/backups\/cluster-a were not touched\.$/m,
    );
    assert.match(deleted.stdout, /^Its credentials Secret cairn-credentials-minio was deleted\.$/m);
    assert.match(deleted.stdout, /^1 Backup resource of it stays in the cluster as records/m);
    assert.equal(await locationOf('minio'), undefined);
    assert.equal(await secretOf('cairn-credentials-minio'), undefined);
    assert.ok(await getCr(client, namespace, 'Backup', 'old'), 'its Backup resources stay');
    // A Secret the user named is theirs: it stays.
    const prod = await run('location', 'delete', 'prod', '--confirm');
    assert.equal(prod.code, 0, prod.stderr);
    assert.doesNotMatch(prod.stdout, /Secret .* was deleted/);
    assert.ok(await secretOf('prod-credentials'));
  });

  it('key-export says where the key Secret is and prints no key', async () => {
    const key = Buffer.alloc(32, 7).toString('base64');
    await client.json({
      method: 'POST',
      path: `/api/v1/namespaces/${namespace}/secrets`,
      body: {
        metadata: { name: 'cairn-key-second' },
        data: { key: Buffer.from(`${key}\n`).toString('base64') },
      },
    });
    const exported = await run('location', 'key-export', 'second');
    assert.equal(exported.code, 1);
    assert.equal(exported.stdout, '');
    assert.match(
      exported.stderr,
      new RegExp(`the key of location "second" is the Secret cairn-key-second in namespace ${namespace}`),
    );
    assert.ok(!exported.stderr.includes(key));
  });

  it('the server finds a new location Available, which get shows', async (t) => {
    const server = await startServer({ client: clusterClient('a'), namespace, identity: 'loc' });
    t.after(() => server.stop());
    const created = await run(
      'location',
      'create',
      'local',
      '--provider',
      'fs',
      '--path',
      join(dir, 'store'),
      '--validation-frequency',
      '1s',
    );
    assert.equal(created.code, 0, created.stderr);
    await eventually('the location to be Available', async () =>
      (await locationOf('local'))?.status?.phase === 'Available' ? true : undefined,
    );
    const table = await run('location', 'get', 'local');
    assert.match(
      table.stdout,
      /^local\s+fs\s+\S+\s+Available\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000 UTC\s+ReadWrite\s+false\s+encrypted$/m,
    );
  });

  it('--standalone works on this machine, and --server refuses without a server', async () => {
    const here = await run('location', 'get', '--standalone');
    assert.equal(here.code, 0, here.stderr);
    assert.match(here.stdout, /^default\s+fs\s/m, "this machine's embedded default location");
    // set works on this machine's locations too; the server's fields are refused there by name.
    const set = await run('location', 'set', 'default', '--access-mode', 'ReadOnly', '--standalone');
    assert.equal(set.code, 0, set.stderr);
    const after = await run('location', 'get', 'default', '--standalone', '-o', 'json');
    assert.equal((JSON.parse(after.stdout) as BackupLocation).spec.accessMode, 'ReadOnly');
    const serverOnly = await run('location', 'set', 'default', '--backup-sync-period', '5m', '--standalone');
    assert.equal(serverOnly.code, 1);
    assert.match(
      serverOnly.stderr,
      /^ {2}backupSyncPeriod "5m": only the server's BackupLocations have it \(server mode: --server\) \(--backup-sync-period\)$/m,
    );
    const elsewhere = await cairn(['location', 'get', '--server', '-n', `${namespace}-none`], env());
    assert.equal(elsewhere.code, 1);
    assert.match(elsewhere.stderr, /--server: Cairn's server is not installed in namespace/);
  });

  it('has --help with examples of both modes for every command', async () => {
    for (const command of ['create', 'get', 'set', 'set-default', 'delete', 'key-export']) {
      const help = await cairn(['location', command, '--help']);
      assert.equal(help.code, 0, help.stderr);
      assert.match(help.stdout, /Examples:\n\s+cairn location /, command);
      assert.match(help.stdout, /--server\b.*\n[\s\S]*Examples:[\s\S]*(--server|--standalone|-n )/, command);
    }
  });
});

describe('cairn install --readonly-location', () => {
  let files: string;
  before(async () => {
    files = await mkdtemp(join(tmpdir(), 'cairn-install-ro-'));
  });
  after(() => rm(files, { recursive: true, force: true }));

  it('prints the ReadOnly location and its credentials Secret with --dry-run, redacted', async () => {
    const secretFile = join(files, 'prod');
    const secret = `s3cr3t-${uniqueSuffix()}`;
    await writeFile(
      secretFile,
      `[default]\naws_access_key_id = AKIAEXAMPLE\naws_secret_access_key = ${secret}\n`,
    );
    const printed = await cairn([
      'install',
      '--dry-run',
      '--location-provider',
      'fs',
      '--location-config',
      'path=/var/lib/cairn',
      '--readonly-location',
      'prod',
      '--readonly-provider',
      'aws',
      '--readonly-bucket',
      'prod-backups',
      '--readonly-prefix',
      'cluster-a',
      '--readonly-config',
      'region=eu-west-1',
      '--readonly-secret-file',
      secretFile,
    ]);
    assert.equal(printed.code, 0, printed.stderr);
    assert.ok(!printed.stdout.includes(secret), 'the credentials are not printed');
    const objects = parseAllDocuments(printed.stdout).map((d) => d.toJS() as Secret & { spec?: unknown });
    const locations = objects.filter((o) => o.kind === 'BackupLocation') as unknown as BackupLocation[];
    assert.deepEqual(
      locations.map((l) => [l.metadata.name, l.spec.accessMode]),
      [
        ['default', 'ReadWrite'],
        ['prod', 'ReadOnly'],
      ],
    );
    assert.deepEqual(locations[1]?.spec, {
      provider: 's3',
      objectStorage: { bucket: 'prod-backups', prefix: 'cluster-a' },
      config: { region: 'eu-west-1' },
      accessMode: 'ReadOnly',
      credential: { name: 'cairn-credentials-prod', key: 'cloud' },
    });
    const credentials = objects.find(
      (o) => o.kind === 'Secret' && o.metadata.name === 'cairn-credentials-prod',
    );
    assert.deepEqual(credentials?.data, { cloud: '<redacted: the content of --readonly-secret-file>' });
    assert.equal(credentials?.metadata.labels?.['cairn.dev/credentials-of'], 'prod');
  });

  it('refuses bad ReadOnly location flags by name, printing nothing', async () => {
    const bad = await cairn([
      'install',
      '--dry-run',
      '--readonly-location',
      'prod',
      '--readonly-provider',
      's3',
      '--readonly-bucket',
      'b',
    ]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^ {2}--readonly-config region "": an s3 location needs a region/m);
    assert.equal(bad.stdout, '');
    const fs = await cairn([
      'install',
      '--dry-run',
      '--readonly-location',
      'prod',
      '--readonly-provider',
      'fs',
    ]);
    assert.equal(fs.code, 1);
    assert.match(fs.stderr, /^ {2}--readonly-provider "fs": must be s3, azure or gcs/m);
    const orphan = await cairn(['install', '--dry-run', '--readonly-bucket', 'b']);
    assert.equal(orphan.code, 1);
    assert.match(orphan.stderr, /--readonly-bucket needs --readonly-location NAME/);
  });
});
