// `npm run -s testbed -- up|down|env|status [--clusters N] [--no-node]`
//
// up      builds what is missing (cached by version), starts what is not running, and prints only shell
//         exports on standard output: eval "$(npm run -s testbed -- up)". Progress goes to standard error.
// env     prints the same exports for the running testbed.
// down    stops every process the testbed started, by process id, and removes its state.
// status  says what runs.
import { execFileSync, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
  openSync,
  closeSync,
  unlinkSync,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { clusterReady, serverVersion, startCluster, type ClusterState } from './lib/cluster.ts';
import {
  absentMachineDirs,
  nodeStatus,
  removeMachineDirs,
  readNodeState,
  readSysctls,
  restoreSysctls,
  startNode,
  stopNode,
  type NodeState,
} from './lib/node.ts';
import { ensureClusterPki } from './lib/pki.ts';
import { isRunning, stopProcess, type ProcessRecord } from './lib/process.ts';
import { startAzurite, startFakeGcs, startMinio, type StoreState } from './lib/stores.ts';
import { recordedVeleroServers } from './lib/velero.ts';

const testbedDir = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(testbedDir, '..');
const stateDir = resolve(process.env.CAIRN_TESTBED_STATE ?? join(repoRoot, '.testbed'));
const stateFile = join(stateDir, 'state.json');
const clusterNames = ['a', 'b'];

interface TestbedState {
  version: 1;
  binaries: Record<string, string>;
  clusters: ClusterState[];
  stores: StoreState[];
  /** One real node per cluster (absent in a state written before nodes, or with --no-node). */
  nodes?: NodeState[];
  /** The kernel settings the kubelets change, as they were before the first node started. */
  sysctls?: Record<string, string>;
  /** Machine directories the nodes' programs create, that did not exist before the first node. */
  absentMachineDirs?: string[];
}

const log = (line: string) => process.stderr.write(`[testbed] ${line}\n`);

function readState(): TestbedState | undefined {
  if (!existsSync(stateFile)) return undefined;
  return JSON.parse(readFileSync(stateFile, 'utf8')) as TestbedState;
}

function writeState(state: TestbedState): void {
  mkdirSync(stateDir, { recursive: true });
  writeFileSync(`${stateFile}.tmp`, JSON.stringify(state, null, 2));
  execFileSync('mv', [`${stateFile}.tmp`, stateFile]);
}

/** One `up` or `down` at a time per state directory. */
async function withLock<T>(work: () => Promise<T>): Promise<T> {
  mkdirSync(stateDir, { recursive: true });
  const lock = join(stateDir, 'lock');
  const deadline = Date.now() + 15 * 60_000;
  for (;;) {
    try {
      closeSync(openSync(lock, 'wx'));
      writeFileSync(lock, String(process.pid));
      break;
    } catch {
      const holder = Number(readFileSync(lock, 'utf8') || '0');
      let alive: boolean;
      try {
        if (holder > 0) process.kill(holder, 0);
        alive = holder > 0;
      } catch {
        alive = false;
      }
      if (!alive) {
        unlinkSync(lock);
        continue;
      }
      if (Date.now() > deadline) throw new Error(`testbed is locked by pid ${holder} (${lock})`);
      await sleep(500);
    }
  }
  try {
    return await work();
  } finally {
    rmSync(lock, { force: true });
  }
}

function build(): Record<string, string> {
  const result = spawnSync('bash', [join(testbedDir, 'scripts', 'build.sh'), 'all'], {
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
  });
  if (result.status !== 0) throw new Error(`testbed build failed (exit ${result.status ?? result.signal})`);
  const binaries: Record<string, string> = {};
  for (const line of result.stdout.trim().split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) binaries[line.slice(0, eq)] = line.slice(eq + 1);
  }
  for (const name of [
    'kubernetes',
    'etcd',
    'minio',
    'fake-gcs-server',
    'helm',
    'node-tools',
    'csi-sidecars',
    'velero',
  ]) {
    if (!binaries[name]) throw new Error(`testbed build did not report ${name}`);
  }
  return binaries;
}

