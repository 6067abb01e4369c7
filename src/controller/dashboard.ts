// The dashboard's server side (docs/dashboard.md, docs/design/dashboard.md): the built pages under /ui/,
// a JSON API under /ui/api/ and live updates (Server-Sent Events) from the leader's informers. Every API
// request is the caller's: its bearer token goes to a TokenReview and every view and action to a
// SubjectAccessReview (access.ts), so the dashboard shows and does only what kubectl would let the user.
//
// Who sees what: a user who may list Backups in the server's namespace sees everything (an operator);
// any other user sees the backups, schedules and restores whose namespaces are all namespaces where it
// may list Secrets (a backup holds them), and restores only into those.
import { randomUUID } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { buffer } from 'node:stream/consumers';
import {
  API_GROUP,
  CAIRN_API_VERSION,
  ANNOTATIONS,
  creatorAnnotation,
  LABELS,
  type Backup,
  type BackupDetail,
  type BackupList,
  type BackupLocation,
  type DashboardChange,
  type DashboardOverview,
  type DashboardSession,
  type HookResult,
  type PodVolumeBackup,
  type Restore,
  type RestorePreview,
  type RestoreRequest,
  type RestoreSpec,
  type RestoreState,
  type Schedule,
  type ScheduleDetail,
  type ScheduleRequest,
  type ScheduleSpec,
  dnsLabelProblem,
  parseGoDuration,
  problemText,
  ScheduleSpecSchema,
  schemaProblems,
} from '../api/index.ts';
import { discover, KubeApiError, type KubeClient } from '../kube/index.ts';
import { createRestore, formatDiff, RestoreValidationError } from '../restore/index.ts';
import { MemoryStore, RestoreStore, type BackupDataFile, type BackupStore } from '../storage/index.ts';
import { UnauthenticatedError, type Access, type ResourceAttributes, type User } from './access.ts';
import { backupRow, locationRow, resourceCounts, scheduleRow } from './dashboard-views.ts';
import { deleteLockUntil } from './deletion.ts';
import type { Informer } from './informer.ts';
import type { ServerLocations } from './locations.ts';
import { resourcePath } from './resources.ts';
import { backupOfSchedule } from './schedule-controller.ts';
import { parseSchedule } from './schedule-timing.ts';

/** The leader's caches and stores, once synced; a standby has none (and answers 503). */
export interface DashboardServed {
  backups: Informer<Backup>;
  schedules: Informer<Schedule>;
  locations: Informer<BackupLocation>;
  restores: Informer<Restore>;
  stores: ServerLocations;
  /** Emits `change` (DashboardChange) for every change the informers see. */
  changes: EventEmitter;
}

export interface DashboardContext {
  client: KubeClient;
  namespace: string;
  access: Access;
  now: () => Date;
  served: () => DashboardServed | undefined;
  /** The built pages. Default: dist/ui of the package. */
  assetsDir?: string | undefined;
  /** Whether restores write only what their creator may (the server's restoreAccessChecks). Default true. */
  restoreAccessChecks?: boolean | undefined;
}

/** Whether a request is the dashboard's (so the HTTP listener routes it here). */
export const isDashboardPath = (path: string): boolean => path === '/ui' || path.startsWith('/ui/');

/** The largest request body read (a restore request is a few hundred bytes). */
const MAX_BODY = 64 * 1024;

class HttpError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/** A path segment decoded; a malformed percent-encoding is the caller's error (400), not the server's. */
function decoded(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpError(400, `the path is not valid percent-encoding: ${segment}`);
  }
}

const json = (res: ServerResponse, status: number, body: unknown): void => {
  res
    .writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' })
    .end(JSON.stringify(body));
};

/** Serves one dashboard request; never throws (errors become answers). */
export async function serveDashboard(
  ctx: DashboardContext,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://dashboard');
  try {
    if (url.pathname === '/ui') {
      res.writeHead(301, { Location: '/ui/' }).end();
      return;
    }
    if (!url.pathname.startsWith('/ui/api/')) return await serveAsset(ctx, req, res, url.pathname);
    await serveApi(ctx, req, res, url);
  } catch (error) {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (error instanceof HttpError) return json(res, error.status, { error: error.message });
    if (error instanceof UnauthenticatedError) return json(res, 401, { error: error.message });
    if (error instanceof RestoreValidationError) return json(res, 400, { error: error.message });
    if (error instanceof KubeApiError) {
      // The API server's own refusals of what the user asked (a conflict, an invalid object) are the
      // user's to see as such; anything else is the server failing.
      const passed = error.status === 409 || error.status === 422;
      return json(res, passed ? error.status : 502, { error: `the API server refused: ${error.message}` });
    }
    json(res, 502, { error: (error as Error).message });
  }
}

