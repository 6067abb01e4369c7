// `cairn server` without certificate flags serves HTTPS with a certificate it makes: kept in the Secret
// cairn-server-tls, its CA published in the ConfigMap cairn-ca, the same one after a restart, and the
// CLI verifies the server against that CA with no flag. Tokens never go over plain HTTP outside loopback:
// the CLI refuses to send one, and a server on plain HTTP refuses one that arrives by another address
// (this machine's own non-loopback address: a real one, not a pretend flag).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpsServer, get, type RequestOptions } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import type { Backup } from '../../src/api/index.ts';
import { installManifests } from '../../src/controller/index.ts';
import type { KubeClient, KubeObject } from '../../src/kube/index.ts';
import { cairn, cairnBin, repoRoot } from '../helpers/cli.ts';
import { ensureServingCertificate } from '../../src/controller/serving-cert.ts';
import { createCr, getCr, installCrds, startServer as startInProcess } from '../helpers/server.ts';
import { clusterClient, eventually, testbedEnv, uniqueSuffix } from '../helpers/testbed.ts';

let client: KubeClient;
let namespace: string;
let dir: string;

interface ServerProcess {
  port: number;
  stderr: () => string;
  stop: () => Promise<number | null>;
}

/** `cairn server` as a real process against cluster a; resolves once it listens. */
async function startServer(args: string[]): Promise<ServerProcess> {
  const child = spawn(process.execPath, [cairnBin, 'server', '--namespace', namespace, ...args], {
    cwd: repoRoot,
    env: process.env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const port = await eventually('the server to listen', () => {
    if (child.exitCode !== null) throw new Error(`the server exited: ${stderr}`);
    return Promise.resolve(/listening on [^ ]+:(\d+)/.exec(stderr)?.[1]);
  });
  return {
    port: Number(port),
    stderr: () => stderr,
    stop: () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

/** GET over HTTPS with these TLS options; the status, body and the certificate the server showed. */
function httpsGet(
  url: string,
  options: RequestOptions,
): Promise<{ status: number; text: string; peer: X509Certificate }> {
  return new Promise((resolve, reject) => {
    get(url, options, (res) => {
      const peer = new X509Certificate((res.socket as TLSSocket).getPeerCertificate().raw);
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text, peer }));
    }).on('error', reject);
  });
}

const secretPath = () => `/api/v1/namespaces/${namespace}/secrets/cairn-server-tls`;
const configMapPath = () => `/api/v1/namespaces/${namespace}/configmaps/cairn-ca`;

/** A kubeconfig whose user is a ServiceAccount's token allowed to read backup logs in the namespace. */
async function readerKubeconfig(): Promise<string> {
  await client.json({
    method: 'POST',
    path: `/api/v1/namespaces/${namespace}/serviceaccounts`,
    body: { metadata: { name: 'reader' } },
  });
  await client.json({
    method: 'POST',
    path: `/apis/rbac.authorization.k8s.io/v1/namespaces/${namespace}/roles`,
    body: {
      metadata: { name: 'logs' },
      rules: [
        { apiGroups: ['cairn.dev'], resources: ['backups/logs'], verbs: ['get'] },
        // What `cairn install` grants every authenticated user (the Role and RoleBinding cairn-ca).
        { apiGroups: [''], resources: ['configmaps'], resourceNames: ['cairn-ca'], verbs: ['get'] },
      ],
    },
  });
  await client.json({
    method: 'POST',
    path: `/apis/rbac.authorization.k8s.io/v1/namespaces/${namespace}/rolebindings`,
    body: {
      metadata: { name: 'logs' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'logs' },
      subjects: [{ kind: 'ServiceAccount', name: 'reader', namespace }],
    },
  });
  const token = await client.json<{ status: { token: string } }>({
    method: 'POST',
    path: `/api/v1/namespaces/${namespace}/serviceaccounts/reader/token`,
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 600 } },
  });
  const admin = new KubeConfig();
  admin.loadFromFile(testbedEnv('KUBECONFIG'));
  const cluster = admin.getCurrentCluster();
  assert.ok(cluster);
  const limited = new KubeConfig();
  limited.loadFromOptions({
    clusters: [cluster],
    users: [{ name: 'reader', token: token.status.token }],
    contexts: [{ name: 'reader', cluster: cluster.name, user: 'reader' }],
    currentContext: 'reader',
  });
  const file = join(dir, 'reader.kubeconfig');
  await writeFile(file, limited.exportConfig());
  return file;
}

