// `cairn backup create` as a user runs it: into the embedded default location with no set-up, with
// progress on standard error, and with a clear error and nothing written for each kind of bad input.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, before } from 'node:test';
import { cairn, cairnBin } from '../helpers/cli.ts';
import { clusterClient, testNamespace, uniqueSuffix } from '../helpers/testbed.ts';
import type { KubeClient } from '../../src/kube/index.ts';

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

  it('refuses an unknown resource, a bad selector and a bad name, naming each, and writes nothing', async (t) => {
    const { env, location } = await home(t);
    const result = await cairn(
      ['backup', 'create', 'Bad_Name', '--include-resources', 'sekrets', '--selector', 'app in web'],
      env,
    );
    assert.equal(result.code, 1);
    assert.match(result.stderr, /^error: the request is invalid; nothing was changed:$/m);
    assert.match(result.stderr, /^ {2}name "Bad_Name": must consist of lower-case letters/m);
    assert.match(
      result.stderr,
      /^ {2}includedResources "sekrets": the cluster serves no resource of that name$/m,
    );
    assert.match(result.stderr, /^ {2}labelSelector "app in web": "app in web" is not a label requirement$/m);
    assert.ok(!existsSync(join(location, 'backups')), 'no backup directory was created');
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
    assert.equal(again.stderr.trim(), `error: a backup named "${name}" already exists in location "default"`);
    assert.deepEqual(readFileSync(join(location, 'backups', name, 'velero-backup.json')), before);
  });

  it('names an unknown location and the ones there are', async (t) => {
    const { env } = await home(t);
    const result = await cairn(['backup', 'create', 'x', '--storage-location', 'offsite'], env);
    assert.equal(result.code, 1);
    assert.equal(result.stderr.trim(), 'error: no backup location named "offsite" (locations: default)');
  });

  it('says when the cluster cannot be reached, and writes nothing', async (t) => {
    const { env, location } = await home(t);
    const result = await cairn(
      ['backup', 'create', 'nowhere', '--kubeconfig', join(location, 'missing.kubeconfig')],
      env,
    );
    assert.equal(result.code, 1);
    assert.match(result.stderr, /^error: kubeconfig .*missing\.kubeconfig does not exist$/m);
    assert.ok(!existsSync(join(location, 'backups', 'nowhere')));
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