// --- The pages -------------------------------------------------------------------------------------------

const defaultAssetsDir = () => {
  const here = fileURLToPath(new URL('.', import.meta.url));
  // From the sources (src/controller) or the build (dist/controller): the pages are in dist/ui.
  return here.includes(`${sep}dist${sep}`) ? join(here, '..', 'ui') : join(here, '..', '..', 'dist', 'ui');
};

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
};

async function serveAsset(
  ctx: DashboardContext,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, 'the pages are read only');
  const root = ctx.assetsDir ?? defaultAssetsDir();
  const relative = normalize(decoded(path.slice('/ui/'.length)) || 'index.html');
  if (relative.startsWith('..') || relative.includes(`${sep}..`)) throw new HttpError(400, 'not a page');
  const file = join(root, relative);
  const found = await stat(file).catch(() => undefined);
  if (!found?.isFile()) {
    if (relative === 'index.html')
      throw new HttpError(503, `the dashboard's pages are not built in ${root} (npm run build makes them)`);
    throw new HttpError(404, `no such page: ${path}`);
  }
  res.writeHead(200, {
    'Content-Type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream',
    'Content-Length': found.size,
    // Vite names assets by their hash: they never change. The page itself must be fetched anew.
    'Cache-Control': relative.startsWith(`assets${sep}`) ? 'public, max-age=31536000, immutable' : 'no-cache',
    'X-Content-Type-Options': 'nosniff',
  });
  if (req.method === 'HEAD') res.end();
  else createReadStream(file).pipe(res);
}

// --- Who sees what ---------------------------------------------------------------------------------------

interface View {
  user: User;
  /** An operator: sees everything. */
  all: boolean;
  /** A tenant: the namespaces it may list Secrets in. */
  namespaces: Set<string>;
}

async function viewOf(ctx: DashboardContext, user: User): Promise<View> {
  const all = await allowed(ctx, user, { verb: 'list', group: API_GROUP, resource: 'backups' });
  if (all) return { user, all, namespaces: new Set() };
  const list = await ctx.client.json<{ items: { metadata: { name: string } }[] }>({
    path: '/api/v1/namespaces',
  });
  const names = list.items.map((n) => n.metadata.name);
  const mine = new Set<string>();
  // Answers are cached (access.ts), so a page after the first costs no review.
  for (let i = 0; i < names.length; i += 8)
    await Promise.all(
      names.slice(i, i + 8).map(async (namespace) => {
        if (await allowed(ctx, user, { verb: 'list', group: '', resource: 'secrets', namespace }, false))
          mine.add(namespace);
      }),
    );
  return { user, all, namespaces: mine };
}

/** Asks a SubjectAccessReview; in the server's namespace unless `namespaced` is false or one is given. */
async function allowed(
  ctx: DashboardContext,
  user: User,
  attributes: ResourceAttributes,
  inServerNamespace = true,
): Promise<boolean> {
  const namespace = attributes.namespace ?? (inServerNamespace ? ctx.namespace : undefined);
  return (await ctx.access.decide(user, { ...attributes, namespace })).allowed;
}

const within = (view: View, namespaces: readonly string[]) =>
  view.all || (namespaces.length > 0 && namespaces.every((n) => n !== '*' && view.namespaces.has(n)));

const backupVisible = (view: View, backup: Backup) => within(view, backupRow(backup).namespaces);

const scheduleVisible = (view: View, schedule: Schedule) =>
  within(view, schedule.spec.template.includedNamespaces ?? []);

const REQUESTED_BY = ANNOTATIONS.requestedBy;

const restoreVisible = (view: View, restore: Restore) =>
  view.all || restore.metadata.annotations?.[REQUESTED_BY] === view.user.username;

// --- The API ---------------------------------------------------------------------------------------------

