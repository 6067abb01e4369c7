// DownloadRequests against the testbed, with a real server (runServer): the server answers a request for
// a backup's or restore's file with a URL of its own that serves it decrypted; says clearly when the
// target or the file is missing; refuses a URL that was altered or has expired, or whose restore was
// deleted and created again under the same name; and removes each request
// once it has expired (a short expiry is injected rather than waited for).
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import type { Backup, DownloadRequest, Restore } from '../../src/api/index.ts';
import { resourcePath } from '../../src/controller/index.ts';
import type { KubeClient } from '../../src/kube/index.ts';
import { createCr, getCr, installCrds, startServer, type RunningServer } from '../helpers/server.ts';
import { clusterClient, eventually, uniqueSuffix } from '../helpers/testbed.ts';

/** Long enough for a test to fetch the URL; short enough to watch the request expire. */
const EXPIRY_MS = 5000;

let client: KubeClient;
let namespace: string;
let dir: string;
let server: RunningServer;

async function answered(name: string): Promise<DownloadRequest> {
  return eventually(`DownloadRequest ${name} to be answered`, async () => {
    const request = await getCr<DownloadRequest>(client, namespace, 'DownloadRequest', name);
    return request?.status?.phase && request.status.phase !== 'New' ? request : undefined;
  });
}

async function ask(name: string, kind: string, target: string): Promise<DownloadRequest> {
  await createCr(client, namespace, 'DownloadRequest', name, { target: { kind, name: target } });
  return answered(name);
}

