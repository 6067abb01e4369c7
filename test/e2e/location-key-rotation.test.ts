// `cairn location rotate-key` against the testbed's MinIO and cluster a, as a user runs it: a backup with
// key 1, a rotation, a backup with key 2, both restored (a drill, and a Restore in server mode); an
// unrelated key still refused with the mismatch error; --drop-retired refused while a key-1 backup exists.
// Standalone through the CLI and its key file; server mode through a running server and its key Secret.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile, mkdir, copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import type { Backup, Restore } from '../../src/api/index.ts';
import { keySecretName } from '../../src/controller/index.ts';
import type { KubeClient, KubeObject } from '../../src/kube/index.ts';
import { generateLocationKey, keyId, parseKeyring } from '../../src/storage/index.ts';
import { cairn, type CliResult } from '../helpers/cli.ts';
import { recordReliability } from '../helpers/reliability.ts';
import {
  createCr,
  createServerDeployment,
  getCr,
  installCrds,
  startServer,
  type RunningServer,
} from '../helpers/server.ts';
import {
  clusterClient,
  eventually,
  minioOptions,
  testbedEnv,
  testNamespace,
  uniqueSuffix,
} from '../helpers/testbed.ts';

const credentials = () =>
  `[default]\naws_access_key_id = ${testbedEnv('AWS_ACCESS_KEY_ID')}\n` +
  `aws_secret_access_key = ${testbedEnv('AWS_SECRET_ACCESS_KEY')}\n`;

async function newBucket(): Promise<string> {
  const s3 = new S3Client(minioOptions());
  const bucket = `cairn-rotate-${uniqueSuffix()}`;
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  s3.destroy();
  return bucket;
}

/** A namespace with one ConfigMap to back up. */
async function appNamespace(t: TestContext, client: KubeClient): Promise<string> {
  const ns = await testNamespace(t, client, 'rot');
  await client.json({
    method: 'POST',
    path: `/api/v1/namespaces/${ns}/configmaps`,
    body: { metadata: { name: 'settings' }, data: { color: 'blue' } },
  });
  return ns;
}

const keyIdLine = (stdout: string) => /has a new key ([0-9a-f]{16})/.exec(stdout)?.[1];

