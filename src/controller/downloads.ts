// What the server hands to users over HTTP, so they never need the store's credentials: a backup's logs
// and results, decrypted. The caller is authenticated by its bearer token (a TokenReview) and authorized
// by a SubjectAccessReview on the backup: `get` on `backups/logs` (or `backups/results`) in group
// cairn.dev, in the server's namespace (access.ts) — an RBAC rule grants it:
//   - apiGroups: [cairn.dev]
//     resources: [backups/logs, backups/results]
//     verbs: [get]
// Paths: GET /v1/namespaces/<ns>/backups/<name>/logs and .../results.
//
// And the files of DownloadRequests: GET /v1/downloads/<grant>, for anyone holding the URL the
// DownloadRequest controller wrote (the grant is signed, names one file and expires; download-grants.ts).
// No bearer token: RBAC was asked when the DownloadRequest was created, and client-certificate users,
// who have no token to pass on, can use it. The grant is as good as a token for that file, so it is
// refused over plain HTTP off loopback (transport.ts), and it opens only the Backup or Restore it was made
// for: the one with its uid, still there (a restore's record in the location carrying that uid too).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { API_GROUP } from '../api/index.ts';
import { KubeApiError } from '../kube/index.ts';
import { UnauthenticatedError, type Access, type User } from './access.ts';
import { GrantRefusedError, type DownloadGrant, type DownloadGrants } from './download-grants.ts';
import { contentTypeOf, DOWNLOAD_TARGETS, openTargetFile, recordsRestore } from './download-targets.ts';
import type { ServerLocations } from './locations.ts';
import { plainGrantRefusal } from './transport.ts';

const PATH = /^\/v1\/namespaces\/([^/]+)\/backups\/([^/]+)\/(logs|results)$/;

export interface DownloadContext {
  access: Access;
  namespace: string;
  /** The locations as the leader sees them; undefined on a standby (which sends callers to the leader). */
  locations: () => ServerLocations | undefined;
  /** The backup's locations in order of preference (from its resource), or undefined when there is none. */
  backupLocations: (name: string) => string[] | undefined;
}

/** Whether this request is one for downloads (so the HTTP handler routes it here). */
export const isDownloadPath = (path: string): boolean => PATH.test(path);

const answer = (res: ServerResponse, status: number, message: string): void => {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' }).end(`${message}\n`);
};

/** Serves one download request; never throws (errors become answers). */
export async function serveDownload(
  ctx: DownloadContext,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const match = PATH.exec((req.url ?? '').split('?')[0] ?? '');
  if (!match) return answer(res, 404, 'not found');
  let parts: string[];
  try {
    parts = match.map((part) => decodeURIComponent(part));
  } catch {
    return answer(res, 400, 'the path is not valid percent-encoding');
  }
  const [, namespace = '', name = '', file = 'logs'] = parts;
  if (namespace !== ctx.namespace)
    return answer(res, 404, `this server serves namespace ${ctx.namespace}, not ${namespace}`);
  try {
    let user: User;
    try {
      user = await ctx.access.authenticate(req.headers.authorization);
    } catch (error) {
      if (error instanceof UnauthenticatedError) return answer(res, 401, error.message);
      throw error;
    }
    const access = await ctx.access.decide(user, {
      group: API_GROUP,
      resource: 'backups',
      subresource: file,
      verb: 'get',
      namespace,
      name,
    });
    if (!access.allowed)
      return answer(
        res,
        403,
        `${user.username} may not get backups/${file} "${name}" in namespace ${namespace}` +
          (access.reason ? ` (${access.reason})` : ''),
      );
    const locations = ctx.locations();
    if (!locations) return answer(res, 503, 'this replica is a standby: ask the leader');
    const candidates = ctx.backupLocations(name);
    if (!candidates) return answer(res, 404, `no Backup named "${name}" in namespace ${namespace}`);
    let lastError: unknown;
    for (const location of candidates) {
      try {
        const store = await locations.open(location, { createKey: false });
        const stream = await store.openFile(name, file === 'logs' ? 'logs' : 'results');
        res.writeHead(200, {
          'Content-Type': file === 'logs' ? 'text/plain; charset=utf-8' : 'application/json',
        });
        await pipeline(stream, createGunzip(), res);
        return;
      } catch (error) {
        lastError = error;
        if (res.headersSent) {
          res.destroy(error as Error);
          return;
        }
      }
    }
    return answer(
      res,
      404,
      `the ${file} of backup "${name}" cannot be read: ${(lastError as Error | undefined)?.message ?? 'no location holds it'}`,
    );
  } catch (error) {
    const message =
      error instanceof KubeApiError
        ? `the API server refused the review: ${error.message}`
        : (error as Error).message;
    if (!res.headersSent) answer(res, 502, message);
    else res.destroy();
  }
}