async function serveApi(ctx: DashboardContext, req: IncomingMessage, res: ServerResponse, url: URL) {
  const user = await ctx.access.authenticate(req.headers.authorization);
  const served = ctx.served();
  if (!served) throw new HttpError(503, 'this replica is a standby: ask the leader');
  const view = await viewOf(ctx, user);
  const route = url.pathname.slice('/ui/api/'.length).split('/').map(decoded);
  const method = req.method ?? 'GET';
  const [first, name, action] = route;

  if (method === 'GET' && first === 'session' && route.length === 1)
    return json(res, 200, await sessionOf(ctx, view));
  if (method === 'GET' && first === 'overview' && route.length === 1)
    return json(res, 200, overviewOf(ctx, served, view));
  if (method === 'GET' && first === 'events' && route.length === 1)
    return streamChanges(served, view, req, res);
  if (first === 'backups') {
    if (method === 'GET' && route.length === 1) {
      const list: BackupList = {
        backups: visibleBackups(served, view)
          .map(backupRow)
          .sort((a, b) => (b.started ?? '').localeCompare(a.started ?? '')),
      };
      return json(res, 200, list);
    }
    const backup = name === undefined ? undefined : served.backups.get(`${ctx.namespace}/${name}`);
    if (!backup || !backupVisible(view, backup)) throw new HttpError(404, `no backup named "${name ?? ''}"`);
    if (method === 'GET' && route.length === 2)
      return json(res, 200, await detailOf(ctx, served, view, backup));
    if (method === 'GET' && action === 'logs' && route.length === 3)
      return sendLogs(ctx, served, view, backup, res);
    if (method === 'DELETE' && route.length === 2)
      return json(res, 202, await deleteBackup(ctx, view, backup));
  }
  if (first === 'restores') {
    if (method === 'POST' && route.length === 2 && name === 'preview')
      return json(res, 200, await previewRestore(ctx, served, view, await bodyOf(req)));
    if (method === 'POST' && route.length === 1)
      return json(res, 201, await startRestore(ctx, served, view, await bodyOf(req)));
    const restore = name === undefined ? undefined : served.restores.get(`${ctx.namespace}/${name}`);
    if (method === 'GET' && route.length === 2) {
      if (!restore || !restoreVisible(view, restore))
        throw new HttpError(404, `no restore named "${name ?? ''}"`);
      return json(res, 200, restoreState(restore));
    }
  }
  if (first === 'schedules' && method === 'POST' && route.length === 1)
    return json(res, 201, await createSchedule(ctx, served, view, await bodyOf(req)));
  if (first === 'schedules' && route.length === 2 && name !== undefined) {
    const schedule = served.schedules.get(`${ctx.namespace}/${name}`);
    if (!schedule || !scheduleVisible(view, schedule))
      throw new HttpError(404, `no schedule named "${name}"`);
    if (method === 'GET') {
      const detail: ScheduleDetail = {
        row: scheduleRow(schedule, visibleBackups(served, view), ctx.now()),
        schedule,
      };
      return json(res, 200, detail);
    }
    if (method === 'PUT')
      return json(res, 200, await editSchedule(ctx, served, view, schedule, await bodyOf(req)));
  }
  if (first === 'schedules' && method === 'POST' && route.length === 3 && name !== undefined) {
    const schedule = served.schedules.get(`${ctx.namespace}/${name}`);
    if (!schedule || !scheduleVisible(view, schedule))
      throw new HttpError(404, `no schedule named "${name}"`);
    if (action === 'pause' || action === 'resume')
      return json(res, 200, await pauseSchedule(ctx, view, schedule, action === 'pause'));
    if (action === 'run') return json(res, 201, await runSchedule(ctx, view, schedule));
  }
  throw new HttpError(404, `no such request: ${method} ${url.pathname}`);
}

async function sessionOf(ctx: DashboardContext, view: View): Promise<DashboardSession> {
  const may = (verb: string, resource: string) =>
    allowed(ctx, view.user, { verb, group: API_GROUP, resource });
  const [createRestores, patchSchedules, createSchedules, createBackups, deleteBackups] = await Promise.all([
    may('create', 'restores'),
    may('patch', 'schedules'),
    may('create', 'schedules'),
    may('create', 'backups'),
    may('create', 'deletebackuprequests'),
  ]);
  return {
    user: view.user.username,
    namespace: ctx.namespace,
    can: {
      listAll: view.all,
      createRestore: createRestores || (!view.all && view.namespaces.size > 0),
      patchSchedules,
      createSchedules,
      createBackups,
      deleteBackups,
    },
    ...(view.all ? {} : { namespaces: [...view.namespaces].sort() }),
  };
}

