// The server's own serving certificate, for when none is given (--tls-cert-file): as metrics-server and
// webhook servers without cert-manager do, the server makes a self-signed CA and a certificate that CA
// signs for its names, and keeps both in the Secret `cairn-server-tls` of its namespace (tls.crt, tls.key,
// ca.crt), so that every replica and every restart serves the same one. The CA certificate is also
// published in the ConfigMap `cairn-ca` (key ca.crt), which users may read without reading Secrets: the
// CLI verifies the server against it.
//
// Both certificates are valid for a year and are made again together, on start and at every check of a
// running server (hourly: keepServingCertificate), when less than 30 days are left or a name is missing.
// The CA's private key is never kept: it signs one certificate and is dropped, so nothing that reads the
// Secret can sign another name. So a renewal makes a new CA, and the ConfigMap publishes a bundle: the new
// CA first, then each earlier one until it (and the certificate it signed, made with it) expires, so that
// a replica still serving the earlier certificate until its next check stays trusted. Replicas starting at
// once race to create the Secret: the loser (409) reads and serves the winner's. A running server that
// finds another certificate in the Secret (another replica renewed it) serves that one from then on.
//
// Node's crypto cannot write certificates: @peculiar/x509 (typed, WebCrypto-based) builds them. It
// needs a Reflect polyfill (its dependency tsyringe does), imported before it.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { randomBytes, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { KubeApiError, type KubeClient, type KubeObject } from '../kube/index.ts';
import type { ServerLogEntry } from './context.ts';
import type { Clock } from './clock.ts';
import { CA_CONFIGMAP, CA_KEY, SERVER_SERVICE, TLS_SECRET } from './transport.ts';

const VALID_DAYS = 365;
const RENEW_BEFORE_DAYS = 30;
const DAY_MS = 24 * 60 * 60_000;

export interface ServingCertificate {
  cert: Buffer;
  key: Buffer;
  ca: Buffer;
}

export interface ServingCertificateOptions {
  client: KubeClient;
  namespace: string;
  /** Names beyond the Service's and loopback's (DNS names or IP addresses; `cairn server --tls-san`). */
  extraNames?: string[] | undefined;
  now: () => Date;
  log: (entry: ServerLogEntry) => void;
  signal?: AbortSignal | undefined;
}

/** The names the certificate is for: the Service's DNS names, loopback, and the extra ones. */
export function servingNames(namespace: string, extra: readonly string[] = []): string[] {
  const names = [
    `${SERVER_SERVICE}.${namespace}.svc`,
    `${SERVER_SERVICE}.${namespace}.svc.cluster.local`,
    'localhost',
    '127.0.0.1',
    '::1',
    ...extra,
  ];
  return [...new Set(names)];
}

interface Secret extends KubeObject {
  data?: Record<string, string>;
}

/**
 * The serving certificate of the Secret, made (or made again) when needed, with its CA published in the
 * ConfigMap. Throws when the API server refuses.
 */
export async function ensureServingCertificate(
  options: ServingCertificateOptions,
): Promise<ServingCertificate> {
  const { client, namespace, signal } = options;
  const names = servingNames(namespace, options.extraNames);
  const path = `/api/v1/namespaces/${namespace}/secrets`;
  const existing = await getOrUndefined<Secret>(client, `${path}/${TLS_SECRET}`, signal);
  let served = existing && fromSecret(existing);
  // The CA of the certificate replaced, if any: published beside the new one until it expires.
  const previous = served?.ca;
  const stale = served && staleness(served.cert, names, options.now());
  if (!served || stale) {
    const made = await makeCertificate(names, options.now());
    const body = secretOf(namespace, made, existing?.metadata.resourceVersion);
    try {
      await client.json(
        existing ? patchOf(`${path}/${TLS_SECRET}`, body, signal) : { method: 'POST', path, body, signal },
      );
      served = made;
      options.log({
        level: 'info',
        message: `${stale ? `renewed the serving certificate (${stale})` : 'made a serving certificate'} in Secret ${namespace}/${TLS_SECRET}, valid ${VALID_DAYS} days, for ${names.join(', ')}`,
      });
    } catch (error) {
      // Another replica created or renewed it first: serve that one.
      if (!(error instanceof KubeApiError && error.status === 409)) throw error;
      const winner = await client.json<Secret>({ path: `${path}/${TLS_SECRET}`, signal });
      served = fromSecret(winner);
      if (!served)
        throw new Error(`Secret ${namespace}/${TLS_SECRET} lacks tls.crt, tls.key or ca.crt`, {
          cause: error,
        });
    }
  }
  await publishCa(client, namespace, { ca: served.ca, previous, now: options.now(), signal });
  return served;
}

