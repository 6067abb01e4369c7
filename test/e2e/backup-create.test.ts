// `cairn backup create` as a user runs it: into the embedded default location with no set-up, with
// progress on standard error, and with a clear error and nothing written for each kind of bad input.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, before } from 'node:test';
import { cairn, cairnBin } from '../helpers/cli.ts';
import { clusterClient, eventually, testNamespace, uniqueSuffix } from '../helpers/testbed.ts';
import type { KubeClient } from '../../src/kube/index.ts';
import { keyId } from '../../src/storage/index.ts';

/** A file's permission bits in octal: `600`. */
const modeOf = (path: string) => (statSync(path).mode & 0o777).toString(8);

let client: KubeClient;
before(() => {
  client = clusterClient('a');
});

/** A private config and data directory, so the default location is this test's own. */
async function home(t: { after: (fn: () => Promise<void>) => void }) {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-e2e-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const env = { ...process.env, XDG_CONFIG_HOME: join(dir, 'config'), XDG_DATA_HOME: join(dir, 'data') };
  const location = join(dir, 'data', 'cairn', 'locations', 'default');
  return { env, location, dir };
}

describe('cairn backup create', () => {
  it('backs up a namespace into the default location with no set-up, showing progress', async (t) => {
    const { env, location, dir } = await home(t);
    const ns = await testNamespace(t, client, 'e2e');
    await client.json({
      method: 'POST',
      path: `/api/v1/namespaces/${ns}/configmaps`,
      body: { metadata: { name: 'settings' } },
    });
    const name = `shop-${uniqueSuffix()}`;

    const result = await cairn(['backup', 'create', name, '--include-namespaces', ns], env);
    assert.equal(result.code, 0, result.stderr);
    assert.match(
      result.stdout,
      new RegExp(
        `^Backup "${name}" Completed: \\d+ items, 0 errors, 0 warnings, at storage revision \\d+\\.$`,
        'm',
      ),
    );
    assert.match(result.stdout, /^ {2}default: Completed$/m);
    assert.match(result.stderr, /^Backing up to default\.\.\.$/m);
    assert.match(
      result.stderr,
      /^Created an encryption key for location "default" in .*default\.key\. Losing it loses the backups/m,
    );
    assert.match(result.stderr, /^\d+\/\d+ items \(\d+%\)/m, 'plain progress lines when not on a terminal');

    assert.deepEqual(readdirSync(join(location, 'backups', name)).sort(), [
      `${name}-checksums.json`,
      `${name}-claim.json`,
      `${name}-logs.gz`,
      `${name}-resource-list.json.gz`,
      `${name}-results.gz`,
      `${name}.tar.gz`,
      'velero-backup.json',
    ]);
    const keyFile = join(dir, 'config', 'cairn', 'keys', 'default.key');
    assert.equal(statSync(keyFile).mode & 0o777, 0o600, 'the key is readable by its owner only');
    const key = readFileSync(keyFile, 'utf8').trim();
    assert.ok(
      !result.stdout.includes(key) && !result.stderr.includes(key),
      'the key never appears in output',
    );
    // The backup's files are its owner's only, and the location records the key's id, never the key.
    for (const file of readdirSync(join(location, 'backups', name)))
      assert.equal(modeOf(join(location, 'backups', name, file)), '600', `${file} is 0600`);
    for (const path of [location, join(location, 'backups'), join(location, 'backups', name)])
      assert.equal(modeOf(path), '700', `${path} is 0700`);
    const record = readFileSync(join(location, 'metadata', 'cairn-location.json'), 'utf8');
    assert.deepEqual(JSON.parse(record), {
      kind: 'CairnLocation',
      version: 1,
      encryption: { algorithm: 'AES-256-GCM', keyId: keyId(Buffer.from(key, 'base64')) },
    });
    assert.ok(!record.includes(key));
  });

  it('refuses a key file replaced by another key, naming both key ids and the fix, and writes nothing', async (t) => {
    const { env, location, dir } = await home(t);
    const ns = await testNamespace(t, client, 'key');
    const first = `first-${uniqueSuffix()}`;
    assert.equal((await cairn(['backup', 'create', first, '--include-namespaces', ns], env)).code, 0);
    const keyFile = join(dir, 'config', 'cairn', 'keys', 'default.key');
    const right = Buffer.from(readFileSync(keyFile, 'utf8').trim(), 'base64');
    const swapped = randomBytes(32);
    writeFileSync(keyFile, swapped.toString('base64') + '\n', { mode: 0o600 });
    const fix =
      `To fix: run \`cairn location key-export default\` on the machine that has key ${keyId(right)}, ` +
      `and put its output in the key file ${keyFile}`;

    const second = `second-${uniqueSuffix()}`;
    const refused = await cairn(['backup', 'create', second, '--include-namespaces', ns], env);
    assert.equal(refused.code, 1, refused.stdout);
    assert.equal(
      refused.stderr.trim(),
      `error: location "default" is encrypted with key ${keyId(right)}, but the key given is ` +
        `${keyId(swapped)} (the key file ${keyFile}). ${fix}`,
    );
    assert.ok(!existsSync(join(location, 'backups', second)), 'nothing of the backup was written');

    // Reading refuses it too, before anything is decrypted.
    const logs = await cairn(['backup', 'logs', first], env);
    assert.equal(logs.code, 1);
    assert.match(
      logs.stderr,
      new RegExp(
        `backup "${first}" in location "default" is encrypted with key ${keyId(right)}, but the key given is ${keyId(swapped)}`,
      ),
    );
    assert.ok(logs.stderr.includes(fix), logs.stderr);

    // With no key file at all, the backup is refused too, and no new key is made.
    rmSync(keyFile);
    const keyless = await cairn(['backup', 'create', second, '--include-namespaces', ns], env);
    assert.equal(keyless.code, 1);
    assert.equal(
      keyless.stderr.trim(),
      `error: location "default" is encrypted with key ${keyId(right)}, but there is no key for it in ` +
        `the key file ${keyFile}. ${fix}`,
    );
    assert.ok(!existsSync(keyFile), 'no key was made');

    // The right key back: the location takes backups again.
    writeFileSync(keyFile, right.toString('base64') + '\n', { mode: 0o600 });
    const fixed = await cairn(['backup', 'create', second, '--include-namespaces', ns], env);
    assert.equal(fixed.code, 0, fixed.stderr);
  });

  it('takes a location written before key records by the key of its backups, and records it at the next backup', async (t) => {
    const { env, location, dir } = await home(t);
    const ns = await testNamespace(t, client, 'old');
    assert.equal(
      (await cairn(['backup', 'create', `old-${uniqueSuffix()}`, '--include-namespaces', ns], env)).code,
      0,
    );
    // As a location looked before this version: no record.
    rmSync(join(location, 'metadata'), { recursive: true });
    const keyFile = join(dir, 'config', 'cairn', 'keys', 'default.key');
    const right = readFileSync(keyFile, 'utf8');
    writeFileSync(keyFile, randomBytes(32).toString('base64') + '\n', { mode: 0o600 });
    const refused = await cairn(
      ['backup', 'create', `new-${uniqueSuffix()}`, '--include-namespaces', ns],
      env,
    );
    assert.equal(refused.code, 1);
    assert.match(
      refused.stderr,
      /^error: location "default" is encrypted with key [0-9a-f]{16}, but the key given is/,
    );
    assert.ok(!existsSync(join(location, 'metadata')), 'a refused key is not recorded');

    writeFileSync(keyFile, right, { mode: 0o600 });
    assert.equal(
      (await cairn(['backup', 'create', `new-${uniqueSuffix()}`, '--include-namespaces', ns], env)).code,
      0,
    );
    assert.ok(existsSync(join(location, 'metadata', 'cairn-location.json')));
  });

  it('refuses --ttl abc naming the flag and its value, and creates nothing: no key, no config, no directory', async (t) => {
    const { env, dir } = await home(t);
    const result = await cairn(['backup', 'create', 'x', '--ttl', 'abc'], env);
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      /^error: option '--ttl <duration>' argument 'abc' is invalid\. not a duration/m,
    );
    assert.ok(!result.stderr.includes('Created an encryption key'));
    assert.deepEqual(readdirSync(dir), [], 'no configuration, key or data directory was made');
  });

  it('draws a progress bar on a terminal and clears it when done', async (t) => {
    const { env } = await home(t);
    const ns = await testNamespace(t, client, 'tty');
    const name = `tty-${uniqueSuffix()}`;
    // `script` (util-linux) runs the command on a pseudo-terminal, as a user's shell would.
    const command = ['node', cairnBin, 'backup', 'create', name, '--include-namespaces', ns]
      .map((a) => `'${a}'`)
      .join(' ');
    const output = await new Promise<string>((resolve, reject) =>
      execFile('script', ['-qec', command, '/dev/null'], { env }, (error, stdout) =>
        error ? reject(new Error(error.message)) : resolve(stdout),
      ),
    );
    assert.match(output, /\r\[[#.]+\] \d+\/\d+ items \(\d+%\)/, 'a bar redrawn in place');
    const cleared = output.indexOf('\r\u001b[K');
    const summary = output.indexOf(`Backup "${name}" Completed`);
    assert.ok(cleared >= 0 && cleared < summary, 'the bar is cleared before the summary');
  });

  it('prints the finished backup as JSON with -o json', async (t) => {
    const { env } = await home(t);
    const ns = await testNamespace(t, client, 'e2e');
    const name = `json-${uniqueSuffix()}`;
    const result = await cairn(
      ['backup', 'create', name, '--include-namespaces', ns, '-o', 'json', '--ttl', '24h'],
      env,
    );
    assert.equal(result.code, 0, result.stderr);
    const backup = JSON.parse(result.stdout) as {
      metadata: { name: string };
      spec: { ttl: string };
      status: { phase: string; expiration: string; startTimestamp: string };
    };
    assert.equal(backup.metadata.name, name);
    assert.equal(backup.status.phase, 'Completed');
    assert.equal(backup.spec.ttl, '24h');
    assert.equal(
      Date.parse(backup.status.expiration) - Date.parse(backup.status.startTimestamp),
      24 * 3_600_000,
    );
  });

  it('refuses an unknown resource and a bad name, naming each, and writes nothing', async (t) => {
    const { env, location, dir } = await home(t);
    const result = await cairn(['backup', 'create', 'Bad_Name', '--include-resources', 'sekrets'], env);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /^error: the request is invalid; nothing was changed:$/m);
    assert.match(result.stderr, /^ {2}name "Bad_Name": must consist of lower-case letters/m);
    assert.match(
      result.stderr,
      /^ {2}includedResources "sekrets": the cluster serves no resource of that name$/m,
    );
    // A bad selector is refused as the flag is read (test/reliability/cli-flags.test.ts).
    const selector = await cairn(['backup', 'create', 'x', '--selector', 'app in web'], env);
    assert.match(
      selector.stderr,
      /^error: option '-l, --selector <selector>' argument 'app in web' is invalid\. not a label selector: "app in web" is not a label requirement$/m,
    );
    assert.ok(!existsSync(join(location, 'backups')), 'no backup directory was created');
    assert.ok(!existsSync(join(dir, 'config')), 'no key and no configuration were made');
  });

  it('refuses a name that is already taken, and leaves the first backup alone', async (t) => {
    const { env, location } = await home(t);
    const ns = await testNamespace(t, client, 'e2e');
    const name = `twice-${uniqueSuffix()}`;
    assert.equal((await cairn(['backup', 'create', name, '--include-namespaces', ns], env)).code, 0);
    const before = readFileSync(join(location, 'backups', name, 'velero-backup.json'));
    const again = await cairn(['backup', 'create', name, '--include-namespaces', ns], env);
    assert.equal(again.code, 1);
    assert.ok(!again.stderr.includes('Created an encryption key'), 'the key notice comes once');
    assert.equal(
      again.stderr.trim(),
      `error: a backup named "${name}" already exists in location "default" ` +
        `(\`cairn backup get ${name}\` shows it; \`cairn backup delete ${name}\` clears the name, its files with it)`,
    );
    assert.deepEqual(readFileSync(join(location, 'backups', name, 'velero-backup.json')), before);
  });

  it('shows a backup whose process was killed as Failed (orphaned), and frees its name on delete', async (t) => {
    const { env, location } = await home(t);
    const ns = await testNamespace(t, client, 'e2e');
    const name = `killed-${uniqueSuffix()}`;
    // One request a second: the backup is still listing when it is killed.
    const args = ['backup', 'create', name, '--include-namespaces', ns];
    const child = spawn(process.execPath, [cairnBin, ...args, '--client-qps', '1', '--client-burst', '1'], {
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child.on('exit', (_code, signal) => resolve(signal)),
    );
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    await eventually(
      'the backup to start',
      () => Promise.resolve(stderr.includes('Backing up to default...') ? true : undefined),
      180_000,
    );
    const running = await cairn(['backup', 'get', name], env);
    assert.match(running.stdout, new RegExp(`^${name}\\s+InProgress\\s`, 'm'), running.stderr);

    child.kill('SIGKILL');
    assert.equal(await exited, 'SIGKILL');
    assert.equal(existsSync(join(location, 'backups', name, 'velero-backup.json')), false, 'never committed');
    const orphaned = await eventually(
      'the killed backup to show as orphaned',
      async () => {
        const get = await cairn(['backup', 'get', name], env);
        return new RegExp(`^${name}\\s+Failed \\(orphaned\\)\\s`, 'm').test(get.stdout) ? get : undefined;
      },
      120_000,
    );
    assert.equal(orphaned.code, 0, orphaned.stderr);
    const described = await cairn(['backup', 'describe', name], env);
    assert.match(described.stdout, /^Phase: +Failed \(orphaned\)$/m);
    assert.match(described.stdout, new RegExp(`^Written by: +cairn .+, host .+, pid ${child.pid}$`, 'm'));
    assert.match(
      described.stdout,
      new RegExp(`\`cairn backup delete ${name}\` removes its files and frees the name`),
    );
    const json = JSON.parse((await cairn(['backup', 'get', name, '-o', 'json'], env)).stdout) as {
      items: { status: { phase: string; failureReason: string } }[];
    };
    assert.equal(json.items[0]?.status.phase, 'Failed');
    assert.match(
      json.items[0]?.status.failureReason ?? '',
      new RegExp(`^orphaned: its writer \\(cairn .+ pid ${child.pid}\\) stopped`),
    );

    const refused = await cairn(args, env);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, new RegExp(`\`cairn backup delete ${name}\` clears the name`));
    assert.equal((await cairn(['backup', 'delete', name, '--confirm'], env)).code, 0);
    const again = await cairn(args, env);
    assert.equal(again.code, 0, again.stderr);
  });

  it('names an unknown location and the ones there are', async (t) => {
    const { env, dir } = await home(t);
    const result = await cairn(['backup', 'create', 'x', '--storage-location', 'offsite'], env);
    assert.equal(result.code, 1);
    assert.equal(result.stderr.trim(), 'error: no backup location named "offsite" (locations: default)');
    assert.deepEqual(readdirSync(dir), [], 'nothing was made');
  });

  it('says when the cluster cannot be reached, and writes nothing', async (t) => {
    const { env, location, dir } = await home(t);
    const result = await cairn(
      ['backup', 'create', 'nowhere', '--kubeconfig', join(location, 'missing.kubeconfig')],
      env,
    );
    assert.equal(result.code, 1);
    assert.match(result.stderr, /^error: --kubeconfig ".*missing\.kubeconfig": no such file$/m);
    assert.ok(!existsSync(join(location, 'backups', 'nowhere')));
    assert.deepEqual(readdirSync(dir), [], 'no key, configuration or directory was made');
  });

  it('has --help with examples', async () => {
    const result = await cairn(['backup', 'create', '--help']);
    assert.equal(result.code, 0);
    assert.match(result.stdout, /Examples:\n\s+cairn backup create shop --include-namespaces shop/);
    for (const flag of [
      '--include-namespaces',
      '--exclude-resources',
      '--include-cluster-resources',
      '--selector',
      '--or-selector',
      '--include-secrets',
      '--ttl',
      '--labels',
      '--storage-location',
      '--consistency',
      '--client-qps',
      '--client-burst',
      '--output',
    ]) {
      assert.ok(result.stdout.includes(flag), `--help lists ${flag}`);
    }
  });
});