const visibleBackups = (served: DashboardServed, view: View) =>
  served.backups.list().filter((b) => backupVisible(view, b));

function overviewOf(ctx: DashboardContext, served: DashboardServed, view: View): DashboardOverview {
  const backups = visibleBackups(served, view);
  const now = ctx.now();
  return {
    schedules: served.schedules
      .list()
      .filter((s) => scheduleVisible(view, s))
      .map((s) => scheduleRow(s, backups, now))
      .sort((a, b) => a.name.localeCompare(b.name)),
    locations: view.all
      ? served.locations
          .list()
          .map((l) => locationRow(l, served.backups.list()))
          .sort((a, b) => a.name.localeCompare(b.name))
      : [],
    history: backups
      .map(backupRow)
      .filter((r) => r.started !== undefined)
      .sort((a, b) => (a.started ?? '').localeCompare(b.started ?? '')),
  };
}

/** The location to read a backup's files from: its first Completed copy, else its spec's. */
const locationOf = (backup: Backup) =>
  backup.status?.locations?.find((l) => l.phase === 'Completed')?.name ?? backup.spec.storageLocation ?? '';

async function readJsonFile<T>(
  store: BackupStore,
  backup: string,
  file: BackupDataFile,
): Promise<T | undefined> {
  try {
    return JSON.parse(gunzipSync(await buffer(await store.openFile(backup, file))).toString('utf8')) as T;
  } catch {
    return undefined; // an older backup without the file, or one that cannot be read: shown as absent
  }
}

async function detailOf(
  ctx: DashboardContext,
  served: DashboardServed,
  view: View,
  backup: Backup,
): Promise<BackupDetail> {
  const row = backupRow(backup);
  const detail: BackupDetail = { row, backup };
  if (!['Completed', 'PartiallyFailed'].includes(row.phase)) return detail;
  // Item lists of a namespace only for a user who may list its Secrets (a backup holds them).
  const readable = new Map<string, boolean>();
  const mayRead = async (namespace: string) => {
    if (!readable.has(namespace))
      readable.set(
        namespace,
        await allowed(ctx, view.user, { verb: 'list', group: '', resource: 'secrets', namespace }, false),
      );
    return readable.get(namespace) === true;
  };
  const store = await served.stores.open(locationOf(backup), { createKey: false });
  const list = (await readJsonFile<Record<string, string[]>>(store, row.name, 'resourceList')) ?? {};
  const namespaces = new Set<string>();
  for (const items of Object.values(list))
    for (const item of items) if (item.includes('/')) namespaces.add(item.slice(0, item.indexOf('/')));
  const hidden: string[] = [];
  for (const namespace of namespaces) if (!(await mayRead(namespace))) hidden.push(namespace);
  const shown = (namespace: string | undefined) =>
    namespace === undefined ? view.all : !hidden.includes(namespace);
  detail.resources = resourceCounts(list, shown);
  const volumes = (await readJsonFile<PodVolumeBackup[]>(store, row.name, 'podVolumeBackups')) ?? [];
  detail.podVolumes = volumes.filter((v) => shown(v.spec?.pod?.namespace));
  const hooks = (await readJsonFile<HookResult[]>(store, row.name, 'hookResults')) ?? [];
  detail.hooks = hooks.filter((h) => shown(h.pod.split('/')[0]));
  if (hidden.length > 0)
    detail.hidden = `the items of namespace${hidden.length === 1 ? '' : 's'} ${hidden.sort().join(', ')} are hidden: you may not list their Secrets`;
  return detail;
}

async function sendLogs(
  ctx: DashboardContext,
  served: DashboardServed,
  view: View,
  backup: Backup,
  res: ServerResponse,
): Promise<void> {
  const name = backup.metadata.name;
  const decision = await ctx.access.decide(view.user, {
    verb: 'get',
    group: API_GROUP,
    resource: 'backups',
    subresource: 'logs',
    namespace: ctx.namespace,
    name,
  });
  if (!decision.allowed)
    throw new HttpError(
      403,
      `${view.user.username} may not get backups/logs "${name}" in namespace ${ctx.namespace}`,
    );
  const store = await served.stores.open(locationOf(backup), { createKey: false });
  const text = gunzipSync(await buffer(await store.openFile(name, 'logs')));
  res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' }).end(text);
}

