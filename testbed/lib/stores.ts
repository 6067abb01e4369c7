// The object stores: MinIO (S3), Azurite (Azure Blob) and fake-gcs-server (GCS), each a real server
// process on a random loopback port with its data in the testbed directory.
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { request } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { freePort, startProcess, tcpOpen, waitUntil, type ProcessRecord } from './process.ts';

export interface StoreState {
  name: 'minio' | 'azurite' | 'fake-gcs-server';
  port: number;
  process: ProcessRecord;
  /** Shell variables that point clients at this store. */
  env: Record<string, string>;
}

/** Azurite's well-known development account (public, documented by Microsoft). */
const AZURITE_ACCOUNT = 'devstoreaccount1';
const AZURITE_KEY =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

function httpStatus(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request(url, { timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

export async function startMinio(options: { dir: string; bin: string }): Promise<StoreState> {
  const port = await freePort();
  const data = join(options.dir, 'data');
  mkdirSync(data, { recursive: true });
  const user = 'cairn-testbed';
  const password = randomBytes(18).toString('base64url');
  const process = startProcess({
    name: 'minio',
    command: join(options.bin, 'minio'),
    args: ['server', data, '--address', `127.0.0.1:${port}`, '--quiet'],
    env: {
      MINIO_ROOT_USER: user,
      MINIO_ROOT_PASSWORD: password,
      MINIO_BROWSER: 'off',
      MINIO_UPDATE: 'off',
      MINIO_CONFIG_ENV_FILE: '',
    },
    log: join(options.dir, 'minio.log'),
  });
  await waitUntil(
    'minio',
    async () => (await httpStatus(`http://127.0.0.1:${port}/minio/health/ready`)) === 200,
    { timeoutMs: 60_000, process },
  );
  return {
    name: 'minio',
    port,
    process,
    env: {
      CAIRN_S3_ENDPOINT: `http://127.0.0.1:${port}`,
      AWS_ACCESS_KEY_ID: user,
      AWS_SECRET_ACCESS_KEY: password,
      AWS_REGION: 'us-east-1',
    },
  };
}

export async function startAzurite(options: { dir: string }): Promise<StoreState> {
  const port = await freePort();
  const data = join(options.dir, 'data');
  mkdirSync(data, { recursive: true });
  const require = createRequire(import.meta.url);
  const main = join(dirname(require.resolve('azurite/package.json')), 'dist', 'src', 'blob', 'main.js');
  const process = startProcess({
    name: 'azurite',
    command: globalThis.process.execPath,
    args: [
      main,
      '--blobHost',
      '127.0.0.1',
      '--blobPort',
      String(port),
      '--location',
      data,
      '--silent',
      '--skipApiVersionCheck',
      '--loose',
      '--disableProductStyleUrl',
    ],
    log: join(options.dir, 'azurite.log'),
  });
  await waitUntil('azurite', () => tcpOpen(port), { timeoutMs: 30_000, process });
  return {
    name: 'azurite',
    port,
    process,
    env: {
      CAIRN_AZURE_CONNECTION_STRING: [
        'DefaultEndpointsProtocol=http',
        `AccountName=${AZURITE_ACCOUNT}`,
        `AccountKey=${AZURITE_KEY}`,
        `BlobEndpoint=http://127.0.0.1:${port}/${AZURITE_ACCOUNT};`,
      ].join(';'),
    },
  };
}

export async function startFakeGcs(options: { dir: string; bin: string }): Promise<StoreState> {
  const port = await freePort();
  const data = join(options.dir, 'data');
  mkdirSync(data, { recursive: true });
  const url = `http://127.0.0.1:${port}`;
  const process = startProcess({
    name: 'fake-gcs-server',
    command: join(options.bin, 'fake-gcs-server'),
    args: [
      '-scheme',
      'http',
      '-host',
      '127.0.0.1',
      '-port',
      String(port),
      '-backend',
      'filesystem',
      '-filesystem-root',
      data,
      '-external-url',
      url,
      '-public-host',
      `127.0.0.1:${port}`,
      '-log-level',
      'warn',
    ],
    log: join(options.dir, 'fake-gcs-server.log'),
  });
  await waitUntil('fake-gcs-server', async () => (await httpStatus(`${url}/storage/v1/b`)) === 200, {
    timeoutMs: 30_000,
    process,
  });
  return { name: 'fake-gcs-server', port, process, env: { CAIRN_GCS_ENDPOINT: url } };
}