describe('cairn location rotate-key, standalone', () => {
  it('keeps key-1 backups readable after a rotation, refuses an unrelated key, and refuses to drop a key in use', async (t) => {
    const client = clusterClient('a');
    const ns = await appNamespace(t, client);
    const root = await mkdtemp(join(tmpdir(), 'cairn-rotate-'));
    t.after(() => rm(root, { recursive: true, force: true }));
    const envOf = (home: string) => ({
      ...process.env,
      KUBECONFIG: testbedEnv('KUBECONFIG'),
      XDG_CONFIG_HOME: join(home, 'config'),
      XDG_DATA_HOME: join(home, 'data'),
    });
    const mine = join(root, 'mine');
    const run = (...args: string[]): Promise<CliResult> => cairn(args, envOf(mine));
    const keyFile = join(mine, 'config', 'cairn', 'keys', 'minio.key');
    await writeFile(join(root, 'credentials'), credentials());
    const bucket = await newBucket();
    const created = await run(
      'location',
      'create',
      'minio',
      '--provider',
      's3',
      '--bucket',
      bucket,
      '--credentials-file',
      join(root, 'credentials'),
      '--config',
      `region=us-east-1,s3Url=${testbedEnv('CAIRN_S3_ENDPOINT')},s3ForcePathStyle=true`,
      '--default',
    );
    assert.equal(created.code, 0, created.stderr);
    const key1 = parseKeyring(await readFile(keyFile, 'utf8'), keyFile).current;
    const backUp = (name: string, r = run) =>
      r('backup', 'create', name, '--include-namespaces', ns, '--storage-location', 'minio');

    const one = await backUp('one');
    assert.equal(one.code, 0, one.stderr);

    const rotated = await run('location', 'rotate-key', 'minio');
    assert.equal(rotated.code, 0, rotated.stderr);
    const ring = parseKeyring(await readFile(keyFile, 'utf8'), keyFile);
    assert.equal(keyIdLine(rotated.stdout), ring.currentId);
    assert.deepEqual(ring.retiredIds, [keyId(key1)]);
    assert.match(
      rotated.stdout,
      new RegExp(`${keyId(key1)} is retired and still reads the backups written with it`),
    );
    assert.match(
      rotated.stderr,
      /Keep a copy of the new keyring away from the store: `cairn location key-export minio`/,
    );
    assert.equal((await run('location', 'key-export', 'minio')).stdout, await readFile(keyFile, 'utf8'));
    const json = JSON.parse((await run('location', 'get', 'minio', '-o', 'json')).stdout) as {
      status: { encryption: { keyId: string; retiredKeyIds: string[] } };
    };
    assert.deepEqual(json.status.encryption, {
      ...json.status.encryption,
      keyId: ring.currentId,
      retiredKeyIds: [keyId(key1)],
    });

    const two = await backUp('two');
    assert.equal(two.code, 0, two.stderr);
    const described = async (name: string) =>
      (JSON.parse((await run('backup', 'get', name, '-o', 'json')).stdout) as { items: Backup[] }).items[0];
    assert.equal((await described('one'))?.status?.encryption?.keyId, keyId(key1));
    assert.equal((await described('two'))?.status?.encryption?.keyId, ring.currentId);
    // Both restore: a drill restores each into scratch namespaces and compares every object.
    for (const name of ['one', 'two']) {
      const drill = await run('backup', 'verify', name);
      assert.equal(drill.code, 0, `${name}: ${drill.stdout}${drill.stderr}`);
    }

    // Another machine with the same location and an unrelated key: refused as before rotation, nothing written.
    const stranger = join(root, 'stranger');
    await mkdir(join(stranger, 'config', 'cairn', 'keys'), { recursive: true });
    await copyFile(
      join(mine, 'config', 'cairn', 'config.yaml'),
      join(stranger, 'config', 'cairn', 'config.yaml'),
    );
    const key3 = generateLocationKey();
    const strangerKeyFile = join(stranger, 'config', 'cairn', 'keys', 'minio.key');
    await writeFile(strangerKeyFile, key3.toString('base64') + '\n', { mode: 0o600 });
    const runStranger = (...args: string[]) => cairn(args, envOf(stranger));
    const refused = await backUp('three', runStranger);
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(
      refused.stderr,
      new RegExp(
        `location "minio" is encrypted with key ${ring.currentId}, but the key given is ${keyId(key3)} ` +
          `\\(the key file ${strangerKeyFile.replace(/[.]/g, '\\.')}\\)\\. To fix: run \`cairn location key-export minio\``,
      ),
    );
    assert.equal((await run('backup', 'get', 'three')).code, 1, 'no backup "three" was written');
    const unreadable = await runStranger('backup', 'verify', 'one');
    assert.notEqual(unreadable.code, 0);
    assert.match(
      unreadable.stdout + unreadable.stderr,
      new RegExp(`is encrypted with key ${keyId(key1)}, but the key given is ${keyId(key3)}`),
    );

    // --drop-retired: refused while backup "one" needs key 1, the key file unchanged; --force drops it.
    const before = await readFile(keyFile, 'utf8');
    const drop = await run('location', 'rotate-key', 'minio', '--drop-retired');
    assert.equal(drop.code, 1, drop.stderr);
    assert.match(
      drop.stderr,
      new RegExp(
        `location "minio": 1 backup is encrypted with retired keys \\(${keyId(key1)}: 1\\); .*--force`,
      ),
    );
    assert.equal(await readFile(keyFile, 'utf8'), before);
    const forced = await run('location', 'rotate-key', 'minio', '--drop-retired', '--force', '-o', 'json');
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(
      forced.stderr,
      new RegExp(`warning: 1 backup of location "minio" \\(${keyId(key1)}: 1\\) becomes unreadable for good`),
    );
    assert.deepEqual(JSON.parse(forced.stdout), {
      location: 'minio',
      keyId: ring.currentId,
      retiredKeyIds: [],
      droppedKeyIds: [keyId(key1)],
      keptIn: `the key file ${keyFile}`,
    });
    assert.equal(await readFile(keyFile, 'utf8'), ring.current.toString('base64') + '\n');
    const after = await backUp('four');
    assert.equal(after.code, 0, `the location still takes key 2 alone: ${after.stderr}`);

    recordReliability({
      section: 'Security',
      subject: 'location key rotation (cairn location rotate-key, standalone, MinIO)',
      tried:
        'a backup with key 1, rotate, a backup with key 2; an unrelated key backing up and reading; --drop-retired while a key-1 backup exists',
      cases: 3,
      outcome:
        'both backups restored and compared equal; the unrelated key refused (LocationKeyMismatchError, both key ids named); --drop-retired refused naming 1 backup, key file unchanged',
      lost: 'nothing: no backup written with the unrelated key, no key dropped without --force',
    });
  });
});

