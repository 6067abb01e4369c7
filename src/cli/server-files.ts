// The files of backups and restores in server mode (logs, results, resource lists, ...), as Velero's CLI
// reads them: a DownloadRequest the server answers with a short-lived URL of its own, fetched here, then
// deleted. The URL is the grant (the server checked nothing but that the request exists: RBAC did, when
// it was created), so every kubeconfig that may create DownloadRequests works, client certificates
// included. --server-url replaces the URL's origin, for users outside the cluster (a port-forward).
import type { KubeConfig } from '@kubernetes/client-node';
import { get as httpGet, type IncomingMessage } from 'node:http';
import { get as httpsGet } from 'node:https';
import { buffer } from 'node:stream/consumers';
import { CAIRN_API_VERSION, type DownloadRequest, type DownloadTargetKind } from '../api/index.ts';
import type { KubeClient } from '../kube/index.ts';

export interface ServerFilesOptions {
  client: KubeClient;
  /** The server's namespace, where the requests are made. */
  namespace: string;
  /** Replaces the origin of the URLs the server answers with (--server-url). */
  serverUrl?: string | undefined;
  /** The CA to verify an https server by (--server-ca-file); default: the one the server publishes. */
  serverCaFile?: string | undefined;
  /** For reading that published CA. */
  kubeConfig: () => Promise<KubeConfig>;
  /** How long the server has to answer a request, and the longest silence while its file is fetched. Default 60 s. */
  timeoutMs?: number | undefined;
}

/** The backup or restore has no such file (the server's reason FileNotFound); the message says where. */
export class ServerFileMissingError extends Error {
  override readonly name = 'ServerFileMissingError';
}

/** The longest wait between two looks at a request (the first looks come sooner). */
const MAX_POLL_MS = 1000;

export class ServerFiles {
  readonly #options: ServerFilesOptions;
  readonly #path: string;

  constructor(options: ServerFilesOptions) {
    this.#options = options;
    this.#path = `/apis/${CAIRN_API_VERSION}/namespaces/${encodeURIComponent(options.namespace)}/downloadrequests`;
  }

  /**
   * A file of a backup or restore, decompressed, as a stream. Rejects with the server's message when the
   * target does not exist, has no such file (ServerFileMissingError) or it cannot be read, and, naming
   * the request, when the server does not answer in time.
   */
  async open(kind: DownloadTargetKind, name: string): Promise<IncomingMessage> {
    const { client } = this.#options;
    const created = await client.json<DownloadRequest>({
      method: 'POST',
      path: this.#path,
      body: {
        apiVersion: CAIRN_API_VERSION,
        kind: 'DownloadRequest',
        metadata: { generateName: `${name.slice(0, 200)}-` },
        spec: { target: { kind, name } },
      },
    });
    const request = created.metadata.name;
    try {
      const answered = await this.#answer(created);
      const status = answered.status ?? {};
      if (status.phase === 'Failed') {
        const message = status.message ?? `DownloadRequest "${request}" failed`;
        throw status.reason === 'FileNotFound' ? new ServerFileMissingError(message) : new Error(message);
      }
      return await this.#fetch(request, status.downloadURL ?? '');
    } finally {
      // The URL has been opened (or is of no use): the request goes now, not when it expires.
      await client
        .send({ method: 'DELETE', path: `${this.#path}/${encodeURIComponent(request)}` })
        .catch(() => undefined);
    }
  }

  /** A JSON file, parsed; undefined when the target has none. */
  async json(kind: DownloadTargetKind, name: string): Promise<unknown> {
    let stream: IncomingMessage;
    try {
      stream = await this.open(kind, name);
    } catch (error) {
      if (error instanceof ServerFileMissingError) return undefined;
      throw error;
    }
    return JSON.parse((await buffer(stream)).toString('utf8')) as unknown;
  }