async function deleteBackup(ctx: DashboardContext, view: View, backup: Backup): Promise<{ request: string }> {
  const name = backup.metadata.name;
  if (
    !(await allowed(ctx, view.user, { verb: 'create', group: API_GROUP, resource: 'deletebackuprequests' }))
  )
    throw new HttpError(403, `${view.user.username} may not delete backups (create deletebackuprequests)`);
  const lock = deleteLockUntil(backup);
  if (lock && new Date(lock) > ctx.now())
    throw new HttpError(409, `backup "${name}" has a delete lock until ${lock}: it cannot be deleted before`);
  const request = await ctx.client.json<{ metadata: { name: string } }>({
    method: 'POST',
    path: resourcePath('DeleteBackupRequest', ctx.namespace),
    body: {
      apiVersion: CAIRN_API_VERSION,
      kind: 'DeleteBackupRequest',
      metadata: {
        generateName: `${name.slice(0, 240)}-`,
        labels: { [LABELS.veleroBackupName]: name.slice(0, 63) },
        annotations: { [REQUESTED_BY]: view.user.username },
      },
      spec: { backupName: name },
    },
  });
  return { request: request.metadata.name };
}

// --- Restores --------------------------------------------------------------------------------------------

async function bodyOf(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new HttpError(400, `the request body is larger than ${MAX_BODY} bytes`);
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    throw new HttpError(400, 'the request body is not JSON');
  }
}

/** The request checked field by field, each problem naming the field and the value. */
function restoreRequestOf(body: unknown): RestoreRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new HttpError(400, 'the request body must be an object');
  const { backupName, includedNamespaces, namespaceMapping, namespacedConflictPolicy, ...rest } =
    body as Record<string, unknown>;
  const unknown = Object.keys(rest);
  if (unknown.length > 0)
    throw new HttpError(400, `${unknown[0] ?? ''}: is not a field of a restore request`);
  if (typeof backupName !== 'string' || backupName === '')
    throw new HttpError(400, `backupName: must be a backup's name, got ${JSON.stringify(backupName)}`);
  if (
    includedNamespaces !== undefined &&
    (!Array.isArray(includedNamespaces) || includedNamespaces.some((n) => typeof n !== 'string'))
  )
    throw new HttpError(
      400,
      `includedNamespaces: must be a list of names, got ${JSON.stringify(includedNamespaces)}`,
    );
  if (
    namespaceMapping !== undefined &&
    (typeof namespaceMapping !== 'object' ||
      namespaceMapping === null ||
      Object.values(namespaceMapping).some((v) => typeof v !== 'string' || v === ''))
  )
    throw new HttpError(
      400,
      `namespaceMapping: must map names to names, got ${JSON.stringify(namespaceMapping)}`,
    );
  if (namespacedConflictPolicy !== undefined && typeof namespacedConflictPolicy !== 'string')
    throw new HttpError(400, `namespacedConflictPolicy: must be a policy's name`);
  return {
    backupName,
    includedNamespaces: includedNamespaces as string[] | undefined,
    namespaceMapping: namespaceMapping as Record<string, string> | undefined,
    namespacedConflictPolicy: namespacedConflictPolicy as RestoreRequest['namespacedConflictPolicy'],
  };
}

/**
 * The Restore spec a user may run, or a 403 naming what it may not do. An operator (create restores in
 * the server's namespace) may restore anything. A tenant restores only namespaced objects, only from its
 * namespaces into its namespaces, and only kinds it may create there, as kubectl would need.
 */