/** How often a running server checks the Secret by default. */
export const DEFAULT_CHECK_INTERVAL_MS = 60 * 60_000;

/**
 * Checks the Secret every `intervalMs` as on start (ensureServingCertificate: renewed when due, the CA
 * bundle published) and hands `onChange` a certificate other than the one served: renewed here, or by
 * another replica. Runs until `signal` aborts; a failed check is logged and tried at the next.
 */
export async function keepServingCertificate(
  options: ServingCertificateOptions & {
    served: Pick<ServingCertificate, 'cert' | 'key'>;
    intervalMs: number;
    clock: Clock;
    onChange: (renewed: ServingCertificate) => void;
  },
): Promise<void> {
  const signal = options.signal ?? new AbortController().signal;
  let served: Pick<ServingCertificate, 'cert' | 'key'> = options.served;
  for (;;) {
    await options.clock.sleep(options.intervalMs, signal);
    if (signal.aborted) return;
    try {
      const current = await ensureServingCertificate(options);
      if (current.cert.equals(served.cert) && current.key.equals(served.key)) continue;
      options.onChange(current);
      served = current;
      options.log({
        level: 'info',
        message: `serving the certificate now in Secret ${options.namespace}/${TLS_SECRET}`,
      });
    } catch (error) {
      if (signal.aborted) return;
      options.log({
        level: 'warning',
        message: `checking the serving certificate in Secret ${options.namespace}/${TLS_SECRET} failed (tried again in ${options.intervalMs} ms): ${(error as Error).message}`,
      });
    }
  }
}

/** Why the certificate must be made again, or undefined while it serves. */
function staleness(cert: Buffer, names: readonly string[], now: Date): string | undefined {
  let parsed: X509Certificate;
  try {
    parsed = new X509Certificate(cert);
  } catch {
    return 'tls.crt is not a certificate';
  }
  const left = Date.parse(parsed.validTo) - now.getTime();
  if (left < RENEW_BEFORE_DAYS * DAY_MS) return `${Math.max(0, Math.floor(left / DAY_MS))} days left`;
  const missing = names.filter((name) => (isIP(name) ? !parsed.checkIP(name) : !parsed.checkHost(name)));
  if (missing.length) return `not for ${missing.join(', ')}`;
  return undefined;
}

function fromSecret(secret: Secret): ServingCertificate | undefined {
  const data = secret.data ?? {};
  if (!data['tls.crt'] || !data['tls.key'] || !data[CA_KEY]) return undefined;
  return {
    cert: Buffer.from(data['tls.crt'], 'base64'),
    key: Buffer.from(data['tls.key'], 'base64'),
    ca: Buffer.from(data[CA_KEY], 'base64'),
  };
}

function secretOf(namespace: string, made: ServingCertificate, resourceVersion?: string): Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: TLS_SECRET,
      namespace,
      labels: { 'app.kubernetes.io/name': 'cairn', 'app.kubernetes.io/part-of': 'cairn' },
      ...(resourceVersion ? { resourceVersion } : {}),
    },
    type: 'kubernetes.io/tls',
    data: {
      'tls.crt': made.cert.toString('base64'),
      'tls.key': made.key.toString('base64'),
      [CA_KEY]: made.ca.toString('base64'),
    },
  };
}

/**
 * The ConfigMap `cairn-ca` holds this CA first, then `previous` and the CAs it held already, each until it
 * expires: created, or updated when it holds another bundle. Node's TLS (the CLI's trust, server-trust.ts)
 * takes every certificate of a PEM bundle as a CA.
 */
async function publishCa(
  client: KubeClient,
  namespace: string,
  options: { ca: Buffer; previous: Buffer | undefined; now: Date; signal: AbortSignal | undefined },
): Promise<void> {
  const { signal } = options;
  const path = `/api/v1/namespaces/${namespace}/configmaps`;
  // Two tries: a 409 means another replica wrote it a moment ago, with the same Secret's CA.
  for (let attempt = 0; attempt < 2; attempt++) {
    const existing = await getOrUndefined<KubeObject & { data?: Record<string, string> }>(
      client,
      `${path}/${CA_CONFIGMAP}`,
      signal,
    );
    const pem = caBundle(options.ca, [options.previous, existing?.data?.[CA_KEY]], options.now);
    if (existing?.data?.[CA_KEY] === pem) return;
    const body = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: CA_CONFIGMAP,
        namespace,
        labels: { 'app.kubernetes.io/name': 'cairn', 'app.kubernetes.io/part-of': 'cairn' },
        ...(existing ? { resourceVersion: existing.metadata.resourceVersion } : {}),
      },
      data: { [CA_KEY]: pem },
    };
    try {
      await client.json(
        existing ? patchOf(`${path}/${CA_CONFIGMAP}`, body, signal) : { method: 'POST', path, body, signal },
      );
      return;
    } catch (error) {
      if (!(error instanceof KubeApiError && error.status === 409) || attempt === 1) throw error;
    }
  }
}

