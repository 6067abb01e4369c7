// One Kubernetes control plane: etcd, kube-apiserver, kube-controller-manager and kube-scheduler,
// started on loopback with random free ports, as controller-runtime's envtest starts them, plus the
// controller-manager and scheduler that envtest leaves out (namespace deletion, garbage collection,
// Deployments and scheduling need them).
import { mkdirSync } from 'node:fs';
import { request } from 'node:https';
import { request as httpRequest } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureClientCert, ensureClusterPki, writeKubeconfig } from './pki.ts';
import { freePort, startProcess, waitUntil, type ProcessRecord } from './process.ts';

export interface ClusterState {
  name: string;
  dir: string;
  kubeconfig: string;
  server: string;
  processes: ProcessRecord[];
}

export interface ClusterBinaries {
  kubernetes: string;
  etcd: string;
}

function httpOk(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = httpRequest(url, { timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

function httpsOk(url: string, ca?: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(
      url,
      { timeout: 2000, ...(ca ? { ca: readFileSync(ca) } : { rejectUnauthorized: false }) },
      (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      },
    );
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

/** GET with the admin client certificate; resolves with the status code and body. */
export function adminGet(
  state: { server: string; dir: string },
  path: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${state.server}${path}`,
      {
        timeout: 5000,
        ca: readFileSync(join(state.dir, 'pki', 'ca.crt')),
        cert: readFileSync(join(state.dir, 'pki', 'admin.crt')),
        key: readFileSync(join(state.dir, 'pki', 'admin.key')),
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}

export async function startCluster(options: {
  name: string;
  dir: string;
  binaries: ClusterBinaries;
  log: (line: string) => void;
}): Promise<ClusterState> {
  const { name, dir, binaries, log } = options;
  const pkiDir = join(dir, 'pki');
  const logs = join(dir, 'logs');
  mkdirSync(logs, { recursive: true });
  const pki = ensureClusterPki(pkiDir);
  const admin = ensureClientCert(pki, 'admin', 'cairn-testbed-admin', ['system:masters']);
  const kcmCert = ensureClientCert(pki, 'kube-controller-manager', 'system:kube-controller-manager');
  const schedulerCert = ensureClientCert(pki, 'kube-scheduler', 'system:kube-scheduler');
  // What the API server shows a kubelet for `kubectl logs`, `exec` and `port-forward` (the kubelet
  // authorizes it by webhook, as kubeadm's clusters do).
  const kubeletClient = ensureClientCert(pki, 'apiserver-kubelet-client', 'kube-apiserver-kubelet-client', [
    'system:masters',
  ]);

  const [etcdClient, etcdPeer, apiserverPort, kcmPort, schedulerPort] = await Promise.all(
    Array.from({ length: 5 }, () => freePort()),
  );
  const server = `https://127.0.0.1:${apiserverPort}`;
  const processes: ProcessRecord[] = [];
  const state: ClusterState = { name, dir, kubeconfig: join(dir, 'admin.kubeconfig'), server, processes };

  log(`cluster ${name}: starting etcd on 127.0.0.1:${etcdClient}`);
  const etcd = startProcess({
    name: `${name}/etcd`,
    command: join(binaries.etcd, 'etcd'),
    args: [
      '--name',
      `cairn-testbed-${name}`,
      '--data-dir',
      join(dir, 'etcd'),
      '--listen-client-urls',
      `http://127.0.0.1:${etcdClient}`,
      '--advertise-client-urls',
      `http://127.0.0.1:${etcdClient}`,
      '--listen-peer-urls',
      `http://127.0.0.1:${etcdPeer}`,
      '--initial-advertise-peer-urls',
      `http://127.0.0.1:${etcdPeer}`,
      '--initial-cluster',
      `cairn-testbed-${name}=http://127.0.0.1:${etcdPeer}`,
      '--unsafe-no-fsync',
      '--quota-backend-bytes',
      String(8 * 1024 ** 3),
    ],
    log: join(logs, 'etcd.log'),
  });
  processes.push(etcd);
  await waitUntil(`cluster ${name} etcd`, () => httpOk(`http://127.0.0.1:${etcdClient}/health`), {
    timeoutMs: 30_000,
    process: etcd,
  });

  log(`cluster ${name}: starting kube-apiserver on ${server}`);
  const apiserver = startProcess({
    name: `${name}/kube-apiserver`,
    command: join(binaries.kubernetes, 'kube-apiserver'),
    args: [
      `--etcd-servers=http://127.0.0.1:${etcdClient}`,
      `--cert-dir=${pkiDir}`,
      `--tls-cert-file=${pki.servingCert}`,
      `--tls-private-key-file=${pki.servingKey}`,
      `--client-ca-file=${pki.caCert}`,
      `--secure-port=${apiserverPort}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      '--service-cluster-ip-range=10.96.0.0/16',
      '--allow-privileged=true',
      '--authorization-mode=Node,RBAC',
      `--service-account-issuer=${server}`,
      `--service-account-key-file=${pki.serviceAccountPub}`,
      `--service-account-signing-key-file=${pki.serviceAccountKey}`,
      '--kubelet-preferred-address-types=InternalIP',
      `--kubelet-client-certificate=${kubeletClient.cert}`,
      `--kubelet-client-key=${kubeletClient.key}`,
      `--kubelet-certificate-authority=${pki.caCert}`,
      '--endpoint-reconciler-type=none',
      `--requestheader-client-ca-file=${pki.frontProxyCaCert}`,
      '--requestheader-allowed-names=front-proxy-client',
      '--requestheader-username-headers=X-Remote-User',
      '--requestheader-group-headers=X-Remote-Group',
      '--requestheader-extra-headers-prefix=X-Remote-Extra-',
      `--proxy-client-cert-file=${pki.frontProxyClientCert}`,
      `--proxy-client-key-file=${pki.frontProxyClientKey}`,
    ],
    log: join(logs, 'kube-apiserver.log'),
  });
  processes.push(apiserver);

  writeKubeconfig({
    file: state.kubeconfig,
    clusterName: `cairn-testbed-${name}`,
    server,
    caCert: pki.caCert,
    client: admin,
    user: 'cairn-testbed-admin',
  });
  const componentKubeconfig = (component: string, cert: { cert: string; key: string }, user: string) => {
    const file = join(dir, `${component}.kubeconfig`);
    writeKubeconfig({
      file,
      clusterName: `cairn-testbed-${name}`,
      server,
      caCert: pki.caCert,
      client: cert,
      user,
    });
    return file;
  };
  const kcmKubeconfig = componentKubeconfig(
    'kube-controller-manager',
    kcmCert,
    'system:kube-controller-manager',
  );
  const schedulerKubeconfig = componentKubeconfig('kube-scheduler', schedulerCert, 'system:kube-scheduler');

  await waitUntil(`cluster ${name} kube-apiserver`, () => httpsOk(`${server}/readyz`, pki.caCert), {
    timeoutMs: 90_000,
    process: apiserver,
  });

  log(`cluster ${name}: starting kube-controller-manager and kube-scheduler`);
  const kcm = startProcess({
    name: `${name}/kube-controller-manager`,
    command: join(binaries.kubernetes, 'kube-controller-manager'),
    args: [
      `--kubeconfig=${kcmKubeconfig}`,
      `--authentication-kubeconfig=${kcmKubeconfig}`,
      `--authorization-kubeconfig=${kcmKubeconfig}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${kcmPort}`,
      `--cert-dir=${join(dir, 'kcm-certs')}`,
      '--leader-elect=false',
      `--service-account-private-key-file=${pki.serviceAccountKey}`,
      `--root-ca-file=${pki.caCert}`,
      `--cluster-signing-cert-file=${pki.caCert}`,
      `--cluster-signing-key-file=${pki.caKey}`,
      '--use-service-account-credentials=true',
      '--controllers=*',
    ],
    log: join(logs, 'kube-controller-manager.log'),
  });
  processes.push(kcm);
  const scheduler = startProcess({
    name: `${name}/kube-scheduler`,
    command: join(binaries.kubernetes, 'kube-scheduler'),
    args: [
      `--kubeconfig=${schedulerKubeconfig}`,
      `--authentication-kubeconfig=${schedulerKubeconfig}`,
      `--authorization-kubeconfig=${schedulerKubeconfig}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${schedulerPort}`,
      `--cert-dir=${join(dir, 'scheduler-certs')}`,
      '--leader-elect=false',
    ],
    log: join(logs, 'kube-scheduler.log'),
  });
  processes.push(scheduler);

  await Promise.all([
    waitUntil(
      `cluster ${name} kube-controller-manager`,
      () => httpsOk(`https://127.0.0.1:${kcmPort}/healthz`),
      {
        timeoutMs: 60_000,
        process: kcm,
      },
    ),
    waitUntil(`cluster ${name} kube-scheduler`, () => httpsOk(`https://127.0.0.1:${schedulerPort}/healthz`), {
      timeoutMs: 60_000,
      process: scheduler,
    }),
  ]);
  // The controller-manager is really at work once it has created the default service account.
  await waitUntil(
    `cluster ${name} default service account`,
    async () => (await adminGet(state, '/api/v1/namespaces/default/serviceaccounts/default')).status === 200,
    { timeoutMs: 60_000, process: kcm },
  );
  log(`cluster ${name}: ready`);
  return state;
}

/** Whether the cluster's API server answers /readyz with its admin credentials. */
export async function clusterReady(state: ClusterState): Promise<boolean> {
  try {
    return (await adminGet(state, '/readyz')).status === 200;
  } catch {
    return false;
  }
}

export async function serverVersion(state: ClusterState): Promise<string> {
  const { body } = await adminGet(state, '/version');
  return (JSON.parse(body) as { gitVersion: string }).gitVersion;
}
