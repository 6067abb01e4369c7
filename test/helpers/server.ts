// Running Cairn's server in a test: its CRDs installed in a testbed cluster, runServer started in this
// process (as `cairn server` runs it) with short timings, and small helpers for its resources.
import {
  CAIRN_API_VERSION,
  customResourceDefinitions,
  restoreCreatorPolicy,
  type CairnKind,
} from '../../src/api/index.ts';
import { applyInstall, resourcePath, runServer, type ServerOptions } from '../../src/controller/index.ts';
import { KubeApiError, type KubeClient, type KubeObject } from '../../src/kube/index.ts';

/**
 * Applies Cairn's CRDs and the admission policy that records a Restore's creator (as `cairn install`
 * does), and waits until the API server serves them.
 */
export async function installCrds(client: KubeClient): Promise<void> {
  await applyInstall(client, [
    ...customResourceDefinitions().map((crd) => ({ ...crd })),
    ...restoreCreatorPolicy().map((object) => ({ ...object })),
  ]);
}

export interface RunningServer {
  identity: string;
  port: number;
  logs: string[];
  /** Stops it as SIGTERM does (running work ends, the lease is released) and waits until it has. */
  stop: () => Promise<void>;
  get: (path: string) => Promise<{ status: number; text: string }>;
}

/** Starts a server in this process; resolves once it listens. Leases of 3 s, so tests fail over fast. */
export async function startServer(
  options: Omit<ServerOptions, 'signal' | 'writer' | 'onListening' | 'log'>,
): Promise<RunningServer> {
  const stop = new AbortController();
  const logs: string[] = [];
  let done: Promise<void> = Promise.resolve();
  const port = await new Promise<number>((resolve, reject) => {
    done = runServer({
      port: 0,
      leaseDurationMs: 3000,
      renewDeadlineMs: 2000,
      retryPeriodMs: 500,
      ...options,
      writer: `cairn test server (${options.identity})`,
      signal: stop.signal,
      log: (entry) => {
        logs.push(`${entry.level} ${entry.message}`);
        if (process.env.CAIRN_TEST_DEBUG)
          console.error(`[${options.identity}] ${entry.level} ${entry.message}`);
      },
      onListening: (address) => resolve(address.port),
    });
    done.catch(reject);
  });
  return {
    identity: options.identity,
    port,
    logs,
    stop: async () => {
      stop.abort();
      await done;
    },
    get: async (path) => {
      const res = await fetch(`http://127.0.0.1:${port}${path}`);
      return { status: res.status, text: await res.text() };
    },
  };
}

/** Creates one of Cairn's resources in `namespace`. */
export async function createCr(
  client: KubeClient,
  namespace: string,
  kind: CairnKind,
  name: string,
  spec: Record<string, unknown>,
  metadata: Record<string, unknown> = {},
): Promise<void> {
  await client.json({
    method: 'POST',
    path: resourcePath(kind, namespace),
    body: { apiVersion: CAIRN_API_VERSION, kind, metadata: { ...metadata, name }, spec },
  });
}

export async function getCr<T extends KubeObject>(
  client: KubeClient,
  namespace: string,
  kind: CairnKind,
  name: string,
): Promise<T | undefined> {
  try {
    return await client.json<T>({ path: resourcePath(kind, namespace, name) });
  } catch (error) {
    if (error instanceof KubeApiError && error.status === 404) return undefined;
    throw error;
  }
}

export async function listCrs<T extends KubeObject>(
  client: KubeClient,
  namespace: string,
  kind: CairnKind,
): Promise<T[]> {
  return (await client.json<{ items: T[] }>({ path: resourcePath(kind, namespace) })).items;
}

/** The value of one series in a Prometheus text exposition (NaN when absent). */
export function metricValue(text: string, series: string): number {
  return Number(
    text
      .split('\n')
      .find((l) => l.startsWith(`${series} `))
      ?.slice(series.length + 1),
  );
}

/** What `cairn install` leaves, as far as the CLI looks (server mode): the server's Deployment, no pods. */
export async function createServerDeployment(client: KubeClient, namespace: string): Promise<void> {
  await client.json({
    method: 'POST',
    path: `/apis/apps/v1/namespaces/${namespace}/deployments`,
    body: {
      metadata: { name: 'cairn' },
      spec: {
        replicas: 0,
        selector: { matchLabels: { app: 'cairn' } },
        template: {
          metadata: { labels: { app: 'cairn' } },
          spec: { containers: [{ name: 'cairn', image: 'cairn' }] },
        },
      },
    },
  });
}
