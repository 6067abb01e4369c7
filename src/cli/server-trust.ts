// Where the CLI may send a bearer token (`backup logs --server-url`, `cairn dashboard`), and whom it
// trusts there. A token goes over plain HTTP to a loopback address only (a port-forward, a server on this
// machine). Over HTTPS the server is verified against --server-ca-file, else against the CA the server
// publishes in the ConfigMap cairn-ca of its namespace (a bundle after a renewal: Node's TLS trusts every
// certificate of a PEM `ca`), read through the API server with the kubeconfig (as kubectl trusts the API
// server by the kubeconfig's CA), else against the system's CAs (a certificate from a public CA, or one
// the user installed).
import { readFile } from 'node:fs/promises';
import type { KubeConfig } from '@kubernetes/client-node';
import { KubeApiError, KubeClient } from '../kube/index.ts';

export interface ServerTrustOptions {
  /** The URL as the user gave it, and the flag it came from (for messages). */
  serverUrl: string;
  flag: string;
  /** The server's namespace: where its ConfigMap cairn-ca is. */
  namespace: string;
  caFile?: string | undefined;
  /** What the URL will carry, for the refusal of plain HTTP off loopback. Default 'a bearer token'. */
  carrying?: string | undefined;
  /** The kubeconfig to read the ConfigMap with: loaded for an https URL without caFile only. */
  kubeConfig: () => Promise<KubeConfig>;
}

/**
 * Refuses a URL a token (or a download URL's grant, which reads a file as a token would) must not be sent
 * to: plain HTTP to a host that is not loopback.
 */
export async function checkTokenUrl(
  flag: string,
  serverUrl: string,
  carrying = 'a bearer token',
): Promise<URL> {
  const { isLoopbackHost } = await import('../controller/index.ts');
  let url: URL;
  try {
    url = new URL(serverUrl);
  } catch {
    throw new Error(`${flag} "${serverUrl}" is not a URL (e.g. https://127.0.0.1:8085)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new Error(
      `${flag} "${serverUrl}": the server's URL is https:// (or http:// on a loopback address)`,
    );
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname))
    throw new Error(
      `${flag} ${serverUrl}: refusing to send ${carrying} over plain HTTP to ${url.hostname}, which is not ` +
        `loopback; use https:// (the server serves HTTPS; docs/server.md)`,
    );
  return url;
}

export interface ServerTrust {
  url: URL;
  /** The CA to verify the server by (PEM); undefined: the system's CAs (or plain HTTP). */
  ca: Buffer | undefined;
  /** What the server is verified against, for the message of a failed connection. */
  against: string;
}

/** Whom to trust at the server's URL; checks the URL first (checkTokenUrl). */
export async function serverTrust(options: ServerTrustOptions): Promise<ServerTrust> {
  const url = await checkTokenUrl(options.flag, options.serverUrl, options.carrying);
  if (url.protocol !== 'https:') return { url, ca: undefined, against: 'nothing: plain HTTP on loopback' };
  if (options.caFile) {
    try {
      return { url, ca: await readFile(options.caFile), against: `--server-ca-file ${options.caFile}` };
    } catch (error) {
      throw new Error(
        `--server-ca-file ${options.caFile}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
        { cause: error },
      );
    }
  }
  const { CA_CONFIGMAP } = await import('../controller/index.ts');
  const ca = await publishedCa(options);
  return ca
    ? {
        url,
        ca,
        against: `the CA in ConfigMap ${options.namespace}/${CA_CONFIGMAP} (or give --server-ca-file)`,
      }
    : {
        url,
        ca,
        against:
          `the system's CAs: ConfigMap ${options.namespace}/${CA_CONFIGMAP} could not be read ` +
          '(check -n/--namespace, or give --server-ca-file)',
      };
}

/** The ConfigMap's ca.crt; undefined when there is no kubeconfig, no ConfigMap, or no right to read it. */
async function publishedCa(options: ServerTrustOptions): Promise<Buffer | undefined> {
  const { CA_CONFIGMAP, CA_KEY } = await import('../controller/index.ts');
  let kc: KubeConfig;
  try {
    kc = await options.kubeConfig();
  } catch {
    return undefined;
  }
  const client = new KubeClient(kc);
  try {
    const configMap = await client.json<{ data?: Record<string, string> }>({
      path: `/api/v1/namespaces/${encodeURIComponent(options.namespace)}/configmaps/${CA_CONFIGMAP}`,
    });
    const pem = configMap.data?.[CA_KEY];
    return pem ? Buffer.from(pem) : undefined;
  } catch (error) {
    // A server with a certificate of its own (--tls-cert-file) publishes nothing: the system's CAs decide.
    if (error instanceof KubeApiError && (error.status === 404 || error.status === 403)) return undefined;
    throw error;
  } finally {
    client.close();
  }
}
