// Which connections may carry a bearer token (or a download URL's grant, as good as one) to the server, and the names of its own TLS material. A
// token in clear text is safe only where it never leaves the machine: over TLS, or on a loopback address
// (the testbed, a developer's laptop, and `kubectl port-forward`, which reaches the pod's own loopback).
// The server and the CLI both decide by these functions. Kept apart from serving-cert.ts so that the CLI
// reads the names without loading the X.509 library.

/** The Secret of the server's own certificate (tls.crt, tls.key, ca.crt), in its namespace. */
export const TLS_SECRET = 'cairn-server-tls';
/** The ConfigMap that publishes the CA of that certificate, readable by every authenticated user. */
export const CA_CONFIGMAP = 'cairn-ca';
/** The key of the CA certificate (PEM) in the Secret and the ConfigMap. */
export const CA_KEY = 'ca.crt';
/** The Service `cairn install` makes in front of the server: its DNS names are in the certificate. */
export const SERVER_SERVICE = 'cairn';

/** Whether a host name or address (of a URL or a socket) is this machine's loopback. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (bare === 'localhost' || bare.endsWith('.localhost') || bare === '::1') return true;
  // 127.0.0.0/8, also as an IPv4-mapped IPv6 address (a dual-stack listener's view of it).
  return /^(::ffff:)?127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(bare);
}

/**
 * Why a request must be refused for carrying a token in clear text, or undefined when it may: a request
 * with an Authorization header, over plain HTTP, to an address that is not loopback. The token is then
 * already spent in clear; refusing it tells the operator before it becomes a habit.
 */
export function plainTokenRefusal(request: {
  encrypted: boolean;
  /** The server's end of the connection (req.socket.localAddress). */
  localAddress: string | undefined;
  hasToken: boolean;
}): string | undefined {
  if (!request.hasToken || request.encrypted) return undefined;
  if (request.localAddress !== undefined && isLoopbackHost(request.localAddress)) return undefined;
  return (
    `refused: a bearer token arrived over plain HTTP at ${request.localAddress ?? 'an unknown address'}, ` +
    `which is not loopback; tokens go over HTTPS only (serve the listener over TLS: docs/server.md)`
  );
}

/**
 * Why a request for a DownloadRequest's file (/v1/downloads/<grant>) must be refused, or undefined when it
 * may be served: its path is the grant, which reads the file as a token would, so it goes in clear text to
 * a loopback address only, as tokens do (plainTokenRefusal). Refused before the grant is looked at.
 */
export function plainGrantRefusal(request: {
  encrypted: boolean;
  /** The server's end of the connection (req.socket.localAddress). */
  localAddress: string | undefined;
}): string | undefined {
  if (request.encrypted) return undefined;
  if (request.localAddress !== undefined && isLoopbackHost(request.localAddress)) return undefined;
  return (
    `refused: a download URL arrived over plain HTTP at ${request.localAddress ?? 'an unknown address'}, ` +
    `which is not loopback; its grant reads the file as a token would, so downloads go over HTTPS only ` +
    `(serve the listener over TLS: docs/server.md)`
  );
}
