// The real Velero, run beside Cairn: its CRDs in a testbed cluster, `velero server` as a local process
// against that cluster and a MinIO bucket, and its CLI. Used by the interoperability tests (test/interop)
// and the Velero benchmark (bench/velero.ts). Velero (two release lines, as `velero-<version>`) and its AWS
// plugin are built by build.sh (`velero`); `testbed up` exports their directory as CAIRN_VELERO_DIR.
//
// Velero runs as it would in a cluster, with three differences a local process needs:
// - each server gets a namespace of its own (velero-<suffix>), removed when it stops, so that no run sees
//   another's Backup or Restore resources;
// - a Deployment named `velero` with no replicas is made in that namespace: Velero's restore controller
//   looks it up (restores fail with `deployments.apps "velero" not found` without it);
// - the AWS plugin reads MinIO's credentials from AWS_SHARED_CREDENTIALS_FILE in the server's environment.
// Only one Velero server runs on a machine at a time: it binds :8080 whatever its flags say.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, isRunning, startProcess, tcpOpen, type ProcessRecord } from './process.ts';

export interface VeleroOptions {
  /** Where build.sh put velero-<version> and plugins/ (CAIRN_VELERO_DIR). */
  veleroDir: string;
  /** Which of the built versions runs (veleroVersions). */
  version: string;
  kubeconfig: string;
  /** A directory for the server's log, credentials and the CLI's home. */
  workDir: string;
  bucket: string;
  prefix?: string;
  /** MinIO's endpoint, and its keys. */
  s3Url: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** The server's client QPS and burst (Velero's defaults when unset). */
  clientQps?: number;
  clientBurst?: number;
  /** How often the server syncs backups from the location (Velero's default 1m when unset). */
  backupSyncPeriod?: string;
  /**
   * The testbed's state directory (default $CAIRN_TESTBED_STATE): the server is recorded there while it runs,
   * so that `testbed down` stops one a killed test left behind.
   */
  stateDir?: string | undefined;
}

const recordPrefix = 'velero-server-';

/** The Velero servers recorded in a testbed state directory (started and not yet stopped). */
export function recordedVeleroServers(stateDir: string): ProcessRecord[] {
  let files: string[];
  try {
    files = readdirSync(stateDir).filter((f) => f.startsWith(recordPrefix) && f.endsWith('.json'));
  } catch {
    return [];
  }
  return files.map((f) => JSON.parse(readFileSync(join(stateDir, f), 'utf8')) as ProcessRecord);
}

export interface VeleroServer {
  version: string;
  namespace: string;
  process: ProcessRecord;
  log: string;
  /** Runs the velero CLI against this server's cluster and namespace; rejects on a non-zero exit. */
  cli(args: string[], timeoutMs?: number): Promise<string>;
  /** kubectl against the server's cluster. */
  kubectl(args: string[], input?: string): Promise<string>;
  /** Stops the server (and its plugins) and removes its namespace. */
  stop(): Promise<void>;
}

/** The Velero versions built into `veleroDir`, oldest first. */
export function veleroVersions(veleroDir: string): string[] {
  const versions = readdirSync(veleroDir)
    .filter((file) => /^velero-v\d+\.\d+\.\d+$/.test(file))
    .map((file) => file.slice('velero-'.length));
  const parts = (v: string) => v.slice(1).split('.').map(Number);
  return versions.sort((x, y) => {
    const [a, b] = [parts(x), parts(y)];
    return (a[0]! - b[0]!) * 1e6 + (a[1]! - b[1]!) * 1e3 + (a[2]! - b[2]!);
  });
}

function run(
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      command,
      args,
      { env: options.env ?? process.env, maxBuffer: 64 * 1024 * 1024, timeout: options.timeoutMs ?? 120_000 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`${command} ${args.join(' ')}: ${error.message}\n${stderr}${stdout}`));
        else resolve(stdout);
      },
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

/** Velero's CRDs, as `velero install --crds-only` makes them, applied to the cluster (idempotent). */
export async function installVeleroCrds(velero: string, kubeconfig: string, home: string): Promise<void> {
  const env = { ...process.env, HOME: home };
  const crds = await run(velero, ['install', '--crds-only', '--dry-run', '-o', 'yaml'], {
    env,
  });
  await run(
    'kubectl',
    ['--kubeconfig', kubeconfig, 'apply', '--server-side', '--force-conflicts', '-f', '-'],
    { input: crds },
  );
  await run('kubectl', [
    '--kubeconfig',
    kubeconfig,
    'wait',
    '--for=condition=Established',
    '--timeout=60s',
    'crd',
    '-l',
    'component=velero',
  ]);
}

/**
 * Starts `velero server` against the cluster of `kubeconfig`, with one BackupStorageLocation `default` on
 * the bucket, and resolves once that location is Available.
 */
