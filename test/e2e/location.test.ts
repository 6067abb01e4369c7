// `cairn location create|get|set-default|delete|key-export` as a user runs them: the locations of
// standalone mode in config.yaml, one key file per encrypted location, and no key or credential in output.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { parse } from 'yaml';
import { keyId } from '../../src/storage/index.ts';
import { cairn, cairnBin, type CliResult } from '../helpers/cli.ts';
import { clusterClient, minioOptions, testbedEnv, testNamespace, uniqueSuffix } from '../helpers/testbed.ts';

interface Standalone {
  root: string;
  /** $XDG_CONFIG_HOME/cairn */
  config: string;
  configFile: string;
  run: (...args: string[]) => Promise<CliResult>;
}

/** A private standalone setup: fresh XDG config and data directories. */
async function standalone(t: TestContext): Promise<Standalone> {
  const root = await mkdtemp(join(tmpdir(), 'cairn-location-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const env = {
    ...process.env,
    KUBECONFIG: testbedEnv('KUBECONFIG'),
    XDG_CONFIG_HOME: join(root, 'config'),
    XDG_DATA_HOME: join(root, 'data'),
  };
  const config = join(root, 'config', 'cairn');
  return { root, config, configFile: join(config, 'config.yaml'), run: (...args) => cairn(args, env) };
}

interface ConfigFile {
  locations: { name: string; spec: Record<string, unknown>; credentialsFile?: string }[];
}

async function configOf(s: Standalone): Promise<ConfigFile> {
  return parse(await readFile(s.configFile, 'utf8')) as ConfigFile;
}

const readIfExists = async (file: string) => (existsSync(file) ? readFile(file, 'utf8') : undefined);

/** The key file's key, and the forms it must never be printed in by anything but key-export. */
async function keyOf(s: Standalone, name: string): Promise<{ key: Buffer; forms: string[] }> {
  const text = (await readFile(join(s.config, 'keys', `${name}.key`), 'utf8')).trim();
  const key = Buffer.from(text, 'base64');
  return { key, forms: [text, key.toString('hex'), key.toString('base64url')] };
}

/** MinIO: a fresh bucket and an AWS credentials file for it. */
async function minio(t: TestContext, s: Standalone): Promise<{ bucket: string; credentials: string }> {
  const s3 = new S3Client(minioOptions());
  t.after(() => s3.destroy());
  const bucket = `cairn-loc-${uniqueSuffix()}`;
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  const credentials = join(s.root, 'minio-credentials');
  await writeFile(
    credentials,
    `[default]\naws_access_key_id=${testbedEnv('AWS_ACCESS_KEY_ID')}\n` +
      `aws_secret_access_key=${testbedEnv('AWS_SECRET_ACCESS_KEY')}\n`,
  );
  return { bucket, credentials };
}

const s3Config = () => `region=us-east-1,s3Url=${testbedEnv('CAIRN_S3_ENDPOINT')},s3ForcePathStyle=true`;

describe('cairn location create', () => {
  it('stores an fs location with a new key, and warns once where the key is', async (t) => {
    const s = await standalone(t);
    const dir = join(s.root, 'nas');
    const result = await s.run('location', 'create', 'nas', '--provider', 'fs', '--path', dir);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`^Backup location "nas" created: ${dir}\\.$`, 'm'));
    const keyFile = join(s.config, 'keys', 'nas.key');
    const warnings = result.stderr.split('\n').filter((l) => l.startsWith('warning:'));
    assert.equal(warnings.length, 1, result.stderr);
    assert.ok(warnings[0]?.includes(keyFile), result.stderr);
    assert.match(warnings[0] ?? '', /losing the key loses the backups/i);
    assert.match(warnings[0] ?? '', /`cairn location key-export nas` prints it/);
    assert.equal((await stat(keyFile)).mode & 0o777, 0o600);
    const { key, forms } = await keyOf(s, 'nas');
    assert.equal(key.length, 32);
    for (const form of forms) assert.ok(!result.stdout.includes(form) && !result.stderr.includes(form));

    const config = await configOf(s);
    assert.deepEqual(
      config.locations.map((l) => l.name),
      ['default', 'nas'],
      'the embedded default stays',
    );
    assert.deepEqual(config.locations[1]?.spec, {
      provider: 'fs',
      config: { path: dir },
      accessMode: 'ReadWrite',
    });

    const get = await s.run('location', 'get');
    assert.equal(get.code, 0, get.stderr);
    assert.match(
      get.stdout,
      /^NAME\s+PROVIDER\s+BUCKET\/PATH\s+PREFIX\s+ACCESS MODE\s+DEFAULT\s+ENCRYPTION$/m,
    );
    assert.match(
      get.stdout,
      new RegExp(`^nas\\s+fs\\s+${dir}\\s+<none>\\s+ReadWrite\\s+false\\s+${keyId(key)}$`, 'm'),
    );
    assert.match(get.stdout, /^default\s+fs\s+\S+\s+<none>\s+ReadWrite\s+true\s+no key yet$/m);
  });

  it("creates an S3 location on MinIO from Velero's provider name, with a credentials file", async (t) => {
    const s = await standalone(t);
    const { bucket, credentials } = await minio(t, s);
    const result = await s.run(
      'location',
      'create',
      'minio',
      '--provider',
      'aws',
      '--bucket',
      bucket,
      '--prefix',
      'velero',
      '--credentials-file',
      credentials,
      '--config',
      s3Config(),
      '--default',
    );
    assert.equal(result.code, 0, result.stderr);
    assert.doesNotMatch(result.stderr, /not reachable/);
    const location = (await configOf(s)).locations.find((l) => l.name === 'minio');
    assert.equal(location?.spec.provider, 's3');
    assert.deepEqual(location?.spec.objectStorage, { bucket, prefix: 'velero' });
    assert.equal(location?.credentialsFile, credentials);

    const get = await s.run('location', 'get');
    assert.match(
      get.stdout,
      new RegExp(`^minio\\s+s3\\s+${bucket}\\s+velero\\s+ReadWrite\\s+true\\s+[0-9a-f]{16}$`, 'm'),
    );
    assert.match(get.stdout, /^default\s+fs\s+.*\s+false\s+/m, 'one default only');
  });

  it('warns, and still saves the location, when the store is not reachable', async (t) => {
    const s = await standalone(t);
    const { credentials } = await minio(t, s);
    const result = await s.run(
      'location',
      'create',
      'gone',
      '--provider',
      's3',
      '--bucket',
      `no-such-bucket-${uniqueSuffix()}`,
      '--credentials-file',
      credentials,
      '--config',
      s3Config(),
      '--plaintext',
    );
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /warning: location "gone" is not reachable now: .*does not exist/);
    assert.doesNotMatch(result.stderr, /key/, 'a plaintext location has no key to warn about');
    assert.ok(!existsSync(join(s.config, 'keys', 'gone.key')));
    assert.match((await s.run('location', 'get', 'gone')).stdout, /^gone\s+s3\s+.*\s+plaintext$/m);
  });

  it('refuses a bad provider or a missing bucket, naming the field, and changes nothing', async (t) => {
    const s = await standalone(t);
    const badProvider = await s.run('location', 'create', 'x', '--provider', 'nfs', '--bucket', 'b');
    assert.equal(badProvider.code, 1);
    assert.match(badProvider.stderr, /nothing was changed/);
    assert.match(badProvider.stderr, /provider "nfs": must be one of fs, s3, azure, gcs/);
    assert.ok(!existsSync(s.configFile), 'no config was written');

    assert.equal((await s.run('location', 'get')).code, 0);
    assert.ok(!existsSync(s.configFile), 'a command that only reads writes no config');
    const keep = await s.run(
      'location',
      'create',
      'keep',
      '--provider',
      'fs',
      '--path',
      join(s.root, 'keep'),
    );
    assert.equal(keep.code, 0, keep.stderr);
    const before = await readFile(s.configFile, 'utf8');
    const noBucket = await s.run('location', 'create', 'x', '--provider', 'gcs');
    assert.equal(noBucket.code, 1);
    assert.match(noBucket.stderr, /objectStorage\.bucket "": a gcs location needs a bucket \(--bucket\)/);
    const noPath = await s.run('location', 'create', 'x', '--provider', 'fs');
    assert.equal(noPath.code, 1);
    assert.match(noPath.stderr, /config\.path "": an fs location needs a directory \(--path\)/);
    const badMode = await s.run(
      'location',
      'create',
      'x',
      '--provider',
      'fs',
      '--path',
      s.root,
      '--access-mode',
      'RO',
    );
    assert.equal(badMode.code, 1);
    assert.match(
      badMode.stderr,
      /option '--access-mode <mode>' argument 'RO' is invalid\. Allowed choices are ReadWrite, ReadOnly/,
    );
    const badName = await s.run('location', 'create', '../x', '--provider', 'fs', '--path', s.root);
    assert.equal(badName.code, 1);
    assert.match(badName.stderr, /name "\.\.\/x": must consist of lower-case letters/);
    const exists = await s.run('location', 'create', 'default', '--provider', 'fs', '--path', s.root);
    assert.equal(exists.code, 1);
    assert.match(exists.stderr, /a backup location named "default" already exists/);

    assert.equal(await readFile(s.configFile, 'utf8'), before);
    assert.ok(!existsSync(join(s.config, 'keys', 'x.key')));
  });
});

