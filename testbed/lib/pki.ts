// Certificates and keys for a testbed control plane, made with the openssl command as envtest makes
// them with Go's crypto: one CA that signs the API server's serving certificate and every client
// certificate, and an ECDSA key pair for signing service-account tokens.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';

export interface ClusterPki {
  dir: string;
  caCert: string;
  caKey: string;
  servingCert: string;
  servingKey: string;
  serviceAccountKey: string;
  serviceAccountPub: string;
  /** The aggregation layer's own CA and the client certificate the API server proxies with. */
  frontProxyCaCert: string;
  frontProxyClientCert: string;
  frontProxyClientKey: string;
}

export interface ClientCert {
  cert: string;
  key: string;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

interface CertRequest {
  dir: string;
  name: string;
  subject: { CN: string; O?: string[] };
  extensions: string[];
  /** Omitted: self-signed (the CA itself). */
  signer?: { cert: string; key: string };
}

function makeCert(request: CertRequest): ClientCert {
  const cert = join(request.dir, `${request.name}.crt`);
  const key = join(request.dir, `${request.name}.key`);
  if (existsSync(cert) && existsSync(key)) return { cert, key };
  const dn = [`CN = ${request.subject.CN}`, ...(request.subject.O ?? []).map((o, i) => `${i}.O = ${o}`)];
  const config = join(request.dir, `${request.name}.cnf`);
  writeFileSync(
    config,
    [
      '[req]',
      'distinguished_name = dn',
      'prompt = no',
      '[dn]',
      ...dn,
      '[ext]',
      ...request.extensions,
      '',
    ].join('\n'),
  );
  const signer = request.signer ? ['-CA', request.signer.cert, '-CAkey', request.signer.key] : [];
  openssl(
    [
      'req',
      '-x509',
      '-new',
      '-config',
      config,
      '-extensions',
      'ext',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '3650',
      ...signer,
    ],
    request.dir,
  );
  return { cert, key };
}

/** Creates (or reuses) the CA, serving certificate and service-account keys of one cluster. */
export function ensureClusterPki(dir: string): ClusterPki {
  mkdirSync(dir, { recursive: true });
  const ca = makeCert({
    dir,
    name: 'ca',
    subject: { CN: 'cairn-testbed-ca' },
    extensions: [
      'basicConstraints = critical,CA:TRUE',
      'keyUsage = critical,keyCertSign,cRLSign,digitalSignature',
    ],
  });
  const serving = makeCert({
    dir,
    name: 'apiserver',
    subject: { CN: 'kube-apiserver' },
    extensions: [
      'basicConstraints = critical,CA:FALSE',
      'keyUsage = critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage = serverAuth',
      'subjectAltName = IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc',
    ],
    signer: ca,
  });
  const frontProxyCa = makeCert({
    dir,
    name: 'front-proxy-ca',
    subject: { CN: 'cairn-testbed-front-proxy-ca' },
    extensions: [
      'basicConstraints = critical,CA:TRUE',
      'keyUsage = critical,keyCertSign,cRLSign,digitalSignature',
    ],
  });
  const frontProxyClient = makeCert({
    dir,
    name: 'front-proxy-client',
    subject: { CN: 'front-proxy-client' },
    extensions: [
      'basicConstraints = critical,CA:FALSE',
      'keyUsage = critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage = clientAuth',
    ],
    signer: frontProxyCa,
  });
  const saKey = join(dir, 'sa.key');
  const saPub = join(dir, 'sa.pub');
  if (!existsSync(saKey)) {
    openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', saKey], dir);
    openssl(['ec', '-in', saKey, '-pubout', '-out', saPub], dir);
  }
  return {
    dir,
    caCert: ca.cert,
    caKey: ca.key,
    servingCert: serving.cert,
    servingKey: serving.key,
    serviceAccountKey: saKey,
    serviceAccountPub: saPub,
    frontProxyCaCert: frontProxyCa.cert,
    frontProxyClientCert: frontProxyClient.cert,
    frontProxyClientKey: frontProxyClient.key,
  };
}

/** A client certificate signed by the cluster CA: CN is the user name, O the groups. */
export function ensureClientCert(
  pki: ClusterPki,
  name: string,
  user: string,
  groups: string[] = [],
): ClientCert {
  return makeCert({
    dir: pki.dir,
    name,
    subject: { CN: user, O: groups },
    extensions: [
      'basicConstraints = critical,CA:FALSE',
      'keyUsage = critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage = clientAuth',
    ],
    signer: { cert: pki.caCert, key: pki.caKey },
  });
}

/** A serving certificate signed by the cluster CA, for the given IP addresses and DNS names. */
export function ensureServingCert(
  pki: ClusterPki,
  name: string,
  subject: { CN: string; O?: string[] },
  sans: { ips: string[]; dns: string[] },
): ClientCert {
  const alt = [...sans.ips.map((ip) => `IP:${ip}`), ...sans.dns.map((d) => `DNS:${d}`)].join(',');
  return makeCert({
    dir: pki.dir,
    name,
    subject,
    extensions: [
      'basicConstraints = critical,CA:FALSE',
      'keyUsage = critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage = serverAuth',
      `subjectAltName = ${alt}`,
    ],
    signer: { cert: pki.caCert, key: pki.caKey },
  });
}

/** Writes a kubeconfig that authenticates with a client certificate, with its data inline. */
export function writeKubeconfig(options: {
  file: string;
  clusterName: string;
  server: string;
  caCert: string;
  client: ClientCert;
  user: string;
}): void {
  const b64 = (file: string) => readFileSync(file).toString('base64');
  const text = [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    `- name: ${options.clusterName}`,
    '  cluster:',
    `    server: ${options.server}`,
    `    certificate-authority-data: ${b64(options.caCert)}`,
    'users:',
    `- name: ${options.user}`,
    '  user:',
    `    client-certificate-data: ${b64(options.client.cert)}`,
    `    client-key-data: ${b64(options.client.key)}`,
    'contexts:',
    `- name: ${options.clusterName}`,
    '  context:',
    `    cluster: ${options.clusterName}`,
    `    user: ${options.user}`,
    `current-context: ${options.clusterName}`,
    '',
  ].join('\n');
  writeFileSync(options.file, text, { mode: 0o600 });
}
