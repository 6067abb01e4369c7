// `cairn server`: every controller, behind leader election, plus one HTTP listener for /healthz, /readyz
// and /metrics. Replicas that do not lead keep their listener up (healthy, not ready) and wait for the
// lease; a leader that loses it goes back to waiting, in the same process. On SIGTERM (the signal) the leader stops taking work, lets running work end as Failed with a
// reason, and releases the lease so a standby takes over at once.
import { maintainRepositories } from './maintenance.ts';
import { EventEmitter, setMaxListeners } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer, Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { scheduleOf } from '../api/index.ts';
import type {
  Backup,
  BackupLocation,
  DashboardChange,
  CairnKind,
  DeleteBackupRequest,
  DownloadRequest,
  Restore,
  Schedule,
} from '../api/index.ts';
import type { KubeClient, KubeObject } from '../kube/index.ts';
import { BackupController } from './backup-controller.ts';
import { BackupRuns } from './backup-runs.ts';
import { CatalogController } from './catalog.ts';
import { DeletionController } from './deletion.ts';
import {
  isDownloadPath,
  isGrantedDownloadPath,
  serveDownload,
  serveGrantedDownload,
  type DownloadContext,
  type GrantedDownloadContext,
} from './downloads.ts';
import { DownloadGrants } from './download-grants.ts';
import {
  DEFAULT_DOWNLOAD_EXPIRY_MS,
  defaultAdvertiseUrl,
  DownloadRequestController,
} from './download-requests.ts';
import { RestoreController } from './restore-controller.ts';
import { ScheduleController } from './schedule-controller.ts';
import { systemClock, type Clock } from './clock.ts';
import type { ControllerContext, ServerLogEntry } from './context.ts';
import { Access } from './access.ts';
import { isDashboardPath, serveDashboard, type DashboardContext, type DashboardServed } from './dashboard.ts';
import { Informer, objectKey } from './informer.ts';
import { runLeaderElection } from './leader.ts';
import { ServerLocations } from './locations.ts';
import { ServerMetrics } from './metrics.ts';
import { WorkQueue } from './queue.ts';
import { resourcePath } from './resources.ts';
import { plainTokenRefusal } from './transport.ts';

export interface ServerOptions {
  client: KubeClient;
  /** The namespace of the server's resources (Backups, BackupLocations, ...), its Lease and Secrets. */
  namespace: string;
  /** This replica's name in the lease (`<hostname>_<pid>`). */
  identity: string;
  /** "cairn server v0.1.0". */
  writer: string;
  /** The HTTP listener. Default 127.0.0.1:8085; port 0 picks a free one. */
  host?: string | undefined;
  port?: number | undefined;
  /** Backups run at once. Default 1 (Velero runs one at a time). */
  backupWorkers?: number | undefined;
  leaseName?: string | undefined;
  leaseDurationMs?: number | undefined;
  renewDeadlineMs?: number | undefined;
  retryPeriodMs?: number | undefined;
  /** Timers and intervals. Default: the machine's. */
  clock?: Clock | undefined;
  /** The wall clock of decisions (timestamps, schedules, expiry). Default: the machine's. */
  now?: (() => Date) | undefined;
  /** The longest a schedule waits before it is looked at again. Default 30 s. */
  resyncMs?: number | undefined;
  /** Garbage collection's interval. Default 1 h (Velero's). */
  gcIntervalMs?: number | undefined;
  /** How often the volume-data repositories are pruned. Default 24 h. */
  repoMaintenanceIntervalMs?: number | undefined;
  /** A location's check and sync interval when its spec sets none. Default 1 min. */
  locationIntervalMs?: number | undefined;
  /** How long a synced backup's metadata must stay gone before its Backup is removed. Default 5 min. */
  syncGraceMs?: number | undefined;
  log?: ((entry: ServerLogEntry) => void) | undefined;
  /** The image of the init container restored pods wait in for their volumes' files (needs /bin/sh). */
  restoreHelperImage?: string | undefined;
  /**
   * Tenant-safe restore (docs/security.md): a Restore writes only what its creator (the annotation
   * cairn.dev/creator, vouched for by the admission policy cairn-restore-creator) may write, asked of
   * SubjectAccessReviews. Default true; false writes whatever the server may, unsafe where tenants create
   * Restores.
   */
  restoreAccessChecks?: boolean | undefined;
  /**
   * Serve the listener over TLS, so that bearer tokens (the log downloads, the dashboard) never travel in
   * clear: with this certificate and key (PEM), or `{ selfMade }` with the server's own, kept in the
   * Secret cairn-server-tls and its CA published in the ConfigMap cairn-ca (serving-cert.ts), checked
   * every `checkIntervalMs` (default 1 h) for a renewal due or made by another replica. Unset: plain
   * HTTP, for a loopback address; a request with a token that reaches it by another address is refused
   * (transport.ts).
   */
  tls?:
    | { cert: Buffer; key: Buffer }
    | { selfMade: { extraNames?: string[] | undefined; checkIntervalMs?: number | undefined } }
    | undefined;
  /**
   * The origin of DownloadRequests' URLs (`cairn server --advertise-url`). Default: the listener's own
   * URL on a loopback address, else http(s)://cairn.<namespace>.svc:<port>.
   */
  advertiseUrl?: string | undefined;
  /** How long a DownloadRequest's URL works, and the request is kept. Default 10 min (Velero's). */
  downloadExpiryMs?: number | undefined;
  /** The dashboard's built pages. Default: dist/ui of the package. */
  dashboardAssets?: string | undefined;
  /** Told the listener's address once it listens (`tls`: it serves HTTPS). */
  onListening?: ((address: { host: string; port: number; tls: boolean }) => void) | undefined;
  signal: AbortSignal;
}

