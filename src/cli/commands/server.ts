// `cairn server`: runs the controllers (in the cluster as a Deployment, or as a local process against a
// kubeconfig), with leader election so that several replicas can run and one works. Stops on SIGTERM or
// SIGINT: running work ends Failed with a reason and the lease is released.
import { hostname } from 'node:os';
import { readFile } from 'node:fs/promises';
import { Command } from 'commander';
import type { CliIO } from '../io.ts';
import { kubeConfigOf, parseDuration } from '../options.ts';
import { clientVersion } from '../version-info.ts';

interface ServerCommandOptions {
  namespace: string;
  metricsAddress: string;
  backupWorkers: number;
  identity?: string;
  clientQps: number;
  clientBurst: number;
  leaseDuration: number;
  renewDeadline: number;
  retryPeriod: number;
  gcInterval: number;
  repoMaintenanceInterval: number;
  restoreHelperImage: string;
  tlsCertFile?: string;
  tlsKeyFile?: string;
}

function parseWhole(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`expected a whole number above 0, got "${value}"`);
  return n;
}

/** `host:port` or `:port` (all interfaces). */
function parseAddress(value: string): { host: string; port: number } {
  const colon = value.lastIndexOf(':');
  const port = Number(value.slice(colon + 1));
  if (colon < 0 || !Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`--metrics-address "${value}": expected host:port or :port`);
  const host = value.slice(0, colon) || '0.0.0.0';
  return { host, port };
}