  /** The request once the server has answered it (Processed or Failed). */
  async #answer(request: DownloadRequest): Promise<DownloadRequest> {
    const timeoutMs = this.#options.timeoutMs ?? 60_000;
    const deadline = Date.now() + timeoutMs;
    let current = request;
    let waitMs = 50;
    while ((current.status?.phase ?? 'New') === 'New') {
      if (Date.now() >= deadline)
        throw new Error(
          `DownloadRequest "${request.metadata.name}" in namespace ${this.#options.namespace} was not answered ` +
            `within ${timeoutMs / 1000}s: is Cairn's server running (kubectl -n ${this.#options.namespace} get pods)?`,
        );
      await new Promise((resolve) => setTimeout(resolve, waitMs));
      waitMs = Math.min(waitMs * 2, MAX_POLL_MS);
      current = await this.#options.client.json<DownloadRequest>({
        path: `${this.#path}/${encodeURIComponent(request.metadata.name)}`,
      });
    }
    return current;
  }

  /**
   * GETs the URL (its origin replaced by --server-url), verifying an https server, and over plain HTTP to a
   * loopback address only: the URL is the grant, as good as a token for its file.
   */
  async #fetch(request: string, downloadURL: string): Promise<IncomingMessage> {
    const url = this.#url(downloadURL);
    const { serverTrust } = await import('./server-trust.ts');
    const trust = await serverTrust({
      serverUrl: url.origin,
      flag: this.#options.serverUrl ? '--server-url' : `the URL of DownloadRequest "${request}"`,
      namespace: this.#options.namespace,
      caFile: this.#options.serverCaFile,
      carrying: 'a download URL (its grant reads the file as a token would)',
      kubeConfig: this.#options.kubeConfig,
    });
    return fetchDownload(url, {
      request,
      namespace: this.#options.namespace,
      ca: trust.ca,
      against: trust.against,
      idleMs: this.#options.timeoutMs ?? 60_000,
    });
  }

  #url(downloadURL: string): URL {
    let url: URL;
    try {
      url = new URL(downloadURL);
    } catch {
      throw new Error(`the server answered with a download URL that is not one: "${downloadURL}"`);
    }
    const given = this.#options.serverUrl;
    if (!given) return url;
    let base: URL;
    try {
      base = new URL(given);
    } catch {
      throw new Error(`--server-url "${given}" is not a URL (e.g. https://127.0.0.1:8085)`);
    }
    if (base.protocol !== 'http:' && base.protocol !== 'https:')
      throw new Error(`--server-url "${given}": the server's URL is https:// (or http://)`);
    // What follows the server's own prefix (its --advertise-url may have a path) goes after the given one.
    const tail = url.pathname.slice(url.pathname.indexOf('/v1/downloads/'));
    return new URL(`${base.pathname.replace(/\/+$/, '')}${tail}`, base);
  }
}

export interface FetchDownloadOptions {
  /** The DownloadRequest's name, and the server's namespace, for the messages. */
  request: string;
  namespace: string;
  /** The CA to verify an https server by; undefined: the system's. */
  ca?: Buffer | undefined;
  /** What the server is verified against, for the message of a failed connection. */
  against: string;
  /** The longest silence (connecting, waiting for the answer, between two chunks of the file). */
  idleMs: number;
}

/**
 * The answer of a download URL, a stream of the file; rejects (or, once it streams, fails the stream)
 * naming the request when the server cannot be reached, answers otherwise than 200, or sends nothing for
 * `idleMs`: a black-holed server would otherwise keep the CLI waiting forever.
 */
export async function fetchDownload(url: URL, options: FetchDownloadOptions): Promise<IncomingMessage> {
  const { request, namespace } = options;
  // The path is the grant: messages name the URL without it.
  const prefix = '/v1/downloads/';
  const shown = `${url.origin}${url.pathname.slice(0, url.pathname.indexOf(prefix) + prefix.length)}…`;
  const get = url.protocol === 'https:' ? httpsGet : httpGet;
  let res: IncomingMessage;
  try {
    res = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = get(url, options.ca ? { ca: options.ca } : {}, (answer) => {
        // From now on a silence fails the stream its reader holds.
        req.removeAllListeners('timeout');
        req.setTimeout(options.idleMs, () =>
          answer.destroy(silence(shown, request, options.idleMs, 'in the middle of the file')),
        );
        resolve(answer);
      });
      req.on('error', reject);
      // The socket's idle timer: connecting and waiting for the answer alike.
      req.setTimeout(options.idleMs, () =>
        req.destroy(silence(shown, request, options.idleMs, 'before answering')),
      );
    });
  } catch (error) {
    throw new Error(
      `cannot reach the server at ${shown} for DownloadRequest "${request}": ${(error as Error).message} ` +
        `(verified against ${options.against}). From outside the cluster, forward its port ` +
        `(kubectl -n ${namespace} port-forward deploy/cairn 8085) and add --server-url https://127.0.0.1:8085`,
      { cause: error },
    );
  }
  if (res.statusCode !== 200)
    throw new Error(
      `the server answered ${res.statusCode} for DownloadRequest "${request}": ${(await buffer(res)).toString('utf8').trim()}`,
    );
  return res;
}

const silence = (shown: string, request: string, idleMs: number, when: string): Error =>
  new Error(
    `the server at ${shown} sent nothing for ${idleMs / 1000}s ${when} (DownloadRequest "${request}"): ` +
      'is it overloaded, or is something between here and it dropping the connection?',
  );