export const DEFAULT_METRICS_PORT = 8085;

/** What the HTTP listener needs to know of the controllers. */
interface ServerState {
  leading: boolean;
  synced: boolean;
  /** The leader's view, once synced: for the download endpoints and the dashboard. */
  served?: DashboardServed | undefined;
  /** Signs the URLs of DownloadRequests (a key of this process) and checks them when fetched. */
  grants: DownloadGrants;
  /** The origin of those URLs, known once the listener listens. */
  advertiseUrl: string;
}
export const DEFAULT_LEASE_NAME = 'cairn-server';
/**
 * Locations checked and synced at once: a worker each, up to this many, so that a slow or unreachable
 * location (each check bounded by its requestTimeout, each sync request by the store's timeouts) delays
 * no other location's check or sync. The queue never hands one location to two workers.
 */
const LOCATION_WORKERS = 32;

/** Runs the server until `signal` aborts; resolves once it has stopped and released its lease. */
export async function runServer(options: ServerOptions): Promise<void> {
  const clock = options.clock ?? systemClock;
  const log = options.log ?? (() => undefined);
  const metrics = new ServerMetrics({ clock });
  // Backups outlive the leadership that started them (backup-runs.ts).
  const runs = new BackupRuns({ identity: options.identity, signal: options.signal, clock });
  const state: ServerState = {
    leading: false,
    synced: false,
    grants: new DownloadGrants(),
    advertiseUrl: '',
  };

  const tls = await servingTls(options, log);
  const http = await listen(options, tls, metrics, state);
  // Ends with the server, however it ends.
  const keeping = new AbortController();
  const certificateKept = keepServingTls(options, {
    log,
    clock,
    http,
    tls,
    signal: AbortSignal.any([options.signal, keeping.signal]),
  });
  try {
    // Leadership lost (the API server did not answer within the renew deadline: an upgrade of the control
    // plane, a network partition) is not the end of the process: it campaigns again, as a standby would,
    // and leads again once the API server answers and no other replica took the lease.
    while (!options.signal.aborted) {
      const election = await runLeaderElection({
        client: options.client,
        namespace: options.namespace,
        name: options.leaseName ?? DEFAULT_LEASE_NAME,
        identity: options.identity,
        leaseDurationMs: options.leaseDurationMs,
        renewDeadlineMs: options.renewDeadlineMs,
        retryPeriodMs: options.retryPeriodMs,
        clock,
        signal: options.signal,
        log: (message, error) =>
          log({ level: 'warning', message: error ? `${message}: ${(error as Error).message}` : message }),
        onNewLeader: (identity) => {
          log({ level: 'info', message: `the leader is ${identity}` });
          runs.observed(identity);
        },
        onStartedLeading: async (signal) => {
          state.leading = true;
          runs.leading(signal);
          log({ level: 'info', message: `${options.identity} leads: starting the controllers` });
          try {
            await lead(options, { clock, log, metrics, state, runs }, signal, (served) => {
              state.synced = true;
              state.served = served;
            });
          } finally {
            state.leading = false;
            state.synced = false;
            state.served = undefined;
          }
        },
        onStoppedLeading: () => log({ level: 'info', message: `${options.identity} stopped leading` }),
      });
      if (options.signal.aborted) break;
      log({
        level: 'warning',
        message:
          election.end === 'lost'
            ? `${options.identity} lost the lease (the API server did not answer in time); campaigning again`
            : `${options.identity} stopped leading (its work ended); campaigning again`,
      });
      await clock.sleep(options.retryPeriodMs ?? 2_000, options.signal);
    }
    await runs.settled();
  } finally {
    // Open connections (a log being streamed) would hold close() up: they are ended first.
    const closed = new Promise<void>((resolve) => http.close(() => resolve()));
    http.closeAllConnections();
    await closed;
    keeping.abort();
    await certificateKept;
  }
}