function allProcesses(state: TestbedState): ProcessRecord[] {
  return [
    ...state.clusters.flatMap((c) => c.processes),
    ...state.stores.map((s) => s.process),
    ...(state.nodes ?? []).flatMap((n) => n.processes),
  ];
}

const nodeDir = (cluster: string) => join(stateDir, `node-${cluster}`);

/** Every node this state directory knows of: the recorded ones, and any a crash left unrecorded. */
function knownNodes(state: TestbedState | undefined): NodeState[] {
  const nodes = [...(state?.nodes ?? [])];
  if (existsSync(stateDir)) {
    for (const entry of readdirSync(stateDir)) {
      if (!entry.startsWith('node-')) continue;
      const recorded = readNodeState(join(stateDir, entry));
      if (recorded && !nodes.some((n) => n.dir === recorded.dir)) nodes.push(recorded);
    }
  }
  return nodes;
}

async function stopNodes(nodes: NodeState[]): Promise<void> {
  for (const node of nodes) {
    await stopNode(node, log);
    rmSync(node.dir, { recursive: true, force: true });
  }
}

async function stopAll(processes: ProcessRecord[]): Promise<void> {
  await Promise.all(processes.map((p) => stopProcess(p)));
}

function required(binaries: Record<string, string>, name: string): string {
  const dir = binaries[name];
  if (!dir) throw new Error(`no ${name} binaries`);
  return dir;
}

async function up(clusterCount: number, withNodes: boolean): Promise<TestbedState> {
  if (!Number.isInteger(clusterCount) || clusterCount < 1 || clusterCount > clusterNames.length) {
    throw new Error(`--clusters must be 1 or 2, got ${clusterCount}`);
  }
  return withLock(async () => {
    const previous = readState();
    const binaries = build();
    const state: TestbedState = { version: 1, binaries, clusters: [], stores: [], nodes: [] };

    // Stores: keep the ones still running, start the rest.
    const storeStarters: Record<StoreState['name'], () => Promise<StoreState>> = {
      minio: () => startMinio({ dir: join(stateDir, 'minio'), bin: required(binaries, 'minio') }),
      azurite: () => startAzurite({ dir: join(stateDir, 'azurite') }),
      'fake-gcs-server': () =>
        startFakeGcs({ dir: join(stateDir, 'fake-gcs-server'), bin: required(binaries, 'fake-gcs-server') }),
    };
    const storesStarted = Promise.all(
      (Object.keys(storeStarters) as StoreState['name'][]).map(async (name) => {
        const running = previous?.stores.find((s) => s.name === name);
        if (running && isRunning(running.process)) return running;
        log(`starting ${name}`);
        return storeStarters[name]();
      }),
    );

    // Clusters: keep a cluster whose every process runs and whose API server answers; otherwise
    // stop what is left of it and start it afresh.
    const clustersStarted = Promise.all(
      clusterNames.slice(0, clusterCount).map(async (name) => {
        const running = previous?.clusters.find((c) => c.name === name);
        if (running && running.processes.every(isRunning) && (await clusterReady(running))) return running;
        if (running) {
          log(`cluster ${name}: not healthy, restarting it`);
          await stopNodes(knownNodes(previous).filter((n) => n.cluster === name));
          await stopAll(running.processes);
          rmSync(running.dir, { recursive: true, force: true });
        }
        return startCluster({
          name,
          dir: join(stateDir, `cluster-${name}`),
          binaries: { kubernetes: required(binaries, 'kubernetes'), etcd: required(binaries, 'etcd') },
          log,
        });
      }),
    );
    // Clusters beyond the requested count that already run are kept: `up` never stops anything.
    const extra = (previous?.clusters ?? []).filter(
      (c) => clusterNames.indexOf(c.name) >= clusterCount && c.processes.every(isRunning),
    );

    const results = await Promise.allSettled([storesStarted, clustersStarted]);
    const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (results[0].status === 'fulfilled') state.stores = results[0].value;
    if (results[1].status === 'fulfilled') state.clusters = [...results[1].value, ...extra];
    // Nodes that still run on a cluster that still runs are kept.
    if (previous?.sysctls) state.sysctls = previous.sysctls;
    if (previous?.absentMachineDirs) state.absentMachineDirs = previous.absentMachineDirs;
    state.nodes = knownNodes(previous).filter(
      (n) => n.processes.every(isRunning) && state.clusters.some((c) => c.name === n.cluster),
    );
    writeState(state);
    if (failure) throw failure.reason;
    if (withNodes) await upNodes(state);
    if (!hasRestic())
      log('warning: restic is not installed (apt-get install restic); tests that need it fail');
    return state;
  });
}