/** `cairn backup create NAME --storage-location LOCATION --include-namespaces NS`. */
const backupInto = (s: Standalone, name: string, location: string, ns: string) =>
  s.run('backup', 'create', name, '--storage-location', location, '--include-namespaces', ns);

describe('a location written by another machine', () => {
  it('gets no new key here: both key ids and the fix are named, until its key is put in the key file', async (t) => {
    const ns = await testNamespace(t, clusterClient('a'), 'loc');
    const shared = join(await mkdtemp(join(tmpdir(), 'cairn-shared-')), 'nas');
    t.after(() => rm(join(shared, '..'), { recursive: true, force: true }));
    const first = await standalone(t);
    const second = await standalone(t);
    for (const s of [first, second]) {
      const created = await s.run('location', 'create', 'nas', '--provider', 'fs', '--path', shared);
      assert.equal(created.code, 0, created.stderr);
      if (s === first) {
        const backup = await backupInto(s, 'one', 'nas', ns);
        assert.equal(backup.code, 0, backup.stderr);
      }
    }
    const { key } = await keyOf(first, 'nas');
    const keyFile = join(second.config, 'keys', 'nas.key');
    const fix =
      `To fix: run \`cairn location key-export nas\` on the machine that has key ${keyId(key)}, ` +
      `and put its output in the key file ${keyFile}`;

    // The second machine was told, and made no key.
    const told = await second.run('location', 'get', 'nas');
    assert.match(told.stdout, /^nas\s+fs\s+.*\s+no key yet$/m);
    assert.ok(!existsSync(keyFile));
    const refused = await backupInto(second, 'two', 'nas', ns);
    assert.equal(refused.code, 1);
    assert.equal(
      refused.stderr.trim(),
      `error: location "nas" is encrypted with key ${keyId(key)}, but there is no key for it in the key file ${keyFile}. ${fix}`,
    );
    assert.ok(!existsSync(keyFile), 'a refused backup makes no key');
    assert.ok(!existsSync(join(shared, 'backups', 'two')));

    // The fix, as the message says it.
    const exported = await first.run('location', 'key-export', 'nas');
    assert.equal(exported.code, 0, exported.stderr);
    await mkdir(join(second.config, 'keys'), { recursive: true, mode: 0o700 });
    await writeFile(keyFile, exported.stdout, { mode: 0o600 });
    const fixed = await backupInto(second, 'two', 'nas', ns);
    assert.equal(fixed.code, 0, fixed.stderr);
  });

  it('warns at location create when the location holds backups under another key than its key file', async (t) => {
    const ns = await testNamespace(t, clusterClient('a'), 'loc');
    const s = await standalone(t);
    const path = join(s.root, 'nas');
    assert.equal((await s.run('location', 'create', 'nas', '--provider', 'fs', '--path', path)).code, 0);
    const backup = await backupInto(s, 'one', 'nas', ns);
    assert.equal(backup.code, 0, backup.stderr);
    const { key } = await keyOf(s, 'nas');
    // The same directory under another name: its own new key differs from the one the backups have.
    const again = await s.run('location', 'create', 'nas2', '--provider', 'fs', '--path', path);
    assert.equal(again.code, 0, again.stderr);
    assert.match(
      again.stderr,
      new RegExp(
        `^warning: location "nas2" is encrypted with key ${keyId(key)}, but there is no key for it in the key file .*nas2\\.key\\. To fix: run \`cairn location key-export nas2\``,
        'm',
      ),
    );
    assert.ok(!existsSync(join(s.config, 'keys', 'nas2.key')));
  });
});