export async function startVelero(options: VeleroOptions): Promise<VeleroServer> {
  if (await tcpOpen(8080))
    throw new Error(
      'port 8080 is taken: another Velero server (or something else) runs on this machine, and Velero binds it',
    );
  const velero = join(options.veleroDir, `velero-${options.version}`);
  const namespace = `velero-${randomBytes(3).toString('hex')}`;
  const home = join(options.workDir, `home-${namespace}`);
  mkdirSync(home, { recursive: true });
  const credentials = join(options.workDir, `credentials-${namespace}`);
  writeFileSync(
    credentials,
    `[default]\naws_access_key_id=${options.accessKeyId}\naws_secret_access_key=${options.secretAccessKey}\n`,
    { mode: 0o600 },
  );
  const kubectl = (args: string[], input?: string) =>
    run('kubectl', ['--kubeconfig', options.kubeconfig, ...args], input === undefined ? {} : { input });
  const cliEnv = { ...process.env, HOME: home };
  const cli = (args: string[], timeoutMs?: number) =>
    run(
      velero,
      [...args, '--kubeconfig', options.kubeconfig, '--namespace', namespace],
      timeoutMs === undefined ? { env: cliEnv } : { env: cliEnv, timeoutMs },
    );

  await installVeleroCrds(velero, options.kubeconfig, home);
  const config = { region: 'minio', s3ForcePathStyle: 'true', s3Url: options.s3Url };
  const manifests = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'velero', namespace, labels: { component: 'velero' } },
      spec: {
        replicas: 0,
        selector: { matchLabels: { component: 'velero' } },
        template: {
          metadata: { labels: { component: 'velero' } },
          spec: { containers: [{ name: 'velero', image: `velero/velero:${options.version}` }] },
        },
      },
    },
    {
      apiVersion: 'velero.io/v1',
      kind: 'BackupStorageLocation',
      metadata: { name: 'default', namespace },
      spec: {
        provider: 'aws',
        default: true,
        objectStorage: {
          bucket: options.bucket,
          ...(options.prefix !== undefined ? { prefix: options.prefix } : {}),
        },
        config,
      },
    },
  ];
  await kubectl(['apply', '-f', '-'], manifests.map((m) => JSON.stringify(m)).join('\n'));

  const log = join(options.workDir, `velero-server-${namespace}.log`);
  const metricsPort = await freePort();
  const profilerPort = await freePort();
  const args = [
    'server',
    '--kubeconfig',
    options.kubeconfig,
    '--namespace',
    namespace,
    '--plugin-dir',
    join(options.veleroDir, 'plugins'),
    '--metrics-address',
    `127.0.0.1:${metricsPort}`,
    '--profiler-address',
    `127.0.0.1:${profilerPort}`,
    '--log-format',
    'json',
    ...(options.clientQps !== undefined ? ['--client-qps', String(options.clientQps)] : []),
    ...(options.clientBurst !== undefined ? ['--client-burst', String(options.clientBurst)] : []),
    ...(options.backupSyncPeriod !== undefined ? ['--backup-sync-period', options.backupSyncPeriod] : []),
  ];
  const server = startProcess({
    name: 'velero',
    command: velero,
    args,
    log,
    env: { HOME: home, AWS_SHARED_CREDENTIALS_FILE: credentials },
  });
  const stateDir = options.stateDir ?? process.env.CAIRN_TESTBED_STATE;
  const record = stateDir ? join(stateDir, `${recordPrefix}${namespace}.json`) : undefined;
  if (record) writeFileSync(record, JSON.stringify(server));
  const stop = async () => {
    // The server leads its own process group (started detached): its plugins are in it too.
    if (isRunning(server)) {
      try {
        process.kill(-server.pid, 'SIGTERM');
      } catch {
        // gone already
      }
      const deadline = Date.now() + 10_000;
      while (isRunning(server) && Date.now() < deadline) await sleep(100);
      try {
        process.kill(-server.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    if (record) rmSync(record, { force: true });
    await kubectl(['delete', 'namespace', namespace, '--wait=false', '--ignore-not-found']).catch(
      () => undefined,
    );
  };
  try {
    const deadline = Date.now() + 120_000;
    for (;;) {
      if (!isRunning(server)) throw new Error(`velero server exited while starting; see ${log}`);
      const phase = await kubectl([
        '-n',
        namespace,
        'get',
        'backupstoragelocations.velero.io',
        'default',
        '-o',
        'jsonpath={.status.phase}',
      ]).catch(() => '');
      if (phase === 'Available') break;
      if (Date.now() > deadline)
        throw new Error(`velero's location was not Available after 120 s (phase "${phase}"); see ${log}`);
      await sleep(500);
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { version: options.version, namespace, process: server, log, cli, kubectl, stop };
}

/** The parts of a Velero Backup's or Restore's status the tests and the benchmark read. */
export interface VeleroStatus {
  phase?: string;
  errors?: number;
  warnings?: number;
  failureReason?: string;
  progress?: { totalItems?: number; itemsBackedUp?: number; itemsRestored?: number };
}

/** Waits for a Velero Backup or Restore to reach a final phase, and returns it. */
export async function veleroFinished(
  server: VeleroServer,
  kind: 'backups' | 'restores',
  name: string,
  timeoutMs = 600_000,
): Promise<{ status?: VeleroStatus }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = await server
      .kubectl(['-n', server.namespace, 'get', `${kind}.velero.io`, name, '-o', 'json'])
      .catch(() => undefined);
    const object = text === undefined ? undefined : (JSON.parse(text) as { status?: VeleroStatus });
    const phase = object?.status?.phase;
    if (object && phase && !['New', 'InProgress', 'WaitingForPluginOperations', 'Finalizing'].includes(phase))
      return object;
    if (Date.now() > deadline)
      throw new Error(`velero ${kind} ${name} still ${phase ?? 'not found'} after ${timeoutMs / 1000} s`);
    await sleep(250);
  }
}
