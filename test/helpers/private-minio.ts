// A MinIO of one test's own, for the faults that are done to the process itself (SIGSTOP, a kill and a
// restart, a full disk): the testbed's MinIO is shared by every test running at once and must never be
// signalled. It is the binary the testbed built, on a free loopback port, with its own data directory
// (which may be on a small tmpfs) and its own root password; restart() brings it back on the same port
// with the same data, as a restarted server comes back.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import {
  freePort,
  isRunning,
  startProcess,
  stopProcess,
  waitUntil,
  type ProcessRecord,
} from '../../testbed/lib/process.ts';
import { testbedEnv } from './testbed.ts';

export interface PrivateMinio {
  /** `http://127.0.0.1:<port>`. */
  endpoint: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** Where it keeps its objects. */
  dataDir: string;
  /** The running process's id (a new one after restart()). */
  readonly pid: number;
  /** An S3 client of the AWS SDK on it, to look at what it holds. */
  s3: S3Client;
  /** SIGSTOP: connections are still accepted by the kernel, and nothing answers. */
  pause(): void;
  /** SIGCONT. */
  resume(): void;
  /** SIGKILL, and waits until it is gone. */
  kill(): Promise<void>;
  /** Starts it again on the same port with the same data; resolves once it is ready. */
  restart(): Promise<void>;
  /** Stops it (resuming it first if paused) and removes the data directory unless it was given. */
  stop(): Promise<void>;
}

/** The directory of the MinIO binary the testbed built (its state.json names it). */
function minioBinary(): string {
  const state = JSON.parse(readFileSync(join(testbedEnv('CAIRN_TESTBED_STATE'), 'state.json'), 'utf8')) as {
    binaries?: Record<string, string>;
  };
  const dir = state.binaries?.minio;
  if (!dir) throw new Error('the testbed state names no minio binary: run the tests with `npm test`');
  return join(dir, 'minio');
}

/**
 * Starts a private MinIO. `dataDir` (default: a new temporary directory, removed by stop()) is where it
 * keeps its objects; the log is beside it.
 */
export async function startPrivateMinio(options: { dataDir?: string } = {}): Promise<PrivateMinio> {
  const own = options.dataDir === undefined;
  const base = own ? await mkdtemp(join(tmpdir(), 'cairn-minio-')) : undefined;
  const dataDir = options.dataDir ?? join(base ?? '', 'data');
  mkdirSync(dataDir, { recursive: true });
  const log = join(base ?? tmpdir(), `cairn-minio-${randomBytes(4).toString('hex')}.log`);
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const credentials = { accessKeyId: 'cairn-test', secretAccessKey: randomBytes(18).toString('base64url') };
  const command = minioBinary();

  const start = async (): Promise<ProcessRecord> => {
    const record = startProcess({
      name: 'private minio',
      command,
      args: ['server', dataDir, '--address', `127.0.0.1:${port}`, '--quiet'],
      env: {
        MINIO_ROOT_USER: credentials.accessKeyId,
        MINIO_ROOT_PASSWORD: credentials.secretAccessKey,
        MINIO_BROWSER: 'off',
        MINIO_UPDATE: 'off',
        MINIO_CONFIG_ENV_FILE: '',
      },
      log,
    });
    // Generous: the machine may be loaded by a whole suite running beside this test.
    await waitUntil(
      'private minio',
      async () => (await fetch(`${endpoint}/minio/health/ready`)).status === 200,
      { timeoutMs: 120_000, process: record },
    );
    return record;
  };

  let record = await start();
  const s3 = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials });
  const signal = (name: NodeJS.Signals) => {
    if (isRunning(record)) process.kill(record.pid, name);
  };
  return {
    endpoint,
    credentials,
    dataDir,
    get pid() {
      return record.pid;
    },
    s3,
    pause: () => signal('SIGSTOP'),
    resume: () => signal('SIGCONT'),
    kill: async () => {
      signal('SIGKILL');
      await waitUntil('private minio to exit', () => Promise.resolve(!isRunning(record)), {
        timeoutMs: 30_000,
      });
    },
    restart: async () => {
      record = await start();
    },
    stop: async () => {
      s3.destroy();
      signal('SIGCONT');
      await stopProcess(record);
      if (own && base) await rm(base, { recursive: true, force: true });
    },
  };
}