describe('cairn location get', () => {
  it('never prints a key or a credential, in any format', async (t) => {
    const s = await standalone(t);
    const { bucket, credentials } = await minio(t, s);
    const created = await s.run(
      'location',
      'create',
      'minio',
      '--provider',
      's3',
      '--bucket',
      bucket,
      '--credentials-file',
      credentials,
      '--config',
      s3Config(),
    );
    assert.equal(created.code, 0, created.stderr);
    const { key, forms } = await keyOf(s, 'minio');
    const secret = testbedEnv('AWS_SECRET_ACCESS_KEY');
    for (const args of [[], ['-o', 'json'], ['-o', 'yaml'], ['minio', '-o', 'json']]) {
      const result = await s.run('location', 'get', ...args);
      assert.equal(result.code, 0, result.stderr);
      for (const form of [...forms, secret])
        assert.ok(!result.stdout.includes(form), `location get ${args.join(' ')}`);
    }
    const json = JSON.parse((await s.run('location', 'get', 'minio', '-o', 'json')).stdout) as {
      kind: string;
      status: { encryption: { keyId: string; keyFile: string }; credentialsFile: string };
    };
    assert.equal(json.kind, 'BackupLocation');
    assert.equal(json.status.encryption.keyId, keyId(key));
    assert.equal(json.status.encryption.keyFile, join(s.config, 'keys', 'minio.key'));
    assert.equal(json.status.credentialsFile, credentials, 'the path of the credentials file may be shown');

    const missing = await s.run('location', 'get', 'nowhere');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no backup location named "nowhere" \(locations: default, minio\)/);
  });
});

