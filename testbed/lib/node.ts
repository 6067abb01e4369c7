// One real node for a testbed cluster: containerd and runc (Debian's packages) on private paths, a CNI
// bridge of its own, a kubelet with certificates from the cluster's CA, the images it runs imported
// from tarballs made here, and storage: a per-claim `local` PV provisioner and a CSI driver with the
// external provisioner, snapshotter and snapshot controller.
//
// Everything the node creates on the machine is named by its network index N (chosen free at start):
// the bridge `cairnbrN` with the node's address 10.244.N.1 (nothing else listens on or sends to an
// address the testbed did not create), the cgroup root `/cairn-testbed-N`, the CNI network
// `cairn-testbed-N`. Everything else lives under the node's directory. `stopNode` removes all of it,
// also after a crash (stale pids, mounts left behind): it works from the recorded state only.
import { execFileSync, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { adminGet, type ClusterState } from './cluster.ts';
import { BUSYBOX_IMAGE, PAUSE_IMAGE, testbedImages, writeImageTarball } from './images.ts';
import { ensureClientCert, ensureServingCert, writeKubeconfig, type ClusterPki } from './pki.ts';
import { freePort, isRunning, startProcess, stopProcess, waitUntil, type ProcessRecord } from './process.ts';

export interface NodeBinaries {
  kubernetes: string;
  nodeTools: string;
  csiSidecars: string;
}

export interface NodeState {
  cluster: string;
  /** The Node's name (and the kubelet's hostname override). */
  name: string;
  dir: string;
  rootDir: string;
  netIndex: number;
  bridge: string;
  nodeIp: string;
  subnet: string;
  network: string;
  cgroupRoot: string;
  containerdSock: string;
  kubeletPort: number;
  healthzPort: number;
  /**
   * The CSI driver's data directory: one for every node of the testbed, as one storage system that the
   * clusters reach (two clusters in one cloud account), so a snapshot taken in one cluster can be restored
   * in another through its handle. Unset (older state): the node's own.
   */
  csiStorageDir?: string;
  processes: ProcessRecord[];
}

/** The names tests and users refer to. */
export const NODE_STORAGE = {
  localClass: 'testbed-local',
  localProvisioner: 'testbed.cairn.dev/local',
  csiClass: 'testbed-csi',
  csiDriver: 'csi.testbed.cairn.dev',
  snapshotClass: 'testbed-csi',
} as const;

/** Machine-wide kernel settings the kubelet changes at start; saved at `up`, restored at `down`. */
export const KUBELET_SYSCTLS = ['vm/overcommit_memory', 'kernel/panic', 'kernel/panic_on_oops'] as const;

export function readSysctls(): Record<string, string> {
  return Object.fromEntries(
    KUBELET_SYSCTLS.map((key) => [key, readFileSync(`/proc/sys/${key}`, 'utf8').trim()]),
  );
}

export function restoreSysctls(saved: Record<string, string>): void {
  for (const [key, value] of Object.entries(saved)) {
    if (readFileSync(`/proc/sys/${key}`, 'utf8').trim() !== value) writeFileSync(`/proc/sys/${key}`, value);
  }
}

function run(command: string, args: string[], input?: string): string {
  const result = spawnSync(command, args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
  if (result.error) throw new Error(`${command} ${args.join(' ')}: ${result.error.message}`);
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} exited ${result.status}: ${result.stderr.trim()}`);
  }
  return result.stdout;
}

/** The lowest network index whose bridge and subnet no interface on this machine uses. */
function pickNetIndex(taken: Set<number>): number {
  const links = run('ip', ['-o', 'link', 'show']);
  const addresses = run('ip', ['-o', '-4', 'addr', 'show']);
  for (let n = 100; n < 200; n++) {
    if (taken.has(n)) continue;
    if (links.includes(`cairnbr${n}:`) || links.includes(`cairnbr${n}@`)) continue;
    if (addresses.includes(` 10.244.${n}.`)) continue;
    return n;
  }
  throw new Error('no free testbed node network: bridges cairnbr100..cairnbr199 all exist');
}

function cgroupMounts(): string[] {
  const mounts: string[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const fsType = line.slice(sep + 3).split(' ')[0];
    if (fsType === 'cgroup' || fsType === 'cgroup2') mounts.push(unescapeMount(line.split(' ')[4] ?? ''));
  }
  return mounts;
}

function unescapeMount(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/** Creates the kubelet's cgroup root in every hierarchy (cpuset gets its parent's cpus and mems). */
function createCgroupRoot(root: string): void {
  for (const mount of cgroupMounts()) {
    const dir = join(mount, root);
    mkdirSync(dir, { recursive: true });
    if (existsSync(join(mount, 'cpuset.cpus')) && existsSync(join(dir, 'cpuset.cpus'))) {
      for (const file of ['cpuset.cpus', 'cpuset.mems']) {
        if (readFileSync(join(dir, file), 'utf8').trim() === '') {
          writeFileSync(join(dir, file), readFileSync(join(mount, file), 'utf8').trim());
        }
      }
    }
  }
}

/** Every process in the cgroup tree `root`, in any hierarchy. */
function cgroupProcesses(root: string): number[] {
  const pids = new Set<number>();
  const walk = (dir: string) => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    try {
      for (const pid of readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n')) {
        if (pid) pids.add(Number(pid));
      }
    } catch {
      // not a cgroup directory
    }
    for (const entry of entries) if (entry.isDirectory()) walk(join(dir, entry.name));
  };
  for (const mount of cgroupMounts()) walk(join(mount, root));
  return [...pids];
}

/** Removes the cgroup tree `root` in every hierarchy, deepest first. */
function removeCgroupTree(root: string): string[] {
  const left: string[] = [];
  const remove = (dir: string) => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) if (entry.isDirectory()) remove(join(dir, entry.name));
    try {
      rmdirSync(dir);
    } catch (error) {
      left.push(`${dir} (${(error as NodeJS.ErrnoException).code})`);
    }
  };
  for (const mount of cgroupMounts()) remove(join(mount, root));
  return left;
}

/** Mount points at or under `dir`, deepest first. */
export function mountsUnder(dir: string): string[] {
  const points = new Set<string>();
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const point = unescapeMount(line.split(' ')[4] ?? '');
    if (point === dir || point.startsWith(`${dir}/`)) points.add(point);
  }
  return [...points].sort((a, b) => b.length - a.length);
}

async function unmountAll(dir: string): Promise<void> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const points = mountsUnder(dir);
    if (points.length === 0) return;
    for (const point of points) {
      if (spawnSync('umount', [point], { stdio: 'ignore' }).status !== 0) {
        spawnSync('umount', ['-l', point], { stdio: 'ignore' });
      }
    }
    await sleep(100);
  }
  throw new Error(`could not unmount: ${mountsUnder(dir).join(', ')}`);
}

function kill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

/** The runtime v2 bundles of the node's containerd: container ids and shim socket files. */
function shimBundles(state: NodeState): { id: string; socket: string | undefined }[] {
  const tasks = join(state.dir, 'containerd', 'run', 'io.containerd.runtime.v2.task');
  const bundles: { id: string; socket: string | undefined }[] = [];
  if (!existsSync(tasks)) return bundles;
  for (const ns of readdirSync(tasks)) {
    for (const id of readdirSync(join(tasks, ns))) {
      let address: string | undefined;
      try {
        address = readFileSync(join(tasks, ns, id, 'address'), 'utf8').trim();
      } catch {
        address = undefined;
      }
      bundles.push({
        id,
        socket: address?.startsWith('unix://') ? address.slice('unix://'.length) : undefined,
      });
    }
  }
  return bundles;
}

/** The shim processes of the node's containerd: their command line names its socket. */
function shimPids(state: NodeState): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (argv[0]?.includes('containerd-shim') && argv.includes(state.containerdSock))
        pids.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

function yamlDoc(object: unknown): string {
  return JSON.stringify(object);
}

function kubectl(binaries: NodeBinaries, kubeconfig: string, args: string[], input?: string): string {
  return run(join(binaries.kubernetes, 'kubectl'), ['--kubeconfig', kubeconfig, ...args], input);
}

async function nodeCondition(cluster: ClusterState, name: string): Promise<string | undefined> {
  const { status, body } = await adminGet(cluster, `/api/v1/nodes/${name}`);
  if (status !== 200) return undefined;
  const node = JSON.parse(body) as { status?: { conditions?: { type: string; status: string }[] } };
  return node.status?.conditions?.find((c) => c.type === 'Ready')?.status;
}

export async function startNode(options: {
  cluster: ClusterState;
  dir: string;
  /** The CSI storage every node shares (NodeState.csiStorageDir). */
  csiStorageDir?: string;
  binaries: NodeBinaries;
  pki: ClusterPki;
  takenNetIndexes: Set<number>;
  log: (line: string) => void;
}): Promise<NodeState> {
  const { cluster, dir, binaries, pki, log } = options;
  const netIndex = pickNetIndex(options.takenNetIndexes);
  const state: NodeState = {
    cluster: cluster.name,
    name: `testbed-${cluster.name}`,
    dir,
    rootDir: join(dir, 'kubelet'),
    ...(options.csiStorageDir ? { csiStorageDir: options.csiStorageDir } : {}),
    netIndex,
    bridge: `cairnbr${netIndex}`,
    nodeIp: `10.244.${netIndex}.1`,
    subnet: `10.244.${netIndex}.0/24`,
    network: `cairn-testbed-${netIndex}`,
    cgroupRoot: `/cairn-testbed-${netIndex}`,
    containerdSock: join(dir, 'containerd', 'run', 'containerd.sock'),
    kubeletPort: 0,
    healthzPort: 0,
    processes: [],
  };
  const logs = join(dir, 'logs');
  for (const sub of [
    'logs',
    'containerd/run',
    'containerd/root',
    'cni/net.d',
    'cni/ipam',
    'images',
    'pod-logs',
  ]) {
    mkdirSync(join(dir, sub), { recursive: true });
  }
  mkdirSync(state.rootDir, { recursive: true });
  // Written before anything is created on the machine, so that a failed start can be cleaned up.
  writeFileSync(join(dir, 'node.json'), JSON.stringify(state, null, 2));

  log(`node ${state.name}: bridge ${state.bridge} ${state.nodeIp}/24, cgroup root ${state.cgroupRoot}`);
  run('ip', ['link', 'add', state.bridge, 'type', 'bridge']);
  run('ip', ['addr', 'add', `${state.nodeIp}/24`, 'dev', state.bridge]);
  run('ip', ['link', 'set', state.bridge, 'up']);
  createCgroupRoot(state.cgroupRoot);

  // containerd: private root, state, socket and runc root. Pulls go to a closed loopback port, so an
  // image that was not imported fails at once instead of reaching for a registry.
  writeFileSync(
    join(dir, 'containerd', 'config.toml'),
    [
      'version = 2',
      `root = ${JSON.stringify(join(dir, 'containerd', 'root'))}`,
      `state = ${JSON.stringify(join(dir, 'containerd', 'run'))}`,
      '[grpc]',
      `  address = ${JSON.stringify(state.containerdSock)}`,
      '[plugins."io.containerd.grpc.v1.cri"]',
      `  sandbox_image = "${PAUSE_IMAGE}"`,
      '  restrict_oom_score_adj = true',
      '  netns_mounts_under_state_dir = true',
      '  stream_server_address = "127.0.0.1"',
      '  stream_server_port = "0"',
      '  [plugins."io.containerd.grpc.v1.cri".containerd]',
      '    snapshotter = "overlayfs"',
      '    default_runtime_name = "runc"',
      '    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]',
      '      runtime_type = "io.containerd.runc.v2"',
      '      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]',
      '        SystemdCgroup = false',
      `        Root = ${JSON.stringify(join(dir, 'containerd', 'runc'))}`,
      '  [plugins."io.containerd.grpc.v1.cri".cni]',
      '    bin_dir = "/usr/lib/cni"',
      `    conf_dir = ${JSON.stringify(join(dir, 'cni', 'net.d'))}`,
      '',
    ].join('\n'),
  );
  writeFileSync(
    join(dir, 'cni', 'net.d', '10-testbed.conflist'),
    JSON.stringify(
      {
        cniVersion: '0.4.0',
        name: state.network,
        plugins: [
          {
            type: 'bridge',
            bridge: state.bridge,
            isGateway: true,
            isDefaultGateway: false,
            ipMasq: false,
            hairpinMode: false,
            ipam: {
              type: 'host-local',
              ranges: [[{ subnet: state.subnet, gateway: state.nodeIp }]],
              dataDir: join(dir, 'cni', 'ipam'),
            },
          },
          { type: 'loopback' },
        ],
      },
      null,
      2,
    ),
  );
  log(`node ${state.name}: starting containerd`);
  const closedProxy = `http://127.0.0.1:${await freePort()}`;
  const containerd = startProcess({
    name: `${cluster.name}/containerd`,
    command: 'containerd',
    args: ['--config', join(dir, 'containerd', 'config.toml')],
    log: join(logs, 'containerd.log'),
    env: { HTTPS_PROXY: closedProxy, HTTP_PROXY: closedProxy, NO_PROXY: '', https_proxy: '', http_proxy: '' },
  });
  state.processes.push(containerd);
  const ctr = (args: string[]) =>
    run('ctr', ['--address', state.containerdSock, '--namespace', 'k8s.io', ...args]);
  await waitUntil(
    `node ${state.name} containerd`,
    () => Promise.resolve(existsSync(state.containerdSock) && !!ctr(['version'])),
    {
      timeoutMs: 30_000,
      process: containerd,
    },
  );

  const images = testbedImages({ pause: join(binaries.nodeTools, 'pause'), busybox: '/bin/busybox' });
  for (const image of images) {
    const file = join(dir, 'images', `${image.name.replace(/[^a-z0-9.-]+/g, '_')}.tar`);
    writeImageTarball(image, join(dir, 'images', 'work'), file);
    ctr(['images', 'import', file]);
  }
  rmSync(join(dir, 'images', 'work'), { recursive: true, force: true });
  const imported = ctr(['images', 'ls', '-q']);
  for (const image of images) {
    if (!imported.includes(image.name))
      throw new Error(`node ${state.name}: image ${image.name} not imported`);
  }

  // The kubelet: its own client certificate (system:node:<name>), a serving certificate for its address,
  // webhook authentication and authorization (the API server's kubelet client is in system:masters).
  const clientCert = ensureClientCert(pki, `kubelet-${state.name}`, `system:node:${state.name}`, [
    'system:nodes',
  ]);
  const servingCert = ensureServingCert(
    pki,
    `kubelet-${state.name}-serving`,
    { CN: state.name },
    {
      ips: [state.nodeIp, '127.0.0.1'],
      dns: [state.name],
    },
  );
  const kubeletKubeconfig = join(dir, 'kubelet.kubeconfig');
  writeKubeconfig({
    file: kubeletKubeconfig,
    clusterName: `cairn-testbed-${cluster.name}`,
    server: cluster.server,
    caCert: pki.caCert,
    client: clientCert,
    user: `system:node:${state.name}`,
  });
  [state.kubeletPort, state.healthzPort] = await Promise.all([freePort(), freePort()]);
  writeFileSync(join(dir, 'resolv.conf'), 'nameserver 127.0.0.1\n');
  const kubeletConfig = {
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    address: state.nodeIp,
    port: state.kubeletPort,
    readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1',
    healthzPort: state.healthzPort,
    authentication: {
      anonymous: { enabled: false },
      webhook: { enabled: true },
      x509: { clientCAFile: pki.caCert },
    },
    authorization: { mode: 'Webhook' },
    tlsCertFile: servingCert.cert,
    tlsPrivateKeyFile: servingCert.key,
    cgroupDriver: 'cgroupfs',
    cgroupRoot: state.cgroupRoot,
    failCgroupV1: false,
    failSwapOn: false,
    containerRuntimeEndpoint: `unix://${state.containerdSock}`,
    imageServiceEndpoint: `unix://${state.containerdSock}`,
    evictionHard: { 'memory.available': '0%', 'nodefs.available': '0%', 'imagefs.available': '0%' },
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    resolvConf: join(dir, 'resolv.conf'),
    podLogsDir: join(dir, 'pod-logs'),
    volumePluginDir: join(dir, 'volume-plugins'),
    clusterDomain: 'cluster.local',
    serializeImagePulls: false,
    registerNode: true,
    // The kubelet reports itself often enough that tests see pods start promptly.
    nodeStatusReportFrequency: '10s',
  };
  writeFileSync(join(dir, 'kubelet-config.yaml'), yamlDoc(kubeletConfig));
  log(`node ${state.name}: starting kubelet on ${state.nodeIp}:${state.kubeletPort}`);
  const kubelet = startProcess({
    name: `${cluster.name}/kubelet`,
    command: join(binaries.kubernetes, 'kubelet'),
    args: [
      `--config=${join(dir, 'kubelet-config.yaml')}`,
      `--kubeconfig=${kubeletKubeconfig}`,
      `--root-dir=${state.rootDir}`,
      `--cert-dir=${join(dir, 'kubelet-pki')}`,
      `--hostname-override=${state.name}`,
      `--node-ip=${state.nodeIp}`,
      '--v=1',
    ],
    log: join(logs, 'kubelet.log'),
  });
  state.processes.push(kubelet);
  writeFileSync(join(dir, 'node.json'), JSON.stringify(state, null, 2));

  await startStorage({ state, cluster, binaries, log });
  await waitUntil(
    `node ${state.name} Ready`,
    async () => (await nodeCondition(cluster, state.name)) === 'True',
    {
      timeoutMs: 90_000,
      process: kubelet,
    },
  );
  // The CSI driver registered itself with the kubelet: CSINode lists it.

  await waitUntil(
    `node ${state.name}: CSI driver ${NODE_STORAGE.csiDriver} registered`,
    async () => {
      const { status, body } = await adminGet(cluster, `/apis/storage.k8s.io/v1/csinodes/${state.name}`);
      return status === 200 && body.includes(`"${NODE_STORAGE.csiDriver}"`);
    },
    { timeoutMs: 60_000 },
  );
  writeFileSync(join(dir, 'node.json'), JSON.stringify(state, null, 2));
  log(`node ${state.name}: Ready`);
  return state;
}

async function startStorage(options: {
  state: NodeState;
  cluster: ClusterState;
  binaries: NodeBinaries;
  log: (line: string) => void;
}): Promise<void> {
  const { state, cluster, binaries, log } = options;
  const logs = join(state.dir, 'logs');
  const kubeconfig = cluster.kubeconfig;
  const crds = join(binaries.csiSidecars, 'crds');
  kubectl(binaries, kubeconfig, ['apply', '--server-side', '-f', crds]);
  kubectl(binaries, kubeconfig, ['wait', '--for=condition=Established', '--timeout=60s', '-f', crds]);
  const objects = [
    {
      apiVersion: 'storage.k8s.io/v1',
      kind: 'StorageClass',
      metadata: { name: NODE_STORAGE.localClass },
      provisioner: NODE_STORAGE.localProvisioner,
      reclaimPolicy: 'Delete',
      volumeBindingMode: 'WaitForFirstConsumer',
    },
    {
      apiVersion: 'storage.k8s.io/v1',
      kind: 'CSIDriver',
      metadata: { name: NODE_STORAGE.csiDriver },
      spec: { attachRequired: false, podInfoOnMount: false, volumeLifecycleModes: ['Persistent'] },
    },
    {
      apiVersion: 'storage.k8s.io/v1',
      kind: 'StorageClass',
      metadata: { name: NODE_STORAGE.csiClass },
      provisioner: NODE_STORAGE.csiDriver,
      reclaimPolicy: 'Delete',
      volumeBindingMode: 'Immediate',
    },
    {
      apiVersion: 'snapshot.storage.k8s.io/v1',
      kind: 'VolumeSnapshotClass',
      metadata: {
        name: NODE_STORAGE.snapshotClass,
        labels: {
          'cairn.dev/csi-volumesnapshot-class': 'true',
          'velero.io/csi-volumesnapshot-class': 'true',
        },
      },
      driver: NODE_STORAGE.csiDriver,
      deletionPolicy: 'Delete',
    },
  ];
  kubectl(
    binaries,
    kubeconfig,
    ['apply', '--server-side', '-f', '-'],
    JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }),
  );

  const csiDir = join(state.dir, 'csi');
  mkdirSync(csiDir, { recursive: true });
  const csiSock = join(csiDir, 'csi.sock');
  const start = (name: string, command: string, args: string[]) => {
    const record = startProcess({
      name: `${cluster.name}/${name}`,
      command,
      args,
      log: join(logs, `${name}.log`),
    });
    state.processes.push(record);
    return record;
  };
  log(`node ${state.name}: starting the CSI driver, its sidecars and the local provisioner`);
  const driver = start('cairn-csi', join(binaries.nodeTools, 'cairn-csi'), [
    `--endpoint=unix://${csiSock}`,
    `--driver-name=${NODE_STORAGE.csiDriver}`,
    `--node-id=${state.name}`,
    `--data-dir=${state.csiStorageDir ?? join(csiDir, 'data')}`,
    `--registration-dir=${join(state.rootDir, 'plugins_registry')}`,
  ]);
  await waitUntil(`node ${state.name} CSI driver socket`, () => Promise.resolve(existsSync(csiSock)), {
    timeoutMs: 30_000,
    process: driver,
  });
  start('csi-provisioner', join(binaries.csiSidecars, 'csi-provisioner'), [
    `--csi-address=${csiSock}`,
    `--kubeconfig=${kubeconfig}`,
    '--leader-election=false',
    '--v=2',
  ]);
  start('csi-snapshotter', join(binaries.csiSidecars, 'csi-snapshotter'), [
    `--csi-address=${csiSock}`,
    `--kubeconfig=${kubeconfig}`,
    '--leader-election=false',
    '--v=2',
  ]);
  start('snapshot-controller', join(binaries.csiSidecars, 'snapshot-controller'), [
    `--kubeconfig=${kubeconfig}`,
    // It serves the whole cluster: with a lease, a second one (a test's) takes turns instead of racing.
    // A leader that misses its renew deadline exits (client-go's rule): on two loaded cores the default
    // 10 s was missed once and the cluster was left with no snapshot controller, so the deadlines are long.
    '--leader-election=true',
    '--leader-election-namespace=kube-system',
    '--leader-election-lease-duration=90s',
    '--leader-election-renew-deadline=60s',
    '--leader-election-retry-period=5s',
    '--v=2',
  ]);
  start('local-provisioner', join(binaries.nodeTools, 'local-provisioner'), [
    `--kubeconfig=${kubeconfig}`,
    `--provisioner-name=${NODE_STORAGE.localProvisioner}`,
    `--node-name=${state.name}`,
    `--base-dir=${join(state.dir, 'local-volumes')}`,
  ]);
}