/** The listener's certificate and key, read once at start; both flags or neither. */
async function tlsOf(options: ServerCommandOptions): Promise<{ cert: Buffer; key: Buffer } | undefined> {
  if (!options.tlsCertFile !== !options.tlsKeyFile)
    throw new Error('--tls-cert-file and --tls-key-file go together: give both, or neither');
  if (!options.tlsCertFile || !options.tlsKeyFile) return undefined;
  const read = async (flag: string, file: string) => {
    try {
      return await readFile(file);
    } catch (error) {
      throw new Error(`${flag} ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, {
        cause: error,
      });
    }
  };
  return {
    cert: await read('--tls-cert-file', options.tlsCertFile),
    key: await read('--tls-key-file', options.tlsKeyFile),
  };
}

export function serverCommand(io: CliIO): Command {
  return new Command('server')
    .description(
      'Run the controllers: Backups, BackupLocations and the rest of cairn.dev/v1 in one namespace, with leader election',
    )
    .option('-n, --namespace <ns>', "the namespace of Cairn's resources, Lease and Secrets", 'cairn')
    .option('--metrics-address <host:port>', 'where /metrics, /healthz and /readyz listen', ':8085')
    .option(
      '--tls-cert-file <file>',
      'serve the listener over TLS with this certificate (PEM; with --tls-key-file)',
    )
    .option('--tls-key-file <file>', "the certificate's private key (PEM)")
    .option('--backup-workers <n>', 'backups run at once', parseWhole, 1)
    .option('--identity <name>', "this replica's name in the lease (default: <hostname>_<pid>)")
    .option('--client-qps <n>', 'requests per second to the API server', parseWhole, 100)
    .option('--client-burst <n>', 'requests the client may send at once', parseWhole, 200)
    .option('--lease-duration <duration>', 'how long a lease not renewed stays taken', parseDuration, 15_000)
    .option(
      '--renew-deadline <duration>',
      'how long the leader tries to renew before it stops leading',
      parseDuration,
      10_000,
    )
    .option('--retry-period <duration>', 'how often the lease is tried and renewed', parseDuration, 2_000)
    .option('--gc-interval <duration>', 'how often expired backups are collected', parseDuration, 3_600_000)
    .option(
      '--repo-maintenance-interval <duration>',
      "how often the locations' volume-data repositories are pruned",
      parseDuration,
      86_400_000,
    )
    .option(
      '--restore-helper-image <image>',
      'the image of the init container restored pods wait in until the node agent has filled their volumes (needs /bin/sh)',
      `ghcr.io/cairn-dev/cairn:v${clientVersion().replace(/^v/, '')}`,
    )
    .addHelpText(
      'after',
      `
Examples:
  cairn server                                   in the cluster (cairn install deploys it so)
  cairn server --kubeconfig ~/.kube/config -n cairn --metrics-address 127.0.0.1:8085
  curl -s localhost:8085/metrics | grep cairn_backup_
  cairn server --tls-cert-file /tls/tls.crt --tls-key-file /tls/tls.key    (HTTPS: tokens never in clear)

Endpoints: /healthz (200 while the process runs), /readyz (200 on the replica that leads, 503 on a
standby), /metrics (Prometheus text; docs/metrics.md), a backup's logs and results for authorized
bearer tokens, and the web dashboard under /ui/ (docs/dashboard.md). Bearer tokens travel on this
listener: outside a loopback address, serve it over TLS.`,
    )
    .action(async (options: ServerCommandOptions, command: Command) => {
      const { KubeClient } = await import('../../kube/index.ts');
      const { runServer } = await import('../../controller/index.ts');
      const { host, port } = parseAddress(options.metricsAddress);
      const tls = await tlsOf(options);
      const client = new KubeClient(await kubeConfigOf(io, command), {
        qps: options.clientQps,
        burst: options.clientBurst,
      });
      const stop = new AbortController();
      const onSignal = (name: string) => () => {
        io.stderr.write(`${new Date().toISOString()} ${name}: stopping\n`);
        stop.abort(new Error(`stopped by ${name}`));
      };
      const onTerm = onSignal('SIGTERM');
      const onInt = onSignal('SIGINT');
      process.once('SIGTERM', onTerm);
      process.once('SIGINT', onInt);
      const identity = options.identity ?? `${hostname()}_${process.pid}`;
      try {
        await runServer({
          client,
          namespace: options.namespace,
          identity,
          writer: `cairn server ${clientVersion()} (${identity})`,
          host,
          port,
          tls,
          backupWorkers: options.backupWorkers,
          leaseDurationMs: options.leaseDuration,
          renewDeadlineMs: options.renewDeadline,
          retryPeriodMs: options.retryPeriod,
          gcIntervalMs: options.gcInterval,
          repoMaintenanceIntervalMs: options.repoMaintenanceInterval,
          restoreHelperImage: options.restoreHelperImage,
          signal: stop.signal,
          log: (entry) => io.stderr.write(`${new Date().toISOString()} ${entry.level} ${entry.message}\n`),
          onListening: (address) =>
            io.stderr.write(
              `${new Date().toISOString()} info cairn server ${clientVersion()} (${identity}) in namespace ${options.namespace}, listening on ${address.host}:${address.port}${address.tls ? ' (TLS)' : ''}\n`,
            ),
        });
      } finally {
        process.off('SIGTERM', onTerm);
        process.off('SIGINT', onInt);
        client.close();
      }
    });
}

interface NodeAgentCommandOptions {
  namespace: string;
  node?: string;
  kubeletRoot: string;
  concurrency: number;
}

export function nodeAgentCommand(io: CliIO): Command {
  return new Command('node-agent')
    .description(
      "Carry out the PodVolumeBackups and PodVolumeRestores of this node: read and write pod volumes' files " +
        "where the kubelet mounts them, in the locations' volume-data repositories",
    )
    .option('-n, --namespace <ns>', "the server's namespace", 'cairn')
    .option('--node <name>', "this node's name (default: $NODE_NAME, then the host name)")
    .option(
      '--kubelet-root <dir>',
      "the kubelet's --root-dir (in a DaemonSet: where it is mounted)",
      '/var/lib/kubelet',
    )
    .option('--concurrency <n>', 'volumes carried out at once', parseWhole, 2)
    .addHelpText(
      'after',
      `
Examples:
  cairn node-agent                                       in a DaemonSet (cairn install deploys it so)
  cairn node-agent --node worker-1 --kubelet-root /var/lib/kubelet --kubeconfig ~/.kube/config

It announces itself with the Lease cairn-node-agent-<node> in the namespace: the server fails a volume at
once when no agent runs on its pod's node. See docs/volumes.md.`,
    )
    .action(async (options: NodeAgentCommandOptions, command: Command) => {
      const { KubeClient } = await import('../../kube/index.ts');
      const { runNodeAgent } = await import('../../controller/index.ts');
      const { setTimeout: sleep } = await import('node:timers/promises');
      const client = new KubeClient(await kubeConfigOf(io, command), {});
      const stop = new AbortController();
      const onSignal = (name: string) => () => {
        io.stderr.write(`${new Date().toISOString()} ${name}: stopping\n`);
        stop.abort(new Error(`stopped by ${name}`));
      };
      const onTerm = onSignal('SIGTERM');
      const onInt = onSignal('SIGINT');
      process.once('SIGTERM', onTerm);
      process.once('SIGINT', onInt);
      // restic's `unlock` sends SIGHUP to a lock's process on the same host: it must not stop the agent.
      const onHup = () => undefined;
      process.on('SIGHUP', onHup);
      try {
        await runNodeAgent({
          client,
          namespace: options.namespace,
          node: options.node ?? io.env.NODE_NAME ?? hostname(),
          kubeletRoot: options.kubeletRoot,
          concurrency: options.concurrency,
          now: () => new Date(),
          sleep: (ms, signal) => sleep(ms, undefined, { signal }),
          log: (entry) => io.stderr.write(`${new Date().toISOString()} ${entry.level} ${entry.message}\n`),
          signal: stop.signal,
        });
      } finally {
        process.off('SIGTERM', onTerm);
        process.off('SIGINT', onInt);
        process.off('SIGHUP', onHup);
      }
    });
}