describe('cairn location key-export', () => {
  it("prints the location's 32-byte key in base64, the same as its key file", async (t) => {
    const s = await standalone(t);
    const created = await s.run(
      'location',
      'create',
      'nas',
      '--provider',
      'fs',
      '--path',
      join(s.root, 'nas'),
    );
    assert.equal(created.code, 0, created.stderr);
    const result = await s.run('location', 'key-export', 'nas');
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^[A-Za-z0-9+/]{43}=\n$/);
    assert.equal(Buffer.from(result.stdout.trim(), 'base64').length, 32);
    assert.equal(result.stdout.trim(), (await readFile(join(s.config, 'keys', 'nas.key'), 'utf8')).trim());

    const plaintext = await s.run(
      'location',
      'create',
      'clear',
      '--provider',
      'fs',
      '--path',
      s.root,
      '--plaintext',
    );
    assert.equal(plaintext.code, 0, plaintext.stderr);
    const none = await s.run('location', 'key-export', 'clear');
    assert.equal(none.code, 1);
    assert.match(none.stderr, /location "clear" is plaintext/);
    assert.equal(none.stdout, '');
  });
});

describe('cairn location set-default and delete', () => {
  it('moves the default, and delete keeps the key file and the stored backups', async (t) => {
    const s = await standalone(t);
    const dir = join(s.root, 'nas');
    assert.equal((await s.run('location', 'create', 'nas', '--provider', 'fs', '--path', dir)).code, 0);
    await mkdir(join(dir, 'backups', 'old'), { recursive: true });
    await writeFile(join(dir, 'backups', 'old', 'velero-backup.json'), '{}');

    const set = await s.run('location', 'set-default', 'nas');
    assert.equal(set.code, 0, set.stderr);
    const defaults = (await configOf(s)).locations.filter((l) => l.spec.default).map((l) => l.name);
    assert.deepEqual(defaults, ['nas']);
    assert.equal((await s.run('location', 'set-default', 'nowhere')).code, 1);

    const before = await readFile(s.configFile, 'utf8');
    const refused = await s.run('location', 'delete', 'nas');
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /stdin is not a terminal; pass --confirm/);
    assert.equal(await readFile(s.configFile, 'utf8'), before);

    const keyFile = join(s.config, 'keys', 'nas.key');
    const key = await readIfExists(keyFile);
    const deleted = await s.run('location', 'delete', 'nas', '--confirm');
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.ok(deleted.stdout.includes(`Its key stays in ${keyFile}`), deleted.stdout);
    assert.match(deleted.stdout, /The default location is now "default"/);
    assert.deepEqual(
      (await configOf(s)).locations.map((l) => [l.name, l.spec.default]),
      [['default', true]],
    );
    assert.equal(await readIfExists(keyFile), key, 'the key file stays');
    assert.ok(existsSync(join(dir, 'backups', 'old', 'velero-backup.json')), 'stored backups stay');
  });

  it('has --help with examples for every command', async () => {
    for (const command of ['create', 'get', 'set-default', 'delete', 'key-export']) {
      const result = await cairn(['location', command, '--help']);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /Examples:\n\s+cairn location /, command);
    }
    for (const command of ['get', 'describe', 'logs', 'download', 'delete']) {
      const result = await cairn(['backup', command, '--help']);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /Examples:\n\s+cairn backup /, command);
    }
  });

  it('ends quietly, exit code 0, when its reader goes away (cairn ... --help | head -1)', async () => {
    const child = spawn(process.execPath, [cairnBin, 'restore', 'create', '--help'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    // The reader takes the first chunk, then closes: the rest of the help meets a closed pipe.
    await new Promise((done) => child.stdout.once('data', done));
    child.stdout.destroy();
    const code = await new Promise((done) => child.on('close', done));
    assert.equal(code, 0, stderr);
    assert.doesNotMatch(stderr, /Unhandled|EPIPE/);
  });
});