async function authorizedSpec(
  ctx: DashboardContext,
  served: DashboardServed,
  view: View,
  request: RestoreRequest,
): Promise<{ spec: RestoreSpec; backup: Backup }> {
  const backup = served.backups.get(`${ctx.namespace}/${request.backupName}`);
  if (!backup || !backupVisible(view, backup))
    throw new HttpError(404, `backupName: no backup named "${request.backupName}"`);
  const spec: RestoreSpec = {
    backupName: request.backupName,
    ...(request.includedNamespaces?.length ? { includedNamespaces: request.includedNamespaces } : {}),
    ...(request.namespaceMapping && Object.keys(request.namespaceMapping).length > 0
      ? { namespaceMapping: request.namespaceMapping }
      : {}),
    ...(request.namespacedConflictPolicy
      ? { namespacedConflictPolicy: request.namespacedConflictPolicy }
      : {}),
  };
  if (await allowed(ctx, view.user, { verb: 'create', group: API_GROUP, resource: 'restores' }))
    return { spec, backup };
  const sources = request.includedNamespaces?.length
    ? request.includedNamespaces
    : backupRow(backup).namespaces;
  const refuse = (what: string) => {
    throw new HttpError(403, `${view.user.username} may not ${what}`);
  };
  const targets = new Map<string, string>();
  for (const source of sources) {
    if (!view.namespaces.has(source)) refuse(`restore from namespace ${source}`);
    const target = request.namespaceMapping?.[source] ?? source;
    if (!view.namespaces.has(target)) refuse(`restore into namespace ${target}`);
    targets.set(source, target);
  }
  const store = await served.stores.open(locationOf(backup), { createKey: false });
  const list =
    (await readJsonFile<Record<string, string[]>>(store, backup.metadata.name, 'resourceList')) ?? {};
  const resources = (await discover(ctx.client)).resources;
  for (const [key, items] of Object.entries(list)) {
    const slash = key.lastIndexOf('/');
    const resource = resources.find(
      (r) => r.groupVersion === key.slice(0, slash) && r.kind === key.slice(slash + 1),
    );
    if (!resource?.namespaced) continue;
    for (const [source, target] of targets) {
      if (!items.some((item) => item.startsWith(`${source}/`))) continue;
      const attributes = {
        verb: 'create',
        group: resource.group,
        resource: resource.resource,
        namespace: target,
      };
      if (!(await allowed(ctx, view.user, attributes, false)))
        refuse(`create ${resource.groupResource} in namespace ${target}`);
    }
  }
  return {
    spec: { ...spec, includedNamespaces: [...targets.keys()], includeClusterResources: false },
    backup,
  };
}

async function previewRestore(
  ctx: DashboardContext,
  served: DashboardServed,
  view: View,
  body: unknown,
): Promise<RestorePreview> {
  const { spec, backup } = await authorizedSpec(ctx, served, view, restoreRequestOf(body));
  const store = await served.stores.open(locationOf(backup), { createKey: false });
  const run = await createRestore({
    client: ctx.client,
    name: `preview-${randomUUID().slice(0, 8)}`,
    spec: { ...spec, dryRun: true },
    backups: store,
    records: new RestoreStore(new MemoryStore()), // a dry run records nothing
    now: ctx.now,
    uid: randomUUID(),
    configNamespace: ctx.namespace,
    // The plan shows what the restore will do: what the user may not write fails in it too.
    permissions:
      ctx.restoreAccessChecks === false
        ? undefined
        : {
            user: view.user.username,
            allowed: async (request, signal) => (await ctx.access.decide(view.user, request, signal)).allowed,
          },
  });
  const counts: Record<string, number> = {};
  for (const entry of run.plan) counts[entry.outcome] = (counts[entry.outcome] ?? 0) + 1;
  return {
    entries: run.plan.map((entry) => ({
      outcome: entry.outcome,
      groupResource: entry.groupResource,
      namespace: entry.namespace,
      name: entry.name,
      reason: entry.reason,
      // Secret values show as hash prefixes (formatDiff conceals them).
      diff: entry.diff?.length ? formatDiff(entry.diff).split('\n') : undefined,
    })),
    counts,
    warnings: run.restore.status?.warnings ? [`${run.restore.status.warnings} warning(s): see the plan`] : [],
  };
}

async function startRestore(
  ctx: DashboardContext,
  served: DashboardServed,
  view: View,
  body: unknown,
): Promise<RestoreState> {
  const { spec, backup } = await authorizedSpec(ctx, served, view, restoreRequestOf(body));
  const restore = await ctx.client.json<Restore>({
    method: 'POST',
    path: resourcePath('Restore', ctx.namespace),
    body: {
      apiVersion: CAIRN_API_VERSION,
      kind: 'Restore',
      metadata: {
        generateName: `${backup.metadata.name.slice(0, 200)}-`,
        // The server creates it on the user's behalf (it may delegate): the user is its creator, and the
        // restore writes only what they may (docs/security.md#tenant-safe-restore).
        annotations: {
          [REQUESTED_BY]: view.user.username,
          [ANNOTATIONS.creator]: creatorAnnotation(view.user),
        },
      },
      spec,
    },
  });
  return restoreState(restore);
}