export function readNodeState(dir: string): NodeState | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, 'node.json'), 'utf8')) as NodeState;
  } catch {
    return undefined;
  }
}

/**
 * Stops the node and removes everything it made on the machine: kubelet first (so nothing restarts),
 * every process in its cgroup tree, the shims, containerd, the storage processes; then every mount under
 * its directory, the bridge, the cgroup tree, the kubelet's container-log links and CNI's cached results.
 * Works from the recorded state alone, so it also cleans up after a crash.
 */
export async function stopNode(state: NodeState, log: (line: string) => void): Promise<void> {
  const byName = (suffix: string) => state.processes.filter((p) => p.name.endsWith(`/${suffix}`));
  for (const p of byName('kubelet')) await stopProcess(p);
  const shims = shimBundles(state);
  for (let attempt = 0; attempt < 50; attempt++) {
    const pids = cgroupProcesses(state.cgroupRoot);
    if (pids.length === 0) break;
    for (const pid of pids) kill(pid, 'SIGKILL');
    await sleep(100);
  }
  for (const pid of shimPids(state)) kill(pid, 'SIGKILL');
  await Promise.all(state.processes.filter((p) => isRunning(p)).map((p) => stopProcess(p)));
  for (const shim of shims) if (shim.socket) rmSync(shim.socket, { force: true });

  await unmountAll(state.dir);
  if (run('ip', ['-o', 'link', 'show']).includes(`${state.bridge}:`))
    run('ip', ['link', 'del', state.bridge]);
  let left: string[] = [];
  for (let attempt = 0; attempt < 50; attempt++) {
    left = removeCgroupTree(state.cgroupRoot);
    if (left.length === 0) break;
    await sleep(100);
  }
  if (left.length > 0) throw new Error(`node ${state.name}: cgroups left: ${left.join(', ')}`);
  // The kubelet links each container's log into /var/log/containers (a fixed path): remove our links.
  const containerLogs = '/var/log/containers';
  if (existsSync(containerLogs)) {
    for (const entry of readdirSync(containerLogs)) {
      const link = join(containerLogs, entry);
      try {
        if (readlinkSync(link).startsWith(`${state.dir}/`)) rmSync(link, { force: true });
      } catch {
        // not a link
      }
    }
  }
  const cniResults = '/var/lib/cni/results';
  if (existsSync(cniResults)) {
    for (const entry of readdirSync(cniResults)) {
      // `<network>-<sandbox id>-<interface>`, and the runtime's own loopback network's.
      const ours = entry.startsWith(`${state.network}-`) || shims.some((b) => entry.includes(`-${b.id}-`));
      if (ours) rmSync(join(cniResults, entry), { force: true });
    }
  }
  log(`node ${state.name}: stopped and cleaned up`);
}