/** The leader's work: informers, queues and controllers, until `signal` aborts. */
async function lead(
  options: ServerOptions,
  shared: {
    clock: Clock;
    log: (entry: ServerLogEntry) => void;
    metrics: ServerMetrics;
    state: Pick<ServerState, 'grants' | 'advertiseUrl'>;
    runs: BackupRuns;
  },
  leading: AbortSignal,
  onSynced: (served: DashboardServed) => void,
): Promise<void> {
  // Everything below stops when leadership ends, or when this work fails: a leader that cannot run its
  // controllers must not keep the lease (leader election steps down once this returns).
  const stop = new AbortController();
  const signal = AbortSignal.any([leading, stop.signal]);
  // Every informer, queue, request and store call of the leader listens to it.
  setMaxListeners(0, signal);
  const { client, namespace } = options;
  const informerLog = (message: string, error?: unknown) =>
    shared.log({ level: 'warning', message: error ? `${message}: ${(error as Error).message}` : message });
  const queue = () => new WorkQueue({ clock: shared.clock, log: informerLog });
  const queues = {
    backups: queue(),
    schedules: queue(),
    requests: queue(),
    locations: queue(),
    restores: queue(),
    downloads: queue(),
  };
  // Keys are the informers' cache keys (`namespace/name`). Each informer feeds its kind's queue; a
  // Backup's change also wakes its schedule (a running backup holds the next run back).
  // Every change is also told to the dashboard's live updates.
  const changes = new EventEmitter();
  changes.setMaxListeners(0);
  const told = (kind: CairnKind, type: DashboardChange['type'], object: KubeObject) => {
    if (kind === 'Backup' || kind === 'Schedule' || kind === 'BackupLocation' || kind === 'Restore')
      changes.emit('change', { kind, name: object.metadata.name, type } satisfies DashboardChange, object);
  };
  const feeding = <T extends KubeObject>(kind: CairnKind, into: WorkQueue, also?: (object: T) => void) =>
    new Informer<T>({
      client,
      path: resourcePath(kind, namespace),
      clock: shared.clock,
      log: informerLog,
      onAdd: (object) => {
        into.add(objectKey(object));
        also?.(object);
        told(kind, 'ADDED', object);
      },
      onUpdate: (_old, object) => {
        into.add(objectKey(object));
        also?.(object);
        told(kind, 'MODIFIED', object);
      },
      onDelete: (object) => {
        into.add(objectKey(object));
        told(kind, 'DELETED', object);
      },
    });
  const locations = feeding<BackupLocation>('BackupLocation', queues.locations);
  const backups = feeding<Backup>('Backup', queues.backups, (backup) => {
    const schedule = scheduleOf(backup);
    if (schedule) queues.schedules.add(`${namespace}/${schedule}`);
  });
  const schedules = feeding<Schedule>('Schedule', queues.schedules);
  const requests = feeding<DeleteBackupRequest>('DeleteBackupRequest', queues.requests);
  const restores = feeding<Restore>('Restore', queues.restores);
  const downloadRequests = feeding<DownloadRequest>('DownloadRequest', queues.downloads);
  const informers = [locations, backups, schedules, requests, restores, downloadRequests];

  const ctx: ControllerContext = {
    client,
    namespace,
    clock: shared.clock,
    now: options.now ?? (() => new Date()),
    metrics: shared.metrics,
    log: shared.log,
    writer: options.writer,
    restoreHelperImage: options.restoreHelperImage,
    restoreAccess:
      options.restoreAccessChecks === false ? undefined : new Access({ client, clock: shared.clock }),
    locations: new ServerLocations({
      client,
      namespace,
      list: () => locations.list(),
      clock: shared.clock,
      activity: shared.metrics.storeActivity,
      onStall: (notice) => shared.log({ level: 'warning', message: notice.message }),
      onKeyCreated: (location, secret) =>
        shared.log({
          level: 'warning',
          message:
            `made an encryption key for location "${location}" in Secret ${namespace}/${secret}. Losing it loses ` +
            `the backups: keep a copy of the Secret`,
        }),
    }),
  };
  const resyncMs = options.resyncMs ?? 30_000;
  const backupController = new BackupController(ctx, backups, shared.runs);
  const scheduleController = new ScheduleController(ctx, { schedules, backups }, { resyncMs });
  const deletion = new DeletionController(ctx, { requests, backups, schedules });
  const restoreController = new RestoreController(ctx, { restores, backups });
  const downloadController = new DownloadRequestController(
    ctx,
    { requests: downloadRequests, backups, restores },
    {
      grants: shared.state.grants,
      baseUrl: () => shared.state.advertiseUrl,
      expiryMs: options.downloadExpiryMs ?? DEFAULT_DOWNLOAD_EXPIRY_MS,
    },
  );
  const catalog = new CatalogController(
    ctx,
    { locations, backups },
    { graceMs: options.syncGraceMs ?? 5 * 60_000, intervalMs: options.locationIntervalMs },
  );

  const running = informers.map((informer) => informer.run(signal));
  try {
    await Promise.race([Promise.all(informers.map((i) => i.hasSynced)), aborted(signal)]);
    if (signal.aborted) return;
    onSynced({ stores: ctx.locations, backups, schedules, locations, restores, changes });
    await backupController.failOrphans(signal);
    await restoreController.failOrphans(signal);
    await Promise.all([
      queues.restores.run(1, (key, s) => restoreController.reconcile(key, s), signal),
      queues.backups.run(options.backupWorkers ?? 1, (key, s) => backupController.reconcile(key, s), signal),
      queues.schedules.run(1, (key, s) => scheduleController.reconcile(key, s), signal),
      queues.requests.run(1, (key, s) => deletion.reconcile(key, s), signal),
      queues.downloads.run(1, (key, s) => downloadController.reconcile(key, s), signal),
      queues.locations.run(LOCATION_WORKERS, (key, s) => catalog.reconcile(key, s), signal),
      collectGarbage(deletion, options.gcIntervalMs ?? 60 * 60_000, shared, signal),
      maintainOnSchedule(ctx, options.repoMaintenanceIntervalMs ?? 24 * 60 * 60_000, signal),
    ]);
  } finally {
    stop.abort();
    await Promise.allSettled(running);
  }
}