function restoreState(restore: Restore): RestoreState {
  const status = restore.status ?? {};
  return {
    name: restore.metadata.name,
    phase: status.phase ?? 'New',
    itemsRestored: status.progress?.itemsRestored,
    totalItems: status.progress?.totalItems,
    failureReason:
      status.failureReason ??
      (status.validationErrors?.length ? status.validationErrors.join('; ') : undefined),
    counts: status.counts,
  };
}

// --- Schedules -------------------------------------------------------------------------------------------

async function pauseSchedule(ctx: DashboardContext, view: View, schedule: Schedule, paused: boolean) {
  const name = schedule.metadata.name;
  if (!(await allowed(ctx, view.user, { verb: 'patch', group: API_GROUP, resource: 'schedules', name })))
    throw new HttpError(403, `${view.user.username} may not patch schedule "${name}"`);
  await ctx.client.json({
    method: 'PATCH',
    path: resourcePath('Schedule', ctx.namespace, name),
    contentType: 'application/merge-patch+json',
    body: { spec: { paused } },
  });
  return { name, paused };
}

async function runSchedule(ctx: DashboardContext, view: View, schedule: Schedule) {
  if (!(await allowed(ctx, view.user, { verb: 'create', group: API_GROUP, resource: 'backups' })))
    throw new HttpError(403, `${view.user.username} may not create backups`);
  const backup = backupOfSchedule(schedule, ctx.now());
  const created = await ctx.client.json<Backup>({
    method: 'POST',
    path: resourcePath('Backup', ctx.namespace),
    body: {
      apiVersion: CAIRN_API_VERSION,
      kind: 'Backup',
      ...backup,
      metadata: {
        ...backup.metadata,
        annotations: { ...backup.metadata.annotations, [REQUESTED_BY]: view.user.username },
      },
    },
  });
  return backupRow(created);
}

/** A schedule request checked field by field, each problem naming the field and the value. */
function scheduleRequestOf(body: unknown, creating: boolean): ScheduleRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new HttpError(400, 'the request body must be an object');
  const fields = body as Record<string, unknown>;
  const known = [
    'schedule',
    'paused',
    'includedNamespaces',
    'excludedNamespaces',
    'labelSelector',
    'ttl',
    'storageLocation',
  ];
  for (const field of Object.keys(fields))
    if (!known.includes(field) && !(creating && field === 'name'))
      throw new HttpError(400, `${field}: is not a field of a schedule request`);
  const bad = (field: string, wanted: string): never => {
    throw new HttpError(400, `${field}: must be ${wanted}, got ${JSON.stringify(fields[field])}`);
  };
  const optional = (field: string, check: (v: unknown) => boolean, wanted: string) => {
    const value = fields[field];
    if (value !== undefined && value !== null && !check(value)) bad(field, wanted);
  };
  const isString = (v: unknown) => typeof v === 'string' && v !== '';
  const isNames = (v: unknown) => Array.isArray(v) && v.every(isString);
  if (creating) {
    const problem = typeof fields.name === 'string' ? dnsLabelProblem(fields.name) : 'is needed';
    if (problem) throw new HttpError(400, `name: ${problem} (got ${JSON.stringify(fields.name)})`);
    if (!isString(fields.schedule)) bad('schedule', 'a cron expression (e.g. "0 3 * * *", @daily)');
  }
  optional('schedule', isString, 'a cron expression');
  if (typeof fields.schedule === 'string')
    try {
      parseSchedule(fields.schedule);
    } catch (error) {
      throw new HttpError(400, `schedule: ${(error as Error).message}`);
    }
  optional('paused', (v) => typeof v === 'boolean', 'true or false');
  optional('includedNamespaces', isNames, 'a list of namespace names');
  optional('excludedNamespaces', isNames, 'a list of namespace names');
  optional('labelSelector', (v) => typeof v === 'string', 'a label selector');
  optional(
    'ttl',
    (v) => typeof v === 'string' && parseGoDuration(v) !== undefined,
    'a duration (720h, 24h30m)',
  );
  optional('storageLocation', isString, "a BackupLocation's name");
  return fields;
}

/** The fields of a schedule's backup template the dashboard edits. */
const TEMPLATE_FIELDS = [
  'includedNamespaces',
  'excludedNamespaces',
  'labelSelector',
  'ttl',
  'storageLocation',
] as const;