describe("cairn server's own certificate", () => {
  before(async () => {
    client = clusterClient('a');
    await installCrds(client);
    namespace = `cairn-tls-${uniqueSuffix()}`;
    await client.json({
      method: 'POST',
      path: '/api/v1/namespaces',
      body: { metadata: { name: namespace } },
    });
    dir = await mkdtemp(join(tmpdir(), 'cairn-tls-'));
    await createCr(client, namespace, 'BackupLocation', 'local', {
      provider: 'fs',
      config: { path: join(dir, 'store') },
      default: true,
    });
  });

  after(async () => {
    await client.send({ method: 'DELETE', path: `/api/v1/namespaces/${namespace}` });
    await rm(dir, { recursive: true, force: true });
  });

  it('is made and kept in a Secret, its CA published, served over HTTPS, the same after a restart, and trusted by the CLI', async () => {
    const first = await startServer(['--metrics-address', '127.0.0.1:0', '--identity', 'tls-1']);
    try {
      assert.match(first.stderr(), /listening on 127\.0\.0\.1:\d+ \(TLS\)/);
      const secret = await client.json<KubeObject & { type: string; data: Record<string, string> }>({
        path: secretPath(),
      });
      assert.equal(secret.type, 'kubernetes.io/tls');
      const configMap = await client.json<KubeObject & { data: Record<string, string> }>({
        path: configMapPath(),
      });
      const ca = configMap.data['ca.crt'] ?? '';
      assert.equal(
        ca,
        Buffer.from(secret.data['ca.crt'] ?? '', 'base64').toString(),
        "the published CA is the Secret's",
      );
      const cert = new X509Certificate(Buffer.from(secret.data['tls.crt'] ?? '', 'base64'));
      assert.ok(cert.verify(new X509Certificate(ca).publicKey), 'the CA signed the certificate');
      for (const name of [`cairn.${namespace}.svc`, `cairn.${namespace}.svc.cluster.local`, 'localhost'])
        assert.equal(cert.checkHost(name), name);
      assert.equal(cert.checkIP('127.0.0.1'), '127.0.0.1');
      assert.ok(Date.parse(cert.validTo) > Date.parse(cert.validFrom) + 360 * 86_400_000, 'valid a year');

      const url = `https://127.0.0.1:${first.port}/healthz`;
      const verified = await httpsGet(url, { ca });
      assert.equal(verified.status, 200);
      assert.equal(verified.peer.fingerprint256, cert.fingerprint256);
      // Without the CA the certificate is not trusted: the verification above is real.
      await assert.rejects(httpsGet(url, {}), /self-signed certificate|unable to verify/);

      await createCr(client, namespace, 'Backup', 'first', {
        includedNamespaces: [namespace],
        includedResources: ['serviceaccounts'],
      });
      const backup = await eventually('the backup to finish', async () => {
        const b = await getCr<Backup>(client, namespace, 'Backup', 'first');
        return b?.status?.phase && b.status.phase !== 'InProgress' && b.status.phase !== 'New'
          ? b
          : undefined;
      });
      assert.equal(backup.status?.phase, 'Completed', first.stderr());
      // No --server-ca-file: the CLI reads the CA from the ConfigMap with the reader's kubeconfig.
      const kubeconfig = await readerKubeconfig();
      const logs = await cairn([
        'backup',
        'logs',
        'first',
        '--server-url',
        `https://127.0.0.1:${first.port}`,
        '-n',
        namespace,
        '--kubeconfig',
        kubeconfig,
      ]);
      assert.equal(logs.code, 0, logs.stderr);
      assert.match(logs.stdout, /listing every resource/);
    } finally {
      assert.equal(await first.stop(), 0, first.stderr());
    }
    const before = await client.json<KubeObject>({ path: secretPath() });

    const second = await startServer(['--metrics-address', '127.0.0.1:0', '--identity', 'tls-2']);
    try {
      const ca = (await client.json<{ data: Record<string, string> }>({ path: configMapPath() })).data[
        'ca.crt'
      ];
      const served = await httpsGet(`https://127.0.0.1:${second.port}/healthz`, { ca });
      const kept = await client.json<KubeObject & { data: Record<string, string> }>({ path: secretPath() });
      assert.equal(
        kept.metadata.resourceVersion,
        before.metadata.resourceVersion,
        'the Secret is not rewritten',
      );
      assert.equal(
        served.peer.fingerprint256,
        new X509Certificate(Buffer.from(kept.data['tls.crt'] ?? '', 'base64')).fingerprint256,
        'the restarted server serves the kept certificate',
      );
    } finally {
      assert.equal(await second.stop(), 0, second.stderr());
    }

    // A name the kept certificate lacks (--tls-san) makes a new one, and the published CA follows.
    const third = await startServer([
      '--metrics-address',
      '127.0.0.1:0',
      '--identity',
      'tls-3',
      '--tls-san',
      'backups.example.com',
    ]);
    try {
      assert.match(third.stderr(), /renewed the serving certificate \(not for backups\.example\.com\)/);
      const ca = (await client.json<{ data: Record<string, string> }>({ path: configMapPath() })).data[
        'ca.crt'
      ];
      const served = await httpsGet(`https://127.0.0.1:${third.port}/healthz`, {
        ca,
        servername: 'backups.example.com',
      });
      assert.equal(served.status, 200);
      assert.equal(served.peer.checkHost('backups.example.com'), 'backups.example.com');
    } finally {
      assert.equal(await third.stop(), 0, third.stderr());
    }
  });

  it("publishes the CAs of the old and the renewed certificate, and a running server serves another replica's renewal", async () => {
    const running = await startInProcess({
      client,
      namespace,
      identity: 'tls-keeps',
      tls: { selfMade: { checkIntervalMs: 200 } },
    });
    try {
      const secretCert = async () => {
        const secret = await client.json<{ data: Record<string, string> }>({ path: secretPath() });
        return {
          cert: Buffer.from(secret.data['tls.crt'] ?? '', 'base64'),
          key: Buffer.from(secret.data['tls.key'] ?? '', 'base64'),
        };
      };
      const old = await secretCert();
      const url = `https://127.0.0.1:${running.port}/healthz`;
      const caNow = async () =>
        (await client.json<{ data: Record<string, string> }>({ path: configMapPath() })).data['ca.crt'] ?? '';
      assert.equal(
        (await httpsGet(url, { ca: await caNow(), agent: false })).peer.fingerprint256,
        new X509Certificate(old.cert).fingerprint256,
      );

      // Another replica, started with a name the certificate lacks, renews it: a new CA.
      const renewed = await ensureServingCertificate({
        client,
        namespace,
        extraNames: ['renewed.example.com'],
        now: () => new Date(),
        log: () => undefined,
      });
      assert.equal(renewed.cert.equals(old.cert), false);
      const bundle = await caNow();
      assert.ok(bundle.startsWith(renewed.ca.toString().trimEnd()), 'the new CA comes first');

      // The bundle verifies the old certificate, still served by replicas that have not checked yet...
      const oldServer = createHttpsServer({ cert: old.cert, key: old.key }, (_req, res) => res.end('old\n'));
      await new Promise<void>((resolve) => oldServer.listen(0, '127.0.0.1', resolve));
      try {
        const { port } = oldServer.address() as AddressInfo;
        const served = await httpsGet(`https://127.0.0.1:${port}/`, { ca: bundle, agent: false });
        assert.equal(served.text, 'old\n');
      } finally {
        oldServer.close();
      }
      // ...and the renewed one, which the running server serves from its next check on.
      const newPrint = new X509Certificate(renewed.cert).fingerprint256;
      await eventually('the running server to serve the renewed certificate', async () =>
        // A new connection each time: an open one keeps the certificate it began with.
        (await httpsGet(url, { ca: bundle, agent: false })).peer.fingerprint256 === newPrint
          ? true
          : undefined,
      );
      assert.ok(
        running.logs.some((l) =>
          l.includes(`serving the certificate now in Secret ${namespace}/cairn-server-tls`),
        ),
        running.logs.join('\n'),
      );
    } finally {
      await running.stop();
    }
  });

  it('makes the CLI refuse to send a token over plain HTTP to a host that is not loopback', async () => {
    for (const args of [
      ['backup', 'logs', 'first', '--server-url', 'http://203.0.113.7:8085'],
      ['dashboard', '--server-url', 'http://203.0.113.7:8085', '--token', 'x', '--no-open'],
    ]) {
      const run = await cairn(args);
      assert.equal(run.code, 1, run.stderr);
      assert.match(
        run.stderr,
        /--server-url http:\/\/203\.0\.113\.7:8085: refusing to send a bearer token over plain HTTP to 203\.0\.113\.7, which is not loopback; use https:\/\//,
      );
    }
  });

  it('is what cairn install deploys: HTTPS probes, a Service, and the RBAC of the Secret and the CA', () => {
    const objects = installManifests({ namespace: 'cairn', image: 'cairn:test' });
    const find = (kind: string, name: string) => {
      const object = objects.find((o) => o.kind === kind && o.metadata.name === name);
      assert.ok(object, `${kind}/${name}`);
      return object as unknown as Record<string, unknown>;
    };
    const deployment = find('Deployment', 'cairn') as {
      spec: {
        template: {
          spec: { containers: { args: string[]; livenessProbe: unknown; readinessProbe: unknown }[] };
        };
      };
    };
    const container = deployment.spec.template.spec.containers[0];
    assert.ok(
      container && !container.args.includes('--insecure-http') && !container.args.includes('--tls-cert-file'),
    );
    assert.deepEqual(container.livenessProbe, {
      httpGet: { path: '/healthz', port: 'https', scheme: 'HTTPS' },
      periodSeconds: 20,
    });
    assert.deepEqual(container.readinessProbe, {
      httpGet: { path: '/healthz', port: 'https', scheme: 'HTTPS' },
      periodSeconds: 10,
    });
    assert.deepEqual((find('Service', 'cairn') as { spec: { ports: unknown } }).spec.ports, [
      { name: 'https', port: 8085, targetPort: 'https', protocol: 'TCP' },
    ]);
    assert.deepEqual((find('RoleBinding', 'cairn-ca') as { subjects: unknown }).subjects, [
      { apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'system:authenticated' },
    ]);
    assert.deepEqual((find('Role', 'cairn-ca') as { rules: unknown }).rules, [
      { apiGroups: [''], resources: ['configmaps'], resourceNames: ['cairn-ca'], verbs: ['get'] },
    ]);
    const tlsRules = (
      find('Role', 'cairn-server-tls') as { rules: { resources: string[]; verbs: string[] }[] }
    ).rules;
    assert.ok(tlsRules.some((r) => r.resources.includes('secrets') && r.verbs.includes('patch')));
    assert.deepEqual((find('RoleBinding', 'cairn-server-tls') as { subjects: unknown }).subjects, [
      { kind: 'ServiceAccount', name: 'cairn', namespace: 'cairn' },
    ]);
  });
});
