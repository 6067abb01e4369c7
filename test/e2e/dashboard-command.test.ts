// `cairn dashboard` as a user runs it: a local proxy to a server on the testbed that adds the user's
// token, so the dashboard's API answers as that user without the browser holding the token; refusals of
// a proxy that would listen beyond loopback, of a missing token file, and of a kubeconfig without a token.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { DashboardSession } from '../../src/api/index.ts';
import type { KubeClient } from '../../src/kube/index.ts';
import { cairn, cairnBin, repoRoot } from '../helpers/cli.ts';
import { installCrds, startServer, type RunningServer } from '../helpers/server.ts';
import { clusterClient, uniqueSuffix } from '../helpers/testbed.ts';

let client: KubeClient;
let server: RunningServer;
let namespace: string;
let dir: string;
let tokenFile: string;

describe('cairn dashboard', () => {
  before(async () => {
    client = clusterClient('a');
    await installCrds(client);
    namespace = `cairn-${uniqueSuffix()}`;
    await client.json({
      method: 'POST',
      path: '/api/v1/namespaces',
      body: { metadata: { name: namespace } },
    });
    await client.json({
      method: 'POST',
      path: `/api/v1/namespaces/${namespace}/serviceaccounts`,
      body: { metadata: { name: 'viewer' } },
    });
    const request = await client.json<{ status: { token: string } }>({
      method: 'POST',
      path: `/api/v1/namespaces/${namespace}/serviceaccounts/viewer/token`,
      body: {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        spec: { expirationSeconds: 600 },
      },
    });
    dir = await mkdtemp(join(tmpdir(), 'cairn-dashboard-cli-'));
    tokenFile = join(dir, 'viewer.token');
    await writeFile(tokenFile, `${request.status.token}\n`, { mode: 0o600 });
    server = await startServer({ client: clusterClient('a'), namespace, identity: 'dashboard-cli' });
  });

  after(async () => {
    await server.stop();
    await client.send({ method: 'DELETE', path: `/api/v1/namespaces/${namespace}` });
    await rm(dir, { recursive: true, force: true });
  });

  it("proxies the dashboard with the token added: the API answers as the token's user", async (t) => {
    const proxy = spawn(
      process.execPath,
      [
        cairnBin,
        'dashboard',
        '--server-url',
        `http://127.0.0.1:${server.port}`,
        '--port',
        '0',
        '--no-open',
        '--token-file',
        tokenFile,
      ],
      { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const exited = new Promise<number | null>((resolve) => proxy.on('exit', resolve));
    t.after(() => proxy.kill('SIGTERM'));
    let stderr = '';
    const url = await new Promise<string>((resolve, reject) => {
      proxy.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        const found = /(http:\/\/127\.0\.0\.1:\d+\/ui\/) \(Ctrl-C to stop\)/.exec(stderr)?.[1];
        if (found) resolve(found);
      });
      proxy.on('exit', () => reject(new Error(`cairn dashboard exited: ${stderr}`)));
    });
    const session = await fetch(new URL('api/session', url));
    assert.equal(session.status, 200, await session.clone().text());
    const body = (await session.json()) as DashboardSession;
    assert.equal(body.user, `system:serviceaccount:${namespace}:viewer`);
    assert.equal(body.can.listAll, false, 'a token with no role sees nothing of the server');
    const root = await fetch(new URL('/', url), { redirect: 'manual' });
    assert.deepEqual([root.status, root.headers.get('location')], [302, '/ui/']);
    assert.equal((await fetch(new URL('/metrics', url))).status, 404, 'only /ui is proxied');
    proxy.kill('SIGTERM');
    assert.equal(await exited, 0, 'Ctrl-C stops it cleanly');
  });

  it('refuses to listen beyond loopback, a missing token file, and a kubeconfig user without a token', async () => {
    const wide = await cairn(['dashboard', '--address', '0.0.0.0', '--no-open', '--token', 'x']);
    assert.equal(wide.code, 1);
    assert.match(
      wide.stderr,
      /--address 0\.0\.0\.0: the proxy acts as you, so it listens on a loopback address only/,
    );
    const missing = await cairn(['dashboard', '--no-open', '--token-file', join(dir, 'nope')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /--token-file .*nope: ENOENT/);
    // The testbed's admin kubeconfig authenticates by client certificate, which cannot be passed on.
    const certificate = await cairn(['dashboard', '--no-open']);
    assert.equal(certificate.code, 1);
    assert.match(certificate.stderr, /the kubeconfig has no bearer token for this user/);
  });
});
