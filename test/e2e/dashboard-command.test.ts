// `cairn dashboard` as a user runs it: a local proxy to a server on the testbed that adds the user's
// token, so the dashboard's API answers as that user without the browser holding the token; refusals of
// a proxy that would listen beyond loopback, of a missing token file, and of a kubeconfig without a token.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import type { DashboardSession } from '../../src/api/index.ts';
import type { KubeClient } from '../../src/kube/index.ts';
import { cairn, cairnBin, repoRoot } from '../helpers/cli.ts';
import { serviceAccountToken } from '../helpers/rbac.ts';
import { installCrds, startServer, type RunningServer } from '../helpers/server.ts';
import { clusterClient, eventually, testbedEnv, uniqueSuffix } from '../helpers/testbed.ts';

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
    const token = await serviceAccountToken(client, { name: 'viewer', namespace });
    dir = await mkdtemp(join(tmpdir(), 'cairn-dashboard-cli-'));
    tokenFile = join(dir, 'viewer.token');
    await writeFile(tokenFile, `${token}\n`, { mode: 0o600 });
    server = await startServer({ client: clusterClient('a'), namespace, identity: 'dashboard-cli' });
  });

  after(async () => {
    await server.stop();
    await client.send({ method: 'DELETE', path: `/api/v1/namespaces/${namespace}` });
    await rm(dir, { recursive: true, force: true });
  });

  it("proxies the dashboard with the token added: the API answers as the token's user", async (t) => {
    const { url, stop } = await proxyTo(t, `http://127.0.0.1:${server.port}`);
    const session = await leading(url);
    assert.equal(session.status, 200, await session.clone().text());
    const body = (await session.json()) as DashboardSession;
    assert.equal(body.user, `system:serviceaccount:${namespace}:viewer`);
    assert.equal(body.can.listAll, false, 'a token with no role sees nothing of the server');
    const root = await fetch(new URL('/', url), { redirect: 'manual' });
    assert.deepEqual([root.status, root.headers.get('location')], [302, '/ui/']);
    assert.equal((await fetch(new URL('/metrics', url))).status, 404, 'only /ui is proxied');
    assert.equal(await stop(), 0, 'Ctrl-C stops it cleanly');
  });

  it('reaches a server serving TLS when told its CA, and says why not otherwise', async (t) => {
    const pki = join(testbedEnv('CAIRN_TESTBED_STATE'), 'cluster-a', 'pki');
    // The testbed API server's certificate names 127.0.0.1: good enough for a server on loopback.
    const tls = {
      cert: await readFile(join(pki, 'apiserver.crt')),
      key: await readFile(join(pki, 'apiserver.key')),
    };
    const secure = await startServer({
      client: clusterClient('a'),
      namespace,
      identity: 'dashboard-tls',
      leaseName: 'cairn-server-tls', // its own lease: it leads beside the plain one
      tls,
    });
    t.after(() => secure.stop());
    const trusted = await proxyTo(t, `https://127.0.0.1:${secure.port}`, [
      '--server-ca-file',
      join(pki, 'ca.crt'),
    ]);
    const session = await leading(trusted.url);
    assert.equal(session.status, 200, await session.clone().text());
    await trusted.stop();
    const untrusted = await proxyTo(t, `https://127.0.0.1:${secure.port}`);
    const refused = await fetch(new URL('api/session', untrusted.url));
    assert.equal(refused.status, 502);
    assert.match(
      ((await refused.json()) as { error: string }).error,
      /cannot reach the server at https:\/\/127\.0\.0\.1:\d+: .*certificate/,
    );
    await untrusted.stop();
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
    assert.match(missing.stderr, /option '--token-file <file>' argument '.*nope' is invalid\. no such file/);
    // The testbed's admin kubeconfig authenticates by client certificate, which cannot be passed on.
    const certificate = await cairn(['dashboard', '--no-open']);
    assert.equal(certificate.code, 1);
    assert.match(certificate.stderr, /the kubeconfig has no bearer token for this user/);
  });
});

/** Runs `cairn dashboard` against `serverUrl`; resolves with its URL, and a stop that returns the exit code. */
async function proxyTo(t: TestContext, serverUrl: string, extra: string[] = []) {
  const proxy = spawn(
    process.execPath,
    [
      cairnBin,
      'dashboard',
      '--server-url',
      serverUrl,
      '--port',
      '0',
      '--no-open',
      '--token-file',
      tokenFile,
      ...extra,
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
  return {
    url,
    stop: async () => {
      proxy.kill('SIGTERM');
      return exited;
    },
  };
}

/** The session through the proxy, once the server leads (a standby answers 503 until then). */
const leading = (url: string) =>
  eventually('the server to lead', async () => {
    const session = await fetch(new URL('api/session', url));
    return session.status === 503 ? undefined : session;
  });
