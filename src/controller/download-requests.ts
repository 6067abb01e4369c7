// DownloadRequests, as Velero's: New → Processed, with status.downloadURL (this server's
// /v1/downloads/<grant>, download-grants.ts) and status.expiration; or Failed with a reason and a message
// naming what is missing (no such Backup or Restore, no such file in its locations, a location that cannot
// be read). The file is opened once here, so a Processed request's URL serves something. Every request is
// deleted once its expiration has passed (Velero's controller does the same), Failed ones included.
import type { Backup, DownloadRequest, DownloadRequestStatus, Restore } from '../api/index.ts';
import { BackupNotFoundError, ObjectNotFoundError } from '../storage/index.ts';
import type { ControllerContext } from './context.ts';
import type { DownloadGrants } from './download-grants.ts';
import { DOWNLOAD_TARGETS, openTargetFile, recordsRestore } from './download-targets.ts';
import type { Informer } from './informer.ts';
import type { ProcessResult } from './queue.ts';
import { deleteResource, patchStatus } from './resources.ts';
import { isLoopbackHost, SERVER_SERVICE } from './transport.ts';

/** How long a download URL works, and its request is kept (Velero's: 10 minutes). */
export const DEFAULT_DOWNLOAD_EXPIRY_MS = 10 * 60_000;

export interface DownloadRequestOptions {
  grants: DownloadGrants;
  /** The origin the URLs start with (the server's advertised URL), known once the listener listens. */
  baseUrl: () => string;
  expiryMs: number;
}

type Found =
  | { location: string; uid: string }
  | { reason: 'TargetNotFound' | 'FileNotFound' | 'Unreadable'; message: string };

export class DownloadRequestController {
  readonly #ctx: ControllerContext;
  readonly #requests: Informer<DownloadRequest>;
  readonly #backups: Informer<Backup>;
  readonly #restores: Informer<Restore>;
  readonly #options: DownloadRequestOptions;

  constructor(
    ctx: ControllerContext,
    informers: {
      requests: Informer<DownloadRequest>;
      backups: Informer<Backup>;
      restores: Informer<Restore>;
    },
    options: DownloadRequestOptions,
  ) {
    this.#ctx = ctx;
    this.#requests = informers.requests;
    this.#backups = informers.backups;
    this.#restores = informers.restores;
    this.#options = options;
  }