/**
 * Fixed paths outside the node's directory that the kubelet, containerd and CNI create whatever they are
 * told (the kubelet's device-plugin socket, the shims' socket directory, CNI's result cache, the
 * container-log links), deepest first. `up` records which were absent; the last `down` removes those,
 * when empty.
 */
export const MACHINE_DIRS = [
  '/var/lib/kubelet/device-plugins',
  '/var/lib/kubelet',
  '/run/containerd/s',
  '/run/containerd',
  '/var/lib/cni/results',
  '/var/lib/cni',
  '/var/log/containers',
] as const;

export function absentMachineDirs(): string[] {
  return MACHINE_DIRS.filter((dir) => !existsSync(dir));
}

/** Removes the machine directories that were absent before the testbed's nodes, if nothing else uses them. */
export function removeMachineDirs(absent: string[]): string[] {
  const kept: string[] = [];
  for (const dir of MACHINE_DIRS) {
    if (!absent.includes(dir) || !existsSync(dir)) continue;
    if (dir === '/var/lib/kubelet/device-plugins') rmSync(join(dir, 'kubelet.sock'), { force: true });
    try {
      rmdirSync(dir);
    } catch {
      kept.push(dir);
    }
  }
  return kept;
}

export async function nodeStatus(
  state: NodeState,
  cluster: ClusterState,
): Promise<{ ready: string; runtime: string; images: string[] }> {
  let ready: string;
  let runtime = '';
  try {
    const { status, body } = await adminGet(cluster, `/api/v1/nodes/${state.name}`);
    if (status === 200) {
      const node = JSON.parse(body) as {
        status?: {
          conditions?: { type: string; status: string }[];
          nodeInfo?: { containerRuntimeVersion?: string };
        };
      };
      const condition = node.status?.conditions?.find((c) => c.type === 'Ready')?.status;
      ready = condition === 'True' ? 'Ready' : condition === undefined ? 'unknown' : 'NotReady';
      runtime = node.status?.nodeInfo?.containerRuntimeVersion ?? '';
    } else ready = 'not registered';
  } catch {
    ready = 'unreachable';
  }
  let images: string[];
  try {
    images = execFileSync(
      'ctr',
      ['--address', state.containerdSock, '--namespace', 'k8s.io', 'images', 'ls', '-q'],
      {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      },
    )
      .split('\n')
      .filter((line) => line !== '' && !line.startsWith('sha256:'));
  } catch {
    images = [];
  }
  return { ready, runtime, images };
}

export { BUSYBOX_IMAGE, PAUSE_IMAGE };
