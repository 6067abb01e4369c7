// `cairn server`: runs the controllers (in the cluster as a Deployment, or as a local process against a
// kubeconfig), with leader election so that several replicas can run and one works. Stops on SIGTERM or
// SIGINT: running work ends Failed with a reason and the lease is released.
import { hostname } from 'node:os';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { Command, InvalidArgumentError } from 'commander';
import type { CliIO } from '../io.ts';
import { existingFile, kubeConfigOf, namespaceName, objectName, parseDuration } from '../options.ts';
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
  /** False with --no-restore-access-checks. */
  restoreAccessChecks: boolean;
  tlsCertFile?: string;
  tlsKeyFile?: string;
  tlsSan: string[];
  insecureHttp?: boolean;
  advertiseUrl?: string;
}

function parseWhole(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number above 0');
  return n;
}

/** --advertise-url: an http(s) URL (an origin, and perhaps a path prefix), without its trailing slash. */
function parseAdvertiseUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError(`"${value}" is not a URL (e.g. https://cairn.cairn.svc:8085)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new InvalidArgumentError(`"${value}": the URL must be http:// or https://`);
  if (url.search || url.hash)
    throw new InvalidArgumentError(`"${value}": give an origin (and a path prefix), no ?query or #fragment`);
  return value.replace(/\/+$/, '');
}

/** `host:port` or `:port` (all interfaces). */
function parseAddress(value: string): { host: string; port: number } {
  const colon = value.lastIndexOf(':');
  const port = Number(value.slice(colon + 1));
  if (colon < 0 || !Number.isInteger(port) || port < 0 || port > 65535)
    throw new InvalidArgumentError('expected host:port or :port');
  const host = value.slice(0, colon) || '0.0.0.0';
  return { host, port };
}

/** A --tls-san value: a DNS name (a leading `*.` allowed) or an IP address. */
function parseSan(value: string, previous: string[]): string[] {
  const dns = /^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/i;
  if (!isIP(value) && !dns.test(value))
    throw new InvalidArgumentError(`--tls-san "${value}": expected a DNS name or an IP address`);
  return [...previous, value];
}

/**
 * How the listener serves: the certificate files given (read once at start; both flags or neither), plain
 * HTTP with --insecure-http, or else the server's own certificate (made and kept in a Secret).
 */
async function tlsOf(
  options: ServerCommandOptions,
): Promise<{ cert: Buffer; key: Buffer } | { selfMade: { extraNames: string[] } } | undefined> {
  if (!options.tlsCertFile !== !options.tlsKeyFile)
    throw new Error('--tls-cert-file and --tls-key-file go together: give both, or neither');
  const given = options.tlsCertFile ? '--tls-cert-file' : undefined;
  if (options.insecureHttp && (given || options.tlsSan.length))
    throw new Error(`--insecure-http serves no certificate: it excludes ${given ?? '--tls-san'}`);
  if (given && options.tlsSan.length)
    throw new Error(
      '--tls-san names the self-made certificate: it excludes --tls-cert-file (put them in yours)',
    );
  if (options.insecureHttp) return undefined;
  if (!options.tlsCertFile || !options.tlsKeyFile) return { selfMade: { extraNames: options.tlsSan } };
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
    .option(
      '-n, --namespace <ns>',
      "the namespace of Cairn's resources, Lease and Secrets",
      namespaceName,
      'cairn',
    )
    .option(
      '--metrics-address <host:port>',
      'the listener (HTTPS): /metrics, /healthz, /readyz, the log downloads and the dashboard',
      (value: string) => (parseAddress(value), value),
      ':8085',
    )
    .option(
      '--tls-cert-file <file>',
      'serve the listener with this certificate (PEM; with --tls-key-file) instead of the self-made one',
      existingFile,
    )
    .option('--tls-key-file <file>', "the certificate's private key (PEM)", existingFile)
    .option(
      '--tls-san <name>',
      'another DNS name or IP address for the self-made certificate (repeatable)',
      parseSan,
      [],
    )
    .option(
      '--insecure-http',
      'INSECURE: serve plain HTTP, no certificate; requests with a bearer token are then refused unless they come over loopback',
    )
    .option(
      '--advertise-url <url>',
      "where users reach the listener: the origin of DownloadRequests' URLs (default: the listener's own URL on a loopback address, else https://cairn.<namespace>.svc:<port>)",
      parseAdvertiseUrl,
    )
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
    .option(
      '--no-restore-access-checks',
      "restore whatever the server may write, not only what each Restore's creator may (unsafe where tenants create Restores; docs/security.md)",
    )
    .addHelpText(
      'after',
      `
Examples:
  cairn server                                   in the cluster (cairn install deploys it so)
  cairn server --kubeconfig ~/.kube/config -n cairn --metrics-address 127.0.0.1:8085
  cairn server --tls-cert-file /tls/tls.crt --tls-key-file /tls/tls.key    (your certificate, e.g. cert-manager's)
  cairn server --tls-san cairn.example.com       (the self-made certificate, also for this name)
  cairn server --advertise-url https://cairn.example.com    (DownloadRequests' URLs start with it)
  cairn server --no-restore-access-checks        (Restores write all the server may: trusted users only)
  curl -s --cacert <(kubectl -n cairn get configmap cairn-ca -o jsonpath='{.data.ca\\.crt}') https://localhost:8085/metrics

The listener serves HTTPS. Without --tls-cert-file, the server makes its own certificate (a CA and a
certificate it signs for cairn.<ns>.svc, cairn.<ns>.svc.cluster.local, localhost, 127.0.0.1, ::1 and
each --tls-san), valid a year, kept in the Secret cairn-server-tls so every replica serves the same one,
and made again on start when less than 30 days are left. Its CA is published in the ConfigMap cairn-ca
(key ca.crt), which every authenticated user may read: the CLI trusts it (docs/server.md).

Endpoints: /healthz (200 while the process runs), /readyz (200 on the replica that leads, 503 on a
standby), /metrics (Prometheus text; docs/metrics.md), a backup's logs and results for authorized
bearer tokens, the files of DownloadRequests under /v1/downloads/ (the signed URL is the grant: logs,
results and describe --details for every user), and the web dashboard under /ui/ (docs/dashboard.md). A request carrying a bearer token
over plain HTTP (--insecure-http) is refused unless it came over loopback.`,
    )
    .action(async (options: ServerCommandOptions, command: Command) => {
      const { KubeClient } = await import('../../kube/index.ts');
      const { runServer, isLoopbackHost } = await import('../../controller/index.ts');
      const { host, port } = parseAddress(options.metricsAddress);
      const tls = await tlsOf(options);
      if (!tls && !isLoopbackHost(host))
        io.stderr.write(
          `${new Date().toISOString()} warning --insecure-http on ${host}: plain HTTP outside loopback; ` +
            'requests with a bearer token (log downloads, the dashboard) will be refused\n',
        );
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
          advertiseUrl: options.advertiseUrl,
          backupWorkers: options.backupWorkers,
          leaseDurationMs: options.leaseDuration,
          renewDeadlineMs: options.renewDeadline,
          retryPeriodMs: options.retryPeriod,
          gcIntervalMs: options.gcInterval,
          repoMaintenanceIntervalMs: options.repoMaintenanceInterval,
          restoreHelperImage: options.restoreHelperImage,
          restoreAccessChecks: options.restoreAccessChecks,
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
    .option('-n, --namespace <ns>', "the server's namespace", namespaceName, 'cairn')
    .option('--node <name>', "this node's name (default: $NODE_NAME, then the host name)", objectName)
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