/** Starts a node for every cluster that has none; a node left half-started is cleaned up first. */
async function upNodes(state: TestbedState): Promise<void> {
  const missing = state.clusters.filter((c) => !state.nodes?.some((n) => n.cluster === c.name));
  if (missing.length === 0) return;
  const packages = spawnSync('bash', [join(testbedDir, 'scripts', 'node-packages.sh')], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (packages.status !== 0)
    throw new Error(`installing the node's Debian packages failed (exit ${packages.status})`);
  const stale = knownNodes(state).filter((n) => missing.some((c) => c.name === n.cluster));
  await stopNodes(stale);
  // Saved before the first kubelet of this testbed changes them.
  state.sysctls ??= readSysctls();
  state.absentMachineDirs ??= absentMachineDirs();
  writeState(state);
  const taken = new Set((state.nodes ?? []).map((n) => n.netIndex));
  const started = await Promise.allSettled(
    missing.map(async (cluster) => {
      const dir = nodeDir(cluster.name);
      rmSync(dir, { recursive: true, force: true });
      return startNode({
        cluster,
        dir,
        csiStorageDir: join(stateDir, 'csi-storage'),
        binaries: {
          kubernetes: required(state.binaries, 'kubernetes'),
          nodeTools: required(state.binaries, 'node-tools'),
          csiSidecars: required(state.binaries, 'csi-sidecars'),
        },
        pki: ensureClusterPki(join(cluster.dir, 'pki')),
        takenNetIndexes: taken,
        log,
      });
    }),
  );
  for (const result of started) if (result.status === 'fulfilled') state.nodes?.push(result.value);
  writeState(state);
  const failure = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failure) throw failure.reason;
}

function hasRestic(): boolean {
  return spawnSync('restic', ['version'], { stdio: 'ignore' }).status === 0;
}

function quote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

function exportsOf(state: TestbedState): string {
  const env: Record<string, string> = {};
  for (const store of state.stores) Object.assign(env, store.env);
  const [a, b] = state.clusters;
  if (a) env.KUBECONFIG = a.kubeconfig;
  if (b) env.KUBECONFIG_B = b.kubeconfig;
  env.CAIRN_TESTBED_STATE = stateDir;
  // Velero and its AWS plugin, run by the interoperability tests and the Velero benchmark (lib/velero.ts).
  if (state.binaries.velero) env.CAIRN_VELERO_DIR = state.binaries.velero;
  const lines = Object.entries(env).map(([k, v]) => `export ${k}=${quote(v)}`);
  // kubectl and helm first on PATH (a state written before helm was built has no helm entry).
  const bins = [state.binaries.kubernetes, state.binaries.helm].filter((dir) => dir !== undefined);
  if (bins.length > 0) lines.push(`export PATH=${quote(bins.join(':'))}:"$PATH"`);
  return lines.join('\n') + '\n';
}

async function down(): Promise<void> {
  await withLock(async () => {
    const state = readState();
    const nodes = knownNodes(state);
    if (nodes.length > 0) {
      await stopNodes(nodes);
      log(`stopped ${nodes.length} node(s)`);
    }
    if (state?.sysctls) restoreSysctls(state.sysctls);
    if (state?.absentMachineDirs) {
      const kept = removeMachineDirs(state.absentMachineDirs);
      if (kept.length > 0) log(`kept ${kept.join(', ')}: another program uses them`);
    }
    if (!state) {
      log('no testbed state; nothing to stop');
      return;
    }
    // Velero servers a killed test or benchmark left running (lib/velero.ts records each while it runs).
    const processes = [...recordedVeleroServers(stateDir), ...allProcesses(state)];
    await stopAll(processes);
    const survivors = processes.filter(isRunning);
    if (survivors.length > 0) throw new Error(`still running: ${survivors.map((p) => p.pid).join(', ')}`);
    log(`stopped ${processes.length} processes`);
  });
  rmSync(stateDir, { recursive: true, force: true });
}