/** The request applied to a spec: a field given replaces, `null` clears, a field left out stays. */
function applyScheduleRequest(spec: ScheduleSpec, request: ScheduleRequest): ScheduleSpec {
  const template: Record<string, unknown> = { ...spec.template };
  for (const field of TEMPLATE_FIELDS) {
    const value = request[field];
    if (value === undefined) continue;
    // null, or an empty list, clears the field.
    if (value === null || (Array.isArray(value) && value.length === 0)) delete template[field];
    else template[field] = value;
  }
  return {
    ...spec,
    ...(request.schedule !== undefined ? { schedule: request.schedule } : {}),
    ...(request.paused !== undefined && request.paused !== null ? { paused: request.paused } : {}),
    template: template,
  };
}

function checkedSpec(spec: ScheduleSpec): ScheduleSpec {
  const problems = schemaProblems(ScheduleSpecSchema, spec, { prefix: 'spec' });
  if (problems.length > 0) throw new HttpError(400, problems.map(problemText).join('; '));
  return spec;
}

async function createSchedule(ctx: DashboardContext, served: DashboardServed, view: View, body: unknown) {
  if (!(await allowed(ctx, view.user, { verb: 'create', group: API_GROUP, resource: 'schedules' })))
    throw new HttpError(403, `${view.user.username} may not create schedules`);
  const request = scheduleRequestOf(body, true);
  const name = request.name ?? '';
  if (served.schedules.get(`${ctx.namespace}/${name}`))
    throw new HttpError(409, `a schedule named "${name}" exists`);
  const spec = checkedSpec(applyScheduleRequest({ schedule: request.schedule ?? '', template: {} }, request));
  const created = await ctx.client.json<Schedule>({
    method: 'POST',
    path: resourcePath('Schedule', ctx.namespace),
    body: {
      apiVersion: CAIRN_API_VERSION,
      kind: 'Schedule',
      metadata: { name, annotations: { [REQUESTED_BY]: view.user.username } },
      spec,
    },
  });
  return scheduleRow(created, [], ctx.now());
}

async function editSchedule(
  ctx: DashboardContext,
  served: DashboardServed,
  view: View,
  schedule: Schedule,
  body: unknown,
) {
  const name = schedule.metadata.name;
  if (!(await allowed(ctx, view.user, { verb: 'patch', group: API_GROUP, resource: 'schedules', name })))
    throw new HttpError(403, `${view.user.username} may not patch schedule "${name}"`);
  const request = scheduleRequestOf(body, false);
  checkedSpec(applyScheduleRequest(schedule.spec, request));
  // A merge patch of the fields given (null removes one): the controller's status writes never conflict
  // with it, and another user's edit of other fields meanwhile is kept.
  const template: Record<string, unknown> = {};
  for (const field of TEMPLATE_FIELDS) {
    const value = request[field];
    if (value !== undefined) template[field] = Array.isArray(value) && value.length === 0 ? null : value;
  }
  const updated = await ctx.client.json<Schedule>({
    method: 'PATCH',
    path: resourcePath('Schedule', ctx.namespace, name),
    contentType: 'application/merge-patch+json',
    body: {
      spec: {
        ...(request.schedule !== undefined ? { schedule: request.schedule } : {}),
        ...(typeof request.paused === 'boolean' ? { paused: request.paused } : {}),
        ...(Object.keys(template).length > 0 ? { template } : {}),
      },
    },
  });
  return scheduleRow(updated, visibleBackups(served, view), ctx.now());
}

// --- Live updates ----------------------------------------------------------------------------------------

/** How often a comment line keeps an idle stream open through proxies. */
const KEEPALIVE_MS = 25_000;

function streamChanges(served: DashboardServed, view: View, req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(200, {
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-store',
    Connection: 'keep-alive',
  });
  res.write(': connected\n\n');
  const visible = (change: DashboardChange, object: unknown) => {
    if (view.all) return true;
    if (change.kind === 'Backup') return backupVisible(view, object as Backup);
    if (change.kind === 'Schedule') return scheduleVisible(view, object as Schedule);
    if (change.kind === 'Restore') return restoreVisible(view, object as Restore);
    return false;
  };
  const send = (change: DashboardChange, object: unknown) => {
    if (visible(change, object)) res.write(`event: change\ndata: ${JSON.stringify(change)}\n\n`);
  };
  const keepalive = setInterval(() => res.write(': keepalive\n\n'), KEEPALIVE_MS);
  served.changes.on('change', send);
  const stop = () => {
    clearInterval(keepalive);
    served.changes.off('change', send);
  };
  req.on('close', stop);
  res.on('close', stop);
}