const GRANT_PREFIX = '/v1/downloads/';

/** Whether this request is for a DownloadRequest's file (so the HTTP handler routes it here). */
export const isGrantedDownloadPath = (path: string): boolean => path.startsWith(GRANT_PREFIX);

export interface GrantedDownloadContext {
  grants: DownloadGrants;
  namespace: string;
  now: () => Date;
  /** Whether the listener serves TLS. */
  encrypted: boolean;
  /** The locations as the leader sees them; undefined on a standby (which sends callers to the leader). */
  locations: () => ServerLocations | undefined;
  /** The uid of the Backup or Restore of that name as the leader sees it; undefined when there is none. */
  uidOf: (of: 'Backup' | 'Restore', name: string) => string | undefined;
}

/** Serves the file a grant names, decompressed; never throws (errors become answers). */
export async function serveGrantedDownload(
  ctx: GrantedDownloadContext,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const token = (req.url ?? '').split('?')[0]?.slice(GRANT_PREFIX.length) ?? '';
  const plain = plainGrantRefusal({ encrypted: ctx.encrypted, localAddress: req.socket.localAddress });
  if (plain) return answer(res, 400, plain);
  // A standby holds no grants (the key is the leader's): it says where to go rather than "forged".
  const locations = ctx.locations();
  if (!locations) return answer(res, 503, 'this replica is a standby: ask the leader');
  let grant: DownloadGrant;
  try {
    grant = ctx.grants.verify(token, ctx.now().getTime());
  } catch (error) {
    if (error instanceof GrantRefusedError) return answer(res, 403, error.message);
    return answer(res, 403, 'the download URL is not one this server signed');
  }
  if (grant.namespace !== ctx.namespace)
    return answer(res, 403, `the download URL is for namespace ${grant.namespace}, not ${ctx.namespace}`);
  const target = DOWNLOAD_TARGETS[grant.kind];
  const what = `${target.of.toLowerCase()} "${grant.name}"`;
  const uid = ctx.uidOf(target.of, grant.name);
  if (uid !== grant.uid)
    return answer(
      res,
      410,
      `the download URL is for ${what} with uid ${grant.uid}, which ` +
        (uid === undefined
          ? 'no longer exists'
          : `was deleted (the ${target.of} of that name now has uid ${uid})`) +
        ': create a new DownloadRequest',
    );
  let stream: NodeJS.ReadableStream;
  try {
    const store = await locations.open(grant.location, { createKey: false });
    if (target.of === 'Restore' && !(await recordsRestore(store, grant.name, grant.uid)))
      return answer(
        res,
        410,
        `location "${grant.location}" no longer holds the record of ${what} with uid ${grant.uid} ` +
          '(another restore of that name wrote there): create a new DownloadRequest',
      );
    stream = await openTargetFile(store, grant.kind, grant.name);
  } catch (error) {
    return answer(
      res,
      404,
      `the ${target.what} of ${target.of.toLowerCase()} "${grant.name}" cannot be read from location "${grant.location}": ${(error as Error).message}`,
    );
  }
  res.writeHead(200, { 'Content-Type': contentTypeOf(grant.kind), 'Cache-Control': 'no-store' });
  try {
    await pipeline(stream, createGunzip(), res);
  } catch (error) {
    // Headers are gone: a cut connection is how the client learns the file did not end well.
    res.destroy(error as Error);
  }
}