describe('cairn server: DownloadRequests', () => {
  before(async () => {
    client = clusterClient('a');
    await installCrds(client);
    namespace = `cairn-dl-${uniqueSuffix()}`;
    await client.json({
      method: 'POST',
      path: '/api/v1/namespaces',
      body: { metadata: { name: namespace } },
    });
    await client.json({
      method: 'POST',
      path: `/api/v1/namespaces/${namespace}/configmaps`,
      body: { metadata: { name: 'settings' }, data: { k: 'v' } },
    });
    dir = await mkdtemp(join(tmpdir(), 'cairn-downloads-'));
    await createCr(client, namespace, 'BackupLocation', 'local', {
      provider: 'fs',
      config: { path: join(dir, 'local') },
      default: true,
    });
    server = await startServer({
      client: clusterClient('a'),
      namespace,
      identity: 'downloads',
      downloadExpiryMs: EXPIRY_MS,
    });
    await createCr(client, namespace, 'Backup', 'web', {
      includedNamespaces: [namespace],
      includedResources: ['configmaps'],
    });
    await eventually('backup web to complete', async () =>
      (await getCr<Backup>(client, namespace, 'Backup', 'web'))?.status?.phase === 'Completed'
        ? true
        : undefined,
    );
  });

  after(async () => {
    await server.stop();
    await client.send({ method: 'DELETE', path: `/api/v1/namespaces/${namespace}` });
    await rm(dir, { recursive: true, force: true });
  });

  it("answers with a URL of the server that serves the backup's log and resource list decrypted", async () => {
    const log = await ask('web-log', 'BackupLog', 'web');
    assert.equal(log.status?.phase, 'Processed', JSON.stringify(log.status));
    assert.match(
      log.status?.downloadURL ?? '',
      new RegExp(`^http://127\\.0\\.0\\.1:${server.port}/v1/downloads/`),
    );
    assert.ok(Date.parse(log.status?.expiration ?? '') > Date.now());
    const res = await fetch(log.status?.downloadURL ?? '');
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
    const text = await res.text();
    assert.match(text, /listing every resource at storage revision \d+/);
    // What is stored is encrypted: the URL is the server's because a store URL would give ciphertext.
    const stored = await readFile(join(dir, 'local', 'backups', 'web', 'web-logs.gz'));
    assert.throws(() => gunzipSync(stored));

    const list = await ask('web-list', 'BackupResourceList', 'web');
    const resources = (await (await fetch(list.status?.downloadURL ?? '')).json()) as Record<
      string,
      string[]
    >;
    assert.deepEqual(resources['v1/ConfigMap'], [`${namespace}/kube-root-ca.crt`, `${namespace}/settings`]);
  });

  it("serves a restore's results and resource list from the records the server kept in the location", async () => {
    const copy = `${namespace}-copy`;
    await createCr(client, namespace, 'Restore', 'web-copy', {
      backupName: 'web',
      namespaceMapping: { [namespace]: copy },
    });
    await eventually('restore web-copy to complete', async () =>
      (await getCr<Restore>(client, namespace, 'Restore', 'web-copy'))?.status?.phase === 'Completed'
        ? true
        : undefined,
    );
    try {
      const results = await ask('copy-results', 'RestoreResults', 'web-copy');
      assert.equal(results.status?.phase, 'Processed', JSON.stringify(results.status));
      const res = await fetch(results.status?.downloadURL ?? '');
      assert.equal(res.status, 200);
      assert.deepEqual(Object.keys((await res.json()) as object).sort(), ['errors', 'warnings']);
      const list = await ask('copy-list', 'RestoreResourceList', 'web-copy');
      const items = (await (await fetch(list.status?.downloadURL ?? '')).json()) as Record<string, string[]>;
      assert.ok(items['v1/ConfigMap']?.includes(`${copy}/settings(created)`), JSON.stringify(items));
    } finally {
      await client.send({ method: 'DELETE', path: `/api/v1/namespaces/${copy}` });
    }
  });

  it('refuses the URL of a restore deleted and created again under the same name, naming the uid', async () => {
    const again = `${namespace}-again`;
    const spec = {
      backupName: 'web',
      includedResources: ['configmaps'],
      namespaceMapping: { [namespace]: again },
    };
    const ended = () =>
      eventually('restore again to end', async () => {
        const restore = await getCr<Restore>(client, namespace, 'Restore', 'again');
        const phase = restore?.status?.phase;
        return phase && !['New', 'InProgress'].includes(phase) ? restore : undefined;
      });
    try {
      await createCr(client, namespace, 'Restore', 'again', spec);
      const first = await ended();
      assert.equal(first?.status?.phase, 'Completed', JSON.stringify(first?.status));
      const results = await ask('again-results', 'RestoreResults', 'again');
      assert.equal(results.status?.phase, 'Processed', JSON.stringify(results.status));
      const url = results.status?.downloadURL ?? '';
      assert.equal((await fetch(url)).status, 200);

      await client.send({ method: 'DELETE', path: resourcePath('Restore', namespace, 'again') });
      await eventually('restore again to be gone', async () =>
        (await getCr(client, namespace, 'Restore', 'again')) === undefined ? true : undefined,
      );
      await createCr(client, namespace, 'Restore', 'again', spec);
      const refused = await eventually('the URL to be refused', async () => {
        const res = await fetch(url);
        return res.status === 200 ? undefined : { status: res.status, text: await res.text() };
      });
      assert.equal(refused.status, 410, refused.text);
      assert.match(
        refused.text,
        new RegExp(
          `^the download URL is for restore "again" with uid ${first.metadata.uid}, which (no longer exists|was deleted)`,
        ),
      );
      // (It finds its objects there already: ended is enough, before its namespace goes.)
      await ended();
    } finally {
      await client.send({ method: 'DELETE', path: `/api/v1/namespaces/${again}` });
    }
  });

  it('fails a request for a backup that does not exist, or a file it does not have, and says which', async () => {
    const unknown = await ask('nope-log', 'BackupLog', 'nope');
    assert.equal(unknown.status?.phase, 'Failed');
    assert.equal(unknown.status?.reason, 'TargetNotFound');
    assert.equal(unknown.status?.message, `no Backup named "nope" in namespace ${namespace}`);
    assert.equal(unknown.status?.downloadURL, undefined);
    const noRestore = await ask('nope-restore', 'RestoreLog', 'nope');
    assert.equal(noRestore.status?.message, `no Restore named "nope" in namespace ${namespace}`);
    // web ran no hooks: it has no hook results file.
    const noFile = await ask('web-hooks', 'BackupHookResults', 'web');
    assert.equal(noFile.status?.phase, 'Failed');
    assert.equal(noFile.status?.reason, 'FileNotFound');
    assert.equal(noFile.status?.message, 'backup "web" has no hook results in location "local"');
  });

  it('refuses an altered URL (403) and streams nothing', async () => {
    const log = await ask('web-log-2', 'BackupLog', 'web');
    const url = new URL(log.status?.downloadURL ?? '');
    const [payload = '', signature = ''] = url.pathname.slice('/v1/downloads/'.length).split('.');
    // Another backup's name in the payload, the signature kept.
    const forged = Buffer.from(
      Buffer.from(payload, 'base64url').toString('utf8').replace('"web"', '"other"'),
    ).toString('base64url');
    for (const token of [`${forged}.${signature}`, `${payload}.${signature.slice(0, -2)}AA`, 'x', '']) {
      const res = await server.get(`/v1/downloads/${token}`);
      assert.equal(res.status, 403, token);
      assert.match(res.text, /not one this server signed/);
      assert.doesNotMatch(res.text, /storage revision/);
    }
  });

  it('removes each request once it has expired, and its URL is refused from then on', async () => {
    const log = await ask('web-log-3', 'BackupLog', 'web');
    const failed = await ask('nope-log-2', 'BackupLog', 'nope');
    assert.equal(failed.status?.phase, 'Failed');
    await eventually('the expired requests to be removed', async () =>
      (await getCr(client, namespace, 'DownloadRequest', 'web-log-3')) === undefined &&
      (await getCr(client, namespace, 'DownloadRequest', 'nope-log-2')) === undefined
        ? true
        : undefined,
    );
    const res = await fetch(log.status?.downloadURL ?? '');
    assert.equal(res.status, 403);
    const text = await res.text();
    assert.match(text, /^the download URL expired at \S+: create a new DownloadRequest$/m);
    assert.doesNotMatch(text, /storage revision/);
  });
});