/** Garbage collection every interval (Velero's default: an hour), the first round a minute after start. */
async function collectGarbage(
  deletion: DeletionController,
  intervalMs: number,
  shared: { clock: Clock; log: (entry: ServerLogEntry) => void; metrics: ServerMetrics },
  signal: AbortSignal,
): Promise<void> {
  await shared.clock.sleep(Math.min(intervalMs, 60_000), signal);
  while (!signal.aborted) {
    try {
      await deletion.collect(signal);
      shared.metrics.gcRuns.inc({ outcome: 'success' });
    } catch (error) {
      if (!signal.aborted) {
        shared.metrics.gcRuns.inc({ outcome: 'failure' });
        shared.log({ level: 'warning', message: `garbage collection failed: ${(error as Error).message}` });
      }
    }
    await shared.clock.sleep(intervalMs, signal);
  }
}

/** Repository maintenance every interval, the first round after one interval (or a minute, if shorter). */
async function maintainOnSchedule(
  ctx: ControllerContext,
  intervalMs: number,
  signal: AbortSignal,
): Promise<void> {
  await ctx.clock.sleep(Math.min(intervalMs, 60_000), signal);
  while (!signal.aborted) {
    try {
      await maintainRepositories(ctx, signal);
    } catch (error) {
      if (!signal.aborted)
        ctx.log({ level: 'warning', message: `repository maintenance failed: ${(error as Error).message}` });
    }
    await ctx.clock.sleep(intervalMs, signal);
  }
}

const aborted = (signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });

/** The listener's certificate and key: the ones given, the server's own (made if need be), or none. */
async function servingTls(
  options: ServerOptions,
  log: (entry: ServerLogEntry) => void,
): Promise<{ cert: Buffer; key: Buffer } | undefined> {
  if (!options.tls || !('selfMade' in options.tls)) return options.tls;
  // Loaded only here: the X.509 library is needed by nothing else.
  const { ensureServingCertificate } = await import('./serving-cert.ts');
  const { cert, key } = await ensureServingCertificate({
    client: options.client,
    namespace: options.namespace,
    extraNames: options.tls.selfMade.extraNames,
    now: options.now ?? (() => new Date()),
    log,
    signal: options.signal,
  });
  return { cert, key };
}