describe('cairn location rotate-key, server mode', () => {
  let client: KubeClient;
  let namespace: string;
  let server: RunningServer;
  const secretPath = () => `/api/v1/namespaces/${namespace}/secrets/${keySecretName('minio')}`;
  const run = (...args: string[]) =>
    cairn([...args, '--server', '-n', namespace], { ...process.env, KUBECONFIG: testbedEnv('KUBECONFIG') });
  const ringOfSecret = async () => {
    const secret = await client.json<KubeObject & { data: Record<string, string> }>({ path: secretPath() });
    return parseKeyring(Buffer.from(secret.data['key'] ?? '', 'base64').toString('utf8'), 'the Secret');
  };
  const finished = <T extends KubeObject & { status?: { phase?: string } }>(
    kind: 'Backup' | 'Restore',
    name: string,
  ) =>
    eventually(`${kind} ${name} to finish`, async () => {
      const object = await getCr<T>(client, namespace, kind, name);
      const phase = object?.status?.phase;
      return phase && !['New', 'InProgress'].includes(phase) ? object : undefined;
    });

  before(async () => {
    client = clusterClient('a');
    await installCrds(client);
    namespace = `cairn-rot-${uniqueSuffix()}`;
    await client.json({
      method: 'POST',
      path: '/api/v1/namespaces',
      body: { metadata: { name: namespace } },
    });
    await createServerDeployment(client, namespace);
    await client.json({
      method: 'POST',
      path: `/api/v1/namespaces/${namespace}/secrets`,
      body: { metadata: { name: 'minio' }, stringData: { cloud: credentials() } },
    });
    await createCr(client, namespace, 'BackupLocation', 'minio', {
      provider: 's3',
      objectStorage: { bucket: await newBucket(), prefix: 'cairn' },
      config: { region: 'us-east-1', s3Url: testbedEnv('CAIRN_S3_ENDPOINT'), s3ForcePathStyle: 'true' },
      credential: { name: 'minio', key: 'cloud' },
      default: true,
    });
    server = await startServer({ client, namespace, identity: 'rotation' });
  });

  after(async () => {
    await server.stop();
    await client.send({ method: 'DELETE', path: `/api/v1/namespaces/${namespace}` });
  });

  it('rotates the key Secret: backups of both keys restore, an unrelated key is refused, key 1 is not dropped while in use', async (t) => {
    const ns = await appNamespace(t, client);
    await createCr(client, namespace, 'Backup', 'one', { includedNamespaces: [ns] });
    const one = await finished<Backup>('Backup', 'one');
    assert.equal(one.status?.phase, 'Completed', JSON.stringify(one.status));
    const key1 = (await ringOfSecret()).current;

    const rotated = await run('location', 'rotate-key', 'minio');
    assert.equal(rotated.code, 0, rotated.stderr);
    const ring = await ringOfSecret();
    assert.equal(keyIdLine(rotated.stdout), ring.currentId);
    assert.deepEqual(ring.retiredIds, [keyId(key1)]);
    assert.match(
      rotated.stderr,
      new RegExp(`kubectl get secret -n ${namespace} ${keySecretName('minio')} -o yaml`),
    );
    assert.ok(
      !(rotated.stdout + rotated.stderr).includes(ring.current.toString('base64')),
      'no key is printed',
    );

    await createCr(client, namespace, 'Backup', 'two', { includedNamespaces: [ns] });
    const two = await finished<Backup>('Backup', 'two');
    assert.equal(two.status?.phase, 'Completed', JSON.stringify(two.status));
    assert.equal(one.status?.encryption?.keyId, keyId(key1));
    assert.equal(two.status?.encryption?.keyId, ring.currentId);
    for (const name of ['one', 'two']) {
      const target = `${ns}-${name}`;
      t.after(() => client.send({ method: 'DELETE', path: `/api/v1/namespaces/${target}` }));
      await createCr(client, namespace, 'Restore', `restore-${name}`, {
        backupName: name,
        namespaceMapping: { [ns]: target },
      });
      const restore = await finished<Restore>('Restore', `restore-${name}`);
      assert.equal(restore.status?.phase, 'Completed', JSON.stringify(restore.status));
      const settings = await client.json<KubeObject & { data: Record<string, string> }>({
        path: `/api/v1/namespaces/${target}/configmaps/settings`,
      });
      assert.deepEqual(settings.data, { color: 'blue' });
    }

    // --drop-retired: refused while backup "one" needs key 1; the Secret unchanged.
    const drop = await run('location', 'rotate-key', 'minio', '--drop-retired');
    assert.equal(drop.code, 1, drop.stderr);
    assert.match(drop.stderr, new RegExp(`1 backup is encrypted with retired keys \\(${keyId(key1)}: 1\\)`));
    assert.deepEqual((await ringOfSecret()).retiredIds, [keyId(key1)]);

    // An unrelated key in the Secret: the server refuses the backup with the mismatch error, writing nothing.
    const secret = await client.json<KubeObject & { data: Record<string, string> }>({ path: secretPath() });
    const key3 = generateLocationKey();
    await client.json({
      method: 'PUT',
      path: secretPath(),
      body: { ...secret, data: { key: Buffer.from(key3.toString('base64') + '\n').toString('base64') } },
    });
    await createCr(client, namespace, 'Backup', 'three', { includedNamespaces: [ns] });
    const three = await finished<Backup>('Backup', 'three');
    assert.equal(three.status?.phase, 'Failed');
    assert.match(
      three.status?.failureReason ?? '',
      new RegExp(
        `^location "minio" is encrypted with key ${ring.currentId}, but the key given is ${keyId(key3)} `,
      ),
    );

    recordReliability({
      section: 'Security',
      subject: 'location key rotation (cairn location rotate-key --server, the key Secret, MinIO)',
      tried:
        'a Backup with key 1, rotate the Secret, a Backup with key 2, a Restore of each; --drop-retired while a key-1 backup exists; an unrelated key in the Secret',
      cases: 3,
      outcome:
        'both Restores Completed with the objects as backed up; --drop-retired refused naming 1 backup, the Secret unchanged; the unrelated key refused (Backup Failed, LocationKeyMismatchError)',
      lost: 'nothing: no backup written with the unrelated key, no key dropped',
    });
  });
});
