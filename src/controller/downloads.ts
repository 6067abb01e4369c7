// What the server hands to users over HTTP, so they never need the store's credentials: a backup's logs
// and results, decrypted. The caller is authenticated by its bearer token (a TokenReview) and authorized
// by a SubjectAccessReview on the backup: `get` on `backups/logs` (or `backups/results`) in group
// cairn.dev, in the server's namespace — an RBAC rule grants it:
//   - apiGroups: [cairn.dev]
//     resources: [backups/logs, backups/results]
//     verbs: [get]
// Paths: GET /v1/namespaces/<ns>/backups/<name>/logs and .../results.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { API_GROUP } from '../api/index.ts';
import { KubeApiError, type KubeClient } from '../kube/index.ts';
import type { ServerLocations } from './locations.ts';

const PATH = /^\/v1\/namespaces\/([^/]+)\/backups\/([^/]+)\/(logs|results)$/;

export interface DownloadContext {
  client: KubeClient;
  namespace: string;
  /** The locations as the leader sees them; undefined on a standby (which sends callers to the leader). */
  locations: () => ServerLocations | undefined;
  /** The backup's locations in order of preference (from its resource), or undefined when there is none. */
  backupLocations: (name: string) => string[] | undefined;
}

interface TokenReview {
  status?: {
    authenticated?: boolean;
    user?: { username?: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> };
    error?: string;
  };
}

interface SubjectAccessReview {
  status?: { allowed?: boolean; denied?: boolean; reason?: string };
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
  const auth = req.headers.authorization ?? '';
  const token = /^Bearer\s+(\S+)$/i.exec(auth)?.[1];
  if (!token) return answer(res, 401, 'a bearer token is needed (Authorization: Bearer <token>)');
  try {
    const review = await ctx.client.json<TokenReview>({
      method: 'POST',
      path: '/apis/authentication.k8s.io/v1/tokenreviews',
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } },
    });
    const user = review.status?.user;
    if (!review.status?.authenticated || !user?.username)
      return answer(
        res,
        401,
        `the token is not valid${review.status?.error ? `: ${review.status.error}` : ''}`,
      );
    const access = await ctx.client.json<SubjectAccessReview>({
      method: 'POST',
      path: '/apis/authorization.k8s.io/v1/subjectaccessreviews',
      body: {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: {
          user: user.username,
          ...(user.uid ? { uid: user.uid } : {}),
          groups: user.groups ?? [],
          ...(user.extra ? { extra: user.extra } : {}),
          resourceAttributes: {
            group: API_GROUP,
            resource: 'backups',
            subresource: file,
            verb: 'get',
            namespace,
            name,
          },
        },
      },
    });
    if (!access.status?.allowed)
      return answer(
        res,
        403,
        `${user.username} may not get backups/${file} "${name}" in namespace ${namespace}` +
          (access.status?.reason ? ` (${access.status.reason})` : ''),
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