async function status(): Promise<boolean> {
  const state = readState();
  if (!state) {
    process.stdout.write('testbed: not running\n');
    return false;
  }
  let healthy = true;
  const rows: string[][] = [['COMPONENT', 'PID', 'STATE', 'DETAIL']];
  for (const cluster of state.clusters) {
    const ready = await clusterReady(cluster);
    const version = ready ? await serverVersion(cluster) : '';
    for (const p of cluster.processes) {
      const running = isRunning(p);
      healthy &&= running;
      const detail = p.name.endsWith('kube-apiserver') ? `${cluster.server} ${version}`.trim() : '';
      rows.push([p.name, String(p.pid), running ? 'running' : 'stopped', detail]);
    }
    healthy &&= ready;
  }
  for (const node of state.nodes ?? []) {
    const cluster = state.clusters.find((c) => c.name === node.cluster);
    for (const p of node.processes) {
      const running = isRunning(p);
      healthy &&= running;
      rows.push([p.name, String(p.pid), running ? 'running' : 'stopped', '']);
    }
    const report = cluster
      ? await nodeStatus(node, cluster)
      : { ready: 'no cluster', runtime: '', images: [] };
    healthy &&= report.ready === 'Ready';
    rows.push([
      `${node.cluster}/node`,
      '-',
      report.ready,
      `${node.name} ${node.nodeIp} ${report.runtime} images: ${report.images.join(' ')}`.trim(),
    ]);
  }
  for (const store of state.stores) {
    const running = isRunning(store.process);
    healthy &&= running;
    rows.push([
      store.name,
      String(store.process.pid),
      running ? 'running' : 'stopped',
      `127.0.0.1:${store.port}`,
    ]);
  }
  const restic = spawnSync('restic', ['version'], { encoding: 'utf8' });
  rows.push(['restic', '-', restic.status === 0 ? 'installed' : 'missing', restic.stdout?.trim() ?? '']);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  for (const row of rows)
    process.stdout.write(
      row
        .map((c, i) => c.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd() + '\n',
    );
  return healthy;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  let clusters = 1;
  // The node is on by default; it needs root (network namespaces, mounts, cgroups). Without root, a
  // default `up` says so and goes on without it; an explicit --node is an error.
  let withNodes: boolean | undefined;
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i];
    if (arg === '--no-node') withNodes = false;
    else if (arg === '--node') withNodes = true;
    else if (arg === '--clusters') clusters = Number(rest[++i]);
    else if (arg?.startsWith('--clusters=')) clusters = Number(arg.slice('--clusters='.length));
    else throw new Error(`unknown argument ${arg}`);
  }
  switch (command) {
    case 'up': {
      const started = Date.now();
      const root = process.getuid?.() === 0;
      if (withNodes === true && !root)
        throw new Error(
          '--node needs root (network namespaces, mounts, cgroups); run as root or use --no-node',
        );
      if (withNodes === undefined && !root)
        log('no node: it needs root (network namespaces, mounts, cgroups); pods stay Pending');
      const state = await up(clusters, withNodes ?? root);
      process.stdout.write(exportsOf(state));
      log(`up in ${((Date.now() - started) / 1000).toFixed(1)}s`);
      return 0;
    }
    case 'env': {
      const state = readState();
      if (!state) throw new Error('the testbed is not running: npm run -s testbed -- up');
      process.stdout.write(exportsOf(state));
      return 0;
    }
    case 'down':
      await down();
      return 0;
    case 'status':
      return (await status()) ? 0 : 1;
    default:
      process.stderr.write(
        'usage: npm run -s testbed -- up [--clusters 1|2] [--no-node] | env | down | status\n',
      );
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (error: unknown) => {
    log(`error: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  },
);