  async reconcile(key: string, signal: AbortSignal): Promise<ProcessResult> {
    const request = this.#requests.get(key);
    if (!request || request.metadata.deletionTimestamp) return;
    const name = request.metadata.name;
    const now = this.#ctx.now().getTime();
    if ((request.status?.phase ?? 'New') !== 'New') {
      // Answered: kept until it expires, then removed (one without an expiration goes at once).
      const left = Date.parse(request.status?.expiration ?? '') - now;
      if (left > 0) return { requeueAfterMs: left };
      await deleteResource(this.#ctx, 'DownloadRequest', name, signal);
      return;
    }
    const expires = now + this.#options.expiryMs;
    const { kind, name: target } = request.spec.target;
    const found = await this.#find(request, signal);
    const status: DownloadRequestStatus =
      'location' in found
        ? {
            phase: 'Processed',
            downloadURL: `${this.#options.baseUrl().replace(/\/+$/, '')}/v1/downloads/${this.#options.grants.sign(
              {
                namespace: this.#ctx.namespace,
                kind,
                name: target,
                uid: found.uid,
                location: found.location,
                expires,
              },
            )}`,
            expiration: new Date(expires).toISOString(),
          }
        : {
            phase: 'Failed',
            reason: found.reason,
            message: found.message,
            expiration: new Date(expires).toISOString(),
          };
    // From the version read: a request answered meanwhile (by a leader before this one) keeps its answer.
    const patched = await patchStatus(this.#ctx, 'DownloadRequest', name, status, {
      resourceVersion: request.metadata.resourceVersion,
      signal,
    });
    if (patched === false) return { requeueAfterMs: 100 };
    return { requeueAfterMs: this.#options.expiryMs };
  }

  /** The location holding the request's file, or why there is none. */
  async #find(request: DownloadRequest, signal: AbortSignal): Promise<Found> {
    const { kind, name } = request.spec.target;
    const target = DOWNLOAD_TARGETS[kind];
    const namespace = this.#ctx.namespace;
    let candidates: string[];
    let uid: string;
    if (target.of === 'Backup') {
      const backup = this.#backups.get(`${namespace}/${name}`);
      if (!backup)
        return { reason: 'TargetNotFound', message: `no Backup named "${name}" in namespace ${namespace}` };
      candidates = backupLocations(backup);
      uid = backup.metadata.uid ?? '';
    } else {
      const restore = this.#restores.get(`${namespace}/${name}`);
      if (!restore)
        return { reason: 'TargetNotFound', message: `no Restore named "${name}" in namespace ${namespace}` };
      candidates = this.#restoreLocations(restore);
      uid = restore.metadata.uid ?? '';
    }
    const problems: string[] = [];
    for (const location of candidates) {
      try {
        const store = await this.#ctx.locations.open(location, { createKey: false, signal });
        if (target.of === 'Restore' && !(await recordsRestore(store, name, uid, signal))) continue;
        const stream = await openTargetFile(store, kind, name, signal);
        // Opened is enough: the endpoint reads it when the URL is fetched.
        stream.on('error', () => undefined);
        stream.destroy();
        return { location, uid };
      } catch (error) {
        if (error instanceof ObjectNotFoundError || error instanceof BackupNotFoundError) continue;
        problems.push(`location "${location}": ${(error as Error).message}`);
      }
    }
    if (problems.length > 0)
      return {
        reason: 'Unreadable',
        message: `the ${target.what} of ${target.of.toLowerCase()} "${name}" cannot be read: ${problems.join('; ')}`,
      };
    const where =
      candidates.length > 0 ? `location ${candidates.map((l) => `"${l}"`).join(', ')}` : 'any location';
    return {
      reason: 'FileNotFound',
      message:
        target.of === 'Backup'
          ? `backup "${name}" has no ${target.what} in ${where}`
          : `restore "${name}" has no ${target.what} in ${where} (a restore from a ReadOnly location keeps no files: its status has the outcome)`,
    };
  }

  /**
   * Where a restore's files may be: the location it read from, else its backup's, else any writable one
   * (the backup may be gone); the restore controller writes them to the first of these it used.
   */
  #restoreLocations(restore: Restore): string[] {
    const backup = restore.spec.backupName
      ? this.#backups.get(`${this.#ctx.namespace}/${restore.spec.backupName}`)
      : undefined;
    const writable = this.#ctx.locations
      .all()
      .filter((l) => l.spec.accessMode !== 'ReadOnly')
      .map((l) => l.metadata.name);
    const first = [restore.spec.storageLocation ?? '', ...(backup ? backupLocations(backup) : [])];
    return [...new Set([...first, ...writable])].filter((l) => writable.includes(l));
  }
}

/** A backup's locations in order of preference: those it completed in, else the one it names. */
export function backupLocations(backup: Backup): string[] {
  const stored = backup.status?.locations?.filter((l) => l.phase === 'Completed').map((l) => l.name);
  return stored?.length ? stored : [backup.spec?.storageLocation ?? ''];
}

/**
 * The origin of download URLs when `cairn server --advertise-url` gives none: the listener itself on a
 * loopback address (a server run beside its users, or reached by `kubectl port-forward` on the same port),
 * else the in-cluster name of the Service `cairn` in the server's namespace. Users elsewhere replace the
 * origin with the CLI's --server-url.
 */
export function defaultAdvertiseUrl(listener: {
  host: string;
  port: number;
  tls: boolean;
  namespace: string;
}): string {
  const scheme = listener.tls ? 'https' : 'http';
  const host = !isLoopbackHost(listener.host)
    ? `${SERVER_SERVICE}.${listener.namespace}.svc`
    : listener.host.includes(':') && !listener.host.startsWith('[')
      ? `[${listener.host}]`
      : listener.host;
  return `${scheme}://${host}:${listener.port}`;
}