/**
 * Earlier CAs kept in the bundle at most: the newest. Replicas given different --tls-san lists renew the
 * certificate in turn at each hourly check; the bundle must not grow for a year with them.
 */
const MAX_EARLIER_CAS = 8;

/**
 * `ca` (as it is), then the other certificates of `earlier` (PEM, newest first) not yet expired at `now`,
 * once each, at most MAX_EARLIER_CAS of them.
 */
export function caBundle(ca: Buffer, earlier: readonly (Buffer | string | undefined)[], now: Date): string {
  const first = new X509Certificate(ca);
  const seen = new Set([first.fingerprint256]);
  const kept = [ca.toString('utf8').trimEnd() + '\n'];
  for (const pem of earlier) {
    if (pem === undefined) continue;
    let blocks: ArrayBuffer[];
    try {
      blocks = x509.PemConverter.decode(pem.toString());
    } catch {
      continue; // Not PEM: nothing worth keeping.
    }
    for (const der of blocks) {
      let cert: X509Certificate;
      try {
        cert = new X509Certificate(Buffer.from(der));
      } catch {
        continue;
      }
      if (seen.has(cert.fingerprint256) || Date.parse(cert.validTo) <= now.getTime()) continue;
      if (kept.length > MAX_EARLIER_CAS) return kept.join('');
      seen.add(cert.fingerprint256);
      kept.push(cert.toString().trimEnd() + '\n');
    }
  }
  return kept.join('');
}

/**
 * A merge patch that replaces the object's data, only if it is still at the resourceVersion the body
 * carries (the API server answers 409 otherwise). A patch rather than a PUT: the server's Role grants
 * `patch` on its Secrets and ConfigMap (install.ts).
 */
const patchOf = (path: string, body: unknown, signal: AbortSignal | undefined) => ({
  method: 'PATCH' as const,
  path,
  body,
  contentType: 'application/merge-patch+json',
  signal,
});

async function getOrUndefined<T>(
  client: KubeClient,
  path: string,
  signal: AbortSignal | undefined,
): Promise<T | undefined> {
  try {
    return await client.json<T>({ path, signal });
  } catch (error) {
    if (error instanceof KubeApiError && error.status === 404) return undefined;
    throw error;
  }
}

// Node's WebCrypto (the global one), passed to every call rather than set as the library's default.
const crypto = globalThis.crypto;
const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };

/** A serial number: 16 random bytes, positive (RFC 5280 §4.1.2.2). */
const serial = () => {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return bytes.toString('hex');
};

/** A new CA and a certificate it signs for `names`, both valid VALID_DAYS from an hour ago (clock skew). */
async function makeCertificate(names: readonly string[], now: Date): Promise<ServingCertificate> {
  const notBefore = new Date(now.getTime() - 60 * 60_000);
  const notAfter = new Date(now.getTime() + VALID_DAYS * DAY_MS);
  const caKeys = await crypto.subtle.generateKey(ALGORITHM, false, ['sign', 'verify']);
  const ca = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: serial(),
      name: `CN=cairn-ca@${Math.floor(now.getTime() / 1000)}`,
      notBefore,
      notAfter,
      keys: caKeys,
      signingAlgorithm: ALGORITHM,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey, false, crypto),
      ],
    },
    crypto,
  );
  const keys = await crypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: serial(),
      subject: `CN=${names[0] ?? 'cairn'}`,
      issuer: ca.subject,
      notBefore,
      notAfter,
      publicKey: keys.publicKey,
      signingKey: caKeys.privateKey,
      signingAlgorithm: ALGORITHM,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension(
          names.map((value) => ({ type: isIP(value) ? ('ip' as const) : ('dns' as const), value })),
        ),
        await x509.AuthorityKeyIdentifierExtension.create(caKeys.publicKey, false, crypto),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
      ],
    },
    crypto,
  );
  const key = Buffer.from(await crypto.subtle.exportKey('pkcs8', keys.privateKey));
  return {
    cert: Buffer.from(cert.toString('pem') + '\n'),
    key: Buffer.from(x509.PemConverter.encode(key, 'PRIVATE KEY') + '\n'),
    ca: Buffer.from(ca.toString('pem') + '\n'),
  };
}