/** The server's own certificate, checked until the server stops: a renewed one is served from then on. */
async function keepServingTls(
  options: ServerOptions,
  how: {
    log: (entry: ServerLogEntry) => void;
    clock: Clock;
    http: Server;
    tls: { cert: Buffer; key: Buffer } | undefined;
    signal: AbortSignal;
  },
): Promise<void> {
  const { http, tls } = how;
  if (!options.tls || !('selfMade' in options.tls) || !tls || !(http instanceof HttpsServer)) return;
  const { DEFAULT_CHECK_INTERVAL_MS, keepServingCertificate } = await import('./serving-cert.ts');
  await keepServingCertificate({
    client: options.client,
    namespace: options.namespace,
    extraNames: options.tls.selfMade.extraNames,
    now: options.now ?? (() => new Date()),
    log: how.log,
    signal: how.signal,
    served: tls,
    intervalMs: options.tls.selfMade.checkIntervalMs ?? DEFAULT_CHECK_INTERVAL_MS,
    clock: how.clock,
    // New connections get the renewed certificate; open ones keep theirs.
    onChange: ({ cert, key }) => http.setSecureContext({ cert, key }),
  });
}

async function listen(
  options: ServerOptions,
  tls: { cert: Buffer; key: Buffer } | undefined,
  metrics: ServerMetrics,
  state: ServerState,
): Promise<Server> {
  const access = new Access({ client: options.client, clock: options.clock });
  const downloads: DownloadContext = {
    access,
    namespace: options.namespace,
    locations: () => state.served?.stores,
    backupLocations: (name) => {
      const backup = state.served?.backups.get(`${options.namespace}/${name}`);
      if (!backup) return undefined;
      const stored = backup.status?.locations?.filter((l) => l.phase === 'Completed').map((l) => l.name);
      return stored?.length ? stored : [backup.spec?.storageLocation ?? ''];
    },
  };
  const granted: GrantedDownloadContext = {
    grants: state.grants,
    namespace: options.namespace,
    now: options.now ?? (() => new Date()),
    encrypted: tls !== undefined,
    locations: () => state.served?.stores,
    uidOf: (of, name) => {
      const informer = of === 'Backup' ? state.served?.backups : state.served?.restores;
      const object = informer?.get(`${options.namespace}/${name}`);
      return object ? (object.metadata.uid ?? '') : undefined;
    },
  };
  const dashboard: DashboardContext = {
    client: options.client,
    namespace: options.namespace,
    access,
    now: options.now ?? (() => new Date()),
    served: () => state.served,
    assetsDir: options.dashboardAssets,
    restoreAccessChecks: options.restoreAccessChecks !== false,
  };
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const refusal = plainTokenRefusal({
      encrypted: tls !== undefined,
      localAddress: req.socket.localAddress,
      hasToken: req.headers.authorization !== undefined,
    });
    if (refusal) {
      res.writeHead(400, { 'Content-Type': 'text/plain; charset=utf-8' }).end(`${refusal}\n`);
      return;
    }
    if (isDashboardPath(path)) {
      serveDashboard(dashboard, req, res).catch(() => res.destroy());
      return;
    }
    if (req.method === 'GET' && isGrantedDownloadPath(path)) {
      serveGrantedDownload(granted, req, res).catch(() => res.destroy());
      return;
    }
    if (req.method === 'GET' && isDownloadPath(path)) {
      serveDownload(downloads, req, res).catch(() => res.destroy());
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok\n');
    } else if (path === '/readyz') {
      // Ready means leading with synced caches: a Service then sends requests to the leader only.
      const ready = state.leading && state.synced;
      res
        .writeHead(ready ? 200 : 503, { 'Content-Type': 'text/plain' })
        .end(ready ? 'leading\n' : 'standby\n');
    } else if (path === '/metrics') {
      metrics.text().then(
        (text) => res.writeHead(200, { 'Content-Type': metrics.contentType }).end(text),
        (error: unknown) => res.writeHead(500).end(String(error)),
      );
    } else {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
    }
  };
  const server = tls ? createTlsServer(tls, handle) : createServer(handle);
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? DEFAULT_METRICS_PORT, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  state.advertiseUrl =
    options.advertiseUrl ??
    defaultAdvertiseUrl({
      host,
      port: address.port,
      tls: tls !== undefined,
      namespace: options.namespace,
    });
  options.onListening?.({ host, port: address.port, tls: tls !== undefined });
  return server;
}
